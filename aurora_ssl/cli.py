"""The ``aurora-ssl`` command line (also ``python -m aurora_ssl``).

Subcommands::

    aurora-ssl check [DSN]              connect with verify-full and report (like check_aurora_ssl)
    aurora-ssl inspect HOST[:PORT]      show and judge the certificate the server presents
    aurora-ssl bundle path [HOST]       the trust file libpq should use (for psql's sslrootcert)
    aurora-ssl bundle info              the RDS bundle in use: source, age, certificates
    aurora-ssl bundle update            fetch, validate and install AWS's current bundle
    aurora-ssl env HOST                 the complete libpq parameters for psql, pg_dump ...

Results go to stdout, progress, warnings and errors to stderr; ``--format json`` gives a JSON
document on stdout wherever a command reports. Exit status: 0 success (verified), 1 not
verified or refused, 2 usage error (a bad option value, host name, port or URL key: one line
on stderr that says what to fix). No input produces a traceback, and nothing printed contains
a password (:mod:`aurora_ssl.redaction`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, TextIO

from aurora_ssl import cli_credentials
from aurora_ssl.errors import AuroraSSLError
from aurora_ssl.hostnames import address_problem, host_problem, port_problem
from aurora_ssl.redaction import mask_text, shorten

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_SHELLS = ("sh", "fish", "powershell")
_MAX_SECONDS = 86400.0


class UsageError(Exception):
    """Input that cannot work (a bad port, host name or URL key): exit status 2, one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status instead of exiting.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).
    """
    parser = _parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    with _quiet_library_logging():
        try:
            return handler(args)
        except UsageError as exc:
            return _fail(args, exc, EXIT_USAGE)
        except AuroraSSLError as exc:
            return _fail(args, exc)
        except KeyboardInterrupt:
            print("aurora-ssl: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # `aurora-ssl bundle info | head`: the reader left; fine
            _silence_stdout()
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - a bug must still not print a traceback
            text = mask_text(" ".join(str(exc).split()))
            print(
                f"aurora-ssl: error: unexpected {type(exc).__name__}: {text} (this is a bug "
                "in aurora-ssl; please report it with the command you ran, without secrets)",
                file=sys.stderr,
            )
            return EXIT_FAILED


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _fail(args: argparse.Namespace, exc: Exception, status: int = EXIT_FAILED) -> int:
    message = mask_text(" ".join(str(exc).split()))
    print(f"aurora-ssl: error: {message}", file=sys.stderr)
    if getattr(args, "format", "text") == "json":
        _emit_json({"ok": False, "error": {"code": type(exc).__name__, "message": message}})
    return status


@contextlib.contextmanager
def _quiet_library_logging() -> Iterator[None]:
    """The library logs trust warnings; the CLI prints them itself, once, where they belong."""
    logger = logging.getLogger("aurora_ssl")
    previous = logger.propagate
    null = logging.NullHandler()
    logger.addHandler(null)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(null)
        logger.propagate = previous


def _emit_json(data: Mapping[str, Any], out: TextIO | None = None) -> None:
    print(json.dumps(data, indent=2), file=out or sys.stdout)


def _warn(message: str) -> None:
    print(f"aurora-ssl: warning: {mask_text(message)}", file=sys.stderr)


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


def _port(text: str) -> int:
    problem = port_problem(text, "port")
    if problem:
        raise argparse.ArgumentTypeError(problem.strip())
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
    problem = address_problem(text, "address")
    if problem:
        raise argparse.ArgumentTypeError(problem.strip())
    return text


# --------------------------------------------------------------------------------- parser


def _parser() -> argparse.ArgumentParser:
    from aurora_ssl.version import __version__

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
    check.add_argument(
        "dsn",
        nargs="?",
        default="",
        metavar="DSN",
        help="libpq connection string or URL, also a SQLAlchemy URL (postgresql+psycopg://"
        "...?plugin=aurora_ssl&aurora_ssl_bundle=...); '-' reads it from stdin; omitted: the "
        "PG* environment variables",
    )
    _add_format(check)
    check.add_argument(
        "--bundle", type=_path, metavar="FILE", help="RDS bundle to select roots from"
    )
    check.add_argument(
        "--tls-server-name",
        type=_host,
        metavar="NAME",
        help="verify this RDS endpoint name while connecting to the DSN's host (CNAMEs)",
    )
    check.add_argument(
        "--driver",
        choices=("auto", "psycopg", "psycopg2"),
        default="auto",
        help="driver to connect with (default: from the URL scheme, else psycopg, else psycopg2)",
    )
    check.add_argument(
        "--connect-timeout",
        type=_count,
        default=10,
        metavar="SECONDS",
        help="libpq connect_timeout unless the DSN sets one (default: 10)",
    )
    check.add_argument(
        "--fail-on-warning", action="store_true", help="exit 1 also when there are warnings"
    )
    cli_credentials.add_arguments(check)
    check.set_defaults(handler=_cmd_check)

    inspect = commands.add_parser(
        "inspect",
        help="show the server's certificate and whether verify-full accepts it",
        description=(
            "Send PostgreSQL's SSLRequest, read the certificate chain the server presents "
            "(without logging in), and judge it against the roots aurora-ssl selects for HOST: "
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
        "--sslrootcert", type=_path, metavar="FILE", help="judge against this trust file instead"
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
    inspect.set_defaults(handler=_cmd_inspect)

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
    path.set_defaults(handler=_cmd_bundle_path)

    info = bundle_commands.add_parser(
        "info", help="source, age, regions and certificates of the bundle in use"
    )
    info.add_argument("--bundle", type=_path, metavar="FILE", help="describe this bundle instead")
    _add_format(info)
    info.set_defaults(handler=_cmd_bundle_info)

    update = bundle_commands.add_parser(
        "update",
        help="fetch, validate and install AWS's current RDS bundle",
        description=(
            "Download AWS's current global bundle over verified HTTPS (or read --from FILE), "
            "check every certificate (parses, CA, self-signed Amazon RDS root, not expired), "
            "show what was added and removed, and install it atomically in the cache, where "
            "it takes precedence over the shipped copy. On any failure nothing changes."
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
    update.add_argument("--dry-run", action="store_true", help="validate and compare only")
    _add_format(update)
    update.set_defaults(handler=_cmd_bundle_update)

    env = commands.add_parser(
        "env",
        help="print the complete libpq parameters for psql, pg_dump and other libpq tools",
        description=(
            "Print every parameter aurora-ssl would pass for HOST (sslmode=verify-full, the "
            "selected roots, and the rest of its complete set) for libpq tools: "
            'eval "$(aurora-ssl env HOST)" sets PG* variables and unsets PGSERVICE (a '
            "service file outranks the environment); "
            'psql "$(aurora-ssl env --format conninfo HOST)" passes one connection string, '
            "whose keys outrank both."
        ),
    )
    env.add_argument("host", type=_host, metavar="HOST", help="endpoint host name")
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
    env.add_argument(
        "--libpq-version",
        type=_count,
        metavar="MAJOR",
        help="for --format conninfo: the libpq major version of the tool that reads it "
        "(default: this machine's libpq); keys it does not know are left out",
    )
    env.set_defaults(handler=_cmd_env)
    return parser


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")


# --------------------------------------------------------------------------------- check


def _cmd_check(args: argparse.Namespace) -> int:
    from aurora_ssl.database_url import read_dsn
    from aurora_ssl.diagnostics.report import check_connection, reports_ok, reports_to_json
    from aurora_ssl.errors import InsecureConfigurationError
    from aurora_ssl.policy import Settings, policy_for
    from aurora_ssl.trust import TrustSelection

    dsn = sys.stdin.readline().strip() if args.dsn == "-" else args.dsn
    try:
        target = read_dsn(dsn)
    except InsecureConfigurationError as exc:  # the string itself is unusable: fix the input
        raise UsageError(str(exc)) from None
    for note in target.ignored:
        _warn(note)
    params = target.params
    if params.get("password") and args.dsn != "-":
        _warn(
            "a password on the command line is visible to other users (ps, shell history); "
            "prefer PGPASSWORD or ~/.pgpass."
        )
    params.setdefault("connect_timeout", str(args.connect_timeout))
    settings = Settings(
        bundle=args.bundle or target.bundle,
        tls_server_name=args.tls_server_name or target.tls_server_name,
    )
    _validate_destination(params, settings)
    host = str(params.get("host") or os.environ.get("PGHOST") or "")
    port = params.get("port") or os.environ.get("PGPORT") or None
    secret = str(params.get("password") or os.environ.get("PGPASSWORD") or "")
    driver = _driver(args.driver if args.driver != "auto" else target.driver)
    try:
        with_password = cli_credentials.password_connect(
            args, params, settings.tls_server_name or host, target.credentials
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    trust: TrustSelection | None = None
    with contextlib.suppress(AuroraSSLError):  # the connection attempt reports it
        trust = policy_for(settings).trust(
            settings.tls_server_name or host, params.get("sslrootcert")
        )

    used: dict[str, Any] = {}

    def connect() -> Any:
        if target.refusal is not None:
            raise target.refusal
        final = policy_for(settings).apply(params, target.origin, driver=driver)
        used.update(final)
        if with_password is not None:
            return with_password(lambda given: _connect(driver, given), final)
        return _connect(driver, final)

    report = check_connection(
        connect,
        label=shorten(mask_text(_label(params, host, port))),
        host=host,
        port=port,
        trust=trust,
        settings=settings,
        close=lambda connection: connection.close(),
        secrets=[secret],
        expected=lambda: used,
    )
    if args.format == "json":
        print(reports_to_json([report], fail_on_warning=args.fail_on_warning))
    else:
        print(report.to_text())
    return EXIT_OK if reports_ok([report], fail_on_warning=args.fail_on_warning) else EXIT_FAILED


def _validate_destination(params: Mapping[str, Any], settings: Any) -> None:
    """Say which value is wrong before libpq blames name resolution (``port=abc``)."""
    sources = (("host", "PGHOST", host_problem), ("hostaddr", "PGHOSTADDR", address_problem))
    for key, variable, check in (*sources, ("port", "PGPORT", port_problem)):
        given = params.get(key)
        where = f"the DSN's {key}" if given is not None else variable
        value = str(given if given is not None else os.environ.get(variable) or "")
        for item in value.split(",") if value else ():
            if not item.strip() or (key == "host" and item.startswith(("/", "@"))):
                continue  # a default, or a socket directory (the policy refuses those)
            problem = check(item.strip() if key != "host" else item, where)
            if problem:
                raise UsageError(problem)
    timeout = str(params.get("connect_timeout") or "")
    if timeout and not (timeout.strip().lstrip("-").isdigit() and timeout.isascii()):
        raise UsageError(
            f"connect_timeout {shorten(timeout)!r} in the DSN is not a whole number of seconds."
        )


def _driver(name: str) -> str:
    if name in ("psycopg", "psycopg2"):
        return name
    if name not in ("auto", ""):
        raise UsageError(
            f"aurora-ssl check connects with libpq (psycopg or psycopg2), not "
            f"{shorten(name)}; use a postgresql://, postgresql+psycopg:// or "
            "postgresql+asyncpg:// URL."
        )
    for candidate in ("psycopg", "psycopg2"):
        try:
            __import__(candidate)
        except ImportError:
            continue
        return candidate
    raise AuroraSSLError(
        "aurora-ssl check needs a PostgreSQL driver: pip install 'aurora-ssl[psycopg]' "
        "(or [psycopg2])."
    )


def _connect(driver: str, params: Mapping[str, Any]) -> Any:
    """Connect with ``driver``; a TLS failure becomes our translated error (cause chained)."""
    from aurora_ssl.diagnostics.translate import translate_error

    clean = {key: value for key, value in params.items() if value is not None}
    try:
        if driver == "psycopg":
            import psycopg

            return psycopg.connect(**clean)
        import psycopg2

        return psycopg2.connect(**clean)
    except Exception as exc:
        translated = translate_error(exc, params=clean)
        if translated is None:
            raise
        raise translated from exc


def _label(params: Mapping[str, Any], host: str, port: Any) -> str:
    user = params.get("user") or os.environ.get("PGUSER") or ""
    database = params.get("dbname") or os.environ.get("PGDATABASE") or ""
    where = f"{host}:{port}" if port else host
    label = f"{user}@{where}" if user else where
    return f"{label}/{database}" if database else label or "(libpq defaults)"


# --------------------------------------------------------------------------------- inspect


def _cmd_inspect(args: argparse.Namespace) -> int:
    from aurora_ssl.diagnostics.inspection import inspect_server
    from aurora_ssl.diagnostics.wire import split_host_port
    from aurora_ssl.trust import select_trust

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
        _emit_json(inspection.to_dict())
    else:
        print(inspection.to_text())
    failed = not inspection.ok or (args.fail_on_warning and inspection.warnings)
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------------- bundle


def _cmd_bundle_path(args: argparse.Namespace) -> int:
    from aurora_ssl.trust import bundle_source, load_bundle, select_trust

    if args.host:
        selection = select_trust(args.host, bundle=args.bundle)
        path = selection.ensure()
        for warning in selection.warnings:
            _warn(warning)
        data: dict[str, Any] = {
            "path": path,
            "host": args.host,
            "scope": selection.scope,
            "source": selection.source,
            "cas": list(selection.subjects),
            "warnings": list(selection.warnings),
        }
    else:
        source, origin = bundle_source(args.bundle)
        bundle = load_bundle(source)  # a path that would not work is an error, not output
        path = str(bundle.path)
        data = {
            "path": path,
            "host": None,
            "scope": "full-bundle",
            "source": origin,
            "cas": [c.subject for c in bundle.certificates],
            "warnings": [],
        }
    if args.format == "json":
        _emit_json(data)
    else:
        print(path)
    return EXIT_OK


def _cmd_bundle_info(args: argparse.Namespace) -> int:
    from aurora_ssl.trust import bundle_source, load_bundle, updated_bundle_path

    source, origin = bundle_source(args.bundle)
    bundle = load_bundle(source)
    now = datetime.datetime.now(datetime.timezone.utc)
    modified = datetime.datetime.fromtimestamp(source.stat().st_mtime, datetime.timezone.utc)
    age_days = int((now - modified).total_seconds() // 86400)
    certificates = sorted(bundle.certificates, key=lambda c: (c.region or "", c.subject))
    expired = [c for c in certificates if c.not_after <= now]
    notes: list[str] = []
    updated = updated_bundle_path()
    if origin not in ("updated",) and updated.is_file():
        notes.append(f"an updated bundle exists in {updated} but {origin} takes precedence")
    if expired:
        notes.append(f"{len(expired)} certificate(s) have expired; run `aurora-ssl bundle update`")
    data = {
        "path": str(bundle.path),
        "origin": origin,
        "sha256": bundle.sha256,
        "modified": modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "age_days": age_days,
        "count": len(bundle.certificates),
        "regions": list(bundle.regions),
        "earliest_expiry": min(c.not_after for c in certificates).strftime("%Y-%m-%d"),
        "certificates": [
            {
                "subject": c.subject,
                "region": c.region,
                "not_after": c.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sha256": c.sha256,
            }
            for c in certificates
        ],
        "warnings": notes,
    }
    if args.format == "json":
        _emit_json(data)
        return EXIT_OK
    print(f"bundle:    {bundle.path}")
    print(f"origin:    {origin}")
    print(f"sha256:    {bundle.sha256}")
    print(f"modified:  {data['modified']} ({age_days} day(s) ago)")
    print(f"contents:  {len(certificates)} certificate(s), {len(bundle.regions)} region(s)")
    print(f"regions:   {', '.join(bundle.regions)}")
    print(f"expiry:    earliest {data['earliest_expiry']}")
    for cert in certificates:
        print(f"  {cert.not_after:%Y-%m-%d}  {cert.subject}")
    for note in notes:
        _warn(note)
    return EXIT_OK


def _cmd_bundle_update(args: argparse.Namespace) -> int:
    from aurora_ssl.bundle_update import DEFAULT_URL, update_bundle

    if args.from_file:
        print(f"aurora-ssl: reading {args.from_file} ...", file=sys.stderr)
    else:
        print(f"aurora-ssl: downloading {args.url or DEFAULT_URL} ...", file=sys.stderr)
    result = update_bundle(
        url=args.url,
        from_file=args.from_file,
        cafile=args.ca_file,
        timeout=args.timeout,
        dry_run=args.dry_run,
    )
    if args.format == "json":
        _emit_json({"ok": True, **result.to_dict()})
    else:
        print(result.to_text())
    return EXIT_OK


# --------------------------------------------------------------------------------- env


def _cmd_env(args: argparse.Namespace) -> int:
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
        _warn(warning)
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
        _emit_json(
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
