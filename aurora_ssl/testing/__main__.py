"""``python -m aurora_ssl.testing serve``: one Aurora-like server for demos and local development.

It prints the connection settings as ``KEY='value'`` lines a shell can source (and writes them
to ``--env-file``, owner-only, atomically), including a ready ``DATABASE_URL`` (SQLAlchemy,
with the aurora-ssl plugin and the test bundle), then runs until SIGINT or SIGTERM.
``--data-dir`` keeps the cluster between runs.

``python -m aurora_ssl.testing fetch-server 17`` downloads and caches a PostgreSQL build and
prints its ``bin`` directory (for ``AURORA_SSL_PG_BINDIR``; CI runs it before the tests).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import get_args

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing._builds import fetch_server
from aurora_ssl.testing._pki import CAFamily, _write_private
from aurora_ssl.testing._server import AuroraLikeServer, Scenario


def _shell_lines(server: AuroraLikeServer) -> str:
    """The settings a client needs as ``KEY='value'`` lines: the ``AURORA_SSL_DEMO_*`` keys
    (what ``example_project`` and ``scripts/demo.sh`` read) and ``DATABASE_URL`` (what
    SQLAlchemy tools take as is).

    Single quotes make a shell read ``&``, ``$`` and spaces as they are (an unquoted ``&`` in a
    URL once cut it short), and a quote in a value is spelled ``'\\''``.
    """
    env = {f"AURORA_SSL_DEMO_{key.upper()}": value for key, value in server.params().items()}
    env["AURORA_SSL_DEMO_BUNDLE"] = str(server.pki.bundle_path)
    env["DATABASE_URL"] = server.database_url()
    quoted = {key: value.replace("'", "'\\''") for key, value in env.items()}
    return "".join(f"{key}='{value}'\n" for key, value in quoted.items())


def _serve(server: AuroraLikeServer, env_file: Path | None) -> int:
    # SIGTERM stops the server the way Ctrl-C (SIGINT) does: with a KeyboardInterrupt.
    signals = (signal.SIGINT, signal.SIGTERM)
    handlers = {sig: signal.signal(sig, signal.default_int_handler) for sig in signals}
    try:
        server.start()
        lines = _shell_lines(server)
        print(lines, end="", flush=True)
        if env_file is not None:
            env_file.parent.mkdir(parents=True, exist_ok=True)
            _write_private(env_file, lines.encode())
        print(
            f"# {server.scenario.value} server ready on {server.hostaddr}:{server.port} as "
            f"{server.host}, files in {server.socket_dir}; Ctrl-C (SIGINT) or SIGTERM stops it.",
            file=sys.stderr,
            flush=True,
        )
        while server.running:
            time.sleep(0.2)
        raise server._failed("The server exited.")
    except KeyboardInterrupt:
        return 0
    finally:
        for sig in signals:  # a second signal must not cut the shutdown short
            signal.signal(sig, signal.SIG_IGN)
        server.stop()
        if env_file is not None:
            env_file.unlink(missing_ok=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Run one Aurora-like server until interrupted, or fetch a server build.

    Returns:
        The exit status: 0 after a clean stop, 1 if the server could not run, 2 for bad
        arguments.
    """
    parser = argparse.ArgumentParser(
        prog="python -m aurora_ssl.testing",
        description="A local Aurora-like PostgreSQL with an RDS-like TLS certificate chain.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="start a server, print its connection settings, stop on SIGINT/SIGTERM"
    )
    serve.add_argument("--scenario", choices=[s.value for s in Scenario], default="good")
    serve.add_argument(
        "--env-file",
        type=Path,
        help="also write the settings here, as KEY='value' lines a shell can source "
        "(owner-only; removed on exit)",
    )
    serve.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve.add_argument(
        "--password",
        help="the app role's password (default: random each run); visible in `ps`, so only "
        "for throwaway servers",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="keep the cluster (and the test PKI, in DIR/pki) here; reused when present",
    )
    serve.add_argument("--ca-family", choices=get_args(CAFamily), default="rsa2048")
    fetch = commands.add_parser(
        "fetch-server", help="download a PostgreSQL build (once) and print its bin directory"
    )
    fetch.add_argument("version", help="a major version such as 17, or a release such as 17.11.0")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch-server":
            print(fetch_server(args.version))
            return 0
        server = AuroraLikeServer(
            args.scenario,
            password=args.password,
            port=args.port,
            keep_dir=args.data_dir,
            ca_family=args.ca_family,
        )
        return _serve(server, args.env_file and args.env_file.absolute())
    except ValueError as exc:  # an argument the server or the build cannot take
        parser.error(str(exc))
    except (TestServerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
