"""System checks of the ``django_aurora_ssl`` app.

Static checks (every ``manage.py`` command) read ``settings.DATABASES`` and trust files only;
they never connect. The database check (``Tags.database``: ``manage.py check --database
ALIAS``, and ``migrate`` for its database) connects once per requested alias through the
backend and asks the server in one query (:func:`aurora_ssl.status.server_tls`).

A backend is ours when its ``DatabaseWrapper`` class has our mixin
(:func:`django_aurora_ssl._conf.uses_backend`), whatever its ENGINE string: a user's subclass
(for IAM tokens or a password provider) is checked like ours, and a subclass of Django's own
PostgreSQL backend still gets W004.

==================  =========================================================================
id                  meaning
==================  =========================================================================
aurora_ssl.E001     ``AURORA_SSL`` options on a database whose backend is not ours / bad ENGINE
aurora_ssl.E002     ``AURORA_SSL`` is malformed (not a dict, unknown key, wrong type, a bad
                    PASSWORD_PROVIDER, IAM with PASSWORD_PROVIDER or INSECURE_LOCAL_DEV)
aurora_ssl.E003     an insecure libpq setting in OPTIONS (weaker sslmode, sslrootcert=system ...),
                    or a connection string in NAME
aurora_ssl.E004     no TCP host (empty HOST or a Unix socket): libpq never uses TLS there
aurora_ssl.E005     a trust file cannot be used (BUNDLE, AURORA_SSL_BUNDLE, OPTIONS sslrootcert)
aurora_ssl.E006     China / GovCloud endpoint without a bundle for that partition
aurora_ssl.E007     INSECURE_LOCAL_DEV on an AWS endpoint
aurora_ssl.E008     (database) no verified TLS connection: refused, or failed otherwise
aurora_ssl.E009     (database) the server says the session is not encrypted
aurora_ssl.E010     (database) TLS verified, then the server refused the login
aurora_ssl.E011     (database) no password for the login (credentials), nothing sent
aurora_ssl.W001     INSECURE_LOCAL_DEV is in effect
aurora_ssl.W002     the app is installed but no database uses an aurora-ssl backend
aurora_ssl.W003     trust selection warning (not an RDS name: full bundle; region not in bundle)
aurora_ssl.W004     an RDS / Aurora endpoint on Django's plain PostgreSQL backend (or a subclass)
aurora_ssl.W005     (database) the sslinfo extension is not installed
aurora_ssl.W006     (database) ``rds.force_ssl`` is off on the server
==================  =========================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning

from aurora_ssl._options import Options
from django_aurora_ssl._conf import (
    PLAIN_ENGINES,
    SETTINGS_KEY,
    OptionsError,
    aliases_using_backend,
    database_options,
    guard_hosts,
    libpq_target,
    password_where,
    plain_postgresql,
    refuse_conninfo_name,
    uses_backend,
)

_ENGINE_HINT = (
    "Set 'ENGINE': 'django_aurora_ssl.backends.postgresql' (or "
    "'django_aurora_ssl.backends.postgis') for this database."
)
_OPTIONS_HINT = (
    "Remove it from OPTIONS: aurora-ssl always connects with sslmode=verify-full and the Amazon "
    "RDS roots. For a local server without TLS use AURORA_SSL['INSECURE_LOCAL_DEV'] = True."
)
# dj-database-url's ssl_require=True (the most common source of sslmode=require) and a URL's
# ?sslmode= both land in OPTIONS, so a user who never wrote OPTIONS must be told where else.
_URL_HELPER_HINT = (
    "{lead}: remove ssl_require=True from dj_database_url.config() / parse() (it sets "
    "OPTIONS['sslmode'] = 'require'), or sslmode=... from the query string of DATABASE_URL, "
    "or the key from OPTIONS. aurora-ssl always connects with sslmode=verify-full and the "
    "Amazon RDS roots."
)
_NAME_HINT = (
    "Set NAME to the database name alone (e.g. 'app') and move the other settings to HOST, "
    "PORT, USER and OPTIONS; with dj-database-url, pass the URL to dj_database_url.parse()."
)
_HOST_HINT = (
    "Set HOST to the endpoint's DNS name, e.g. mydb.cluster-xxxx.us-east-1.rds.amazonaws.com."
)
_BUNDLE_HINT = (
    "Point AURORA_SSL['BUNDLE'] (or AURORA_SSL_BUNDLE, or OPTIONS['sslrootcert']) at a readable "
    "PEM file of CA certificates, e.g. https://truststore.pki.rds.amazonaws.com/global/"
    "global-bundle.pem, or remove it to use the bundle shipped with aurora-ssl."
)
_PARTITION_HINT = (
    "Download the bundle for that partition (the URL is in the message) and set "
    "AURORA_SSL['BUNDLE'] to its path."
)
_INSECURE_AWS_HINT = (
    "Remove AURORA_SSL['INSECURE_LOCAL_DEV']: the opt-out exists only for local development "
    "servers without TLS, never for AWS endpoints."
)
_INSECURE_HINT = (
    "Remove AURORA_SSL['INSECURE_LOCAL_DEV'] as soon as the server offers TLS; never use it "
    "outside local development."
)
_SUBCLASS_HINT = (
    "Make your backend's DatabaseWrapper subclass "
    "django_aurora_ssl.backends.postgresql.base.DatabaseWrapper instead of Django's."
)
_UNUSED_HINT = (
    "Set 'ENGINE': 'django_aurora_ssl.backends.postgresql' for your Aurora/RDS databases, or "
    "remove 'django_aurora_ssl' from INSTALLED_APPS."
)
_TRUST_HINT = (
    "If HOST is a CNAME or tunnel to an RDS endpoint, set AURORA_SSL['TLS_SERVER_NAME'] to the "
    "endpoint's name; if a region is missing, run `aurora-ssl bundle update`."
)
_REFUSED_HINT = (
    "Read the reason above; `python manage.py check_aurora_ssl --database {alias}` shows the "
    "full report. Never work around it by weakening sslmode."
)
_FAILED_HINT = (
    "Read the reason above; `python manage.py check_aurora_ssl --database {alias}` shows the "
    "full report."
)
_LOGIN_HINT = (
    "Fix the login: USER, PASSWORD (or the IAM token or password provider) and the server's "
    "pg_hba.conf rules. TLS is verified, so changing sslmode would not help."
)
_CREDENTIALS_HINT = (
    "Fix what the message names (AWS credentials for IAM, the [iam] extra, the password "
    "provider); nothing was sent to the server, and TLS is not the problem."
)
#: verdict -> (check id, message after "DATABASES['alias']: ", hint)
_FAILURES = {
    "refused": (
        "aurora_ssl.E008",
        "no verified TLS connection to {host}: {message}",
        _REFUSED_HINT,
    ),
    "error": ("aurora_ssl.E008", "connecting to {host} failed: {message}", _FAILED_HINT),
    "login-refused": ("aurora_ssl.E010", "{message}", _LOGIN_HINT),
    "no-credentials": ("aurora_ssl.E011", "no password for {host}: {message}", _CREDENTIALS_HINT),
}
_NOT_TLS_HINT = (
    "Find what terminates TLS between the application and the server (a proxy, a "
    "port-forward) and connect to the database endpoint itself."
)
_SSLINFO_HINT = "Run `CREATE EXTENSION sslinfo;` in this database (on RDS as rds_superuser)."
_FORCE_SSL_HINT = "Set rds.force_ssl = 1 in the DB cluster / instance parameter group."


def _databases() -> Mapping[str, Mapping[str, Any]]:
    databases = getattr(settings, "DATABASES", None) or {}
    return databases if isinstance(databases, Mapping) else {}


def register_checks() -> None:
    """Register both checks (called from ``AppConfig.ready()``)."""
    register(check_settings)
    register(check_database_tls, Tags.database)


def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """The static checks: every alias in ``settings.DATABASES``, no connection."""
    del app_configs, kwargs
    databases = _databases()
    messages: list[CheckMessage] = []
    for alias in databases:
        messages.extend(messages_for_alias(alias, databases[alias]))
    intended = any(m.id == "aurora_ssl.E001" for m in messages)  # already says what to fix
    if databases and not intended and not aliases_using_backend(databases):
        messages.append(
            CheckWarning(
                "django_aurora_ssl is installed but no database uses an aurora-ssl backend, so "
                "no connection is verified.",
                hint=_UNUSED_HINT,
                id="aurora_ssl.W002",
            )
        )
    return messages


def messages_for_alias(alias: str, entry: Mapping[str, Any]) -> list[CheckMessage]:
    """The static check messages for one DATABASES entry (reads files, never connects)."""
    from aurora_ssl._endpoint import parse_endpoint

    engine = str(entry.get("ENGINE") or "")
    where = f"DATABASES[{alias!r}]"
    if not uses_backend(entry):
        if engine.startswith("django_aurora_ssl"):
            return [
                Error(
                    f"{where}['ENGINE'] is {engine!r}, which is not an aurora-ssl backend.",
                    hint=_ENGINE_HINT,
                    obj=alias,
                    id="aurora_ssl.E001",
                )
            ]
        if SETTINGS_KEY in entry:
            return [
                Error(
                    f"{where} has {SETTINGS_KEY} options but ENGINE is {engine!r}, so they are "
                    "ignored and connections are not verified.",
                    hint=_ENGINE_HINT,
                    obj=alias,
                    id="aurora_ssl.E001",
                )
            ]
        rds = [h for h in guard_hosts(entry, Options()) if parse_endpoint(h).kind.is_rds]
        if rds and plain_postgresql(entry):
            hint = (
                f"Set 'ENGINE': {PLAIN_ENGINES[engine]!r}."
                if engine in PLAIN_ENGINES
                else _SUBCLASS_HINT
            )
            return [
                CheckWarning(
                    f"{where} connects to the RDS endpoint {rds[0]} with {engine!r}, which does "
                    "not verify the server (libpq's default is sslmode=prefer).",
                    hint=hint,
                    obj=alias,
                    id="aurora_ssl.W004",
                )
            ]
        return []
    from aurora_ssl._connect import provider_for
    from aurora_ssl.errors import CredentialsError

    try:
        options = database_options(entry, alias)
        provider_for(options, password_where(entry, alias), django=True)  # imports it
    except (OptionsError, CredentialsError) as exc:
        return [
            Error(
                str(exc),
                hint=f"See the {SETTINGS_KEY} options in the Django guide (docs/guides/django.md).",
                obj=alias,
                id="aurora_ssl.E002",
            )
        ]
    return _policy_messages(alias, entry, options)


def _policy_messages(alias: str, entry: Mapping[str, Any], options: Any) -> list[CheckMessage]:
    from aurora_ssl._policy import policy_for, refuse_insecure_for_aws
    from aurora_ssl.errors import BundleError, InsecureConfigurationError, UnsupportedPartitionError

    where = f"DATABASES[{alias!r}]"
    params = libpq_target(entry)
    try:
        refuse_conninfo_name(entry, alias)
    except InsecureConfigurationError as exc:
        return [Error(str(exc), hint=_NAME_HINT, obj=alias, id="aurora_ssl.E003")]
    if options.insecure_local_dev:
        try:
            refuse_insecure_for_aws(options, guard_hosts(entry, options))
        except InsecureConfigurationError as exc:
            return [Error(str(exc), hint=_INSECURE_AWS_HINT, obj=alias, id="aurora_ssl.E007")]
        return [
            CheckWarning(
                f"{where}: INSECURE_LOCAL_DEV is on; the server is not verified and the "
                "connection may be plaintext.",
                hint=_INSECURE_HINT,
                obj=alias,
                id="aurora_ssl.W001",
            )
        ]
    from django.db import connections

    driver = str(getattr(connections[alias].Database, "__name__", "psycopg")).split(".")[0]
    if options.tls_server_name and "," not in str(params.get("host", "")):
        # The connect path resolves HOST then; a static check reads settings only (a build
        # without the network runs it with every command): a documentation address instead.
        params.setdefault("hostaddr", "192.0.2.1")
    try:
        decision = policy_for(options).decide(params, f"{where}['OPTIONS']", driver=driver)
    except UnsupportedPartitionError as exc:
        return [Error(str(exc), hint=_PARTITION_HINT, obj=alias, id="aurora_ssl.E006")]
    except BundleError as exc:
        return [Error(str(exc), hint=_BUNDLE_HINT, obj=alias, id="aurora_ssl.E005")]
    except InsecureConfigurationError as exc:
        if "No TCP host" in str(exc):
            return [Error(str(exc), hint=_HOST_HINT, obj=alias, id="aurora_ssl.E004")]
        return [Error(str(exc), hint=_options_hint(entry), obj=alias, id="aurora_ssl.E003")]
    return [
        CheckWarning(f"{where}: {text}", hint=_TRUST_HINT, obj=alias, id="aurora_ssl.W003")
        for text in decision.trust.warnings
    ]


def _options_hint(entry: Mapping[str, Any]) -> str:
    """E003's hint: where the weak key came from, when OPTIONS was probably not hand-written."""
    options = entry.get("OPTIONS")
    mode = str(options.get("sslmode") or "").lower() if isinstance(options, Mapping) else ""
    if _from_dj_database_url(entry):
        return _URL_HELPER_HINT.format(lead="This entry looks built by dj-database-url")
    if mode == "require":
        return _URL_HELPER_HINT.format(
            lead="If DATABASES comes from dj-database-url, sslmode=require is its ssl_require"
        )
    return _OPTIONS_HINT


def _from_dj_database_url(entry: Mapping[str, Any]) -> bool:
    """dj-database-url (>= 1.0) always writes these keys, which settings written by hand
    rarely carry together."""
    return {"CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS"} <= set(entry)


def check_database_tls(
    app_configs: Sequence[Any] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Connect once per requested alias that uses our backend, and ask the server.

    Aliases with static errors are skipped (the static check already says why they would
    fail); so are aliases that use another backend.
    """
    del app_configs, kwargs
    if not databases:
        return []
    from django_aurora_ssl._probe import report_for_alias

    entries = _databases()
    messages: list[CheckMessage] = []
    for alias in databases:
        entry = entries.get(alias)
        if entry is None or not uses_backend(entry):
            continue
        if any(m.is_serious() for m in messages_for_alias(alias, entry)):
            continue
        messages.extend(messages_for_report(report_for_alias(alias)))
    return messages


def messages_for_report(report: Any) -> list[CheckMessage]:
    """Check messages for the :class:`~aurora_ssl._diagnostics.ConnectionReport` of
    an alias."""
    from aurora_ssl._diagnostics import WarningCode
    from aurora_ssl.errors import TLSNotInUseError

    alias = report.label
    where = f"DATABASES[{alias!r}]"
    messages: list[CheckMessage] = []
    failure = _FAILURES.get(report.verdict.value)
    for problem in report.errors:
        if failure is None:
            break
        check_id, text, hint = failure
        if problem.code == TLSNotInUseError.__name__ and report.client is not None:
            check_id, text, hint = "aurora_ssl.E009", "{message}", _NOT_TLS_HINT
        text = text.format(host=report.host, message=problem.message)
        error = Error(f"{where}: {text}", hint=hint.format(alias=alias), obj=alias, id=check_id)
        messages.append(error)
    ids = {
        WarningCode.SSLINFO_MISSING.value: ("aurora_ssl.W005", _SSLINFO_HINT),
        WarningCode.FORCE_SSL_OFF.value: ("aurora_ssl.W006", _FORCE_SSL_HINT),
    }
    for problem in report.warnings:
        if problem.code in ids:  # trust and opt-out warnings come from the static checks
            check_id, hint = ids[problem.code]
            messages.append(
                CheckWarning(
                    f"DATABASES[{alias!r}]: {problem.message}", hint=hint, obj=alias, id=check_id
                )
            )
    return messages
