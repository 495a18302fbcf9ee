"""``aurora-ssl env``: the checked libpq parameters for psql, pg_dump and other libpq tools.

It takes the same URL or connection string as ``check`` (or a host name, or ``$DATABASE_URL``)
and prints what psql must get: one connection string (``--format conninfo``, whose keys
outrank service files and the environment), ``PG*`` variables after ``unset PGSERVICE``, or
JSON. It is checked with the system's libpq, the one psql loads, so every key is one psql
knows. The password is never printed: psql takes it from ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import argparse
import os
import shlex

from aurora_ssl._libpq import system_library, system_options
from aurora_ssl._policy import policy_for
from aurora_ssl.cli._check import _validate_destination
from aurora_ssl.cli._common import EXIT_OK, emit_json, warn
from aurora_ssl.cli._target import read_target
from aurora_ssl.errors import AuroraSSLError


def cmd_env(args: argparse.Namespace) -> int:
    text = args.target
    if text and "://" not in text and "=" not in text and text != "-":
        text = f"host='{text}'"  # a bare host name
    target = read_target(args, text, driver="system")
    params = {k: v for k, v in target.params.items() if k != "password"}
    if args.hostaddr:
        params["hostaddr"] = args.hostaddr
    if args.port is not None:
        params["port"] = str(args.port)
    _validate_destination(params)  # a bad host or port is a usage error, as for check
    # The output unsets PGSERVICE (variables) or outranks every key a service could set
    # (conninfo), so a service in this shell is not an input of what we print.
    environ = {k: v for k, v in os.environ.items() if k != "PGSERVICE"}
    decision = policy_for(target.options).decide(
        params, target.origin, driver="system", environ=environ
    )
    for warning in decision.trust.warnings:
        warn(warning)
    if args.format == "conninfo":
        print(decision.conninfo)
        return EXIT_OK
    library = system_library()
    envvars = {key: var for key, var, _, _ in system_options(library)} if library else {}
    variables = {str(envvars[k]): v for k, v in decision.params.items() if envvars.get(k)}
    missing = sorted(k for k, v in decision.params.items() if v and not envvars.get(k))
    if missing and args.format == "text":
        raise AuroraSSLError(
            f"{', '.join(missing)} cannot be set through environment variables (libpq has none "
            'for them); use psql "$(aurora-ssl env --format conninfo ...)".'
        )
    if args.format == "json":
        emit_json({"ok": True, "params": decision.params, "variables": variables,
                   "unset": ["PGSERVICE"], "conninfo": decision.conninfo,
                   "warnings": list(decision.trust.warnings)})  # fmt: skip
        return EXIT_OK
    print(_shell(variables, args.shell))
    return EXIT_OK


def _shell(variables: dict[str, str], shell: str) -> str:
    if shell == "fish":
        quoted = {
            n: "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for n, v in variables.items()
        }
        return "\n".join(["set -e PGSERVICE;", *(f"set -gx {n} {v};" for n, v in quoted.items())])
    if shell == "powershell":
        lines = ["Remove-Item Env:PGSERVICE -ErrorAction SilentlyContinue"]
        return "\n".join(
            [
                *lines,
                *(f"$env:{n} = '{v.replace(chr(39), chr(39) * 2)}'" for n, v in variables.items()),
            ]
        )
    return "unset PGSERVICE\nexport " + " ".join(
        f"{n}={shlex.quote(v)}" for n, v in variables.items()
    )
