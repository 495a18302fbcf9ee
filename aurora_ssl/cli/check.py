"""``aurora-ssl check``: connect once with the policy and report what client and server say.

The same report as ``manage.py check_aurora_ssl`` (:func:`aurora_ssl.diagnostics.check_connection`),
for any libpq connection string, URL (also a SQLAlchemy one) or the PG* environment; the
login can use an IAM token or a password provider (:mod:`aurora_ssl.cli.credentials`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl.cli import credentials
from aurora_ssl.cli.common import EXIT_FAILED, EXIT_OK, UsageError, warn
from aurora_ssl.errors import AuroraSSLError
from aurora_ssl.hostnames import address_problem, host_problem, port_problem
from aurora_ssl.redaction import mask_text, shorten

if TYPE_CHECKING:
    from aurora_ssl.database_url import DatabaseURL
    from aurora_ssl.policy import Settings

__all__ = ["cmd_check"]


def cmd_check(args: argparse.Namespace) -> int:
    from aurora_ssl.diagnostics import check_connection, reports_ok, reports_to_json
    from aurora_ssl.policy import policy_for
    from aurora_ssl.trust import TrustSelection

    target, settings = _read_target(args)
    params = target.params
    host = str(params.get("host") or os.environ.get("PGHOST") or "")
    port = params.get("port") or os.environ.get("PGPORT") or None
    secret = str(params.get("password") or os.environ.get("PGPASSWORD") or "")
    driver = _driver(args.driver if args.driver != "auto" else target.driver)
    try:
        with_password = credentials.password_connect(
            args, params, settings.tls_server_name or host, target.credentials, target.origin
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    trust: TrustSelection | None = None
    with contextlib.suppress(AuroraSSLError):  # the connection attempt reports it
        trust = policy_for(settings).trust(
            settings.tls_server_name or host, params.get("sslrootcert")
        )

    used: dict[str, Any] = {}

    def connect() -> Any:
        if target.refusal is not None:
            raise target.refusal
        final = policy_for(settings).apply(params, target.origin, driver=driver)
        used.update(final)
        if with_password is not None:
            return with_password(lambda given: _connect(driver, given), final)
        return _connect(driver, final)

    report = check_connection(
        connect,
        label=shorten(mask_text(_label(params, host, port))),
        host=host,
        port=port,
        trust=trust,
        settings=settings,
        close=lambda connection: connection.close(),
        secrets=[secret],
        expected=lambda: used,
        inspect=True,
    )
    if args.format == "json":
        print(reports_to_json([report], fail_on_warning=args.fail_on_warning))
    else:
        print(report.to_text())
    return EXIT_OK if reports_ok([report], fail_on_warning=args.fail_on_warning) else EXIT_FAILED


def _read_target(args: argparse.Namespace) -> tuple[DatabaseURL, Settings]:
    """The DSN (argument, stdin or the PG* variables) read as the app reads it, and the
    settings it and the options give; usage errors are :class:`UsageError` (exit 2)."""
    from aurora_ssl.database_url import read_dsn
    from aurora_ssl.errors import InsecureConfigurationError
    from aurora_ssl.policy import Settings

    dsn = sys.stdin.readline().strip() if args.dsn == "-" else args.dsn
    try:
        target = read_dsn(dsn)
    except InsecureConfigurationError as exc:  # the string itself is unusable: fix the input
        raise UsageError(str(exc)) from None
    for note in target.ignored:
        warn(note)
    if target.params.get("password") and args.dsn != "-":
        warn(
            "a password on the command line is visible to other users (ps, shell history); "
            "prefer PGPASSWORD or ~/.pgpass."
        )
    target.params.setdefault("connect_timeout", str(args.connect_timeout))
    settings = Settings(
        bundle=args.bundle or target.bundle,
        tls_server_name=args.tls_server_name or target.tls_server_name,
    )
    _validate_destination(target.params, settings)
    return target, settings


def _validate_destination(params: Mapping[str, Any], settings: Any) -> None:
    """Say which value is wrong before libpq blames name resolution (``port=abc``)."""
    sources = (("host", "PGHOST", host_problem), ("hostaddr", "PGHOSTADDR", address_problem))
    for key, variable, check in (*sources, ("port", "PGPORT", port_problem)):
        given = params.get(key)
        where = f"the DSN's {key}" if given is not None else variable
        value = str(given if given is not None else os.environ.get(variable) or "")
        for item in value.split(",") if value else ():
            if not item.strip() or (key == "host" and item.startswith(("/", "@"))):
                continue  # a default, or a socket directory (the policy refuses those)
            problem = check(item.strip() if key != "host" else item, where)
            if problem:
                raise UsageError(problem)
    timeout = str(params.get("connect_timeout") or "")
    if timeout and not (timeout.strip().lstrip("-").isdigit() and timeout.isascii()):
        raise UsageError(
            f"connect_timeout {shorten(timeout)!r} in the DSN is not a whole number of seconds."
        )


def _driver(name: str) -> str:
    if name in ("psycopg", "psycopg2"):
        return name
    if name not in ("auto", ""):
        raise UsageError(
            f"aurora-ssl check connects with libpq (psycopg or psycopg2), not "
            f"{shorten(name)}; use a postgresql://, postgresql+psycopg:// or "
            "postgresql+asyncpg:// URL."
        )
    for candidate in ("psycopg", "psycopg2"):
        try:
            __import__(candidate)
        except ImportError:
            continue
        return candidate
    raise AuroraSSLError(
        "aurora-ssl check needs a PostgreSQL driver: pip install 'aurora-ssl[psycopg]' "
        "(or [psycopg2])."
    )


def _connect(driver: str, params: Mapping[str, Any]) -> Any:
    """Connect with ``driver``; a TLS failure becomes our translated error (cause chained)."""
    from aurora_ssl.diagnostics import translate_error

    clean = {key: value for key, value in params.items() if value is not None}
    try:
        if driver == "psycopg":
            import psycopg

            return psycopg.connect(**clean)
        import psycopg2

        return psycopg2.connect(**clean)
    except Exception as exc:
        translated = translate_error(exc, params=clean)
        if translated is None:
            raise
        raise translated from exc


def _label(params: Mapping[str, Any], host: str, port: Any) -> str:
    user = params.get("user") or os.environ.get("PGUSER") or ""
    database = params.get("dbname") or os.environ.get("PGDATABASE") or ""
    where = f"{host}:{port}" if port else host
    label = f"{user}@{where}" if user else where
    return f"{label}/{database}" if database else label or "(libpq defaults)"
