"""A ``DATABASES`` entry from the same ``DATABASE_URL`` that SQLAlchemy, ``aurora-ssl check``
and psql read, or from the entry dj-database-url or django-environ made of it.

The URL SQLAlchemy users write (``postgresql+psycopg://...?plugin=aurora_ssl&aurora_ssl_bundle=``)
is read here: the driver suffix is accepted (Django picks its own driver), ``plugin=aurora_ssl``
is implied, each ``aurora_ssl_<key>`` becomes ``AURORA_SSL[<KEY>]`` (read by the one reader every
integration uses; an unknown key is refused), ``pool=true`` becomes Django's connection pool,
and every other query key an ``OPTIONS`` entry for libpq. Messages never quote the URL (it may
hold a password).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aurora_ssl._options import (
    PREFIX,
    Options,
    is_ours,
    parse_bool,
    password_conflict,
    read_options,
)
from aurora_ssl.errors import InsecureConfigurationError
from django_aurora_ssl._conf import SETTINGS_KEY, OptionsError, database_options, password_where

_POSTGRESQL = "django_aurora_ssl.backends.postgresql"
_POSTGIS = "django_aurora_ssl.backends.postgis"
#: The URL schemes read: these, alone or with one of SQLAlchemy's PostgreSQL drivers.
_SCHEMES = ("postgres", "postgresql", "pgsql")
_DRIVERS = ("", "psycopg", "psycopg2", "psycopg_async", "asyncpg", "pg8000")


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
    base, _, driver = parts.scheme.lower().partition("+")
    if not ((base in _SCHEMES and driver in _DRIVERS) or (base, driver) == ("postgis", "")):
        raise OptionsError(
            f"{where} has the scheme {parts.scheme.lower() or 'none'!r}; use postgresql://, "
            "postgresql+psycopg:// (or another SQLAlchemy PostgreSQL driver) or postgis://."
        )
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    if len(query) < len(pairs):
        repeated = sorted(key for key in query if [k for k, _ in pairs].count(key) > 1)
        raise OptionsError(f"{where} gives the query key {repeated[0]!r} twice; keep one.")
    entry: dict[str, Any] = {
        "ENGINE": _POSTGIS if base == "postgis" else _POSTGRESQL,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or "") or str(query.pop("host", "")),
        "PORT": str(port) if port is not None else "",
        "OPTIONS": query,
    }
    for key, value in overrides.items():
        merged = key in ("OPTIONS", SETTINGS_KEY) and isinstance(value, Mapping)
        entry[key] = {**entry.get(key, {}), **value} if merged else value
    entry, read = _made_ours(entry, f"the query of {where}", "database_url(...)")
    given = "the URL" if parts.password else password_where(entry, "?")
    if given and (read.iam or read.password_provider is not None):  # fail at start
        provider = "IAM" if read.iam else "PASSWORD_PROVIDER"
        raise OptionsError(password_conflict(given, f"AURORA_SSL[{provider!r}]"))
    return entry


def secure_entry(entry: Mapping[str, Any], *, engine: str | None = None) -> dict[str, Any]:
    """A DATABASES entry from dj-database-url or django-environ, made ours.

    Both put a URL's query keys into ``OPTIONS``, where libpq would refuse ``plugin`` and
    ``aurora_ssl_*``; this moves them to ``AURORA_SSL`` and sets ``ENGINE`` to our backend
    (``engine``, or ours for PostGIS when the entry's is a PostGIS one)::

        DATABASES = {"default": secure_entry(dj_database_url.config(conn_max_age=600))}

    dj-database-url refuses SQLAlchemy's ``postgresql+psycopg://`` URLs: read those with
    :func:`database_url`.

    Raises:
        OptionsError (ImproperlyConfigured): as :func:`database_url`.
    """
    postgis = "postgis" in str(entry.get("ENGINE") or "")
    ours = {**entry, "ENGINE": engine or (_POSTGIS if postgis else _POSTGRESQL)}
    return _made_ours(ours, "OPTIONS", "secure_entry(...)")[0]


def _made_ours(entry: Mapping[str, Any], where: str, caller: str) -> tuple[dict[str, Any], Options]:
    """``entry`` with our keys moved from OPTIONS (a URL's query) to ``AURORA_SSL``, checked;
    and the options it gives."""
    raw = entry.get("OPTIONS") or {}
    if not isinstance(raw, Mapping):
        raise OptionsError(f"OPTIONS must be a dict, not {type(raw).__name__}.")
    options: dict[str, Any] = {}
    ours: dict[str, Any] = {}
    try:
        for key, value in raw.items():
            if str(key).lower() == "plugin":
                if str(value).strip() != "aurora_ssl":
                    raise OptionsError(
                        f"{where} names the SQLAlchemy plugin {value!r}; Django cannot run "
                        "SQLAlchemy plugins. Only plugin=aurora_ssl is read (and implied)."
                    )
            elif is_ours(key):
                ours[key] = value
            elif key == "pool" and isinstance(value, str):
                options[key] = parse_bool(value, "pool", where)
            else:
                options[key] = value
        read_options(ours, where, django_options=True)
    except InsecureConfigurationError as exc:
        raise OptionsError(str(exc)) from None
    given = {key[len(PREFIX) :].upper(): value for key, value in ours.items() if value != ""}
    existing = entry.get(SETTINGS_KEY) or {}
    aurora = {**given, **existing} if isinstance(existing, Mapping) else existing
    result = {**entry, "OPTIONS": options, SETTINGS_KEY: aurora}
    return result, database_options(result, where=f"{caller}[{SETTINGS_KEY!r}]")
