"""aurora-ssl's settings in ``DATABASES``, and which entries use our backends.

Our options live in their own key next to ``OPTIONS``, so libpq never sees them, and are read
by the one reader every integration uses (:func:`aurora_ssl._options.read_options`)::

    DATABASES = {"default": {
        "ENGINE": "django_aurora_ssl.backends.postgresql",
        "HOST": "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com", ...,
        "AURORA_SSL": {                       # all optional
            "BUNDLE": None,                   # RDS bundle file to take the roots from
            "TLS_SERVER_NAME": None,          # RDS name to verify when HOST is a CNAME
            "SERVER_CHECK_AT_STARTUP": True,  # ask the server once per process
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
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from aurora_ssl._options import Options, read_options
from aurora_ssl.errors import InsecureConfigurationError

SETTINGS_KEY = "AURORA_SSL"
#: The ENGINE values of our backends.
ENGINES = frozenset({"django_aurora_ssl.backends.postgresql", "django_aurora_ssl.backends.postgis"})
#: Django's own engines, and the drop-in replacement for each.
PLAIN_ENGINES: Mapping[str, str] = {
    "django.db.backends.postgresql": "django_aurora_ssl.backends.postgresql",
    "django.db.backends.postgresql_psycopg2": "django_aurora_ssl.backends.postgresql",
    "django.contrib.gis.db.backends.postgis": "django_aurora_ssl.backends.postgis",
}


#: OPTIONS keys Django's PostgreSQL backend takes out before connecting (``pool``: 5.1+).
DJANGO_OPTIONS = frozenset({"assume_role", "isolation_level", "pool", "server_side_binding"})


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
    options = settings_dict.get("OPTIONS")
    nested = (
        [k for k in options if str(k).upper() == SETTINGS_KEY]
        if isinstance(options, Mapping)
        else []
    )
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
    """The ``DatabaseWrapper`` class ENGINE names, imported as Django's ``load_backend`` does;
    ``None`` when it cannot be imported here (Django's own checks report that)."""
    engine = settings_dict.get("ENGINE")
    if not isinstance(engine, str) or not engine:
        return None
    try:
        module = importlib.import_module(f"{engine}.base")
    except Exception:  # noqa: BLE001 - ImportError, ImproperlyConfigured, a broken user module
        return None
    wrapper = getattr(module, "DatabaseWrapper", None)
    return wrapper if isinstance(wrapper, type) else None


def uses_backend(settings_dict: Mapping[str, Any]) -> bool:
    """Whether this entry's backend is ours, by class: a user's subclass of ours counts."""
    wrapper = backend_class(settings_dict)
    if wrapper is None:
        return settings_dict.get("ENGINE") in ENGINES
    return getattr(wrapper, "aurora_ssl_backend", False) is True


def plain_postgresql(settings_dict: Mapping[str, Any]) -> bool:
    """Whether the backend is Django's PostgreSQL one (or a subclass of it) but not ours."""
    if settings_dict.get("ENGINE") in PLAIN_ENGINES:
        return True
    wrapper = backend_class(settings_dict)
    if wrapper is None or uses_backend(settings_dict):
        return False
    try:
        from django.db.backends.postgresql.base import DatabaseWrapper
    except Exception:  # noqa: BLE001 - no driver installed: it cannot be a PostgreSQL backend
        return False
    return issubclass(wrapper, DatabaseWrapper)


def aliases_using_backend(databases: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The aliases of ``databases`` (``settings.DATABASES``) that use our backends."""
    return [alias for alias, entry in databases.items() if uses_backend(entry)]


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
    params.pop("password", None)
    for key in DJANGO_OPTIONS:  # Django reads these itself; the driver never sees them
        params.pop(key, None)
    return params


def guard_hosts(settings_dict: Mapping[str, Any], options: Options) -> list[str]:
    """Every host an entry can send libpq to (HOST, OPTIONS host/hostaddr, TLS_SERVER_NAME),
    for the insecure opt-out's guard."""
    raw = settings_dict.get("OPTIONS")
    opts = raw if isinstance(raw, Mapping) else {}
    sources = (
        settings_dict.get("HOST"),
        opts.get("host"),
        opts.get("hostaddr"),
        options.tls_server_name,
    )
    return [h.strip() for s in sources if s for h in str(s).split(",") if h.strip()]


def refuse_conninfo_name(settings_dict: Mapping[str, Any], alias: str = "?") -> None:
    """Refuse a database name that is really a connection string (``NAME``, OPTIONS dbname):
    psql and libpq expand it, and its keys would override the ones aurora-ssl set.

    Raises:
        InsecureConfigurationError: naming the setting, never quoting it (a URI may hold a
            password).
    """
    options = settings_dict.get("OPTIONS")
    options = options if isinstance(options, Mapping) else {}
    for where, value in (
        (f"DATABASES[{alias!r}]['NAME']", settings_dict.get("NAME")),
        (f"DATABASES[{alias!r}]['OPTIONS']['dbname']", options.get("dbname")),
    ):
        text = value.strip().lower() if isinstance(value, str) else ""
        if "=" in text or text.startswith(("postgresql://", "postgres://")):
            raise InsecureConfigurationError(
                f"{where} holds a connection string, not a database name; libpq would take "
                "its settings (sslmode, host ...) over aurora-ssl's. Put only the database "
                "name there, and the other settings in HOST, PORT, USER and OPTIONS."
            )
