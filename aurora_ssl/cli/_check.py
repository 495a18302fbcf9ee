"""``aurora-ssl check``: connect once with the policy and report what client and server say.

The same report as ``manage.py check_aurora_ssl`` (``_diagnostics.check_connection``), for
a URL (also a SQLAlchemy one), a libpq connection string, ``$DATABASE_URL`` or the PG*
environment; the login can use an IAM token or a password provider.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable
from typing import Any

from aurora_ssl._connect import login, provider_for
from aurora_ssl._endpoint import host_problem
from aurora_ssl._policy import connect_with_fallback, policy_for
from aurora_ssl._readback import server_version
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl._trust import TrustSelection
from aurora_ssl.cli._common import EXIT_FAILED, EXIT_OK, UsageError
from aurora_ssl.cli._target import Target, connect_function, read_target
from aurora_ssl.errors import AuroraSSLError


def cmd_check(args: argparse.Namespace) -> int:
    from aurora_ssl._diagnostics import check_connection, reports_ok, reports_to_json

    target = read_target(args, args.dsn, driver=args.driver)
    params, options = target.params, target.options
    params.setdefault("connect_timeout", str(args.connect_timeout))
    _validate_destination(params)
    host = str(params.get("host") or os.environ.get("PGHOST") or "")
    port = params.get("port") or os.environ.get("PGPORT") or None
    secret = str(params.get("password") or os.environ.get("PGPASSWORD") or "")
    trust: TrustSelection | None = None
    with contextlib.suppress(AuroraSSLError):  # the connection attempt reports it
        trust = policy_for(options).trust(
            options.tls_server_name or host, params.get("sslrootcert")
        )
    used: dict[str, Any] = {}
    report = check_connection(
        _connector(target, used),
        label=shorten(mask_text(_label(params, host, port))),
        host=host,
        port=port,
        trust=trust,
        settings=options,
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


def _connector(target: Target, used: dict[str, Any]) -> Callable[[], Any]:
    """Connects as the app would: the policy's decision, a provider's password (one retry
    after a refused login), the standard negotiation after a failed direct attempt; ``used``
    gets what the connection was made with, for the report's read-back."""
    params, options = target.params, target.options
    try:
        provider = provider_for(options, target.origin if params.get("password") else None)
    except AuroraSSLError as exc:
        raise UsageError(str(exc)) from None
    policy = policy_for(options)

    def connect() -> Any:
        decision = policy.decide(params, target.origin, driver=target.driver)
        used.update(decision.params)
        connect_to = connect_function(target.driver)

        def attempt(password: str | None) -> Any:
            connection, made_with = connect_with_fallback(
                decision,
                lambda j: connect_to(j.with_password(password) if password else j.conninfo),
            )
            used.update(made_with.params)
            made_with.connected(server_version(connection))
            return connection

        try:
            if provider is None:
                return attempt(None)
            from aurora_ssl.credentials import connect_with_password

            user = decision.params.get("user") or os.environ.get("PGUSER")
            host = options.tls_server_name or decision.params["host"]
            return connect_with_password(
                provider, login(host, decision.params.get("port"), user), attempt
            )
        except AuroraSSLError:
            raise
        except Exception as exc:
            from aurora_ssl._diagnostics import translate_error

            shown = {k: v for k, v in decision.params.items() if k != "password"}
            translated = translate_error(exc, params=shown)
            if translated is None:
                raise
            raise translated from exc

    return connect


def _validate_destination(params: dict[str, str]) -> None:
    """Say which value is wrong before libpq blames name resolution (``port=abc``)."""
    from aurora_ssl._endpoint import is_ip

    for key, variable in (("host", "PGHOST"), ("hostaddr", "PGHOSTADDR"), ("port", "PGPORT")):
        given = params.get(key)
        where = f"the DSN's {key}" if given is not None else variable
        for item in str(given if given is not None else os.environ.get(variable) or "").split(","):
            item = item.strip()
            if not item or (key == "host" and item.startswith(("/", "@"))):
                continue  # a default, or a socket directory (the policy refuses those)
            if key == "host":
                problem = host_problem(item, where)
            elif key == "hostaddr":
                problem = (
                    None if is_ip(item) else f"{where} {shorten(item)!r} is not an IP address."
                )
            else:
                problem = (
                    None
                    if item.isdigit() and 0 < int(item) < 65536
                    else f"{where} {shorten(item)!r} is not a port number (1-65535)."
                )
            if problem:
                raise UsageError(problem)
    timeout = str(params.get("connect_timeout") or "")
    if timeout and not (timeout.strip().lstrip("-").isdigit() and timeout.isascii()):
        raise UsageError(
            f"connect_timeout {shorten(timeout)!r} in the DSN is not a whole number of seconds."
        )


def _label(params: dict[str, str], host: str, port: Any) -> str:
    user = params.get("user") or os.environ.get("PGUSER") or ""
    database = params.get("dbname") or os.environ.get("PGDATABASE") or ""
    where = f"{host}:{port}" if port else host
    label = f"{user}@{where}" if user else where
    return f"{label}/{database}" if database else label or "(libpq defaults)"
