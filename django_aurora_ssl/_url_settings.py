"""A ``DATABASES`` entry from the same ``DATABASE_URL`` that SQLAlchemy, ``aurora-ssl check``
and psql read.

The URL SQLAlchemy users write (``postgresql+psycopg://...?plugin=aurora_ssl&aurora_ssl_bundle=``)
is read here: the driver suffix is accepted (Django picks its own driver), ``plugin=aurora_ssl``
is implied, each ``aurora_ssl_<key>`` becomes ``AURORA_SSL[<KEY>]`` (read by the one reader every
face uses; an unknown key is refused), ``pool=true`` becomes Django's connection pool, and every
other query key an ``OPTIONS`` entry for libpq. Messages never quote the URL (it may hold a
password).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aurora_ssl._options import PREFIX, is_ours, parse_bool, password_conflict, read_options
from aurora_ssl.errors import InsecureConfigurationError
from django_aurora_ssl._conf import SETTINGS_KEY, OptionsError, database_options, password_where

_POSTGRESQL = "django_aurora_ssl.backends.postgresql"
_DRIVERS = ("", "+psycopg", "+psycopg2", "+psycopg_async", "+asyncpg", "+pg8000")
#: The URL schemes read, and our backend for each (SQLAlchemy's driver names included).
ENGINE_FOR_SCHEME: Mapping[str, str] = {
    **{f"{base}{d}": _POSTGRESQL for base in ("postgres", "postgresql", "pgsql") for d in _DRIVERS},
    "postgis": "django_aurora_ssl.backends.postgis",
}


def database_url(
    url: str | None = None,
    *,
    env: str = "DATABASE_URL",
    default: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The ``DATABASES`` entry, on our backend, for a PostgreSQL URL.

    Args:
        url: ``postgres://``, ``postgresql://``, ``postgresql+psycopg://`` (any SQLAlchemy
            PostgreSQL driver) or ``postgis://``; ``None`` reads the variable ``env``.
        env: the environment variable to read when ``url`` is None.
        default: the URL to use when ``env`` is not set (a test or a local server).
        overrides: keys of the entry (``CONN_MAX_AGE=600``, ``TEST={...}``); ``OPTIONS``
            and ``AURORA_SSL`` dicts are merged over what the URL gives.

    Raises:
        OptionsError (ImproperlyConfigured): no URL, another scheme, an unknown
            ``aurora_ssl_*`` key, another ``plugin``, a repeated key, or a malformed value.
    """
    where = "the URL" if url is not None else f"${env}"
    if url is None:
        url = os.environ.get(env) or default
        if not url:
            raise OptionsError(f"${env} is not set; set it to the database URL (or pass default=).")
    if not isinstance(url, str):
        raise OptionsError(f"The database URL must be a str, not {type(url).__name__}.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise OptionsError(f"{where} is not a valid URL (look at its port and brackets).") from None
    engine = ENGINE_FOR_SCHEME.get(parts.scheme.lower())
    if engine is None:
        raise OptionsError(
            f"{where} has the scheme {parts.scheme.lower() or 'none'!r}; use postgresql://, "
            "postgresql+psycopg:// (or another SQLAlchemy PostgreSQL driver) or postgis://."
        )
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise OptionsError(f"{where} gives the query key {repeated[0]!r} twice; keep one.")
    options, aurora = _split_query(dict(pairs), f"the query of {where}")
    host = unquote(parts.hostname or "")
    entry: dict[str, Any] = {
        "ENGINE": engine,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host or str(options.pop("host", "")),
        "PORT": str(port) if port is not None else "",
        "OPTIONS": options,
        SETTINGS_KEY: aurora,
    }
    for key, value in overrides.items():
        merged = key in ("OPTIONS", SETTINGS_KEY) and isinstance(value, Mapping)
        entry[key] = {**entry[key], **value} if merged else value
    read = database_options(entry, where=f"database_url(...)[{SETTINGS_KEY!r}]")
    given = "the URL" if parts.password else password_where(entry, "?")
    if given and (read.iam or read.password_provider is not None):  # fail at start
        provider = "IAM" if read.iam else "PASSWORD_PROVIDER"
        raise OptionsError(password_conflict(given, f"AURORA_SSL[{provider!r}]"))
    return entry


def adopt(entry: Mapping[str, Any], *, engine: str | None = None) -> dict[str, Any]:
    """A DATABASES entry from dj-database-url or django-environ, made ours.

    Both put a URL's query keys into ``OPTIONS``, where libpq would refuse ``plugin`` and
    ``aurora_ssl_*``; this moves them to ``AURORA_SSL`` and sets ``ENGINE`` to our backend::

        DATABASES = {"default": adopt(dj_database_url.config(conn_max_age=600))}

    Raises:
        OptionsError (ImproperlyConfigured): as :func:`database_url`.
    """
    result = dict(entry)
    raw = result.get("OPTIONS") or {}
    if not isinstance(raw, Mapping):
        raise OptionsError(f"OPTIONS must be a dict, not {type(raw).__name__}.")
    result["OPTIONS"], aurora = _split_query(dict(raw), "OPTIONS")
    current = str(result.get("ENGINE") or "")
    postgis = "django_aurora_ssl.backends.postgis"
    result["ENGINE"] = engine or (postgis if "postgis" in current else _POSTGRESQL)
    existing = result.get(SETTINGS_KEY) or {}
    result[SETTINGS_KEY] = {**aurora, **existing} if isinstance(existing, Mapping) else existing
    database_options(result, where=f"adopt(...)[{SETTINGS_KEY!r}]")
    return result


def _split_query(query: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """libpq's options and ``AURORA_SSL``'s, from a URL's query (or OPTIONS made from one)."""
    options: dict[str, Any] = {}
    ours: dict[str, Any] = {}
    for key, value in query.items():
        if str(key).lower() == "plugin":
            if str(value).strip() != "aurora_ssl":
                raise OptionsError(
                    f"{where} names the SQLAlchemy plugin {value!r}; Django cannot run "
                    "SQLAlchemy plugins. Only plugin=aurora_ssl is read (and implied)."
                )
        elif is_ours(key):
            ours[key] = value
        elif key == "pool":
            try:
                options["pool"] = parse_bool(value, "pool") if isinstance(value, str) else value
            except InsecureConfigurationError as exc:
                raise OptionsError(f"{exc} (in {where})") from None
        else:
            options[key] = value
    try:
        read_options(ours, where, django_options=True)
    except InsecureConfigurationError as exc:
        raise OptionsError(str(exc)) from None
    aurora = {key[len(PREFIX) :].upper(): value for key, value in ours.items() if value != ""}
    return options, aurora
