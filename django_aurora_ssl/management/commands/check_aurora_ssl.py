"""``manage.py check_aurora_ssl``: prove each database connection is verified TLS.

Exit status 0 only when every checked alias is verified (and, with ``--fail-on-warning``,
has no warning), so it works as a CI/CD gate and a container health check.

``--audit`` lists every session of one alias's database instead (every instance of an Aurora
cluster), through Django's own connection for the alias; the exit status is the audit's
(:attr:`aurora_ssl._diagnostics._audit.Audit.exit_status`: 3 a session without TLS, 4
sessions hidden).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from aurora_ssl._diagnostics._audit import audit_sessions
from aurora_ssl._diagnostics._report import reports_to_json
from aurora_ssl.errors import AuroraSSLError
from django_aurora_ssl._checks import report_for_alias
from django_aurora_ssl._conf import libpq_target, uses_backend


class Command(BaseCommand):  # type: ignore[misc]  # Django has no stubs
    help = (
        "Connect to each database that uses an aurora-ssl backend and report the endpoint, "
        "the trusted CAs, the client's and the server's view of TLS, and a verdict. Exits "
        "non-zero unless every checked connection is verified TLS."
    )
    # The report covers configuration problems itself (also in JSON); unrelated system
    # check errors must not hide it.
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            metavar="ALIAS",
            help="Check this alias (repeatable). Default: every alias using an aurora-ssl backend.",
        )
        parser.add_argument(
            "--format",
            choices=["text", "json"],
            default="text",
            help="Output format (default: text). JSON keys: docs/reference/json.md.",
        )
        parser.add_argument(
            "--fail-on-warning",
            action="store_true",
            help="Exit non-zero when a verified connection has warnings (e.g. sslinfo missing).",
        )
        parser.add_argument(
            "--audit",
            action="store_true",
            help="List every session of the database (every Aurora instance) with its TLS "
            "state; exit 3 when one is not on TLS, 4 when some are hidden from the role.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        aliases = self._aliases(options["databases"])
        if options["audit"]:
            if len(aliases) > 1 and options["databases"]:
                raise CommandError("--audit audits one database; give one --database ALIAS.")
            return self._audit(aliases[0], options["format"])
        strict = bool(options["fail_on_warning"])
        reports = [report_for_alias(alias, inspect=True) for alias in aliases]
        connections.close_all()
        failed = [r.label for r in reports if not r.passed(fail_on_warning=strict)]
        if options["format"] == "json":
            self.stdout.write(reports_to_json(reports, fail_on_warning=strict))
        else:
            for report in reports:  # the headline coloured, as Django's own commands do
                headline, _, details = report.to_text().partition("\n")
                style = self.style.ERROR if report.label in failed else self.style.SUCCESS
                self.stdout.write("\n".join([style(headline), *details.splitlines()]))
        if failed:
            raise CommandError(f"Not verified: {', '.join(failed)}.")

    def _aliases(self, requested: list[str] | None) -> list[str]:
        databases = settings.DATABASES
        for alias in requested or ():
            if alias not in databases:
                raise CommandError(f"Unknown database alias {alias!r}.")
            if not uses_backend(databases[alias]):
                raise CommandError(
                    f"Database {alias!r} uses ENGINE {databases[alias].get('ENGINE')!r}, not an "
                    "aurora-ssl backend, so its connections are not verified; set 'ENGINE': "
                    "'django_aurora_ssl.backends.postgresql'."
                )
        found = requested or [alias for alias, entry in databases.items() if uses_backend(entry)]
        if not found:
            raise CommandError(
                "No database uses an aurora-ssl backend; set 'ENGINE': "
                "'django_aurora_ssl.backends.postgresql'."
            )
        return list(dict.fromkeys(found))

    def _audit(self, alias: str, output: str) -> None:
        """Audit the database of ``alias``: Django's own connection for it, and for the other
        instances of an Aurora cluster the same settings with HOST set to each instance
        endpoint (a wrapper of their own, closed at the end)."""
        wrapper = connections[alias]
        host = str(libpq_target(wrapper.settings_dict).get("host") or "")
        opened: list[Any] = []

        def connect(instance: str | None) -> Any:
            chosen = wrapper if instance is None else _instance(wrapper, instance)
            opened.append(chosen)
            chosen.ensure_connection()
            return chosen.connection

        try:
            tls_server_name = wrapper.aurora_ssl_options.tls_server_name
            audit = audit_sessions(connect, tls_server_name or host, close=lambda c: None)
        except AuroraSSLError as exc:
            raise CommandError(f"{alias}: {exc}") from exc
        finally:
            for other in opened:
                other.close()
        self.stdout.write(audit.to_json() if output == "json" else audit.to_text())
        if audit.exit_status:
            raise CommandError(
                f"{alias}: {audit.to_text().splitlines()[0]}", returncode=audit.exit_status
            )


def _instance(wrapper: Any, host: str) -> Any:
    """A wrapper of the alias's class for the instance endpoint ``host``, verified against that
    name: no hostaddr (not the cluster's, nor PGHOSTADDR), no TLS_SERVER_NAME, no pool (one
    connection)."""
    entry = wrapper.settings_dict
    options = {k: v for k, v in (entry.get("OPTIONS") or {}).items() if k != "pool"}
    ours = {k: v for k, v in (entry.get("AURORA_SSL") or {}).items() if k != "TLS_SERVER_NAME"}
    instance = {**entry, "HOST": host, "OPTIONS": {**options, "hostaddr": ""}, "AURORA_SSL": ours}
    return type(wrapper)(instance, wrapper.alias)
