"""``aurora-ssl check``, ``audit`` and ``inspect``: what a server shows of its TLS.

``check`` and ``audit`` connect as the app does, to what the app's ``DATABASE_URL`` names: its
``+driver``, ``plugin`` and ``aurora_ssl_*`` keys are taken out
(:func:`aurora_ssl._options.split_url`), our options read by the one reader, the command
line's options added (``--iam`` is ``aurora_ssl_iam=true``), and the rest parsed by libpq
(:func:`read_target`, which ``env`` reads its target with too). Without an argument the URL
comes from ``DATABASE_URL``, so no password needs to be typed on a command line (where ``ps``
and the shell history show it). The connection is made as the app makes it
(:func:`connector`): the policy's decision, a provider's password, the standard negotiation
after a failed direct attempt.

``check`` prints the same report as ``manage.py check_aurora_ssl``
(``_diagnostics._report.check_connection``); ``audit`` (and :func:`audit`) lists every
session of the database, on Aurora of every instance (what counts and the exit status:
:mod:`aurora_ssl._diagnostics._audit`). ``inspect`` reads the certificate the server presents,
without logging in (:func:`aurora_ssl._diagnostics._inspection.inspect_server`).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote

from aurora_ssl._connect import open_connection, provider_for
from aurora_ssl._diagnostics._audit import Audit, audit_sessions
from aurora_ssl._diagnostics._inspection import inspect_server
from aurora_ssl._diagnostics._report import check_connection, report_trust, reports_to_json
from aurora_ssl._diagnostics._wire import split_host_port
from aurora_ssl._endpoint import host_problem
from aurora_ssl._libpq import libpq_of, render
from aurora_ssl._options import PREFIX, PROVIDER_OBJECT, Options, read_options, split_url
from aurora_ssl._policy import Policy
from aurora_ssl._readback import require_tls
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl._trust import select_trust
from aurora_ssl.cli._common import EXIT_FAILED, EXIT_OK, UsageError, check_dsn, emit, given, warn
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError

#: The options the command line gives, by their names in a URL (``aurora_ssl_<name>``).
OPTIONS = ("bundle", "tls_server_name", "iam", "iam_profile", "password_provider")


class Target(NamedTuple):
    """One connection target: its libpq parameters, driver and our options."""

    params: dict[str, str]
    driver: str
    options: Options
    origin: str


def read_target(
    args: argparse.Namespace, text: str | None, *, driver: str, argv: bool = True
) -> Target:
    """Read the URL or connection string ``text`` ('-': stdin; empty: ``$DATABASE_URL``), with
    ``args.connect_timeout`` unless it sets one; ``argv``: it came from the command line (where
    a password is warned about).

    Raises:
        UsageError: the string cannot be used (a malformed value, an unknown option of ours).
    """
    from_argv = argv and bool(text) and text != "-"
    if text == "-":
        text = sys.stdin.readline().strip()
    elif not text:
        text = os.environ.get("DATABASE_URL", "")
    scheme_driver, rest, ours = split_url(text)
    origin = "the URL" if "://" in rest else "the connection string"
    ours.pop("plugin", None)  # SQLAlchemy's, not libpq's
    try:
        options = read_options(
            {**ours, **_command_line(args, ours, origin)}, f"{origin} and the command line"
        )
        if options.insecure_local_dev:
            raise InsecureConfigurationError(
                f"aurora_ssl_insecure_local_dev in {origin} turns verification off, and a check "
                "exists to verify: remove it to see what verify-full makes of this server."
            )
        chosen = _driver(driver if driver != "auto" else scheme_driver)
        if scheme_driver.startswith("aws_wrapper"):
            rest = _without_wrapper_properties(rest, libpq_of(chosen))
        params = libpq_of(chosen).parse(rest) if rest.strip() else {}
    except InsecureConfigurationError as exc:
        raise UsageError(str(exc)) from None
    if "log_level" in options.given:
        warn(
            "aurora_ssl_log_level sets the level of the per-connection line of the app's "
            "integrations; check does not use it."
        )
    if from_argv and params.get("password"):
        warn(
            "a password on the command line is visible to other users (ps, shell history); "
            "put the URL in DATABASE_URL and leave the argument out, or use PGPASSWORD."
        )
    if getattr(args, "connect_timeout", None) is not None:
        params.setdefault("connect_timeout", str(args.connect_timeout))
    check_dsn(params)
    return Target(params, chosen, options, origin)


def _command_line(args: argparse.Namespace, ours: dict[str, Any], origin: str) -> dict[str, Any]:
    """The command line's options in URL spelling (they win over the URL's, ``ours``: also
    over an object provider's placeholder), checked in its own words (``--iam``)."""
    if getattr(args, "iam_profile", None) and not args.iam and f"{PREFIX}iam" not in ours:
        raise UsageError("--iam-profile needs --iam.")  # --iam with a provider: read_options
    provider = getattr(args, "password_provider", None)
    if ours.get(f"{PREFIX}password_provider") == PROVIDER_OBJECT and not provider:
        raise UsageError(
            f"{origin} comes from an engine whose password provider was an object, which a "
            "URL cannot carry; give it with --password-provider MODULE:ATTR."
        )
    flags = {PREFIX + name: getattr(args, name, None) for name in OPTIONS}
    return {k: "true" if v is True else v for k, v in flags.items() if v not in (None, False)}


def _without_wrapper_properties(url: str, libpq: Any) -> str:
    """An AWS wrapper URL's query without the wrapper's own properties (``wrapper_dialect``,
    ``plugins``...): check and env connect to the host directly, with libpq."""
    base, _, query = url.partition("?")
    items = [item for item in query.split("&") if item]
    kept = [item for item in items if libpq.knows(unquote(item.split("=")[0]))]
    if len(kept) < len(items):
        warn(
            f"{len(items) - len(kept)} property(ies) of AWS's wrapper ignored: check connects "
            "without it."
        )
    return f"{base}?{'&'.join(kept)}" if kept else base


#: A URL's ``+driver`` -> the libpq driver check connects with ("": the one installed).
_LIBPQ_DRIVERS = {"aws_wrapper_psycopg": "psycopg", "auto": "", "asyncpg": "", "pg8000": ""}


def _driver(name: str) -> str:
    """The libpq driver for a URL's ``+driver`` (asyncpg and pg8000 URLs: the one installed)."""
    name = _LIBPQ_DRIVERS.get(name, name)
    if name not in ("", "psycopg", "psycopg2", "system"):
        raise UsageError(
            f"aurora-ssl connects with libpq (psycopg or psycopg2), not {name[:40]}; use a "
            "postgresql://, postgresql+psycopg:// or postgresql+asyncpg:// URL."
        )
    name = name or next((d for d in ("psycopg", "psycopg2") if importlib.util.find_spec(d)), "")
    if not name:
        raise UsageError(
            "aurora-ssl check needs a PostgreSQL driver: pip install 'aurora-ssl[psycopg]' "
            "(or [psycopg2])."
        )
    return name


def connector(target: Target, used: dict[str, Any]) -> Callable[[], Any]:
    """Connects as the app would: the policy's decision, a provider's password (one retry
    after a refused login), the standard negotiation after a failed direct attempt; ``used``
    gets what the connection was made with, for the report's read-back."""
    params, options = target.params, target.options
    try:
        provider = provider_for(options, target.origin if params.get("password") else None)
    except AuroraSSLError as exc:
        raise UsageError(str(exc)) from None

    def connect() -> Any:
        decision = Policy(options).decide(params, target.origin, driver=target.driver)
        used.update(decision.params)
        connect_to = importlib.import_module(target.driver).connect
        connection, made_with = open_connection(decision, connect_to, provider)
        used.update(made_with.params)
        return connection

    return connect


# -- the commands ----------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    """Connect with verify-full and report what the client and the server say.

    Connect once with aurora-ssl's policy (sslmode=verify-full, the selected RDS roots) and
    print the same report as `manage.py check_aurora_ssl`. Prefer PGPASSWORD or ~/.pgpass to
    a password in the DSN (visible in `ps`).
    """
    target = read_target(args, args.dsn, driver=args.driver)
    params, options = target.params, target.options
    host, port, user, database = (given(params, key) for key in ("host", "port", "user", "dbname"))
    where = f"{host}:{port}" if port else host
    label = f"{user}@{where}" if user else where
    label = f"{label}/{database}" if database else label or "(libpq defaults)"
    used: dict[str, Any] = {}
    report = check_connection(
        connector(target, used),
        label=shorten(mask_text(label)),
        host=host,
        port=port,
        trust=report_trust(options, host, params.get("sslrootcert")),
        settings=options,
        close=lambda connection: connection.close(),
        secrets=[given(params, "password")],
        expected=lambda: used,
        inspect=True,
    )
    strict = args.fail_on_warning
    text = reports_to_json([report], fail_on_warning=strict) if args.format == "json" else None
    print(text or report.to_text())
    return EXIT_OK if report.passed(fail_on_warning=strict) else EXIT_FAILED


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
    return target._replace(params=params, options=options)


def cmd_inspect(args: argparse.Namespace) -> int:
    """Show the server's certificate and whether verify-full accepts it.

    Send PostgreSQL's SSLRequest, read the certificate chain the server presents (without
    logging in), and check it against the roots aurora-ssl selects for HOST: trusted CA, host
    name, validity.
    """
    try:
        host, port = split_host_port(args.target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    problem = host_problem(host, "HOST")
    if problem:
        raise UsageError(problem)
    port = args.port or port
    trust = select_trust(host, bundle=args.bundle, sslrootcert=args.sslrootcert)
    print(f"aurora-ssl: inspecting {host}:{port} ...", file=sys.stderr)
    inspection = inspect_server(
        host,
        port,
        hostaddr=args.hostaddr,
        trust=trust,
        timeout=args.timeout,
        expiry_warning_days=args.warn_days,
    )
    emit(args, inspection.to_dict(), inspection.to_text())
    failed = not inspection.ok or (args.fail_on_warning and inspection.warnings)
    return EXIT_FAILED if failed else EXIT_OK
