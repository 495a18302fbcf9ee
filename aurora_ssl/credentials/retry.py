"""Connect with a provider's password; after a refused login, invalidate and retry once.

Every integration (SQLAlchemy's ``do_connect``, Django's ``get_new_connection``, the psycopg
pool's ``kwargs`` callable) needs the same few lines, and they are easy to get subtly wrong:
retry on a TLS error (doubling the wait for nothing), retry more than once (hammering a
locked account), or call ``invalidate`` from another thread or task than the one that was
handed the refused password (the cache then cannot tell a late duplicate report from a new
refusal). So they live here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aurora_ssl.credentials.contract import CredentialTarget, PasswordProvider
from aurora_ssl.credentials.failures import is_auth_failure

__all__ = ["connect_with_password", "connect_with_password_async"]

T = TypeVar("T")


def connect_with_password(
    provider: PasswordProvider, target: CredentialTarget, connect: Callable[[str], T]
) -> T:
    """``connect(password)``; if the server refuses the login, once more with a fresh one.

    Args:
        provider: where passwords come from.
        target: the login (RDS endpoint name, port, user, region).
        connect: opens the connection with the given password (the driver's own errors
            propagate).

    Returns:
        What ``connect`` returned.

    Raises:
        CredentialsError: the provider has no password.
        Exception: whatever ``connect`` raised, if it was not an authentication failure, or
            if the retry failed too.
    """
    try:
        return connect(provider.password(target))
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
    provider.invalidate(target)
    return connect(provider.password(target))


async def connect_with_password_async(
    provider: PasswordProvider,
    target: CredentialTarget,
    connect: Callable[[str], Awaitable[T]],
) -> T:
    """The asyncio twin of :func:`connect_with_password` (asyncpg, psycopg async)."""
    try:
        return await connect(await provider.password_async(target))
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
    provider.invalidate(target)
    return await connect(await provider.password_async(target))
