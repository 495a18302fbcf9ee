"""``aurora-ssl check`` and ``inspect``: is this connection verified, and what does the server
present?

``check`` connects once with the policy and prints the same report as
``manage.py check_aurora_ssl`` (``_diagnostics._report.check_connection``), for a URL (also a
SQLAlchemy one), a libpq connection string, ``$DATABASE_URL`` or the PG* environment; the login
can use an IAM token or a password provider. ``inspect`` reads the certificate the server
presents, without logging in (:func:`aurora_ssl._diagnostics._inspection.inspect_server`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from aurora_ssl._diagnostics._inspection import inspect_server
from aurora_ssl._diagnostics._report import check_connection, reports_ok, reports_to_json
from aurora_ssl._diagnostics._wire import split_host_port
from aurora_ssl._endpoint import host_problem
from aurora_ssl._policy import policy_for
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl._trust import TrustSelection, select_trust
from aurora_ssl.cli._common import EXIT_FAILED, EXIT_OK, UsageError, emit
from aurora_ssl.cli._target import connector, given, read_target
from aurora_ssl.errors import AuroraSSLError


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
    trust: TrustSelection | None = None
    with contextlib.suppress(AuroraSSLError):  # the connection attempt reports it
        trust = policy_for(options).trust(
            options.tls_server_name or host, params.get("sslrootcert")
        )
    used: dict[str, Any] = {}
    report = check_connection(
        connector(target, used),
        label=shorten(mask_text(label)),
        host=host,
        port=port,
        trust=trust,
        settings=options,
        close=lambda connection: connection.close(),
        secrets=[given(params, "password")],
        expected=lambda: used,
        inspect=True,
    )
    strict = args.fail_on_warning
    print(
        reports_to_json([report], fail_on_warning=strict)
        if args.format == "json"
        else report.to_text()
    )
    return EXIT_OK if reports_ok([report], fail_on_warning=strict) else EXIT_FAILED


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
