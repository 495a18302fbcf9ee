"""What ``check``, ``audit`` and ``env`` connect to, read as the app reads it, and how to connect.

The same ``DATABASE_URL`` reaches SQLAlchemy, Django and these commands: its ``+driver``,
``plugin`` and ``aurora_ssl_*`` keys are taken out (:func:`aurora_ssl._options.split_url`), our
options read by the one reader, the command line's options added (``--iam`` is
``aurora_ssl_iam=true``), and the rest parsed by libpq. Without an argument the URL comes from
``DATABASE_URL``, so no password needs to be typed on a command line (where ``ps`` and the
shell history show it). The connection is then made as the app makes it: the policy's decision,
a provider's password, the standard negotiation after a failed direct attempt.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from aurora_ssl._connect import open_connection, provider_for
from aurora_ssl._endpoint import host_problem
from aurora_ssl._libpq import libpq_of
from aurora_ssl._options import PREFIX, PROVIDER_OBJECT, Options, read_options, split_url
from aurora_ssl._policy import policy_for
from aurora_ssl.cli._common import UsageError, address_problem, count_problem, port_problem, warn
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError

#: The options the command line gives, by their names in a URL (``aurora_ssl_<name>``).
OPTIONS = ("bundle", "tls_server_name", "iam", "iam_profile", "password_provider")


@dataclasses.dataclass
class Target:
    """One connection target: its libpq parameters, driver and our options."""

    params: dict[str, str]
    driver: str
    options: Options
    origin: str


def read_target(
    args: argparse.Namespace, text: str | None, *, driver: str, argv: bool = True
) -> Target:
    """Read the URL or connection string ``text`` ('-': stdin; empty: ``$DATABASE_URL``), with
    ``args.connect_timeout`` unless it sets one; ``argv``: it came from the command line (where
    a password is warned about).

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
    ours.pop("plugin", None)  # SQLAlchemy's, not libpq's
    try:
        options = read_options(
            {**ours, **_command_line(args, ours, origin)}, f"{origin} and the command line"
        )
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
        warn(
            "aurora_ssl_log_level sets the level of the per-connection line of the app's "
            "integrations; check does not use it."
        )
    if from_argv and params.get("password"):
        warn(
            "a password on the command line is visible to other users (ps, shell history); "
            "put the URL in DATABASE_URL and leave the argument out, or use PGPASSWORD."
        )
    if getattr(args, "connect_timeout", None) is not None:
        params.setdefault("connect_timeout", str(args.connect_timeout))
    check_destination(params)
    return Target(params, chosen, options, origin)


def _command_line(args: argparse.Namespace, ours: dict[str, Any], origin: str) -> dict[str, Any]:
    """The command line's options in URL spelling (they win over the URL's, ``ours``), checked
    in its own words (``--iam``); an object provider's placeholder is taken out of ``ours``."""
    if getattr(args, "iam_profile", None) and not args.iam and f"{PREFIX}iam" not in ours:
        raise UsageError("--iam-profile needs --iam.")  # --iam with a provider: read_options
    if ours.get(f"{PREFIX}password_provider") == PROVIDER_OBJECT:
        if not getattr(args, "password_provider", None):
            raise UsageError(
                f"{origin} comes from an engine whose password provider was an object, which a "
                "URL cannot carry; give it with --password-provider MODULE:ATTR."
            )
        del ours[f"{PREFIX}password_provider"]
    given = {PREFIX + name: getattr(args, name, None) for name in OPTIONS}
    return {k: "true" if v is True else v for k, v in given.items() if v not in (None, False)}


def _without_wrapper_properties(url: str, libpq: Any) -> str:
    """An AWS wrapper URL's query without the wrapper's own properties (``wrapper_dialect``,
    ``plugins``...): check and env connect to the host directly, with libpq."""
    base, _, query = url.partition("?")
    items = [item for item in query.split("&") if item]
    kept = [item for item in items if libpq.knows(unquote(item.split("=")[0]))]
    if len(kept) < len(items):
        warn(
            f"{len(items) - len(kept)} property(ies) of AWS's wrapper ignored: check connects "
            "without it."
        )
    return f"{base}?{'&'.join(kept)}" if kept else base


def _driver(name: str) -> str:
    """The libpq driver for a URL's ``+driver`` (asyncpg and pg8000 URLs: the one installed)."""
    name = {"aws_wrapper_psycopg": "psycopg", "auto": "", "asyncpg": "", "pg8000": ""}.get(
        name, name
    )
    if name not in ("", "psycopg", "psycopg2", "system"):
        raise UsageError(
            f"aurora-ssl connects with libpq (psycopg or psycopg2), not {name[:40]}; use a "
            "postgresql://, postgresql+psycopg:// or postgresql+asyncpg:// URL."
        )
    name = name or next((d for d in ("psycopg", "psycopg2") if importlib.util.find_spec(d)), "")
    if not name:
        raise UsageError(
            "aurora-ssl check needs a PostgreSQL driver: pip install 'aurora-ssl[psycopg]' "
            "(or [psycopg2])."
        )
    return name


#: The libpq keywords the commands read: the variable libpq reads when one is not given, and
#: what is wrong with a value (refused before libpq blames name resolution; a socket
#: directory is the policy's).
_KEYWORDS: dict[str, tuple[str, Callable[[str, str], str | None] | None]] = {
    "host": ("PGHOST", lambda host, where: None if host[0] in "/@" else host_problem(host, where)),
    "hostaddr": ("PGHOSTADDR", address_problem),
    "port": ("PGPORT", port_problem),
    "connect_timeout": ("PGCONNECT_TIMEOUT", count_problem),
    "user": ("PGUSER", None),
    "dbname": ("PGDATABASE", None),
    "password": ("PGPASSWORD", None),
}


def given(params: Mapping[str, str], key: str) -> str:
    """The value libpq will use for ``key``: the DSN's (also when empty), else its ``PG*``
    variable's."""
    value = params.get(key)
    return str(value if value is not None else os.environ.get(_KEYWORDS[key][0], ""))


def check_destination(params: Mapping[str, str]) -> None:
    """Say which value is wrong before libpq blames name resolution (``port=abc``): the
    DSN's, else the ``PG*`` variable libpq would read."""
    for key, (variable, problem) in _KEYWORDS.items():
        where = f"the DSN's {key}" if params.get(key) is not None else variable
        for item in given(params, key).split(",") if problem else ():
            found = item.strip() and problem(item.strip(), where)
            if found:
                raise UsageError(found)


def connector(target: Target, used: dict[str, Any]) -> Callable[[], Any]:
    """Connects as the app would: the policy's decision, a provider's password (one retry
    after a refused login), the standard negotiation after a failed direct attempt; ``used``
    gets what the connection was made with, for the report's read-back."""
    params, options = target.params, target.options
    try:
        provider = provider_for(options, target.origin if params.get("password") else None)
    except AuroraSSLError as exc:
        raise UsageError(str(exc)) from None
    policy = policy_for(options)

    def connect() -> Any:
        decision = policy.decide(params, target.origin, driver=target.driver)
        used.update(decision.params)
        connect_to = importlib.import_module(target.driver).connect
        connection, made_with = open_connection(decision, connect_to, provider)
        used.update(made_with.params)
        return connection

    return connect
