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
from collections.abc import Callable
from typing import Any

from aurora_ssl._libpq import system_library, system_options
from aurora_ssl._policy import Policy
from aurora_ssl.cli._check import read_target
from aurora_ssl.cli._common import EXIT_OK, emit
from aurora_ssl.errors import AuroraSSLError

#: Per shell: the line that unsets PGSERVICE, one variable's assignment, and what joins them.
_SHELLS: dict[str, tuple[str, Callable[[str, str], str], str]] = {
    "sh": ("unset PGSERVICE\nexport", lambda n, v: f"{n}={shlex.quote(v)}", " "),
    "fish": (
        "set -e PGSERVICE;",
        lambda n, v: "set -gx {} '{}';".format(n, v.replace("\\", "\\\\").replace("'", "\\'")),
        "\n",
    ),
    "powershell": (
        "Remove-Item Env:PGSERVICE -ErrorAction SilentlyContinue",
        lambda n, v: "$env:{} = '{}'".format(n, v.replace("'", "''")),
        "\n",
    ),
}


def cmd_env(args: argparse.Namespace) -> int:
    """Print the checked libpq parameters for psql, pg_dump and other libpq tools.

    Print every parameter aurora-ssl would pass (sslmode=verify-full, the selected roots, and
    the rest of its explicit set) for libpq tools, checked with this machine's libpq:
    psql "$(aurora-ssl env --format conninfo)" passes one connection string, whose keys outrank
    service files and PG* variables; eval "$(aurora-ssl env)" sets PG* variables and unsets
    PGSERVICE. The password is never printed.
    """
    text = args.dsn
    if text and "://" not in text and "=" not in text and text != "-":
        text = f"host='{text}'"  # a bare host name
    target = read_target(args, text, driver="system")
    params = {k: v for k, v in target.params.items() if k != "password"}
    if args.hostaddr:
        params["hostaddr"] = args.hostaddr
    if args.port is not None:
        params["port"] = str(args.port)
    # The output unsets PGSERVICE (variables) or outranks every key a service could set
    # (conninfo), so a service in this shell is not an input of what we print.
    environ = {k: v for k, v in os.environ.items() if k != "PGSERVICE"}
    decision = Policy(target.options).decide(
        params, target.origin, driver="system", environ=environ
    )
    library = system_library()
    envvars = {key: var for key, var, _, _ in system_options(library)} if library else {}
    variables = {str(envvars[k]): v for k, v in decision.params.items() if envvars.get(k)}
    missing = sorted(k for k, v in decision.params.items() if v and not envvars.get(k))
    if missing and args.format == "text":
        raise AuroraSSLError(
            f"{', '.join(missing)} cannot be set through environment variables (libpq has none "
            'for them); use psql "$(aurora-ssl env --format conninfo ...)".'
        )
    unset, line, joiner = _SHELLS[args.shell]
    shell = joiner.join([unset, *(line(name, value) for name, value in variables.items())])
    data: dict[str, Any] = {"ok": True, "params": decision.params, "variables": variables}
    data.update(unset=["PGSERVICE"], conninfo=decision.conninfo, warnings=decision.trust.warnings)
    emit(args, data, shell if args.format == "text" else decision.conninfo)
    return EXIT_OK
