"""What ``check`` and ``env`` connect to: one URL or connection string, read as the app's.

The same ``DATABASE_URL`` reaches SQLAlchemy, Django and these commands: its ``+driver``,
``plugin`` and ``aurora_ssl_*`` keys are taken out (:func:`aurora_ssl._options.split_url`), our
options read by the one reader, the command line's options added, and the rest parsed by libpq.
Without an argument the URL comes from ``DATABASE_URL``, so no password needs to be typed on a
command line (where ``ps`` and the shell history show it).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from aurora_ssl._libpq import libpq_of
from aurora_ssl._options import PREFIX, PROVIDER_OBJECT, Options, read_options, split_url
from aurora_ssl.cli._common import UsageError, warn
from aurora_ssl.cli._credentials import options_from
from aurora_ssl.errors import InsecureConfigurationError


class Target:
    """One connection target: its libpq parameters, driver and our options."""

    def __init__(self, params: dict[str, str], driver: str, options: Options, origin: str) -> None:
        self.params, self.driver, self.options, self.origin = params, driver, options, origin


def read_target(
    args: argparse.Namespace, text: str | None, *, driver: str, argv: bool = True
) -> Target:
    """Read the URL or connection string ``text`` ('-': stdin; empty: ``$DATABASE_URL``);
    ``argv``: it came from the command line (where a password is warned about).

    Raises:
        UsageError: the string cannot be used (a malformed value, an unknown option of ours).
    """
    from_argv = argv and bool(text) and text != "-"
    if text == "-":
        text = sys.stdin.readline().strip()
    elif not text:
        text = os.environ.get("DATABASE_URL", "")
    scheme_driver, rest, ours = split_url(text)
    origin = "the URL" if "://" in rest else "the connection string"
    plugins = ours.pop("plugin", None)
    for name in plugins if isinstance(plugins, list) else [plugins] if plugins else []:
        if name.strip() not in ("", "aurora_ssl"):
            warn(f"plugin={name.strip()[:60]} is a SQLAlchemy plugin; libpq ignores it.")
    command_line = options_from(args)
    _command_line_credentials(args, ours, origin)
    for key, value in command_line.items():
        if key in ours and str(ours[key]) != str(value):
            raise UsageError(
                f"{key} is given both in {origin} and on the command line; give it once."
            )
    try:
        options = read_options({**ours, **command_line}, f"{origin} and the command line")
        if options.insecure_local_dev:
            raise InsecureConfigurationError(
                f"aurora_ssl_insecure_local_dev in {origin} turns verification off, and a check "
                "exists to verify: remove it to see what verify-full makes of this server."
            )
        chosen = _driver(driver if driver != "auto" else scheme_driver)
        if scheme_driver.startswith("aws_wrapper"):
            rest = _without_wrapper_properties(rest, libpq_of(chosen))
        params = libpq_of(chosen).parse(rest) if rest.strip() else {}
    except InsecureConfigurationError as exc:
        raise UsageError(str(exc)) from None
    if "log_level" in options.given:
        warn("aurora_ssl_log_level sets the level of the per-connection line of the app's "
             "integrations; check does not use it.")  # fmt: skip
    if from_argv and params.get("password"):
        warn(
            "a password on the command line is visible to other users (ps, shell history); "
            "put the URL in DATABASE_URL and leave the argument out, or use PGPASSWORD."
        )
    return Target(params, chosen, options, origin)


def _command_line_credentials(args: argparse.Namespace, ours: dict[str, Any], origin: str) -> None:
    """The command line's credential options, checked in its own words (``--iam``)."""
    iam, provider = getattr(args, "iam", False), getattr(args, "password_provider", None)
    if iam and provider:
        raise UsageError("give --iam or --password-provider, not both.")
    if getattr(args, "iam_profile", None) and not iam and f"{PREFIX}iam" not in ours:
        raise UsageError("--iam-profile needs --iam.")
    if ours.get(f"{PREFIX}password_provider") == PROVIDER_OBJECT:
        if not provider:
            raise UsageError(
                f"{origin} comes from an engine whose password provider was an object, which a "
                "URL cannot carry; give it with --password-provider MODULE:ATTR."
            )
        del ours[f"{PREFIX}password_provider"]


def _without_wrapper_properties(url: str, libpq: Any) -> str:
    """An AWS wrapper URL's query without the wrapper's own properties (``wrapper_dialect``,
    ``plugins``...): check and env connect to the host directly, with libpq."""
    from urllib.parse import unquote

    base, _, query = url.partition("?")
    kept = [item for item in query.split("&") if item and libpq.knows(unquote(item.split("=")[0]))]
    dropped = len([item for item in query.split("&") if item]) - len(kept)
    if dropped:
        warn(f"{dropped} property(ies) of AWS's wrapper ignored: check connects without it.")
    return f"{base}?{'&'.join(kept)}" if kept else base


def _driver(name: str) -> str:
    if name == "aws_wrapper_psycopg":
        return "psycopg"
    if name in ("psycopg", "psycopg2", "system"):
        return name
    if name not in ("auto", "", "asyncpg", "pg8000"):
        raise UsageError(
            f"aurora-ssl connects with libpq (psycopg or psycopg2), not {name[:40]}; use a "
            "postgresql://, postgresql+psycopg:// or postgresql+asyncpg:// URL."
        )
    import importlib.util

    for candidate in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    raise UsageError(
        "aurora-ssl check needs a PostgreSQL driver: pip install 'aurora-ssl[psycopg]' "
        "(or [psycopg2])."
    )


def connect_function(driver: str) -> Any:
    """The driver's ``connect``."""
    if driver == "psycopg":
        import psycopg

        return psycopg.connect
    import psycopg2

    return psycopg2.connect
