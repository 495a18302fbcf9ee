"""``aurora-ssl env``: the complete libpq parameters for psql, pg_dump and other libpq tools.

As PG* variables for a shell, one connection string, or JSON; rendering lives in
:mod:`aurora_ssl.libpq_env`, the parameters come from the policy as for any connection.
"""

from __future__ import annotations

import argparse
import os

from aurora_ssl.cli.common import EXIT_OK, emit_json, warn
from aurora_ssl.errors import AuroraSSLError
from aurora_ssl.redaction import shorten

__all__ = ["cmd_env"]


def cmd_env(args: argparse.Namespace) -> int:
    from aurora_ssl.libpq_env import (
        LIBPQ_ENV,
        UNSET,
        env_variables,
        for_libpq,
        render_conninfo,
        render_env,
        system_libpq_version,
    )
    from aurora_ssl.policy import Settings, policy_for
    from aurora_ssl.trust import select_trust

    given: dict[str, str] = {"host": args.host}
    if args.hostaddr:
        given["hostaddr"] = args.hostaddr
    if args.port is not None:
        given["port"] = str(args.port)
    # The output unsets PGSERVICE (variables) or outranks every key a service could set
    # (conninfo), so a service in this shell is not an input of what we print.
    environ = {k: v for k, v in os.environ.items() if k != "PGSERVICE"}
    major = args.libpq_version or system_libpq_version()  # psql's libpq, not a driver's
    secured = policy_for(Settings(bundle=args.bundle)).apply(
        given,
        "the command line",
        libpq_version=major * 10000 if major else None,
        environ=environ,
    )
    params = {key: str(value) for key, value in secured.items() if value is not None}
    warnings = list(select_trust(args.host, bundle=args.bundle).warnings)
    for warning in warnings:
        warn(warning)
    if args.format == "conninfo":
        version = args.libpq_version or system_libpq_version()
        try:
            print(render_conninfo(for_libpq(params, version)))
        except ValueError as exc:
            raise AuroraSSLError(str(exc)) from None
        return EXIT_OK
    try:
        variables = env_variables(params)
    except ValueError as exc:
        if args.format == "text":
            raise AuroraSSLError(
                f'{exc} Use psql "$(aurora-ssl env --format conninfo {shorten(args.host)})".'
            ) from None
        variables = {LIBPQ_ENV[k]: v for k, v in params.items() if k in LIBPQ_ENV}
        warnings.append(str(exc))
    if args.format == "json":
        emit_json(
            {
                "ok": True,
                "host": args.host,
                "params": params,
                "variables": variables,
                "unset": list(UNSET),
                "conninfo": render_conninfo(params),
                "warnings": warnings,
            }
        )
        return EXIT_OK
    print(render_env(variables, args.shell, unset=UNSET))
    return EXIT_OK
