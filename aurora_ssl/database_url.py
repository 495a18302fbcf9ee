"""One ``DATABASE_URL`` for every tool: read a SQLAlchemy-style URL as libpq parameters.

The docs recommend ``postgresql+psycopg://...?plugin=aurora_ssl&aurora_ssl_bundle=...``
for Alembic and pandas; ``aurora-ssl check`` (and anything else that hands a URL to libpq)
must read the same string. libpq refuses ``+driver`` schemes, ``plugin=`` and our keys
("invalid connection option"), so they are consumed here: the driver suffix chooses the
driver, ``plugin=aurora_ssl`` is implied, and every ``aurora_ssl_*`` key is honoured or, if
unknown, refused (a typo must not silently drop an option).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from aurora_ssl.hostnames import host_problem
from aurora_ssl.redaction import shorten

__all__ = ["URL_OPTIONS", "DatabaseURL", "read_dsn", "split_driver"]

#: The ``aurora_ssl_*`` keys a URL may carry (as for the SQLAlchemy plugin), and the
#: :class:`~aurora_ssl.policy.Settings` field each one sets.
URL_OPTIONS = {"aurora_ssl_bundle": "bundle", "aurora_ssl_tls_server_name": "tls_server_name"}
#: Keys that choose the password (honoured by ``check --iam``'s code, aurora_ssl.cli.credentials)
#: and the SQLAlchemy-only log level (meaningless to a one-off check): read, not refused.
CREDENTIAL_OPTIONS = ("aurora_ssl_iam", "aurora_ssl_iam_profile", "aurora_ssl_password_provider")
_SQLALCHEMY_ONLY = ("aurora_ssl_log_level",)
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
    """

    params: dict[str, Any]
    driver: str = "auto"
    bundle: str | None = None
    tls_server_name: str | None = None
    origin: str = "the DSN"
    refusal: AuroraSSLError | None = None
    ignored: list[str] = dataclasses.field(default_factory=list)
    credentials: dict[str, str] = dataclasses.field(default_factory=dict)


def read_dsn(dsn: str) -> DatabaseURL:
    """Read a libpq DSN, libpq URI or SQLAlchemy URL (the same ``DATABASE_URL`` everywhere).

    A SQLAlchemy URL may name a driver (``postgresql+psycopg://``, ``+psycopg2``,
    ``+asyncpg``), the plugin (``plugin=aurora_ssl``) and our options
    (:data:`URL_OPTIONS`); they are consumed here and never reach libpq.

    Raises:
        InsecureConfigurationError: the string is malformed, it carries an unknown
            ``aurora_ssl_*`` key, or a ``aurora_ssl_tls_server_name`` that is no host name.
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
    for key in [k for k in params if k.lower().startswith("aurora_ssl_")]:
        value = params.pop(key)
        if key in CREDENTIAL_OPTIONS:
            target.credentials[key] = str(value)
            continue
        if key in _SQLALCHEMY_ONLY:
            target.ignored.append(f"{key} sets SQLAlchemy's log level; check ignores it.")
            continue
        field = URL_OPTIONS.get(key)
        if field is None and key == "aurora_ssl_insecure_local_dev":
            raise InsecureConfigurationError(
                f"{key} in {origin} turns verification off, and a check exists to verify: "
                "remove it to see what verify-full makes of this server."
            )
        if field is None:
            known = ", ".join(sorted(URL_OPTIONS))
            raise InsecureConfigurationError(
                f"Unknown option {shorten(key)} in {origin}; aurora-ssl accepts {known}. "
                "Check the spelling, or remove it."
            )
        if "\x00" in str(value):
            raise InsecureConfigurationError(f"{key} in {origin} contains a NUL character.")
        setattr(target, field, str(value) if value else None)
    if target.tls_server_name:
        problem = host_problem(target.tls_server_name, "aurora_ssl_tls_server_name")
        if problem:
            raise InsecureConfigurationError(problem)
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
) -> tuple[str, dict[str, str]]:
    """Take ``plugin``, ``aurora_ssl_*`` (and a non-libpq driver's own keys, e.g. asyncpg's
    ``ssl``) out of a URI's query: libpq's parser, the judge of the rest, would refuse them
    as unknown options."""
    if "://" not in text or "?" not in text:
        return text, {}
    base, _, query = text.partition("?")
    kept: list[str] = []
    ours: dict[str, str] = {}
    for item in query.split("&"):
        raw_key, _, raw_value = item.partition("=")
        key = unquote(raw_key).strip()
        if key in ("plugin", *driver_keys) or key.lower().startswith("aurora_ssl_"):
            value = unquote(raw_value)
            ours[key] = f"{ours[key]},{value}" if key == "plugin" and key in ours else value
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
