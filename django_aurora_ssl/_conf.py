"""aurora-ssl's settings in ``DATABASES``: reading them, which entries use our backends, and
making an entry from a ``DATABASE_URL`` (:func:`database_url`, :func:`secure_entry`).

Our options live in their own key next to ``OPTIONS``, so libpq never sees them, and are read
by the one reader every integration uses (:func:`aurora_ssl._options.read_options`)::

    DATABASES = {"default": {
        "ENGINE": "django_aurora_ssl.backends.postgresql",
        "HOST": "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com", ...,
        "AURORA_SSL": {                       # all optional
            "BUNDLE": None,                   # RDS bundle file to take the roots from
            "TLS_SERVER_NAME": None,          # RDS name to verify when HOST is a CNAME
            "SERVER_CHECK_AT_STARTUP": True,  # ask the server once per thread
            "INSECURE_LOCAL_DEV": False,      # the loud opt-out, local servers only
            "IAM": False,                     # RDS IAM tokens as passwords (botocore)
            "IAM_PROFILE": None,              # AWS profile for them (default chain)
            "PASSWORD_PROVIDER": None,        # callable, provider or "module:attr"
            "LOG_LEVEL": "DEBUG",             # of the aurora_ssl.connections line
            "EXPLAIN_POOL_TIMEOUT": True,     # probe (rate-limited) on a pool timeout
        },
    }}

Booleans also take the strings of environment variables, parsed strictly (``"false"`` is
False; anything unrecognised is an :class:`OptionsError`, never "truthy").

The URL SQLAlchemy users write (``postgresql+psycopg://...?plugin=aurora_ssl&aurora_ssl_bundle=``)
is the same ``DATABASE_URL`` for Django: the driver suffix is accepted (Django picks its own
driver), ``plugin=aurora_ssl`` is implied, each ``aurora_ssl_<key>`` becomes
``AURORA_SSL[<KEY>]`` (an unknown key is refused), ``pool=true`` becomes Django's connection
pool, and every other query key an ``OPTIONS`` entry for libpq. Messages never quote the URL
(it may hold a password).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from aurora_ssl._connect import provider_for
from aurora_ssl._options import (
    PREFIX,
    Options,
    is_ours,
    parse_bool,
    password_conflict,
    read_options,
)
from aurora_ssl._policy import refuse_insecure_for_aws
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError

if TYPE_CHECKING:
    from aurora_ssl.credentials import PasswordProvider

SETTINGS_KEY = "AURORA_SSL"
_POSTGRESQL = "django_aurora_ssl.backends.postgresql"
_POSTGIS = "django_aurora_ssl.backends.postgis"
#: OPTIONS keys Django's PostgreSQL backend takes out before connecting (``pool``: 5.1+).
DJANGO_OPTIONS = frozenset({"assume_role", "isolation_level", "pool", "server_side_binding"})
#: The URL schemes read: these, alone or with one of SQLAlchemy's PostgreSQL drivers.
_SCHEMES = ("postgres", "postgresql", "pgsql")
_DRIVERS = ("", "psycopg", "psycopg2", "psycopg_async", "asyncpg", "pg8000")


class OptionsError(ImproperlyConfigured):  # type: ignore[misc]  # Django has no stubs
    """``AURORA_SSL`` in a DATABASES entry is malformed."""


def database_options(
    settings_dict: Mapping[str, Any], alias: str = "?", *, where: str | None = None
) -> Options:
    """``settings_dict["AURORA_SSL"]`` read (absent means all defaults); ``where`` names it in
    messages (default ``DATABASES[alias]['AURORA_SSL']``).

    Raises:
        OptionsError: not a dict, an unknown key, a value that does not read, or the key put
            inside OPTIONS; the message names the alias, the key and what to supply.
    """
    nested = [k for k in libpq_target(settings_dict) if str(k).upper() == SETTINGS_KEY]
    if nested:
        raise OptionsError(
            f"DATABASES[{alias!r}]['OPTIONS'] contains {nested[0]!r}; it belongs next to OPTIONS "
            f"(DATABASES[{alias!r}][{SETTINGS_KEY!r}]), where libpq never sees it."
        )
    raw = settings_dict.get(SETTINGS_KEY)
    where = where or f"DATABASES[{alias!r}][{SETTINGS_KEY!r}]"
    if raw is not None and not isinstance(raw, Mapping):
        raise OptionsError(f"{where} must be a dict, not {type(raw).__name__}.")
    try:
        return read_options(raw or {}, where, django=True)
    except InsecureConfigurationError as exc:
        raise OptionsError(str(exc)) from None


def password_where(settings_dict: Mapping[str, Any], alias: str) -> str | None:
    """Where a DATABASES entry holds a password of its own (PASSWORD, OPTIONS), if anywhere."""
    if settings_dict.get("PASSWORD"):
        return f"DATABASES[{alias!r}]['PASSWORD']"
    options = settings_dict.get("OPTIONS")
    if isinstance(options, Mapping) and options.get("password"):
        return f"DATABASES[{alias!r}]['OPTIONS']['password']"
    return None


def backend_class(settings_dict: Mapping[str, Any]) -> type | None:
    """The ``DatabaseWrapper`` class ENGINE names, imported as Django's ``load_backend`` does
    (not imported from it: ``django.db`` is heavy for ``settings.py``); ``None`` when it
    cannot be imported here (Django's own checks report that)."""
    try:
        wrapper = importlib.import_module(f"{settings_dict['ENGINE']}.base").DatabaseWrapper
    except Exception:  # noqa: BLE001 - no ENGINE, ImproperlyConfigured, a broken user module
        return None
    return wrapper if isinstance(wrapper, type) else None


def uses_backend(settings_dict: Mapping[str, Any]) -> bool:
    """Whether this entry's backend is ours, by class: a user's subclass of ours counts."""
    return getattr(backend_class(settings_dict), "aurora_ssl_backend", False) is True


def libpq_target(settings_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The libpq parameters a DATABASES entry gives, as Django passes them (no password).

    Django's order: ``NAME`` as dbname, ``OPTIONS`` over it, ``USER``/``HOST``/``PORT`` over
    those. For the static checks and dbshell, which build no connection.
    """
    options = settings_dict.get("OPTIONS") or {}
    params: dict[str, Any] = {"dbname": settings_dict["NAME"]} if settings_dict.get("NAME") else {}
    params.update(options if isinstance(options, Mapping) else {})
    for key, name in (("USER", "user"), ("HOST", "host"), ("PORT", "port")):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    for key in ("password", *DJANGO_OPTIONS):  # DJANGO_OPTIONS: the driver never sees them
        params.pop(key, None)
    return params


def guard_hosts(settings_dict: Mapping[str, Any]) -> list[str]:
    """Every host an entry can send libpq to (HOST, OPTIONS host and hostaddr)."""
    raw = settings_dict.get("OPTIONS")
    opts = raw if isinstance(raw, Mapping) else {}
    sources = (settings_dict.get("HOST"), opts.get("host"), opts.get("hostaddr"))
    return [h.strip() for s in sources if s for h in str(s).split(",") if h.strip()]


def read_entry(
    settings_dict: Mapping[str, Any], alias: str
) -> tuple[Options, PasswordProvider | None]:
    """What a connection of this entry (or dbshell, or a static check) needs before deciding:
    its options, and the password provider they name (``None``: Django's PASSWORD).

    Raises:
        OptionsError: malformed options, a provider that does not import, or a password next
            to one.
        InsecureConfigurationError: a connection string as the database name, or the opt-out
            for an AWS endpoint (its message names ``insecure_local_dev``).
    """
    options = database_options(settings_dict, alias)
    try:
        provider = provider_for(options, password_where(settings_dict, alias), django=True)
    except AuroraSSLError as exc:
        raise OptionsError(str(exc)) from None
    # A database name that is really a connection string (NAME, OPTIONS dbname): psql and
    # libpq expand it, and its keys would override aurora-ssl's. Never quoted (a URI may hold
    # a password). The policy refuses it too, but not with the opt-out.
    for where, value in (
        (f"DATABASES[{alias!r}]['NAME']", settings_dict.get("NAME")),
        (f"DATABASES[{alias!r}]['OPTIONS']['dbname']", libpq_target(settings_dict).get("dbname")),
    ):
        text = value.strip().lower() if isinstance(value, str) else ""
        if "=" in text or text.startswith(("postgresql://", "postgres://")):
            raise InsecureConfigurationError(
                f"{where} holds a connection string, not a database name; libpq would take "
                "its settings (sslmode, host ...) over aurora-ssl's. Put only the database "
                "name there, and the other settings in HOST, PORT, USER and OPTIONS."
            )
    refuse_insecure_for_aws(options, guard_hosts(settings_dict))
    return options, provider


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
