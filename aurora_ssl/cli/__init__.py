"""The ``aurora-ssl`` command line (also ``python -m aurora_ssl``).

Subcommands::

    aurora-ssl check [DSN]              connect with verify-full and report (like check_aurora_ssl)
    aurora-ssl audit [DSN]              every session of the database (each Aurora instance): TLS?
    aurora-ssl inspect HOST[:PORT]      show and check the certificate the server presents
    aurora-ssl bundle path [HOST]       the trust file libpq should use (for psql's sslrootcert)
    aurora-ssl bundle info              the RDS bundle in use: source, age, certificates
    aurora-ssl bundle update            fetch, validate and install AWS's current bundle
    aurora-ssl env [URL|HOST]           the complete libpq parameters for psql, pg_dump ...

Results go to stdout, progress, warnings and errors to stderr; ``--format json`` gives a JSON
document on stdout wherever a command reports. Exit status: 0 success (verified), 1 not
verified or refused, 2 usage error (a bad option value, host name, port or URL key: one line
on stderr that says what to fix); ``audit`` also 3 (a session without TLS) and 4 (sessions
hidden from the role). No input produces a traceback, and nothing printed contains
a password (:mod:`aurora_ssl._redaction`).

Layout: this module declares every command and option (an option several commands take, once,
in :data:`_OPTIONS`; a command's help is its handler's docstring, as in click), runs a command
and turns every error into one line and an exit status. The commands do the work in
:mod:`~aurora_ssl.cli._check` (``check``, ``audit``, ``inspect``, and reading what ``check``,
``audit`` and ``env`` connect to), :mod:`~aurora_ssl.cli._bundle` and
:mod:`~aurora_ssl.cli._env`; :mod:`~aurora_ssl.cli._common` holds what they all share, the
value checks among it: a bad port, host name, number or path is refused while parsing, as a
usage error that says what to fix, before any command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any, NoReturn

from aurora_ssl._bundle_update import normalise_fingerprint
from aurora_ssl._endpoint import host_problem
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl.cli._bundle import cmd_bundle_info, cmd_bundle_path, cmd_bundle_update
from aurora_ssl.cli._check import cmd_audit, cmd_check, cmd_inspect
from aurora_ssl.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    address_problem,
    count_problem,
    emit,
    port_problem,
)
from aurora_ssl.cli._env import cmd_env
from aurora_ssl.errors import AuroraSSLError, BundleUpdateError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status instead of exiting.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logger = logging.getLogger("aurora_ssl")  # its warnings: the commands print them, once
    quiet, logger.disabled = logger.disabled, True
    try:
        return int(args.handler(args))
    except AuroraSSLError as exc:  # a UsageError too: bad input
        return _fail(args, exc, EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED)
    except KeyboardInterrupt:
        print("aurora-ssl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `aurora-ssl bundle info | head`: the reader left; fine
        with contextlib.suppress(OSError, ValueError, AttributeError):
            # stdout to /dev/null, so the interpreter's final flush does not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a bug must still not print a traceback
        return _fail(args, exc, bug=True)
    finally:
        logger.disabled = quiet


def _fail(
    args: argparse.Namespace, exc: Exception, status: int = EXIT_FAILED, bug: bool = False
) -> int:
    """One line on stderr (a refused bundle update keeps its lines: the roots, the command),
    and with ``--format json`` the error as a document on stdout."""
    text = str(exc) if isinstance(exc, BundleUpdateError) else " ".join(str(exc).split())
    message = mask_text(text)
    if bug:
        message = (
            f"unexpected {type(exc).__name__}: {message} (this is a bug in aurora-ssl; please "
            "report it with the command you ran, without secrets)"
        )
    print(f"aurora-ssl: error: {message}", file=sys.stderr)
    if args.format == "json":
        emit(args, {"ok": False, "error": {"code": type(exc).__name__, "message": message}}, "")
    return status


# -- the parser ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what is wrong, and where help is), never a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {mask_text(message)} (see --help)\n")


def _checked(
    problem: Callable[[str, str], str | None], what: str, convert: Callable[[str], Any] = str
) -> Callable[[str], Any]:
    """An argparse type: ``convert(text)``, unless ``problem`` finds one (a usage error)."""

    def check(text: str) -> Any:
        found = problem(text, what)
        if found:
            raise argparse.ArgumentTypeError(found.rstrip("."))
        return convert(text)

    return check


def _seconds(text: str, what: str) -> str | None:
    with contextlib.suppress(ValueError):
        if 0 < float(text) <= 86400:  # NaN and infinity are refused too
            return None
    return f"{what} {shorten(text)!r} is not a number greater than 0 and at most 86400, e.g. 10"


def _path(text: str, what: str) -> str | None:
    if text.strip() and "\x00" not in text:
        return None
    return f"{shorten(text)!r} is not a usable {what} (empty, or a NUL character)"


def _fingerprint(text: str) -> str:
    try:
        return normalise_fingerprint(text)
    except BundleUpdateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_HOST = _checked(host_problem, "host name")
_FILE = _checked(_path, "file path")
_SECONDS = _checked(_seconds, "timeout", float)
_ADDRESS = _checked(address_problem, "address")
#: The options more than one command takes, and those of check and audit (_TARGET, _LOGIN).
_OPTIONS: dict[str, dict[str, Any]] = {
    "--format": {"choices": ("text", "json"), "default": "text", "help": "output format"},
    "--bundle": {"type": _FILE, "metavar": "FILE", "help": "RDS bundle to select roots from"},
    "--fail-on-warning": {"action": "store_true", "help": "exit 1 also when there are warnings"},
    "--port": {"type": _checked(port_problem, "port", int), "help": "port (default: 5432)"},
    "--hostaddr": {"type": _ADDRESS, "metavar": "IP", "help": "connect to IP; verify the name"},
    "dsn": {
        "nargs": "?",
        "default": "",
        "metavar": "DSN",
        "help": "libpq connection string or URL, a SQLAlchemy one too (env: also a host name); "
        "'-' reads it from stdin; omitted: $DATABASE_URL, else the PG* variables",
    },
    "--tls-server-name": {
        "type": _HOST,
        "metavar": "NAME",
        "help": "the RDS name to verify (CNAMEs)",
    },
    "--driver": {"choices": ("auto", "psycopg", "psycopg2"), "default": "auto"},
    "--connect-timeout": {
        "type": _checked(count_problem, "connect timeout", int),
        "default": 10,
        "metavar": "SECONDS",
        "help": "unless the DSN sets one (default: 10)",
    },
    "--iam": {"action": "store_true", "help": "log in with an RDS IAM token (aurora-ssl[iam])"},
    "--iam-profile": {"metavar": "PROFILE", "help": "AWS profile for --iam"},
    "--password-provider": {"metavar": "MODULE:ATTR", "help": "log in with its password"},
}
_TARGET = ("dsn", "--format", "--bundle", "--tls-server-name", "--driver", "--connect-timeout")
_LOGIN = ("--iam", "--iam-profile", "--password-provider")


def _add(
    commands: argparse._SubParsersAction[Any],
    name: str,
    handler: Callable[[argparse.Namespace], int],
    *options: str,
) -> argparse.ArgumentParser:
    """The command ``name``, run by ``handler``, with ``options`` from :data:`_OPTIONS`; its
    help is the handler's docstring (the first paragraph in the list of commands)."""
    doc = handler.__doc__ or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    command: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=doc)
    command.set_defaults(handler=handler)
    for option in options:
        command.add_argument(option, **_OPTIONS[option])
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aurora-ssl",
        description="Verified TLS (sslmode=verify-full + the right Amazon RDS roots) for Aurora "
        "/ RDS PostgreSQL: check connections, inspect certificates, manage the CA bundle.",
        epilog="Exit status: 0 success, 1 not verified or refused, 2 usage error; audit also 3 "
        "(a session without TLS) and 4 (sessions hidden from the role).",
    )
    parser.add_argument(
        "--version", action="version", version=f"aurora-ssl {version('aurora-ssl')}"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add(commands, "check", cmd_check, *_TARGET, *_LOGIN, "--fail-on-warning")
    _add(commands, "audit", cmd_audit, *_TARGET, *_LOGIN)
    options = ("--port", "--hostaddr", "--bundle", "--fail-on-warning", "--format")
    inspect = _add(commands, "inspect", cmd_inspect, *options)
    inspect.add_argument("target", metavar="HOST[:PORT]", help="endpoint to inspect")
    inspect.add_argument("--sslrootcert", type=_FILE, metavar="FILE", help="trust this file")
    inspect.add_argument("--timeout", type=_SECONDS, default=10.0, help="per step (default: 10)")
    inspect.add_argument(
        "--warn-days",
        type=_checked(count_problem, "days", int),
        default=30,
        help="warn when the certificate expires within this many days (default: 30)",
    )
    bundle = commands.add_parser("bundle", help="The RDS CA bundle: path, info, update.")
    actions = bundle.add_subparsers(title="bundle commands", metavar="ACTION", required=True)
    _add(actions, "path", cmd_bundle_path, "--bundle", "--format").add_argument(
        "host", nargs="?", type=_HOST, help="endpoint host name"
    )
    _add(actions, "info", cmd_bundle_info, "--bundle", "--format")
    update = _add(actions, "update", cmd_bundle_update, "--format")
    source = update.add_mutually_exclusive_group()
    source.add_argument("--url", help="https:// URL of the bundle (default: AWS's global bundle)")
    source.add_argument("--from", dest="from_file", type=_FILE, metavar="FILE", help="read a file")
    update.add_argument(
        "--ca-file",
        dest="cafile",
        type=_FILE,
        metavar="FILE",
        help="CA file to verify the download server with (default: $AURORA_SSL_UPDATE_CAFILE, "
        "else certifi's roots)",
    )
    update.add_argument("--timeout", type=_SECONDS, default=30.0, help="network timeout")
    update.add_argument(
        "--accept-root",
        dest="accept_roots",
        action="append",
        default=[],
        type=_fingerprint,
        metavar="SHA256",
        help="install the bundle although it holds this root, which aurora-ssl does not know "
        "(its SHA-256 fingerprint as the refusal printed it; repeatable)",
    )
    update.add_argument("--dry-run", action="store_true", help="validate and compare only")
    env = _add(commands, "env", cmd_env, "dsn", "--hostaddr", "--port", "--bundle")
    env.add_argument("--shell", choices=("sh", "fish", "powershell"), default="sh")
    env.add_argument("--format", choices=("text", "json", "conninfo"), default="text")
    return parser
