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
            },
        }
    }
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from aurora_ssl.policy import Settings

__all__ = [
    "ENGINES",
    "PLAIN_ENGINES",
    "SETTINGS_KEY",
    "DatabaseOptions",
    "OptionsError",
    "aliases_using_backend",
    "database_options",
    "libpq_target",
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
    "SERVER_CHECK_AT_STARTUP": (bool,),
    "INSECURE_LOCAL_DEV": (bool,),
}


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
    """

    bundle: str | None = None
    tls_server_name: str | None = None
    server_check_at_startup: bool = True
    insecure_local_dev: bool = False

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
    unknown = sorted(str(key) for key in raw if key not in _OPTION_TYPES)
    if unknown:
        raise OptionsError(
            f"{where} has unknown keys {', '.join(unknown)}; the keys are "
            f"{', '.join(sorted(_OPTION_TYPES))}."
        )
    for key, types in _OPTION_TYPES.items():
        if key in raw and not isinstance(raw[key], types):
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise OptionsError(f"{where}[{key!r}] must be {wanted}, not {type(raw[key]).__name__}.")
    bundle = raw.get("BUNDLE")
    return DatabaseOptions(
        bundle=os.fspath(bundle) if bundle else None,
        tls_server_name=raw.get("TLS_SERVER_NAME") or None,
        server_check_at_startup=raw.get("SERVER_CHECK_AT_STARTUP", True),
        insecure_local_dev=raw.get("INSECURE_LOCAL_DEV", False),
    )


def uses_backend(settings_dict: Mapping[str, Any]) -> bool:
    """Whether this DATABASES entry uses one of our backends."""
    return settings_dict.get("ENGINE") in ENGINES


def aliases_using_backend(databases: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The aliases of ``databases`` (``settings.DATABASES``) that use our backends."""
    return [alias for alias, entry in databases.items() if uses_backend(entry)]


def libpq_target(settings_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The libpq parameters a DATABASES entry gives, as Django would pass them (no secrets).

    ``OPTIONS`` first, then ``HOST``/``PORT``/``NAME``/``USER`` over them, as Django's
    PostgreSQL backend does. Used by the static checks, which must not build a connection.
    """
    options = settings_dict.get("OPTIONS") or {}
    params: dict[str, Any] = dict(options) if isinstance(options, Mapping) else {}
    for key, name in (("HOST", "host"), ("PORT", "port"), ("NAME", "dbname"), ("USER", "user")):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    params.pop("password", None)
    return params
