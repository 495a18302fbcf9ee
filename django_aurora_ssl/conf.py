"""Reading aurora-ssl's per-database options from ``settings.DATABASES``.

Our options live in their own key next to ``OPTIONS``, so libpq never sees them::

    DATABASES = {
        "default": {
            "ENGINE": "django_aurora_ssl.backends.postgresql",
            "HOST": "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com",
            ...,
            "OPTIONS": {...},                     # libpq / Django options, as usual
            "AURORA_SSL": {                       # aurora-ssl's own, all optional
                "BUNDLE": None,                   # RDS bundle file to trim from
                "TLS_SERVER_NAME": None,          # RDS name to verify when HOST is a CNAME
                "SERVER_CHECK_AT_STARTUP": True,  # ask the server once per process
                "INSECURE_LOCAL_DEV": False,      # the loud opt-out, local servers only
                "IAM": False,                     # RDS IAM tokens as passwords (botocore)
                "IAM_PROFILE": None,              # AWS profile for them (default chain)
                "PASSWORD_PROVIDER": None,        # callable, provider or "module:attr"
                "LOG_LEVEL": "DEBUG",             # of the aurora_ssl.connections line
                "EXPLAIN_POOL_TIMEOUT": True,     # probe (rate-limited) on a pool timeout
            },
        }
    }

The booleans also take the strings of environment variables, parsed strictly by
:func:`aurora_ssl.options.parse_bool` (``"false"``, ``"0"``, ``"off"`` are False; anything
unrecognised is an :class:`OptionsError`, never "truthy").
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from aurora_ssl.conninfo import is_conninfo
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from aurora_ssl.options import parse_bool, password_conflict
from aurora_ssl.policy import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:  # the credentials layer is imported only when a provider is configured
    from aurora_ssl.credentials import PasswordProvider

__all__ = [
    "ENGINES",
    "PLAIN_ENGINES",
    "SETTINGS_KEY",
    "DatabaseOptions",
    "OptionsError",
    "aliases_using_backend",
    "backend_class",
    "database_options",
    "guard_hosts",
    "is_connection_string",
    "libpq_target",
    "plain_postgresql",
    "refuse_conninfo_name",
    "uses_backend",
]

SETTINGS_KEY = "AURORA_SSL"

#: The ENGINE values of our backends.
ENGINES = frozenset({"django_aurora_ssl.backends.postgresql", "django_aurora_ssl.backends.postgis"})
#: Django's own engines, and the drop-in replacement for each.
PLAIN_ENGINES: Mapping[str, str] = {
    "django.db.backends.postgresql": "django_aurora_ssl.backends.postgresql",
    "django.db.backends.postgresql_psycopg2": "django_aurora_ssl.backends.postgresql",
    "django.contrib.gis.db.backends.postgis": "django_aurora_ssl.backends.postgis",
}

_OPTION_TYPES: Mapping[str, tuple[type, ...]] = {
    "BUNDLE": (str, os.PathLike, type(None)),
    "TLS_SERVER_NAME": (str, type(None)),
    "IAM_PROFILE": (str, type(None)),
    "LOG_LEVEL": (str, int, type(None)),
}
#: Boolean options: settings often come from environment variables, so strings are parsed
#: strictly (``"false"`` is False, ``"maybe"`` an error), never by truthiness.
_BOOL_OPTIONS: Mapping[str, bool] = {
    "SERVER_CHECK_AT_STARTUP": True,
    "INSECURE_LOCAL_DEV": False,
    "IAM": False,
    "EXPLAIN_POOL_TIMEOUT": True,
}
_KEYS = frozenset({*_OPTION_TYPES, *_BOOL_OPTIONS, "PASSWORD_PROVIDER"})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: One IAMTokenProvider per profile in the process: its token cache is what makes asking for
#: a password on every new connection cost nothing.
_iam_providers: dict[str | None, PasswordProvider] = {}
_iam_lock = threading.Lock()
#: URI schemes that make libpq (psql, PQconnectdbParams) expand a dbname as a whole
#: connection string, like an ``=`` in it does.
_URI_PREFIXES = ("postgresql://", "postgres://")


class OptionsError(ImproperlyConfigured):  # type: ignore[misc]  # Django has no stubs
    """``AURORA_SSL`` in a DATABASES entry is malformed."""


@dataclasses.dataclass(frozen=True)
class DatabaseOptions:
    """aurora-ssl's options for one database alias.

    Attributes:
        bundle: an RDS bundle file to trim the trust set from (else ``AURORA_SSL_BUNDLE``,
            an updated bundle, or the shipped one).
        tls_server_name: the RDS endpoint name to verify when ``HOST`` is another name.
        server_check_at_startup: ask the server once per process and target, at the first
            connection, whether the session is encrypted (one query).
        insecure_local_dev: turn verification off, for a local server without TLS only.
        password_provider: asked for the password of every new physical connection (IAM
            tokens, a rotated secret); ``None``: Django's ``PASSWORD``.
        log_level: the level of the ``aurora_ssl.connections`` line per verified connection.
        explain_pool_timeout: on a psycopg pool timeout, connect once directly (at most once
            per alias every :data:`PROBE_INTERVAL` seconds) to say why.
    """

    bundle: str | None = None
    tls_server_name: str | None = None
    server_check_at_startup: bool = True
    insecure_local_dev: bool = False
    password_provider: PasswordProvider | None = dataclasses.field(default=None, compare=False)
    log_level: int = logging.DEBUG
    explain_pool_timeout: bool = True

    @property
    def settings(self) -> Settings:
        """The core :class:`aurora_ssl.policy.Settings` for these options."""
        return Settings(
            bundle=self.bundle,
            tls_server_name=self.tls_server_name,
            insecure_local_dev=self.insecure_local_dev,
        )


def database_options(settings_dict: Mapping[str, Any], alias: str = "?") -> DatabaseOptions:
    """Parse ``settings_dict["AURORA_SSL"]`` (absent means all defaults).

    Raises:
        OptionsError: not a dict, an unknown key, a value of the wrong type, or the key put
            inside OPTIONS; the message names the alias, the key and what to supply.
    """
    options = settings_dict.get("OPTIONS")
    options = options if isinstance(options, Mapping) else {}
    nested = [key for key in options if str(key).upper() == SETTINGS_KEY]
    if nested:
        raise OptionsError(
            f"DATABASES[{alias!r}]['OPTIONS'] contains {nested[0]!r}; it belongs next to OPTIONS "
            f"(DATABASES[{alias!r}][{SETTINGS_KEY!r}]), where libpq never sees it."
        )
    raw = settings_dict.get(SETTINGS_KEY)
    if raw is None:
        return DatabaseOptions()
    where = f"DATABASES[{alias!r}][{SETTINGS_KEY!r}]"
    if not isinstance(raw, Mapping):
        raise OptionsError(f"{where} must be a dict, not {type(raw).__name__}.")
    unknown = sorted(str(key) for key in raw if key not in _KEYS)
    if unknown:
        raise OptionsError(
            f"{where} has unknown keys {', '.join(unknown)}; the keys are "
            f"{', '.join(sorted(_KEYS))}."
        )
    for key, types in _OPTION_TYPES.items():
        if key in raw and not isinstance(raw[key], types):
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise OptionsError(f"{where}[{key!r}] must be {wanted}, not {type(raw[key]).__name__}.")
    flags = {key: _flag(raw, key, default, where) for key, default in _BOOL_OPTIONS.items()}
    bundle = raw.get("BUNDLE")
    return DatabaseOptions(
        bundle=os.fspath(bundle) if bundle else None,
        tls_server_name=raw.get("TLS_SERVER_NAME") or None,
        server_check_at_startup=flags["SERVER_CHECK_AT_STARTUP"],
        insecure_local_dev=flags["INSECURE_LOCAL_DEV"],
        password_provider=_provider(
            raw,
            flags["IAM"],
            flags["INSECURE_LOCAL_DEV"],
            where,
            _password_where(settings_dict, options, alias),
        ),
        log_level=_log_level(raw.get("LOG_LEVEL"), where),
        explain_pool_timeout=flags["EXPLAIN_POOL_TIMEOUT"],
    )


def _password_where(
    settings_dict: Mapping[str, Any], options: Mapping[str, Any], alias: str
) -> str | None:
    """Where a DATABASES entry holds a password of its own (PASSWORD, OPTIONS), if anywhere."""
    if settings_dict.get("PASSWORD"):
        return f"DATABASES[{alias!r}]['PASSWORD']"
    if options.get("password"):
        return f"DATABASES[{alias!r}]['OPTIONS']['password']"
    return None


def _provider(
    raw: Mapping[str, Any],
    iam: bool,
    insecure: bool,
    where: str,
    password_in: str | None = None,
) -> PasswordProvider | None:
    """The password provider the options name, built once per process for IAM.

    A password in the entry next to a provider is refused, as the SQLAlchemy plugin and
    ``aurora-ssl check`` refuse it: the provider's would silently win, hiding a stale or
    misplaced secret (:func:`aurora_ssl.options.password_conflict`).
    """
    given = raw.get("PASSWORD_PROVIDER")
    if raw.get("IAM_PROFILE") and not iam:
        raise OptionsError(f"{where}['IAM_PROFILE'] is set but IAM is not True; set both.")
    if iam and given is not None:
        raise OptionsError(
            f"{where} sets both IAM and PASSWORD_PROVIDER; IAM is a password provider, "
            "keep one of them."
        )
    if iam and insecure:
        raise OptionsError(
            f"{where} sets both IAM and INSECURE_LOCAL_DEV; RDS IAM authentication "
            "requires verified TLS. Remove INSECURE_LOCAL_DEV."
        )
    if password_in is not None and (iam or given is not None):
        source = f"{where}['IAM']" if iam else f"{where}['PASSWORD_PROVIDER']"
        raise OptionsError(password_conflict(password_in, source))
    if iam:
        profile = raw.get("IAM_PROFILE") or None
        with _iam_lock:
            provider = _iam_providers.get(profile)
            if provider is None:
                from aurora_ssl.credentials import IAMTokenProvider

                provider = _iam_providers[profile] = IAMTokenProvider(profile=profile)
        return provider
    if given is None:
        return None
    from aurora_ssl.credentials import as_provider

    try:
        return as_provider(given)
    except AuroraSSLError as exc:
        raise OptionsError(f"{where}['PASSWORD_PROVIDER']: {exc}") from None


def _log_level(value: object, where: str) -> int:
    if value is None:
        return logging.DEBUG
    if isinstance(value, bool):
        raise OptionsError(f"{where}['LOG_LEVEL'] must be a level name or number, not bool.")
    if isinstance(value, int):
        return value
    name = str(value).strip().upper()
    if name not in _LOG_LEVELS:
        raise OptionsError(
            f"{where}['LOG_LEVEL'] is {value!r}; use one of {', '.join(_LOG_LEVELS)} or a number."
        )
    return int(getattr(logging, name))


def _flag(raw: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    if key not in raw or raw[key] is None:
        return default
    try:
        return parse_bool(raw[key], f"{where}[{key!r}]")
    except InsecureConfigurationError as exc:
        raise OptionsError(str(exc)) from None


def backend_class(settings_dict: Mapping[str, Any]) -> type | None:
    """The ``DatabaseWrapper`` class ENGINE names, imported as Django's ``load_backend`` does.

    ``None`` when ENGINE is unset or its module cannot be imported here (a typo, GDAL
    missing for PostGIS); Django's own checks report those.
    """
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
    """Whether this DATABASES entry's backend is ours: its wrapper class has our mixin.

    Recognised by class, not by the ENGINE string, so a user's backend that subclasses
    ``django_aurora_ssl.backends.postgresql.base.DatabaseWrapper`` (for IAM tokens, a
    password provider...) is checked and reported like ours. An ENGINE of ours whose module
    cannot be imported here still counts as ours (its checks then say what is wrong).
    """
    wrapper = backend_class(settings_dict)
    if wrapper is None:
        return settings_dict.get("ENGINE") in ENGINES
    from django_aurora_ssl.backends.wrapper import AuroraSSLWrapperMixin

    return issubclass(wrapper, AuroraSSLWrapperMixin)


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
    """The libpq parameters a DATABASES entry gives, as Django would pass them (no secrets).

    Django's order: ``NAME`` as dbname, then ``OPTIONS`` over it, then ``USER``/``HOST``/
    ``PORT`` over those. Used by the static checks, which must not build a connection.
    """
    options = settings_dict.get("OPTIONS") or {}
    params: dict[str, Any] = {}
    if settings_dict.get("NAME"):
        params["dbname"] = settings_dict["NAME"]
    params.update(options if isinstance(options, Mapping) else {})
    for key, name in (("USER", "user"), ("HOST", "host"), ("PORT", "port")):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    params.pop("password", None)
    return params


def is_connection_string(value: object) -> bool:
    """Whether libpq would expand ``value``, given as a dbname, into a connection string.

    The core's rule (:func:`aurora_ssl.conninfo.is_conninfo`, libpq's own), plus a URI
    scheme in any case or after blanks, which no database name needs either.
    """
    if not isinstance(value, str):
        return False
    return is_conninfo(value) or value.strip().lower().startswith(_URI_PREFIXES)


def refuse_conninfo_name(settings_dict: Mapping[str, Any], alias: str = "?") -> None:
    """Refuse a database name that is really a connection string (``NAME``, OPTIONS dbname).

    psql (``dbshell``) and libpq's ``PQconnectdbParams`` expand such a name and its keys
    (``sslmode=disable``, another ``host``) would override the ones aurora-ssl set.

    Raises:
        InsecureConfigurationError: naming the setting, without echoing its value (a URI
            may hold a password).
    """
    options = settings_dict.get("OPTIONS")
    options = options if isinstance(options, Mapping) else {}
    for where, value in (
        (f"DATABASES[{alias!r}]['NAME']", settings_dict.get("NAME")),
        (f"DATABASES[{alias!r}]['OPTIONS']['dbname']", options.get("dbname")),
    ):
        if is_connection_string(value):
            raise InsecureConfigurationError(
                f"{where} holds a connection string, not a database name; libpq would take "
                "its settings (sslmode, host ...) over aurora-ssl's. Put only the database "
                "name there, and the other settings in HOST, PORT, USER and OPTIONS."
            )


def guard_hosts(settings_dict: Mapping[str, Any], options: DatabaseOptions) -> list[str]:
    """Every host a DATABASES entry can send libpq to, for the insecure opt-out's guard.

    HOST, ``OPTIONS["host"]`` (used when HOST is empty), ``OPTIONS["hostaddr"]`` and
    ``TLS_SERVER_NAME``, each split at commas (multi-host lists).
    """
    raw = settings_dict.get("OPTIONS")
    opts = raw if isinstance(raw, Mapping) else {}
    sources = (
        settings_dict.get("HOST"),
        opts.get("host"),
        opts.get("hostaddr"),
        options.tls_server_name,
    )
    return [h.strip() for s in sources if s for h in str(s).split(",") if h.strip()]
