"""``manage.py dbshell``: psql gets the complete verified-TLS parameter set as ONE conninfo.

Why one conninfo in place of the database name: libpq ranks a service file (``PGSERVICE``)
and a connection string given as the dbname above ``PG*`` environment variables, so exporting
``PGSSLMODE=verify-full`` (what Django's client does with OPTIONS) lost to ``PGSERVICE=x`` or
to ``NAME="dbname=app sslmode=disable"``. psql expands a dbname argument holding ``=`` as a
connection string whose values beat ``-h``/``-p``/``-U``, the environment and service files.

The set is what :meth:`aurora_ssl.policy.ConnectionPolicy.apply` returns for psql's own libpq
(psql may link an older libpq than the Python driver: keys it does not know would make it
refuse to start). The password travels in ``PGPASSWORD`` as with Django's client, never on
the command line, where other local users could read it.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl.conninfo import SECRET_KEYS
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.policy import policy_for, validate_settings
from django_aurora_ssl.conf import (
    database_options,
    guard_hosts,
    libpq_target,
    refuse_conninfo_name,
)

if TYPE_CHECKING:
    from django.db.backends.postgresql.client import DatabaseClient as _ClientBase
else:
    _ClientBase = object

__all__ = ["AuroraSSLClientMixin", "psql_libpq_version", "shell_conninfo"]

#: Keys Django reads from OPTIONS itself; libpq (and so psql) would reject them.
_DJANGO_ONLY = frozenset(
    {
        "assume_role",
        "autocommit",
        "context",
        "cursor_factory",
        "isolation_level",
        "pool",
        "prepare_threshold",
        "server_side_binding",
    }
)
#: libpq keywords added since PostgreSQL 12 (older ones every supported psql knows).
_KEYWORD_SINCE: Mapping[str, int] = {
    "gssencmode": 120000,
    "ssl_min_protocol_version": 130000,
    "ssl_max_protocol_version": 130000,
    "sslsni": 140000,
    "sslcrldir": 140000,
    "load_balance_hosts": 160000,
    "require_auth": 160000,
    "sslcertmode": 160000,
    "sslnegotiation": 170000,
    "sslkeylogfile": 180000,
    "min_protocol_version": 180000,
    "max_protocol_version": 180000,
}
#: Pinned by aurora-ssl, not given by the user: dropped for a psql whose libpq lacks them
#: (apply() already leaves them out when told psql's version; this is the backstop).
_PINS = frozenset({"sslnegotiation", "sslkeylogfile"})


def psql_libpq_version(executable: str = "psql") -> int | None:
    """The libpq version psql will use, from ``psql --version`` (e.g. 150018), or ``None``.

    psql's own version is a lower bound of its libpq's (a distribution may link a newer one),
    so keys chosen for it are always accepted. ``None`` when psql is not on PATH.
    """
    path = shutil.which(executable)
    return None if path is None else _version_of(path)


@functools.lru_cache(maxsize=8)
def _version_of(path: str) -> int | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if match is None:
        return None
    major, minor = int(match[1]), int(match[2] or 0)
    return major * 10000 + minor if major >= 10 else major * 10000 + minor * 100


def _quote(value: object) -> str:
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def shell_conninfo(params: Mapping[str, Any], libpq_version: int | None) -> str:
    """One libpq connection string for psql: every parameter, quoted, secrets left out.

    Raises:
        InsecureConfigurationError: a key of the user's that psql's libpq does not know
            (leaving it out could weaken what they asked for, e.g. ``require_auth``).
    """
    parts: list[str] = []
    for key, value in params.items():
        if key in SECRET_KEYS or key in _DJANGO_ONLY or value is None:
            continue
        since = _KEYWORD_SINCE.get(key)
        if since is not None and libpq_version is not None and libpq_version < since:
            if key in _PINS:
                continue
            raise InsecureConfigurationError(
                f"psql's libpq ({libpq_version // 10000}) does not know the connection option "
                f"{key} (libpq {since // 10000}+); use a newer psql for dbshell."
            )
        parts.append(f"{key}={_quote(value)}")
    return " ".join(parts)


class AuroraSSLClientMixin(_ClientBase):  # type: ignore[misc]
    """Put in front of Django's PostgreSQL ``DatabaseClient``; see the module docstring."""

    def runshell(self, parameters: list[str]) -> None:
        # Here the alias is known, so the refusal can name it (the classmethod below cannot).
        refuse_conninfo_name(self.connection.settings_dict, self.connection.alias)
        database_options(self.connection.settings_dict, self.connection.alias)
        super().runshell(parameters)

    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: Mapping[str, Any], parameters: list[str]
    ) -> tuple[list[str], dict[str, str] | None]:
        refuse_conninfo_name(settings_dict)
        options = database_options(settings_dict)
        if options.insecure_local_dev:
            validate_settings(options.settings, guard_hosts(settings_dict, options))
            result: tuple[list[str], dict[str, str] | None]
            result = super().settings_to_cmd_args_env(settings_dict, parameters)
            return result
        target = {k: v for k, v in libpq_target(settings_dict).items() if k not in _DJANGO_ONLY}
        if not target.get("dbname") and not target.get("service"):
            target["dbname"] = "postgres"  # Django's dbshell default
        version = psql_libpq_version(cls.executable_name)
        secured = policy_for(options.settings).apply(target, "OPTIONS", libpq_version=version)
        args = [cls.executable_name, *parameters, shell_conninfo(secured, version)]
        env: dict[str, str] = {}
        if options.password_provider is not None:
            from django_aurora_ssl.backends.credentials import credential_target

            target_login = credential_target(secured, options.tls_server_name)
            env["PGPASSWORD"] = options.password_provider.password(target_login)
        elif settings_dict.get("PASSWORD"):
            env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
        if secured.get("passfile"):
            env["PGPASSFILE"] = str(secured["passfile"])
        return args, (env or None)
