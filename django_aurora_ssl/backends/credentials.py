"""The password of every new physical connection, from ``AURORA_SSL``'s provider.

Unpooled connections ask the provider in :meth:`get_new_connection`. Django's psycopg 3 pool
keeps the ``kwargs`` it was built with for the life of the process, so a token or secret put
there would go stale (IAM tokens after 15 minutes). We do not touch ``kwargs``: they stay the
verified parameters the backend compares every pooled connection with. Instead the pool's
``connection_class`` is replaced, before the pool is opened, by a subclass whose ``connect``
asks the provider, and on a refused login invalidates and retries once
(:func:`aurora_ssl.credentials.connect_with_password`). A callable ``kwargs`` (psycopg_pool
>= 3.3) would refresh the password too, but could not retry a refused login with a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aurora_ssl.credentials import CredentialTarget, PasswordProvider, connect_with_password
from aurora_ssl.errors import CredentialsError

__all__ = ["connect_with_provider", "credential_target", "install_pool_hook"]

T = TypeVar("T")
_lock = threading.Lock()


def credential_target(params: Mapping[str, Any], server_name: str | None) -> CredentialTarget:
    """The login a password is wanted for: the verified endpoint name (``TLS_SERVER_NAME``
    when set, which IAM tokens are signed for), the port and the user.

    Raises:
        CredentialsError: no user, or a port that is not a number.
    """
    host = server_name or str(params.get("host") or "").split(",")[0].strip()
    port_text = str(params.get("port") or "5432").split(",")[0].strip()
    try:
        port = int(port_text)
    except ValueError:
        raise CredentialsError(f"Port {port_text!r} is not a number.") from None
    return CredentialTarget(host, port, str(params.get("user") or ""))


def connect_with_provider(
    provider: PasswordProvider,
    params: Mapping[str, Any],
    server_name: str | None,
    connect: Callable[[dict[str, Any]], T],
) -> T:
    """``connect(params + password)``; after a refused login, once more with a fresh one."""
    target = credential_target(params, server_name)
    return connect_with_password(
        provider, target, lambda password: connect({**params, "password": password})
    )


def install_pool_hook(pool: Any, provider: PasswordProvider, server_name: str | None) -> None:
    """Make ``pool`` (psycopg_pool, not opened yet) ask ``provider`` for every connection."""
    # Once per pool: a pool lives as long as its alias's settings (a function given as the
    # provider is wrapped afresh on every options read, so identity cannot be compared).
    if getattr(pool, "_aurora_ssl_provider", None) is not None:
        return
    with _lock:
        if getattr(pool, "_aurora_ssl_provider", None) is not None:
            return
        pool.connection_class = _connection_class(pool.connection_class, provider, server_name)
        pool._aurora_ssl_provider = provider


def _connection_class(base: type, provider: PasswordProvider, server_name: str | None) -> type:
    parent: Any = base

    class AuroraSSLProviderConnection(parent):  # type: ignore[misc]
        """psycopg's connection; ``connect`` fetches the password first (and retries once)."""

        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
            connect_parent = super().connect
            return connect_with_provider(
                provider, kwargs, server_name, lambda params: connect_parent(conninfo, **params)
            )

    AuroraSSLProviderConnection.__qualname__ = f"AuroraSSLProviderConnection[{base.__name__}]"
    return AuroraSSLProviderConnection
