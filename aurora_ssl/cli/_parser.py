"""The ``aurora-ssl`` argument parser: every command, option and value check in one place.

Why the value checks live here: a bad port, host name, number or path is refused while
parsing, as a one-line usage error (exit status 2) that says what to fix, before any
command runs. An option several commands take is declared once, in :data:`_OPTIONS`.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, NoReturn

from aurora_ssl._bundle_update import normalise_fingerprint
from aurora_ssl._endpoint import host_problem
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl.cli._audit import cmd_audit
from aurora_ssl.cli._bundle import cmd_bundle_info, cmd_bundle_path, cmd_bundle_update
from aurora_ssl.cli._check import cmd_check
from aurora_ssl.cli._common import EXIT_USAGE, address_problem, port_problem
from aurora_ssl.cli._env import cmd_env
from aurora_ssl.cli._inspect import cmd_inspect
from aurora_ssl.errors import BundleUpdateError


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


def _count(text: str, what: str) -> str | None:
    if text.isascii() and text.strip().isdigit() and int(text) <= 1_000_000:
        return None
    return f"{what} {shorten(text)!r} is not a whole number from 0 to 1000000, e.g. 30"


def _path(text: str, what: str) -> str | None:
    if text.strip() and "\x00" not in text:
        return None
    return f"{shorten(text)!r} is not a usable {what} (empty, or a NUL character)"


def _fingerprint(text: str) -> str:
    try:
        return normalise_fingerprint(text)
    except BundleUpdateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_FILE: dict[str, Any] = {"type": _checked(_path, "file path"), "metavar": "FILE"}
_SECONDS: dict[str, Any] = {"type": _checked(_seconds, "timeout", float), "metavar": "SECONDS"}
#: The options more than one command takes, and those of check and audit (_TARGET).
_OPTIONS: dict[str, dict[str, Any]] = {
    "--format": {"choices": ("text", "json"), "default": "text", "help": "output format"},
    "--bundle": {**_FILE, "help": "RDS bundle to select roots from (default: the one in use)"},
    "--fail-on-warning": {"action": "store_true", "help": "exit 1 also when there are warnings"},
    "--port": {"type": _checked(port_problem, "port", int), "help": "port (default: 5432)"},
    "--hostaddr": {
        "type": _checked(address_problem, "address"),
        "metavar": "IP",
        "help": "connect to this address; the host name is still the one verified",
    },
    "dsn": {
        "nargs": "?",
        "default": "",
        "metavar": "DSN",
        "help": "libpq connection string or URL, also a SQLAlchemy URL (postgresql+psycopg://"
        "...?plugin=aurora_ssl&aurora_ssl_bundle=...); '-' reads it from stdin; omitted: "
        "$DATABASE_URL, else the PG* environment variables",
    },
    "--tls-server-name": {
        "type": _checked(host_problem, "host name"),
        "metavar": "NAME",
        "help": "verify this RDS endpoint name while connecting to the DSN's host (CNAMEs)",
    },
    "--driver": {
        "choices": ("auto", "psycopg", "psycopg2"),
        "default": "auto",
        "help": "driver to connect with (default: from the URL scheme, else psycopg, else "
        "psycopg2)",
    },
    "--connect-timeout": {
        "type": _checked(_count, "connect timeout", int),
        "default": 10,
        "metavar": "SECONDS",
        "help": "libpq connect_timeout unless the DSN sets one (default: 10)",
    },
    "--iam": {
        "action": "store_true",
        "help": "log in with an RDS IAM token (AWS credentials from the standard chain; region "
        "from the endpoint name or AWS_REGION); needs aurora-ssl[iam]",
    },
    "--iam-profile": {"metavar": "PROFILE", "help": "AWS profile for --iam (default: AWS_PROFILE)"},
    "--password-provider": {
        "metavar": "MODULE:ATTR",
        "help": "log in with the password this function or provider returns (as "
        "aurora_ssl_password_provider / AURORA_SSL['PASSWORD_PROVIDER'])",
    },
}
_TARGET = ("dsn", "--format", "--bundle", "--tls-server-name", "--driver", "--connect-timeout")
_TARGET += ("--iam", "--iam-profile", "--password-provider")


def _add(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Callable[[argparse.Namespace], int],
    *options: str,
) -> argparse.ArgumentParser:
    """The command ``name``, run by ``handler``, with ``options`` from :data:`_OPTIONS`; its
    help is the handler's docstring (the first paragraph in the list of commands), as in click."""
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
        epilog="Exit status: 0 success, 1 not verified or refused, 2 usage error.",
    )
    parser.add_argument(
        "--version", action="version", version=f"aurora-ssl {version('aurora-ssl')}"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add(commands, "check", cmd_check, *_TARGET, "--fail-on-warning")
    _add(commands, "audit", cmd_audit, *_TARGET)
    options = ("--port", "--hostaddr", "--bundle", "--fail-on-warning", "--format")
    inspect = _add(commands, "inspect", cmd_inspect, *options)
    inspect.add_argument("target", metavar="HOST[:PORT]", help="endpoint to inspect")
    inspect.add_argument("--sslrootcert", **_FILE, help="check against this trust file instead")
    inspect.add_argument("--timeout", **_SECONDS, default=10.0, help="per step (default: 10)")
    inspect.add_argument(
        "--warn-days",
        type=_checked(_count, "days", int),
        default=30,
        metavar="DAYS",
        help="warn when the certificate expires within DAYS (default: 30)",
    )
    bundle = commands.add_parser("bundle", help="the RDS CA bundle: path, info, update")
    actions = bundle.add_subparsers(title="bundle commands", metavar="ACTION", required=True)
    path = _add(actions, "path", cmd_bundle_path, "--bundle", "--format")
    path.add_argument("host", nargs="?", type=_checked(host_problem, "host name"), metavar="HOST")
    _add(actions, "info", cmd_bundle_info, "--bundle", "--format")
    _add_update(_add(actions, "update", cmd_bundle_update, "--format"))
    env = _add(commands, "env", cmd_env, "--hostaddr", "--port", "--bundle")
    env.add_argument(
        "target",
        nargs="?",
        default="",
        metavar="URL|HOST",
        help="the same URL or connection string as check, or a host name; omitted: "
        "$DATABASE_URL; '-' reads it from stdin",
    )
    env.add_argument("--shell", choices=("sh", "fish", "powershell"), default="sh")
    env.add_argument(
        "--format",
        choices=("text", "json", "conninfo"),
        default="text",
        help="text: shell commands (default); json; conninfo: one libpq connection string",
    )
    return parser


def _add_update(update: argparse.ArgumentParser) -> None:
    source = update.add_mutually_exclusive_group()
    source.add_argument("--url", help="https:// URL of the bundle (default: AWS's global bundle)")
    source.add_argument("--from", dest="from_file", **_FILE, help="read a local file")
    update.add_argument(
        "--ca-file",
        **_FILE,
        help="CA file to verify the download server with (default: $AURORA_SSL_UPDATE_CAFILE, "
        "else certifi's roots)",
    )
    update.add_argument("--timeout", **_SECONDS, default=30.0, help="network timeout")
    update.add_argument(
        "--accept-root",
        action="append",
        default=[],
        type=_fingerprint,
        metavar="SHA256",
        help="install the bundle although it holds this root, which aurora-ssl does not know "
        "(its SHA-256 fingerprint as the refusal printed it; repeatable)",
    )
    update.add_argument("--dry-run", action="store_true", help="validate and compare only")
