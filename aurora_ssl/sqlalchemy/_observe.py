"""What an engine tells the outside about its verified connections: a log line and a hook.

Operators asked for a trace that verification happened (issue 11): the plugin removes itself
from nothing visible at runtime, so without this a verified connection and an unverified one
look the same in the logs. The log line goes to the documented logger
``aurora_ssl.connections``; metrics code registers a callback with :func:`on_verified`
(a SQLAlchemy event cannot be added by a plugin). Both run after the read-back, i.e. only for
connections that *are* verified, before the dialect's first query.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from aurora_ssl.status import ClientTLS

__all__ = ["LOGGER_NAME", "VerifiedConnection", "is_protected", "on_verified"]

LOGGER_NAME = "aurora_ssl.connections"
logger = logging.getLogger(LOGGER_NAME)

_callbacks: weakref.WeakKeyDictionary[Any, list[Callable[[VerifiedConnection], None]]] = (
    weakref.WeakKeyDictionary()
)
_protected: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclasses.dataclass(frozen=True)
class VerifiedConnection:
    """The client-side facts of one new, verified connection.

    Attributes:
        endpoint: the name the server certificate was verified against (``tls_server_name``
            when set).
        port: the server port.
        driver: the DB-API driver (``psycopg2``, ``psycopg``, ``psycopg_async``, ``asyncpg``).
        trust_scope: why these roots (``region:us-east-1``, ``proxy``, ``full-bundle``,
            ``user-file``).
        tls: what the driver reports (protocol, cipher, sslmode).
        params: the security-relevant parameters the connection was made with; never the
            password.
    """

    endpoint: str
    port: int | None
    driver: str
    trust_scope: str
    tls: ClientTLS
    params: Mapping[str, Any]


def _dialect(engine: Any) -> Any:
    """The dialect of an Engine or AsyncEngine (callbacks live on the sync engine's)."""
    return getattr(engine, "sync_engine", engine).dialect


def mark_protected(engine: Any) -> None:
    _protected.add(_dialect(engine))


def is_protected(engine: Any) -> bool:
    """Whether every new connection of ``engine`` is made with verified TLS by aurora-ssl.

    ``False`` for an engine built without aurora-ssl and for one with
    ``aurora_ssl_insecure_local_dev=true``. Accepts an ``Engine`` or an ``AsyncEngine``.
    """
    return _dialect(engine) in _protected


def on_verified(engine: Any, callback: Callable[[VerifiedConnection], None]) -> None:
    """Call ``callback(VerifiedConnection)`` for each new verified connection of ``engine``.

    The callback runs in the connecting thread (or greenlet), before the connection is used:
    keep it quick (count, time, tag a metric). An exception in it is logged on
    ``aurora_ssl.connections`` and does not fail the connection.

    Raises:
        TypeError: ``engine`` is not protected by aurora-ssl (the callback would never run).
    """
    if not is_protected(engine):
        raise TypeError(
            "on_verified needs an engine built by aurora_ssl.sqlalchemy (create_engine, "
            "create_async_engine or ?plugin=aurora_ssl) with verification on; this one is not."
        )
    _callbacks.setdefault(_dialect(engine), []).append(callback)


def announce(dialect: Any, level: int, facts: VerifiedConnection) -> None:
    """Log the verified connection and hand it to the registered callbacks."""
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "verified TLS connection to %s:%s (trust %s, %s, driver %s)",
            facts.endpoint,
            facts.port,
            facts.trust_scope,
            facts.tls.protocol or "TLS",
            facts.driver,
        )
    for callback in list(_callbacks.get(dialect, ())):
        try:
            callback(facts)
        except Exception:
            logger.warning(
                "on_verified callback %r failed; the connection is kept", callback, exc_info=True
            )


def frozen(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy without secrets."""
    return types.MappingProxyType(
        {k: v for k, v in params.items() if k not in ("password", "sslpassword")}
    )
