"""The ``aurora-ssl`` command line (also ``python -m aurora_ssl``).

Subcommands::

    aurora-ssl check [DSN]              connect with verify-full and report (like check_aurora_ssl)
    aurora-ssl audit [DSN]              every session of the database (each Aurora instance): TLS?
    aurora-ssl inspect HOST[:PORT]      show and check the certificate the server presents
    aurora-ssl bundle path [HOST]       the trust file libpq should use (for psql's sslrootcert)
    aurora-ssl bundle info              the RDS bundle in use: source, age, certificates
    aurora-ssl bundle update            fetch, validate and install AWS's current bundle
    aurora-ssl env HOST                 the complete libpq parameters for psql, pg_dump ...

Results go to stdout, progress, warnings and errors to stderr; ``--format json`` gives a JSON
document on stdout wherever a command reports. Exit status: 0 success (verified), 1 not
verified or refused, 2 usage error (a bad option value, host name, port or URL key: one line
on stderr that says what to fix); ``audit`` also 3 (a session without TLS) and 4 (sessions
hidden from the role). No input produces a traceback, and nothing printed contains
a password (:mod:`aurora_ssl._redaction`).

Layout: this module runs a command and turns every error into one line and an exit status;
:mod:`~aurora_ssl.cli._parser` declares the options, one module per command group does the
work (:mod:`~aurora_ssl.cli._check`, :mod:`~aurora_ssl.cli._audit`, :mod:`~aurora_ssl.cli._inspect`,
:mod:`~aurora_ssl.cli._bundle`, :mod:`~aurora_ssl.cli._env`), and
:mod:`~aurora_ssl.cli._common` holds the exit codes and output helpers they share.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from aurora_ssl._redaction import mask_text
from aurora_ssl.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, emit_json
from aurora_ssl.cli._parser import build_parser
from aurora_ssl.errors import AuroraSSLError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status instead of exiting.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
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
        emit_json({"ok": False, "error": {"code": type(exc).__name__, "message": message}})
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
