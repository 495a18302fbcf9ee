"""``manage.py dbshell``: psql gets the checked parameters as ONE connection string.

libpq ranks a service file (``PGSERVICE``) and a connection string given as the dbname above
``PG*`` variables, so exporting ``PGSSLMODE=verify-full`` (what Django's client does) would
lose to them. psql expands a dbname argument holding ``=`` as a connection string whose values
beat ``-h``/``-p``/``-U``, the environment and service files. The string is checked with psql's
own libpq (the system's, through ctypes: it may be older than the driver's and not know every
key), without running psql. The password travels in ``PGPASSWORD``, never on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl._connect import endpoint_of, login
from aurora_ssl._libpq import PYTHON_KEYWORDS
from aurora_ssl._policy import Policy
from django_aurora_ssl._conf import libpq_target, read_entry

if TYPE_CHECKING:
    from django.db.backends.postgresql.client import DatabaseClient as _ClientBase
else:
    _ClientBase = object

#: The drivers' own keywords Django passes from OPTIONS; libpq (and so psql) would reject them.
_DRIVER_ONLY = frozenset().union(*PYTHON_KEYWORDS.values())


class AuroraSSLClientMixin(_ClientBase):  # type: ignore[misc]
    """Put in front of Django's PostgreSQL ``DatabaseClient``; see the module docstring."""

    def runshell(self, parameters: list[str]) -> None:
        read_entry(self.connection.settings_dict, self.connection.alias)  # messages name it
        super().runshell(parameters)

    @classmethod
    def settings_to_cmd_args_env(
        cls, settings_dict: Mapping[str, Any], parameters: list[str]
    ) -> tuple[list[str], dict[str, str] | None]:
        options, provider = read_entry(settings_dict, "?")
        if options.insecure_local_dev:
            return super().settings_to_cmd_args_env(settings_dict, parameters)  # type: ignore[no-any-return]
        target = {k: v for k, v in libpq_target(settings_dict).items() if k not in _DRIVER_ONLY}
        if not target.get("dbname") and not target.get("service"):
            target["dbname"] = "postgres"  # Django's dbshell default
        decision = Policy(options).decide(target, "OPTIONS", driver="system")
        password = settings_dict.get("PASSWORD")  # none next to a provider (read_entry)
        if provider is not None:
            password = provider.password(login(*endpoint_of(decision), decision.params.get("user")))
        env = {"PGPASSWORD": str(password)} if password else None
        return [cls.executable_name, *parameters, decision.conninfo], env
