"""``aurora-ssl inspect``: show the server's certificate and check it, without logging in.

The work is :func:`aurora_ssl._diagnostics.inspect_server`; this module turns the
command line into its arguments and prints the result.
"""

from __future__ import annotations

import argparse
import sys

from aurora_ssl._endpoint import host_problem
from aurora_ssl.cli._common import EXIT_FAILED, EXIT_OK, UsageError, emit_json


def cmd_inspect(args: argparse.Namespace) -> int:
    from aurora_ssl._diagnostics import inspect_server, split_host_port
    from aurora_ssl._trust import select_trust

    try:
        host, port = split_host_port(args.target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    problem = host_problem(host, "HOST")
    if problem:
        raise UsageError(problem)
    if args.port is not None:
        port = args.port
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
    if args.format == "json":
        emit_json(inspection.to_dict())
    else:
        print(inspection.to_text())
    failed = not inspection.ok or (args.fail_on_warning and inspection.warnings)
    return EXIT_FAILED if failed else EXIT_OK
