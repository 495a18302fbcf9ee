"""One ``DATABASE_URL`` for every tool: read a SQLAlchemy-style URL as libpq parameters.

The docs recommend ``postgresql+psycopg://...?plugin=aurora_ssl&aurora_ssl_bundle=...``
for Alembic and pandas; ``aurora-ssl check`` (and anything else that hands a URL to libpq)
must read the same string. libpq refuses ``+driver`` schemes, ``plugin=`` and our keys
("invalid connection option"), so they are consumed here: the driver suffix chooses the
driver, ``plugin=aurora_ssl`` is implied, and every ``aurora_ssl_*`` key is read exactly as the
SQLAlchemy plugin reads it (the core list, :mod:`aurora_ssl.options`, and
:func:`read_url_option`, which the plugin and Django's URL reader call too), so ``check``
tests what the app runs; an unknown key is refused (a typo must not silently drop an option).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from aurora_ssl.hostnames import host_problem
from aurora_ssl.options import (
    BY_KEY,
    HOST,
    NOTED,
    REFUSED_WHEN_TRUE,
    is_ours,
    read_option,
    repeated_option,
    unknown_option,
)
from aurora_ssl.redaction import shorten

__all__ = [
    "CREDENTIAL_OPTIONS",
    "URL_OPTIONS",
    "DatabaseURL",
    "read_dsn",
    "read_url_option",
    "split_driver",
]

#: The options of the core list (aurora_ssl.options) that ``check`` applies as policy
#: settings, and the :class:`~aurora_ssl.policy.Settings` field each one sets.
URL_OPTIONS = {"aurora_ssl_bundle": "bundle", "aurora_ssl_tls_server_name": "tls_server_name"}
#: The ones that choose the password: ``check`` logs in with them (aurora_ssl.cli.credentials).
CREDENTIAL_OPTIONS = ("aurora_ssl_iam", "aurora_ssl_iam_profile", "aurora_ssl_password_provider")
#: Drivers whose URLs ``check`` connects to with libpq instead (same server, same TLS).
_OTHER_DRIVERS = ("asyncpg", "pg8000")
_ASYNCPG_WEAK_SSL = frozenset(
    {"disable", "allow", "prefer", "require", "verify-ca", "false", "0", "no", "off"}
)


@dataclasses.dataclass
class DatabaseURL:
    """A DSN or URL read for libpq: its parameters, the driver, and aurora-ssl's options.

    Attributes:
        params: the libpq keyword parameters (our own keys and ``plugin`` removed).
        driver: ``psycopg``/``psycopg2`` from a ``postgresql+driver://`` scheme, else ``auto``.
        bundle: ``aurora_ssl_bundle`` from the URL, if any.
        tls_server_name: ``aurora_ssl_tls_server_name`` from the URL, if any.
        origin: how messages name the input ("the DSN", "the URL").
        refusal: a setting the connection must refuse (reported, not raised early).
        ignored: notes on parts that were read but mean nothing to libpq (other plugins).
        credentials: the :data:`CREDENTIAL_OPTIONS` given, as text.
        options: every option of ours given, read as every face reads it
            (:func:`read_url_option`).
    """

    params: dict[str, Any]
    driver: str = "auto"
    bundle: str | None = None
    tls_server_name: str | None = None
    origin: str = "the DSN"
    refusal: AuroraSSLError | None = None
    ignored: list[str] = dataclasses.field(default_factory=list)
    credentials: dict[str, str] = dataclasses.field(default_factory=dict)
    options: dict[str, str] = dataclasses.field(default_factory=dict)


def read_url_option(key: str, value: object, where: str) -> str:
    """:func:`aurora_ssl.options.read_option` plus the DNS syntax of a host name option.

    The reading every face (SQLAlchemy plugin, ``check``, Django's URL reader) applies to
    an option's value; the host name check lives above the core, so it is added here.

    Raises:
        InsecureConfigurationError: as ``read_option``, or a host name that is none.
    """
    text = read_option(key, value, where)
    if BY_KEY[key].kind == HOST:
        problem = host_problem(text, key)
        if problem:
            raise InsecureConfigurationError(problem)
    return text


def read_dsn(dsn: str) -> DatabaseURL:
    """Read a libpq DSN, libpq URI or SQLAlchemy URL (the same ``DATABASE_URL`` everywhere).

    A SQLAlchemy URL may name a driver (``postgresql+psycopg://``, ``+psycopg2``,
    ``+asyncpg``), the plugin (``plugin=aurora_ssl``) and our options (the core list,
    :data:`aurora_ssl.options.OPTIONS`, read as the plugin reads them); they are consumed
    here and never reach libpq.

    Raises:
        InsecureConfigurationError: the string is malformed, it carries an unknown or
            repeated ``aurora_ssl_*`` key, a value that does not read (``aurora_ssl_iam=maybe``,
            an empty one, a ``aurora_ssl_tls_server_name`` that is no host name), or
            ``aurora_ssl_insecure_local_dev=true``.
    """
    scheme_driver, text = split_driver(dsn)
    text, ours = _split_our_query_keys(text, ("ssl",) if scheme_driver in _OTHER_DRIVERS else ())
    params: dict[str, Any] = dict(parse_conninfo(text)) if text.strip() else {}
    params.update(ours)
    origin = "the URL" if "://" in text else "the DSN"
    target = DatabaseURL(params=params, origin=origin)
    plugin = params.pop("plugin", None)
    for name in str(plugin or "").split(","):
        if name.strip() and name.strip() != "aurora_ssl":
            target.ignored.append(
                f"plugin={shorten(name.strip())} is a SQLAlchemy plugin; libpq ignores it."
            )
    for key in [k for k in params if is_ours(k)]:
        value = params.pop(key)
        option = BY_KEY.get(key)
        if option is None:
            raise InsecureConfigurationError(unknown_option(key, origin))
        if isinstance(value, list):
            raise InsecureConfigurationError(repeated_option(key, origin))
        if value == "":  # ``key=``: not given, as SQLAlchemy's URL parser (the app's) reads it
            continue
        given = target.options[key] = read_url_option(key, value, origin)
        if option.check == REFUSED_WHEN_TRUE:
            if given == "true":
                raise InsecureConfigurationError(
                    f"{key} in {origin} turns verification off, and a check exists to verify: "
                    "remove it to see what verify-full makes of this server."
                )
        elif option.check == NOTED:
            target.ignored.append(f"{key} sets {option.meaning}; check does not use it.")
        elif key in CREDENTIAL_OPTIONS:
            target.credentials[key] = given
        else:
            setattr(target, URL_OPTIONS[key], given)
    if scheme_driver in _OTHER_DRIVERS:
        ssl_value = params.pop("ssl", None)
        if ssl_value is not None and str(ssl_value).lower() in _ASYNCPG_WEAK_SSL:
            target.refusal = InsecureConfigurationError(
                f"ssl={shorten(str(ssl_value))} in {origin} would let {scheme_driver} skip "
                "server verification; remove it (aurora-ssl verifies the certificate and name)."
            )
        scheme_driver = "auto"
    target.driver = scheme_driver
    return target


def _split_our_query_keys(
    text: str, driver_keys: tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """Take ``plugin``, ``aurora_ssl_*`` (and a non-libpq driver's own keys, e.g. asyncpg's
    ``ssl``) out of a URI's query: libpq's parser, the judge of the rest, would refuse them
    as unknown options."""
    if "://" not in text or "?" not in text:
        return text, {}
    base, _, query = text.partition("?")
    kept: list[str] = []
    ours: dict[str, Any] = {}
    for item in query.split("&"):
        raw_key, _, raw_value = item.partition("=")
        key = unquote(raw_key).strip()
        if key in ("plugin", *driver_keys) or is_ours(key):
            value = unquote(raw_value)
            if key == "plugin" and key in ours:
                ours[key] = f"{ours[key]},{value}"
            elif is_ours(key) and key in ours:  # refused by read_dsn: which one would win?
                ours[key] = (
                    [*ours[key], value] if isinstance(ours[key], list) else [ours[key], value]
                )
            else:
                ours[key] = value
        else:
            kept.append(item)
    return (f"{base}?{'&'.join(kept)}" if kept else base), ours


def split_driver(dsn: str) -> tuple[str, str]:
    """``postgresql+psycopg2://...`` -> (``psycopg2``, ``postgresql://...``)."""
    text = dsn.strip()
    head, sep, rest = text.partition("://")
    if sep and "+" in head and head.split("+", 1)[0].lower() in ("postgresql", "postgres"):
        driver = head.split("+", 1)[1].lower()
        return ("psycopg" if driver == "psycopg_async" else driver), f"postgresql://{rest}"
    return "auto", text
