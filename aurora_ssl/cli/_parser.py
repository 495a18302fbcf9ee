"""The ``aurora-ssl`` argument parser: every command, option and value check in one place.

Why the value checks live here: a bad port, host name, number or path is refused while
parsing, as a one-line usage error (exit status 2) that says what to fix, before any
command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from aurora_ssl._endpoint import host_problem, is_ip
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl.cli import _credentials
from aurora_ssl.cli._audit import cmd_audit
from aurora_ssl.cli._bundle import cmd_bundle_info, cmd_bundle_path, cmd_bundle_update
from aurora_ssl.cli._check import cmd_check
from aurora_ssl.cli._common import EXIT_USAGE
from aurora_ssl.cli._env import cmd_env
from aurora_ssl.cli._inspect import cmd_inspect

_SHELLS = ("sh", "fish", "powershell")
_MAX_SECONDS = 86400.0

# --------------------------------------------------------------------------------- values


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what is wrong, and where help is), never a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {mask_text(message)} (see --help)\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= _MAX_SECONDS:  # also refuses NaN
        raise argparse.ArgumentTypeError(
            f"{shorten(text)!r} is not a number of seconds; give a number greater than 0 and "
            f"at most {_MAX_SECONDS:g}, e.g. 10"
        )
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.strip().isdigit()) or int(text) > 1_000_000:
        raise argparse.ArgumentTypeError(
            f"{shorten(text)!r} is not a whole number from 0 to 1000000; e.g. 30"
        )
    return int(text)


def _fingerprint(text: str) -> str:
    from aurora_ssl._bundle_update import normalise_fingerprint
    from aurora_ssl.errors import BundleUpdateError

    try:
        return normalise_fingerprint(text)
    except BundleUpdateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit() and 0 < int(text) < 65536):
        raise argparse.ArgumentTypeError(f"port {shorten(text)!r} is not a port number (1-65535)")
    return int(text)


def _host(text: str) -> str:
    problem = host_problem(text, "host name")
    if problem:
        raise argparse.ArgumentTypeError(problem.strip())
    return text


def _path(text: str) -> str:
    if not text.strip() or "\x00" in text:
        raise argparse.ArgumentTypeError(
            f"{shorten(text)!r} is not a usable file path (empty, or a NUL character)"
        )
    return text


def _address(text: str) -> str:
    if not is_ip(text):
        raise argparse.ArgumentTypeError(
            f"address {shorten(text)!r} is not an IP address (put names in the host)"
        )
    return text


# --------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    __version__ = version("aurora-ssl")
    parser = _Parser(
        prog="aurora-ssl",
        description=(
            "Verified TLS (sslmode=verify-full + the right Amazon RDS roots) for Aurora / RDS "
            "PostgreSQL: check connections, inspect certificates, manage the CA bundle."
        ),
        epilog="Exit status: 0 success, 1 not verified or refused, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"aurora-ssl {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="connect with verify-full and report what the client and the server say",
        description=(
            "Connect once with aurora-ssl's policy (sslmode=verify-full, the selected RDS "
            "roots) and print the same report as `manage.py check_aurora_ssl`. Prefer "
            "PGPASSWORD or ~/.pgpass to a password in the DSN (visible in `ps`)."
        ),
    )
    _add_target(check)
    check.add_argument(
        "--fail-on-warning", action="store_true", help="exit 1 also when there are warnings"
    )
    check.set_defaults(handler=cmd_check)

    audit = commands.add_parser(
        "audit",
        help="list every session of the database (every Aurora instance) and whether it uses TLS",
        description=(
            "Connect with verify-full as `check` does and list every client session with its "
            "TLS state (pg_stat_ssl, pg_stat_activity); on Aurora, on every instance of the "
            "cluster. Unix-socket and loopback sessions are listed apart and not counted."
        ),
        epilog="Exit status: 0 every session visible and on TLS, 3 a session without TLS, "
        "4 sessions hidden from the role (GRANT pg_read_all_stats), 1 not verified or "
        "unreachable, 2 usage error.",
    )
    _add_target(audit)
    audit.set_defaults(handler=cmd_audit)

    inspect = commands.add_parser(
        "inspect",
        help="show the server's certificate and whether verify-full accepts it",
        description=(
            "Send PostgreSQL's SSLRequest, read the certificate chain the server presents "
            "(without logging in), and check it against the roots aurora-ssl selects for HOST: "
            "trusted CA, host name, validity."
        ),
    )
    inspect.add_argument("target", metavar="HOST[:PORT]", help="endpoint to inspect")
    inspect.add_argument("--port", type=_port, help="port (default: from HOST:PORT, else 5432)")
    inspect.add_argument(
        "--hostaddr",
        type=_address,
        metavar="IP",
        help="connect to this address; HOST is still verified",
    )
    inspect.add_argument(
        "--bundle", type=_path, metavar="FILE", help="RDS bundle to select roots from"
    )
    inspect.add_argument(
        "--sslrootcert", type=_path, metavar="FILE", help="check against this trust file instead"
    )
    inspect.add_argument(
        "--timeout", type=_seconds, default=10.0, metavar="SECONDS", help="per step (default: 10)"
    )
    inspect.add_argument(
        "--warn-days",
        type=_count,
        default=30,
        metavar="DAYS",
        help="warn when the certificate expires within DAYS (default: 30)",
    )
    inspect.add_argument(
        "--fail-on-warning", action="store_true", help="exit 1 also when there are warnings"
    )
    _add_format(inspect)
    inspect.set_defaults(handler=cmd_inspect)

    bundle = commands.add_parser("bundle", help="the RDS CA bundle: path, info, update")
    bundle_commands = bundle.add_subparsers(title="bundle commands", metavar="ACTION")

    def bundle_usage(args: argparse.Namespace) -> int:
        bundle.print_help(sys.stderr)
        return EXIT_USAGE

    bundle.set_defaults(handler=bundle_usage)

    path = bundle_commands.add_parser(
        "path",
        help="print the trust file for HOST (or the bundle in use)",
        description=(
            "Print the path of the trust file aurora-ssl selects for HOST (its region's roots, "
            "the Amazon Trust Services roots for RDS Proxy, or the full bundle), for "
            'psql "sslrootcert=$(aurora-ssl bundle path HOST)". Without HOST: the full '
            "bundle in use."
        ),
    )
    path.add_argument("host", nargs="?", type=_host, metavar="HOST", help="endpoint host name")
    path.add_argument(
        "--bundle", type=_path, metavar="FILE", help="RDS bundle to select roots from"
    )
    _add_format(path)
    path.set_defaults(handler=cmd_bundle_path)

    info = bundle_commands.add_parser(
        "info", help="source, age, regions and certificates of the bundle in use"
    )
    info.add_argument("--bundle", type=_path, metavar="FILE", help="describe this bundle instead")
    _add_format(info)
    info.set_defaults(handler=cmd_bundle_info)

    update = bundle_commands.add_parser(
        "update",
        help="fetch, validate and install AWS's current RDS bundle",
        description=(
            "Download AWS's current global bundle over verified HTTPS (or read --from FILE), "
            "check every certificate (parses, CA, self-signed Amazon RDS root, not expired), "
            "show what was added and removed, and install it atomically in the cache, where "
            "it takes precedence over the shipped copy. A root aurora-ssl does not know (by "
            "SHA-256) is installed only when named with --accept-root. On any failure nothing "
            "changes."
        ),
    )
    source = update.add_mutually_exclusive_group()
    source.add_argument("--url", help="https:// URL of the bundle (default: AWS's global bundle)")
    source.add_argument(
        "--from", dest="from_file", type=_path, metavar="FILE", help="read a local file"
    )
    update.add_argument(
        "--ca-file",
        type=_path,
        metavar="FILE",
        help="CA file to verify the download server with (default: $AURORA_SSL_UPDATE_CAFILE, "
        "else certifi's roots)",
    )
    update.add_argument(
        "--timeout", type=_seconds, default=30.0, metavar="SECONDS", help="network timeout"
    )
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
    _add_format(update)
    update.set_defaults(handler=cmd_bundle_update)

    env = commands.add_parser(
        "env",
        help="print the checked libpq parameters for psql, pg_dump and other libpq tools",
        description=(
            "Print every parameter aurora-ssl would pass (sslmode=verify-full, the selected "
            "roots, and the rest of its explicit set) for libpq tools, checked with this "
            'machine\'s libpq: psql "$(aurora-ssl env --format conninfo)" passes one connection '
            'string, whose keys outrank service files and PG* variables; eval "$(aurora-ssl '
            'env)" sets PG* variables and unsets PGSERVICE. The password is never printed.'
        ),
    )
    env.add_argument(
        "target",
        nargs="?",
        default="",
        metavar="URL|HOST",
        help="the same URL or connection string as check, or a host name; omitted: "
        "$DATABASE_URL; '-' reads it from stdin",
    )
    env.add_argument(
        "--hostaddr", type=_address, metavar="IP", help="connect to this address (PGHOSTADDR)"
    )
    env.add_argument("--port", type=_port, help="port (PGPORT)")
    env.add_argument("--shell", choices=_SHELLS, default="sh", help="syntax (default: sh)")
    env.add_argument("--bundle", type=_path, metavar="FILE", help="RDS bundle to select roots from")
    env.add_argument(
        "--format",
        choices=("text", "json", "conninfo"),
        default="text",
        help="text: shell commands (default); json; conninfo: one libpq connection string",
    )
    env.set_defaults(handler=cmd_env)
    return parser


def _add_target(parser: argparse.ArgumentParser) -> None:
    """What ``check`` and ``audit`` connect to, and how."""
    parser.add_argument(
        "dsn",
        nargs="?",
        default="",
        metavar="DSN",
        help="libpq connection string or URL, also a SQLAlchemy URL (postgresql+psycopg://"
        "...?plugin=aurora_ssl&aurora_ssl_bundle=...); '-' reads it from stdin; omitted: "
        "$DATABASE_URL, else the PG* environment variables",
    )
    _add_format(parser)
    parser.add_argument(
        "--bundle", type=_path, metavar="FILE", help="RDS bundle to select roots from"
    )
    parser.add_argument(
        "--tls-server-name",
        type=_host,
        metavar="NAME",
        help="verify this RDS endpoint name while connecting to the DSN's host (CNAMEs)",
    )
    parser.add_argument(
        "--driver",
        choices=("auto", "psycopg", "psycopg2"),
        default="auto",
        help="driver to connect with (default: from the URL scheme, else psycopg, else psycopg2)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=_count,
        default=10,
        metavar="SECONDS",
        help="libpq connect_timeout unless the DSN sets one (default: 10)",
    )
    _credentials.add_arguments(parser)


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
