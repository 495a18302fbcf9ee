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

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing._builds import fetch_server
from aurora_ssl.testing._pki import CA_FAMILIES, _write_private
from aurora_ssl.testing._server import AuroraLikeServer, Scenario


def server_env(server: AuroraLikeServer) -> dict[str, str]:
    """The settings a client needs: the ``AURORA_SSL_DEMO_*`` keys and ``DATABASE_URL``.

    The demo keys are what ``example_project`` and ``scripts/demo.sh`` read; ``DATABASE_URL``
    is what SQLAlchemy tools take as is.
    """
    env = {f"AURORA_SSL_DEMO_{key.upper()}": value for key, value in server.params().items()}
    return {
        **env,
        "AURORA_SSL_DEMO_BUNDLE": str(server.pki.bundle_path),
        "DATABASE_URL": server.database_url(),
    }


def _shell_lines(env: dict[str, str]) -> str:
    """``KEY='value'`` lines; single quotes make a shell read ``&``, ``$`` and spaces as they are
    (an unquoted ``&`` in a URL once cut it short), and a quote in a value is spelled ``'\\''``."""
    quoted = {key: "'" + value.replace("'", "'\\''") + "'" for key, value in env.items()}
    return "".join(f"{key}={value}\n" for key, value in quoted.items())


def _serve(server: AuroraLikeServer, env_file: Path | None, kept: bool) -> int:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in handlers:  # both stop the server the way Ctrl-C does
        signal.signal(sig, signal.default_int_handler)
    try:
        with server:
            lines = _shell_lines(server_env(server))
            print(lines, end="", flush=True)
            if env_file is not None:
                env_file.absolute().parent.mkdir(parents=True, exist_ok=True)
                _write_private(env_file.absolute(), lines.encode())
            where = f"; data kept in {server.socket_dir}" if kept else ""
            print(
                f"# {server.scenario.value} server ready on {server.hostaddr}:{server.port} as "
                f"{server.host}{where}; Ctrl-C (SIGINT) or SIGTERM stops it.",
                file=sys.stderr,
                flush=True,
            )
            try:
                while server.running:
                    time.sleep(0.2)
            except KeyboardInterrupt:  # a second signal must not cut the shutdown short
                for sig in handlers:
                    signal.signal(sig, signal.SIG_IGN)
                return 0
            print(f"# the server exited; log: {server.log_path}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:  # while starting: the server is stopped already
        return 0
    finally:
        if env_file is not None:
            env_file.unlink(missing_ok=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, not {text!r}")
    return int(text)


def _password(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("the password must not be empty")
    return text


def main(argv: list[str] | None = None) -> int:
    """Run one Aurora-like server until interrupted.

    Returns:
        The exit status: 0 after a clean stop, 1 if the server could not run.
    """
    parser = argparse.ArgumentParser(
        prog="python -m aurora_ssl.testing",
        description="A local Aurora-like PostgreSQL with an RDS-like TLS certificate chain.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="start a server, print its connection settings, stop on SIGINT/SIGTERM",
    )
    serve.add_argument("--scenario", choices=[s.value for s in Scenario], default="good")
    serve.add_argument(
        "--env-file",
        type=Path,
        help="also write the settings here, as KEY='value' lines a shell can source "
        "(owner-only; removed on exit)",
    )
    serve.add_argument(
        "--port", type=_port, default=0, help="TCP port on 127.0.0.1 (default: a free one)"
    )
    serve.add_argument(
        "--password",
        type=_password,
        help="the app role's password (default: random each run); visible in `ps`, so only "
        "for throwaway servers",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="keep the cluster (and the test PKI, in DIR/pki) here; reused when present",
    )
    serve.add_argument("--ca-family", choices=CA_FAMILIES, default="rsa2048")
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
        return _serve(server, args.env_file, kept=args.data_dir is not None)
    except (TestServerError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
