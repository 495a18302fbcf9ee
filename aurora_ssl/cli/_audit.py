"""``aurora-ssl audit`` and :func:`audit`: is every session of the database on TLS?

The target is read as ``aurora-ssl check`` reads it (:func:`~aurora_ssl.cli._target.read_target`)
and every instance is connected to as ``check`` connects (:func:`~aurora_ssl.cli._target.connector`:
the policy's verify-full, a provider's password), so an audit logs in as the app would. What
counts and the exit status: :mod:`aurora_ssl._diagnostics._audit`.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Mapping
from typing import Any

from aurora_ssl._diagnostics._audit import Audit, audit_sessions
from aurora_ssl._libpq import render
from aurora_ssl._options import Options
from aurora_ssl._readback import require_tls
from aurora_ssl.cli._target import OPTIONS, Target, connector, given, read_target


def cmd_audit(args: argparse.Namespace) -> int:
    """List every session of the database (every Aurora instance) and whether it uses TLS.

    Connect with verify-full as `check` does and list every client session with its TLS state
    (pg_stat_ssl, pg_stat_activity); on Aurora, on every instance of the cluster. Unix-socket
    and loopback sessions are listed apart and not counted. Exit status: 0 every session
    visible and on TLS, 3 a session without TLS, 4 sessions hidden from the role (GRANT
    pg_read_all_stats), 1 not verified or unreachable, 2 usage error.
    """
    result = _audit(read_target(args, args.dsn, driver=args.driver))
    print(result.to_json() if args.format == "json" else result.to_text())
    return result.exit_status


def audit(
    target: str | Mapping[str, Any] | None = None,
    *,
    options: Options | None = None,
    driver: str = "auto",
    connect_timeout: int = 10,
) -> Audit:
    """List every session of the database (every instance of an Aurora cluster) and its TLS.

    Args:
        target: a URL (a SQLAlchemy one too, with ``aurora_ssl_*`` keys), a libpq connection
            string or a dict of libpq keywords; ``None``: ``$DATABASE_URL``.
        options: aurora-ssl's options (``bundle``, ``tls_server_name``, ``iam``,
            ``iam_profile``, ``password_provider``), with the URL's (they must agree).
        driver: ``"psycopg"`` or ``"psycopg2"`` (default: the URL's, else the one installed).
        connect_timeout: libpq's ``connect_timeout`` unless the target sets one.

    Returns:
        The :class:`~aurora_ssl._diagnostics._audit.Audit`: ``.sessions``, ``.local_sessions``,
        ``.tls``, ``.plaintext``, ``.hidden``, ``.exit_status`` (0, 3 or 4), ``.to_dict()``.

    Raises:
        InsecureConfigurationError: the target or the options cannot be used.
        AuroraSSLError: an instance refused verify-full or could not be audited.
    """
    if isinstance(target, Mapping):
        target = render({key: str(value) for key, value in target.items()})
    flags = {name: getattr(options or Options(), name) for name in OPTIONS}
    args = argparse.Namespace(**flags, connect_timeout=connect_timeout)
    return _audit(read_target(args, target, driver=driver, argv=False))


def _audit(target: Target) -> Audit:
    target.params.setdefault("application_name", "aurora-ssl audit")
    host = target.options.tls_server_name or given(target.params, "host")

    def connect(instance: str | None) -> Any:
        chosen = target if instance is None else _instance(target, instance)
        used: dict[str, Any] = {}
        connection = connector(chosen, used)()
        require_tls(connection, expected=used)
        return connection

    return audit_sessions(connect, host)


def _instance(target: Target, host: str) -> Target:
    """The target, connected to the instance endpoint ``host`` and verified against it."""
    options = copy.copy(target.options)
    options.tls_server_name = None
    params = {**target.params, "host": host, "hostaddr": ""}  # not the cluster's, nor PGHOSTADDR
    return Target(params, target.driver, options, target.origin)
