"""A ``DATABASES`` entry from the same ``DATABASE_URL`` SQLAlchemy, ``aurora-ssl check`` and
psql read.

The docs' URL for SQLAlchemy is ``postgresql+psycopg://...?plugin=aurora_ssl&aurora_ssl_bundle=...``.
dj-database-url refuses its ``+driver`` scheme and Django would hand ``plugin`` and our keys
to libpq ("invalid connection option"), so this reader takes them apart: the driver suffix is
accepted (Django picks its own driver: psycopg 3 when installed), ``plugin=aurora_ssl`` is
implied, each ``aurora_ssl_<key>`` becomes ``AURORA_SSL[<KEY>]``, read as the SQLAlchemy plugin
and ``aurora-ssl check`` read it (one core list, :mod:`aurora_ssl.options`; an unknown key is
refused: a typo must not silently drop an option), and every other query key becomes an
``OPTIONS`` entry for libpq. The result is checked like a hand-written entry, so a malformed
value fails here, in settings, not at the first request. Messages never quote the URL (it may hold a
password).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aurora_ssl.database_url import read_url_option
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.options import BY_KEY, OPTIONS, PREFIX, is_ours, unknown_option
from django_aurora_ssl.conf import SETTINGS_KEY, OptionsError, database_options

__all__ = ["DJANGO_ONLY", "ENGINE_FOR_SCHEME", "URL_KEYS", "adopt", "database_url"]

#: The URL schemes read, and our backend for each (SQLAlchemy's driver names included).
ENGINE_FOR_SCHEME: Mapping[str, str] = {
    **{
        scheme: "django_aurora_ssl.backends.postgresql"
        for base in ("postgres", "postgresql", "pgsql")
        for scheme in (
            base,
            *(f"{base}+{driver}" for driver in ("psycopg", "psycopg2", "psycopg_async")),
            *(f"{base}+{driver}" for driver in ("asyncpg", "pg8000", "psycopg2cffi")),
        )
    },
    "postgis": "django_aurora_ssl.backends.postgis",
}
#: ``AURORA_SSL`` keys only Django has (the per-process server check, pool timeouts
#: explained): on purpose, so not in the core list the other faces share.
DJANGO_ONLY = ("SERVER_CHECK_AT_STARTUP", "EXPLAIN_POOL_TIMEOUT")
#: The ``AURORA_SSL`` keys a URL may set, as ``aurora_ssl_<lower-case key>``: the core list
#: (read by :func:`aurora_ssl.database_url.read_url_option`, as the plugin and ``aurora-ssl
#: check`` read it) plus :data:`DJANGO_ONLY` (read by :func:`database_options`).
URL_KEYS: Mapping[str, str] = {
    **{option.key: option.setting for option in OPTIONS},
    **{f"{PREFIX}{key.lower()}": key for key in DJANGO_ONLY},
}


def database_url(
    url: str | None = None, *, env: str = "DATABASE_URL", **overrides: Any
) -> dict[str, Any]:
    """The ``DATABASES`` entry, on our backend, for a PostgreSQL URL.

    Args:
        url: ``postgres://``, ``postgresql://``, ``postgresql+psycopg://`` (any SQLAlchemy
            PostgreSQL driver) or ``postgis://``; ``None`` reads the environment variable
            ``env``.
        env: the variable to read when ``url`` is None.
        overrides: keys of the entry (``CONN_MAX_AGE=600``, ``TEST={...}``); ``OPTIONS``
            and ``AURORA_SSL`` dicts are merged over what the URL gives.

    Returns:
        ``{"ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS", "AURORA_SSL"}``
        plus ``overrides``.

    Raises:
        OptionsError (ImproperlyConfigured): no URL, another scheme, an unknown
            ``aurora_ssl_*`` key, another ``plugin``, a repeated key, or a malformed value.
    """
    where = "the URL" if url is not None else f"${env}"
    if url is None:
        url = os.environ.get(env)
        if not url:
            raise OptionsError(f"${env} is not set; set it to the database URL.")
    if not isinstance(url, str):
        raise OptionsError(f"The database URL must be a str, not {type(url).__name__}.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise OptionsError(f"{where} is not a valid URL (look at its port and brackets).") from None
    scheme = parts.scheme.lower()
    engine = ENGINE_FOR_SCHEME.get(scheme)
    if engine is None:
        raise OptionsError(
            f"{where} has the scheme {scheme or 'none'!r}; use postgresql://, "
            "postgresql+psycopg:// (or another SQLAlchemy PostgreSQL driver) or postgis://."
        )
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise OptionsError(f"{where} gives the query key {key!r} twice; keep one.")
        seen.add(key)
    options, aurora = _split_query(dict(pairs), where)
    host = unquote(parts.hostname or "") if parts.hostname else ""
    if not host and "host" in options:  # a Unix socket directory: ?host=/var/run/postgresql
        host = str(options.pop("host"))
    entry: dict[str, Any] = {
        "ENGINE": engine,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port) if port is not None else "",
        "OPTIONS": options,
        SETTINGS_KEY: aurora,
    }
    for key, value in overrides.items():
        if key in ("OPTIONS", SETTINGS_KEY) and isinstance(value, Mapping):
            entry[key] = {**entry[key], **value}
        else:
            entry[key] = value
    database_options(entry, "DATABASE_URL")  # malformed values fail here, in settings
    return entry


def adopt(entry: Mapping[str, Any], *, engine: str | None = None) -> dict[str, Any]:
    """A DATABASES entry from dj-database-url or django-environ, made ours.

    Both put a plain URL's query keys into ``OPTIONS``, where libpq would refuse
    ``plugin`` and ``aurora_ssl_*`` ("invalid connection option"); this moves them to
    ``AURORA_SSL`` (refusing unknown ones, parsing values strictly) and sets ``ENGINE`` to
    our backend (``engine``, or the PostGIS one for a PostGIS entry)::

        DATABASES = {"default": adopt(dj_database_url.config(conn_max_age=600))}

    Raises:
        OptionsError (ImproperlyConfigured): as :func:`database_url`.
    """
    result = dict(entry)
    raw = result.get("OPTIONS") or {}
    if not isinstance(raw, Mapping):
        raise OptionsError(f"OPTIONS must be a dict, not {type(raw).__name__}.")
    options, aurora = _split_query(dict(raw), "OPTIONS")
    current = str(result.get("ENGINE") or "")
    result["ENGINE"] = engine or (
        "django_aurora_ssl.backends.postgis"
        if "postgis" in current
        else "django_aurora_ssl.backends.postgresql"
    )
    result["OPTIONS"] = options
    existing = result.get(SETTINGS_KEY) or {}
    result[SETTINGS_KEY] = {**aurora, **existing} if isinstance(existing, Mapping) else existing
    database_options(result, "DATABASE_URL")
    return result


def _split_query(query: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """libpq's options and ``AURORA_SSL``'s, from a URL's query (or OPTIONS made from one)."""
    options: dict[str, Any] = {}
    aurora: dict[str, Any] = {}
    for key, value in query.items():
        lowered = str(key).lower()
        if lowered == "plugin":
            if str(value).strip() != "aurora_ssl":
                raise OptionsError(
                    f"{where} names the SQLAlchemy plugin {value!r}; Django cannot run "
                    "SQLAlchemy plugins. Only plugin=aurora_ssl is read (and implied)."
                )
        elif is_ours(key):
            if key not in URL_KEYS:
                raise OptionsError(unknown_option(str(key), where, tuple(URL_KEYS)))
            if value == "":  # ``key=``: not given, as SQLAlchemy's URL parser reads it
                continue
            try:
                aurora[URL_KEYS[key]] = (
                    read_url_option(key, value, where) if key in BY_KEY else value
                )
            except InsecureConfigurationError as exc:
                raise OptionsError(str(exc)) from None
        else:
            options[key] = value
    return options, aurora
