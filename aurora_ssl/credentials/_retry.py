"""Connect with a provider's password; after a refused login, invalidate and retry once.

Every integration (SQLAlchemy's ``do_connect``, Django's ``get_new_connection``, the psycopg
pool's connection class, ``aurora-ssl check``) needs the same few lines, and they are easy to
get subtly wrong: retry on a TLS error (doubling the wait for nothing), retry more than once
(hammering a locked account), or call ``invalidate`` from another thread or task than the one
that was handed the refused password (the cache then cannot tell a late duplicate report from a
new refusal). So they live here once, with the one test of "the server refused the login".

Where the SQLSTATE is available it decides (asyncpg's ``sqlstate``, psycopg 3 and psycopg2
once a session exists). libpq reports a failed *login* without one: psycopg2 and psycopg 3
only carry the server's text, ``FATAL:  password authentication failed for user "app"``. For
those the server's (English) message is matched; a server with a translated
``lc_messages`` is only recognised through drivers that expose the SQLSTATE (asyncpg).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aurora_ssl.credentials._contract import (
    CredentialTarget,
    PasswordProvider,
    asking,
    checked,
    describe,
)

T = TypeVar("T")

# invalid_password and invalid_authorization_specification.
_AUTH_FAILURE_SQLSTATES = frozenset({"28P01", "28000"})

# The server's texts for 28P01 / 28000 at login (src/backend/libpq/auth.c, postinit.c).
# "PAM authentication failed" is what RDS answers to a wrong or expired IAM token.
_FATAL_AUTH = re.compile(
    r"FATAL:\s+(?:"
    r"(?:password|PAM|md5|SCRAM) authentication failed for user"
    r"|role \".*\" does not exist"
    r"|role \".*\" is not permitted to log in"
    r"|no pg_hba\.conf entry for"
    r"|pg_hba\.conf rejects connection"
    r")",
)
_MAX_CHAIN = 16


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
        CredentialsError: the provider has no password, failed, or returned something that
            is not one; the message names the login and never the password.
        Exception: whatever ``connect`` raised, if it was not an authentication failure, or
            if the retry failed too.
    """
    password = _password(provider, target)
    try:
        return connect(password)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
    provider.invalidate(target)
    return connect(_password(provider, target))


async def connect_with_password_async(
    provider: PasswordProvider,
    target: CredentialTarget,
    connect: Callable[[str], Awaitable[T]],
) -> T:
    """The asyncio twin of :func:`connect_with_password` (asyncpg, psycopg async)."""
    password = await _password_async(provider, target)
    try:
        return await connect(password)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
    provider.invalidate(target)
    return await connect(await _password_async(provider, target))


def _password(provider: PasswordProvider, target: CredentialTarget) -> str:
    with asking(describe(provider), target):
        return checked(describe(provider), target, provider.password(target))


async def _password_async(provider: PasswordProvider, target: CredentialTarget) -> str:
    with asking(describe(provider), target):
        return checked(describe(provider), target, await provider.password_async(target))


def is_auth_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it wraps) is the server refusing the login.

    Looks through SQLAlchemy's ``.orig``, Django's and asyncpg adapters' ``__cause__`` and
    implicit ``__context__`` chains.

    Args:
        exc: what connecting raised.

    Returns:
        ``True`` for SQLSTATE 28P01 (invalid_password) or 28000
        (invalid_authorization_specification), including libpq's message-only form.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        codes = {getattr(current, "sqlstate", None), getattr(current, "pgcode", None)}
        fields = current.args[0] if current.args else None
        if isinstance(fields, dict):  # pg8000: the server's fields, {"C": "28P01", "M": ...}
            codes.add(fields.get("C"))
        if codes & _AUTH_FAILURE_SQLSTATES or _FATAL_AUTH.search(str(current)):
            return True
        for attribute in ("orig", "__cause__", "__context__"):
            inner = getattr(current, attribute, None)
            if isinstance(inner, BaseException):
                pending.append(inner)
    return False
