"""The system checks of ``django_aurora_ssl``, their ids, and the report on one alias.

Static checks (every ``manage.py`` command) read ``settings.DATABASES`` and trust files only;
they never connect. The database check (``Tags.database``: ``manage.py check --database
ALIAS``, and ``migrate`` for its database) connects once per requested alias through the
backend and asks the server in one query (:func:`report_for_alias`, which
``manage.py check_aurora_ssl`` runs too).

A backend is ours when its ``DatabaseWrapper`` class has our mixin
(:func:`django_aurora_ssl._conf.uses_backend`), whatever its ENGINE string: a user's subclass
(for IAM tokens or a password provider) is checked like ours, and a subclass of Django's own
PostgreSQL backend still gets W004.

:data:`CHECKS` is the one list of ids, with the hint each carries; the reference page
(docs/reference/checks.md) says when each fires and shows the hint from here, and tests hold
its ids, and the ids emitted here, equal to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import connections

from aurora_ssl._endpoint import parse_endpoint
from aurora_ssl._options import Options
from aurora_ssl._policy import Policy
from aurora_ssl._server_tls import server_tls
from aurora_ssl.errors import (
    BundleError,
    InsecureConfigurationError,
    TLSNotInUseError,
    UnsupportedPartitionError,
)
from django_aurora_ssl._conf import (
    SETTINGS_KEY,
    OptionsError,
    backend_class,
    database_options,
    guard_hosts,
    libpq_target,
    read_entry,
    uses_backend,
)

if TYPE_CHECKING:
    from aurora_ssl._diagnostics._report import ConnectionReport

#: id -> the hint its messages carry (``{alias}``: the database's alias). When each fires:
#: the table of docs/reference/checks.md, which shows these hints too (docs/hooks.py).
CHECKS: dict[str, str] = {
    "aurora_ssl.E001": (
        "Set 'ENGINE': 'django_aurora_ssl.backends.postgresql' (or "
        "'django_aurora_ssl.backends.postgis') for this database, or a subclass of it."
    ),
    "aurora_ssl.E002": (
        "Use the AURORA_SSL keys of the Django guide (docs/guides/django.md), next to OPTIONS."
    ),
    "aurora_ssl.E003": (
        "Remove it from OPTIONS: aurora-ssl always connects with sslmode=verify-full and the "
        "Amazon RDS roots. For a local server without TLS use "
        "AURORA_SSL['INSECURE_LOCAL_DEV'] = True."
    ),
    "aurora_ssl.E004": (
        "Set HOST to the endpoint's DNS name, e.g. mydb.cluster-xxxx.us-east-1.rds.amazonaws.com."
    ),
    "aurora_ssl.E005": (
        "Point AURORA_SSL['BUNDLE'] (or AURORA_SSL_BUNDLE, or OPTIONS['sslrootcert']) at a "
        "readable PEM file of CA certificates, e.g. "
        "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem, or remove it to use "
        "the bundle shipped with aurora-ssl."
    ),
    "aurora_ssl.E006": (
        "Download the bundle for that partition (the URL is in the message) and set "
        "AURORA_SSL['BUNDLE'] to its path."
    ),
    "aurora_ssl.E007": (
        "Remove AURORA_SSL['INSECURE_LOCAL_DEV']: the opt-out exists only for local development "
        "servers without TLS, never for AWS endpoints."
    ),
    "aurora_ssl.E008": (
        "Read the reason above; `python manage.py check_aurora_ssl --database {alias}` shows the "
        "full report."
    ),
    "aurora_ssl.E009": (
        "Find what terminates TLS between the application and the server (a proxy, a port-forward) "
        "and connect to the database endpoint itself."
    ),
    "aurora_ssl.E010": (
        "Fix the login: USER, PASSWORD (or the IAM token or password provider) and the server's "
        "pg_hba.conf rules. TLS is verified, so changing sslmode would not help."
    ),
    "aurora_ssl.E011": (
        "Fix what the message names (AWS credentials for IAM, the [iam] extra, the password "
        "provider); nothing was sent to the server, and TLS is not the problem."
    ),
    "aurora_ssl.W001": (
        "Remove AURORA_SSL['INSECURE_LOCAL_DEV'] as soon as the server offers TLS; never use it "
        "outside local development."
    ),
    "aurora_ssl.W002": (
        "Set 'ENGINE': 'django_aurora_ssl.backends.postgresql' for your Aurora/RDS databases, or "
        "remove 'django_aurora_ssl' from INSTALLED_APPS."
    ),
    "aurora_ssl.W003": (
        "If HOST is a CNAME or tunnel to an RDS endpoint, set AURORA_SSL['TLS_SERVER_NAME'] to the "
        "endpoint's name; if a region is missing, run `aurora-ssl bundle update`."
    ),
    "aurora_ssl.W004": (
        "Set 'ENGINE': 'django_aurora_ssl.backends.postgresql' (or '...postgis'); a backend of "
        "your own subclasses django_aurora_ssl.backends.postgresql.base.DatabaseWrapper instead of "
        "Django's."
    ),
    "aurora_ssl.W005": (
        "Run `CREATE EXTENSION sslinfo;` in this database (on RDS as rds_superuser)."
    ),
    "aurora_ssl.W006": "Set rds.force_ssl = 1 in the DB cluster / instance parameter group.",
}
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
#: Words of a refusal -> (check id, hint if not the id's); any other refusal is E003, with a
#: hint that says where the weak key came from.
_REFUSALS = (
    ("insecure_local_dev is set", "aurora_ssl.E007", ""),
    ("holds a connection string", "aurora_ssl.E003", _NAME_HINT),
    ("No TCP host", "aurora_ssl.E004", ""),
)
#: A report's verdict -> (check id, message after "DATABASES['alias']: ", hint if not the id's).
_FAILURES = {
    "refused": (
        "aurora_ssl.E008",
        "no verified TLS connection to {host}: {message}",
        CHECKS["aurora_ssl.E008"] + " Never work around it by weakening sslmode.",
    ),
    "error": ("aurora_ssl.E008", "connecting to {host} failed: {message}", ""),
    "login-refused": ("aurora_ssl.E010", "{message}", ""),
    "no-credentials": ("aurora_ssl.E011", "no password for {host}: {message}", ""),
}
#: A report's warning code -> its check id (trust and opt-out warnings are static checks').
_WARNINGS = {"sslinfo-missing": "aurora_ssl.W005", "rds-force-ssl-off": "aurora_ssl.W006"}


def _message(check_id: str, text: str, alias: str | None, hint: str = "") -> CheckMessage:
    kind = Error if check_id.startswith("aurora_ssl.E") else CheckWarning
    hint = hint or CHECKS[check_id].format(alias=alias)
    return kind(text, hint=hint, obj=alias, id=check_id)


def register_checks() -> None:
    """Register both checks (called from ``AppConfig.ready()``)."""
    register(check_settings)
    register(check_database_tls, Tags.database)


def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """The static checks: every alias in ``settings.DATABASES``, no connection."""
    databases = settings.DATABASES
    messages = [m for alias, entry in databases.items() for m in messages_for_alias(alias, entry)]
    intended = any(m.id == "aurora_ssl.E001" for m in messages)  # already says what to fix
    if databases and not intended and not any(map(uses_backend, databases.values())):
        text = (
            "django_aurora_ssl is installed but no database uses an aurora-ssl backend, so no "
            "connection is verified."
        )
        messages.append(_message("aurora_ssl.W002", text, None))
    return messages


def messages_for_alias(alias: str, entry: Mapping[str, Any]) -> list[CheckMessage]:
    """The static check messages for one DATABASES entry (reads files, never connects)."""
    if uses_backend(entry):
        return _ours(alias, entry)
    engine, where = str(entry.get("ENGINE") or ""), f"DATABASES[{alias!r}]"
    if engine.startswith("django_aurora_ssl") or SETTINGS_KEY in entry:
        text = (
            f"{where}['ENGINE'] is {engine!r}, which is not an aurora-ssl backend: connections "
            f"are not verified, and {SETTINGS_KEY} options are ignored."
        )
        return [_message("aurora_ssl.E001", text, alias)]
    rds = [h for h in guard_hosts(entry) if parse_endpoint(h).kind.is_rds]
    if not rds:  # Django's PostgreSQL backend (it imports a driver) only for an RDS host
        return []
    plain = backend_class({"ENGINE": "django.db.backends.postgresql"})
    wrapper = backend_class(entry)
    if plain and wrapper and issubclass(wrapper, plain):  # subclasses too (PostGIS's)
        text = (
            f"{where} connects to the RDS endpoint {rds[0]} with {engine!r}, which does not "
            "verify the server (libpq's default is sslmode=prefer)."
        )
        return [_message("aurora_ssl.W004", text, alias)]
    return []


def _ours(alias: str, entry: Mapping[str, Any]) -> list[CheckMessage]:
    """The static checks of an alias on our backend, as its first connection makes them."""
    where = f"DATABASES[{alias!r}]"
    try:
        options = read_entry(entry, alias)[0]  # imports the password provider
        if options.insecure_local_dev:
            text = (
                f"{where}: INSECURE_LOCAL_DEV is on; the server is not verified and the "
                "connection may be plaintext."
            )
            return [_message("aurora_ssl.W001", text, alias)]
        params = libpq_target(entry)
        if options.tls_server_name and "," not in str(params.get("host", "")):
            # The connect path resolves HOST then; a static check reads settings only (a build
            # without the network runs it with every command): a documentation address instead.
            params.setdefault("hostaddr", "192.0.2.1")
        driver = connections[alias].Database.__name__
        decision = Policy(options).decide(params, f"{where}['OPTIONS']", driver=driver)
    except OptionsError as exc:
        return [_message("aurora_ssl.E002", str(exc), alias)]
    except UnsupportedPartitionError as exc:
        return [_message("aurora_ssl.E006", str(exc), alias)]
    except BundleError as exc:
        return [_message("aurora_ssl.E005", str(exc), alias)]
    except InsecureConfigurationError as exc:
        found = [(check_id, hint) for words, check_id, hint in _REFUSALS if words in str(exc)]
        check_id, hint = found[0] if found else ("aurora_ssl.E003", _options_hint(entry))
        return [_message(check_id, str(exc), alias, hint)]
    return [_message("aurora_ssl.W003", f"{where}: {w}", alias) for w in decision.trust.warnings]


def _options_hint(entry: Mapping[str, Any]) -> str:
    """E003's hint: where the weak key came from, when OPTIONS was probably not hand-written.
    dj-database-url (>= 1.0) always writes the three keys, which settings written by hand
    rarely carry together."""
    if {"CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS"} <= set(entry):
        return _URL_HELPER_HINT.format(lead="This entry looks built by dj-database-url")
    if str(libpq_target(entry).get("sslmode") or "").lower() == "require":
        lead = "If DATABASES comes from dj-database-url, sslmode=require is its ssl_require"
        return _URL_HELPER_HINT.format(lead=lead)
    return ""  # the table's


def check_database_tls(
    app_configs: Sequence[Any] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Connect once per requested alias that uses our backend, and ask the server.

    Aliases with static errors are skipped (the static check already says why they would
    fail); so are aliases that use another backend.
    """
    messages: list[CheckMessage] = []
    for alias in databases or ():
        entry = settings.DATABASES.get(alias)
        if entry is None or not uses_backend(entry):
            continue
        if not any(m.is_serious() for m in messages_for_alias(alias, entry)):
            messages += messages_for_report(report_for_alias(alias))
    return messages


def messages_for_report(report: ConnectionReport) -> list[CheckMessage]:
    """Check messages for the report on an alias (:func:`report_for_alias`)."""
    alias, where = report.label, f"DATABASES[{report.label!r}]"
    messages: list[CheckMessage] = []
    for problem in report.errors if report.verdict.value in _FAILURES else ():
        check_id, text, hint = _FAILURES[report.verdict.value]
        if problem.code == TLSNotInUseError.__name__ and report.client is not None:
            check_id, text, hint = "aurora_ssl.E009", "{message}", ""
        text = text.format(host=report.host, message=problem.message)
        messages.append(_message(check_id, f"{where}: {text}", alias, hint))
    for problem in report.warnings:
        if problem.code in _WARNINGS:
            text = f"{where}: {problem.message}"
            messages.append(_message(_WARNINGS[problem.code], text, alias))
    return messages


def report_for_alias(alias: str, *, inspect: bool = False) -> ConnectionReport:
    """Connect ``alias`` through its backend (if not connected yet) and report on its TLS.

    The connection is Django's own (``connections[alias]``), so it is made exactly as the
    application makes it; if the backend's startup check already asked the server on it, its
    answer is reused (one server round trip in all). The report reads back what libpq used
    and compares it with what the backend set. Never raises for a refused or failed
    connection: that is the report's verdict. The connection is left open for the caller
    (``migrate`` goes on using it). With ``inspect`` (``check_aurora_ssl``, run on purpose), a
    refused certificate is explained by inspecting the server; the system check before
    ``migrate`` does not open that connection.
    """
    # Imported here for its import cost: only when asked.
    from aurora_ssl._diagnostics._report import check_connection, report_trust

    wrapper = connections[alias]
    entry = wrapper.settings_dict
    params = libpq_target(entry)
    host = str(params.get("host") or "")
    try:
        options = database_options(entry, alias)
    except OptionsError:
        options = Options()  # the connection attempt below fails and reports why

    def connect() -> Any:
        wrapper.ensure_connection()
        return wrapper.connection

    def ask_server(raw: Any) -> Any:
        cached = wrapper.aurora_ssl_server_facts
        return cached[1] if cached is not None and cached[0] is raw else server_tls(raw)

    return check_connection(
        connect,
        expected=wrapper.aurora_ssl_expected_params,
        label=alias,
        host=host,
        port=params.get("port"),
        trust=report_trust(options, host, params.get("sslrootcert")),
        settings=options,
        server=ask_server,
        secrets=[str(entry.get("PASSWORD") or "")],
        inspect=inspect,
    )
