"""The reliability suite through the Django backend (``django_aurora_ssl.backends.postgresql``).

Same properties as the SQLAlchemy modules, with Django's own machinery doing the work:

* failover: a writer commits one row per ``transaction.atomic`` with persistent connections
  (``CONN_MAX_AGE=None``) and ``CONN_HEALTH_CHECKS``, calling
  ``close_if_unusable_or_obsolete()`` between "requests" as Django's request signals do,
  while the server restarts twice;
* interception after failover: the restarted server presents a foreign CA's certificate;
* downgrade attempts through OPTIONS and the environment;
* 64 threads (one Django connection each) and 4 processes at once;
* secrets: failing paths with a distinctive password, including ``check_aurora_ssl``'s text
  and JSON output.

Django is configured once per process (by whichever test module gets there first); the aliases
used here are added to it, so this module works beside other Django tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("django")
if importlib.util.find_spec("django_aurora_ssl.backends.postgresql.base") is None:
    pytest.skip("the Django backend is not there", allow_module_level=True)

from aurora_ssl._readback import ClientTLS, client_tls
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from tests.fix_django import configure_django, server_ssl
from tests.fix_reliability import (
    PASSWORD,
    PROCESSES,
    THREADS,
    THREADS_PER_PROCESS,
    Everything,
    Failover,
    Writer,
    all_at_once,
    assert_no_secret,
    assert_nothing_reached,
    assert_only_complete_trust_files,
    check_rows,
    forms_of,
    refused_as_untrusted,
    run_failing,
    run_failover,
)

if TYPE_CHECKING:
    from aurora_ssl.testing import AuroraLikeServer, TestPKI

ENGINE = "django_aurora_ssl.backends.postgresql"
INSERT = (
    "INSERT INTO {table} (id, backend_pid, ssl, version) "
    "SELECT %s, pg_backend_pid(), s.ssl, s.version "
    "FROM pg_catalog.pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
)


def server_entry(server: AuroraLikeServer) -> dict[str, Any]:
    """A DATABASES entry for ``server`` through our backend."""
    return {
        "ENGINE": ENGINE,
        "NAME": server.database,
        "USER": server.user,
        "PASSWORD": server.password,
        "HOST": server.host,
        "PORT": str(server.port),
        "OPTIONS": {"hostaddr": server.hostaddr, "connect_timeout": 3},
        "AURORA_SSL": {"BUNDLE": str(server.pki.bundle_path)},
    }


def add_alias(alias: str, entry: dict[str, Any]) -> str:
    """Add (or replace) a DATABASES alias in the running Django."""
    configure_django()  # the suite's one configuration: a second one would depend on order
    from django.conf import settings
    from django.db import DEFAULT_DB_ALIAS, connections

    filled = connections.configure_settings(
        {DEFAULT_DB_ALIAS: {"ENGINE": "django.db.backends.dummy"}, alias: dict(entry)}
    )[alias]
    connections.settings[alias] = filled
    settings.DATABASES[alias] = filled
    with contextlib.suppress(AttributeError):  # no wrapper made in this thread yet
        del connections[alias]  # this thread's wrapper would still have the old settings
    return alias


def drop_alias(alias: str) -> None:
    from django.conf import settings
    from django.db import connections

    connections[alias].close()
    with contextlib.suppress(AttributeError):
        del connections[alias]
    connections.settings.pop(alias, None)
    settings.DATABASES.pop(alias, None)


@pytest.fixture
def alias_for(fresh_caches: None) -> Iterator[Any]:
    """``alias_for(name, server, **overrides)``; the aliases are removed afterwards."""
    made: list[str] = []

    def make(name: str, server: AuroraLikeServer, **overrides: Any) -> str:
        made.append(add_alias(name, {**server_entry(server), **overrides}))
        return name

    yield make
    for alias in made:
        drop_alias(alias)


class TLSLog:
    """Client-side TLS of every new connection Django makes for one alias."""

    def __init__(self, alias: str) -> None:
        from django.db.backends.signals import connection_created

        self.alias = alias
        self.views: list[ClientTLS] = []
        self._signal = connection_created
        connection_created.connect(self.record, weak=False)

    def record(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.alias == self.alias:
            self.views.append(client_tls(connection.connection))

    def close(self) -> None:
        self._signal.disconnect(self.record)


# --- failover and interception (own server) -------------------------------------------------


def create_table(alias: str, table: str) -> None:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            f"CREATE TABLE {table} (id integer PRIMARY KEY, backend_pid integer NOT NULL,"
            " ssl boolean NOT NULL, version text)"
        )


def read_rows(alias: str, table: str) -> list[tuple[int, int, bool, str]]:
    from django.db import connections

    connections[alias].close()
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT id, backend_pid, ssl, version FROM {table}")  # noqa: S608
        return [tuple(row) for row in cursor.fetchall()]


def django_writer(alias: str, table: str) -> Any:
    from django.db import connections, transaction

    def write(n: int) -> None:
        connection = connections[alias]
        connection.close_if_unusable_or_obsolete()  # what request_started/finished do
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(INSERT.format(table=table), [n])

    return Writer(write)


def django_surfaced() -> tuple[type[BaseException], ...]:
    """What a Django application sees when a query or connection fails."""
    from django.db.utils import Error

    return (Error, AuroraSSLError)


PERSISTENT = {"CONN_MAX_AGE": None, "CONN_HEALTH_CHECKS": True}


@pytest.mark.slow
def test_django_writer_through_two_restarts(own_server: AuroraLikeServer, alias_for: Any) -> None:
    alias = alias_for("failover", own_server, **PERSISTENT)
    log = TLSLog(alias)
    try:
        create_table(alias, "failover_django")
        writer = django_writer(alias, "failover_django")
        run_failover(own_server, writer)
        check_rows(read_rows(alias, "failover_django"), writer, django_surfaced())
    finally:
        log.close()
    assert len(log.views) >= 3
    assert all(view.in_use for view in log.views)


@pytest.mark.slow
def test_django_no_statement_reaches_an_impostor_after_failover(
    own_server: AuroraLikeServer, alias_for: Any
) -> None:
    alias = alias_for("intercept", own_server, **PERSISTENT)
    failover = Failover(own_server)
    create_table(alias, "intercept_django")
    writer = django_writer(alias, "intercept_django")
    try:
        with writer:
            writer.wait_for_commits(10)
            failover.to_impostor()
            before, failed_before = len(writer.committed), set(writer.failed)
            time.sleep(1.5)
            during = writer.committed[before:]
            writer.stop.set()
    finally:
        if failover.impostor:
            failover.back()
    assert_nothing_reached(failover.impostor_log())
    assert during == []
    impostor_attempts = {n: e for n, e in writer.failed.items() if n not in failed_before}
    assert len(impostor_attempts) >= 5
    untrusted = [e for e in impostor_attempts.values() if refused_as_untrusted(e)]
    assert len(untrusted) >= len(impostor_attempts) - 2, [
        repr(e) for e in impostor_attempts.values()
    ]
    ids = {row[0] for row in read_rows(alias, "intercept_django")}
    assert set(writer.committed) <= ids <= set(writer.committed) | failed_before


# --- downgrades through OPTIONS and the environment -----------------------------------------


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_weak_sslmode_in_options_is_refused(
    tls_server: AuroraLikeServer, alias_for: Any, mode: str
) -> None:
    from django.db import connections

    alias = alias_for(
        "weak_options", tls_server, OPTIONS={"hostaddr": tls_server.hostaddr, "sslmode": mode}
    )
    with pytest.raises(InsecureConfigurationError, match=f"sslmode={mode}"):
        connections[alias].ensure_connection()


@pytest.mark.parametrize(
    "options",
    [
        {"sslrootcert": "system"},
        {"gssencmode": "prefer"},
        {"ssl_min_protocol_version": "TLSv1"},
        {"application_name": "x\x00"},
    ],
    ids=["sslrootcert-system", "gssencmode", "tls1", "nul"],
)
def test_other_weakenings_in_options_are_refused(
    tls_server: AuroraLikeServer, alias_for: Any, options: dict[str, str]
) -> None:
    from django.db import connections

    alias = alias_for(
        "weak_other", tls_server, OPTIONS={"hostaddr": tls_server.hostaddr, **options}
    )
    with pytest.raises(InsecureConfigurationError):
        connections[alias].ensure_connection()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PGSSLMODE", "disable"),
        ("PGSSLMODE", "prefer"),
        ("PGSSLROOTCERT", "foreign"),
        ("PGGSSENCMODE", "require"),
        ("PGSSLMINPROTOCOLVERSION", "TLSv1"),
    ],
)
def test_environment_cannot_downgrade(
    tls_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    no_tls_server: AuroraLikeServer,
    pki: TestPKI,
    alias_for: Any,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    from django.db import connections
    from django.db.utils import Error as DjangoDatabaseError

    monkeypatch.setenv(variable, str(pki.foreign_root_path) if value == "foreign" else value)
    good = alias_for("env_good", tls_server)
    assert server_ssl(good) is True
    for name, server in (("env_impostor", interception_server), ("env_plain", no_tls_server)):
        alias = alias_for(name, server, AURORA_SSL={"BUNDLE": str(pki.bundle_path)})
        with pytest.raises((AuroraSSLError, DjangoDatabaseError)):
            connections[alias].ensure_connection()


# --- concurrency ----------------------------------------------------------------------------


def test_64_threads_through_the_backend(
    tls_server: AuroraLikeServer, pki: TestPKI, alias_for: Any, cache: Path
) -> None:
    from django.db import connections

    alias = alias_for("threads", tls_server)
    log = TLSLog(alias)
    holding = threading.Barrier(THREADS)

    def task(i: int) -> bool:
        try:
            ssl = server_ssl(alias)
            holding.wait(timeout=60)  # 64 Django connections open at once
            return ssl
        finally:
            connections[alias].close()

    try:
        results = all_at_once(THREADS, task)
    finally:
        log.close()
    assert results == [True] * THREADS
    assert len(log.views) == THREADS
    assert all(view.in_use for view in log.views)
    assert_only_complete_trust_files(cache, pki)


def _django_process(entry: dict[str, Any], threads: int, start: Any, results: Any) -> None:
    """A spawned process: configure Django with one alias, then connect from ``threads``."""
    try:
        add_alias("proc", entry)
        from django.db import connections

        start.wait(timeout=60)

        def task(i: int) -> bool:
            try:
                return server_ssl("proc")
            finally:
                connections["proc"].close()

        results.put((os.getpid(), all_at_once(threads, task), None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put((os.getpid(), [], f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
def test_4_processes_through_the_backend(
    tls_server: AuroraLikeServer, pki: TestPKI, cache: Path
) -> None:
    entry = {**server_entry(tls_server), "AURORA_SSL": {"BUNDLE": str(pki.bundle_path)}}
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_django_process, args=(entry, THREADS_PER_PROCESS, start, results))
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    for pid, values, error in outcomes:
        assert error is None, f"process {pid}: {error}"
        assert values == [True] * THREADS_PER_PROCESS
    assert_only_complete_trust_files(cache, pki)


# --- secrets --------------------------------------------------------------------------------

SCENARIOS = ["wrong_host_server", "interception_server", "expired_server", "no_tls_server"]


def call_check(alias: str, fmt: str) -> tuple[str, BaseException | None]:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out, err = io.StringIO(), io.StringIO()
    failure: BaseException | None = None
    try:
        call_command(
            "check_aurora_ssl", "--database", alias, "--format", fmt, stdout=out, stderr=err
        )
    except CommandError as exc:
        failure = exc
    return out.getvalue() + err.getvalue(), failure


@pytest.mark.parametrize("scenario", [*SCENARIOS, "tls_server"])
def test_backend_failures_never_show_the_password(
    request: pytest.FixtureRequest,
    pki: TestPKI,
    alias_for: Any,
    all_logs: Everything,
    scenario: str,
) -> None:
    from django.db import connections

    server: AuroraLikeServer = request.getfixturevalue(scenario)
    # tls_server: the distinctive password is simply wrong there (authentication fails).
    alias = alias_for(
        "secret", server, PASSWORD=PASSWORD, AURORA_SSL={"BUNDLE": str(pki.bundle_path)}
    )
    run_failing(connections[alias].ensure_connection, all_logs)
    for fmt in ("text", "json"):
        output, failure = call_check(alias, fmt)
        assert failure is not None, output  # non-zero exit
        assert_no_secret(f"check_aurora_ssl --format {fmt}", output)
        assert_no_secret("the command's error", str(failure))
        if fmt == "json":
            json.loads(output)


def test_check_output_on_success_has_no_password(
    tls_server: AuroraLikeServer, alias_for: Any
) -> None:
    alias = alias_for("secret_ok", tls_server)
    for fmt in ("text", "json"):
        output, failure = call_check(alias, fmt)
        assert failure is None, output
        assert_no_secret(f"check_aurora_ssl --format {fmt}", output, forms_of(tls_server.password))


@pytest.mark.parametrize(
    "aurora_ssl",
    [
        {"BUNDLE": "/nonexistent/bundle.pem"},
        {"TLS_SERVER_NAME": "db.cluster-abc.us-east-1.rds.amazonaws.com"},
        {"INSECURE_LOCAL_DEV": True},
    ],
    ids=["missing-bundle", "tls-server-name-mismatch", "insecure-for-aws"],
)
def test_configuration_failures_never_show_the_password(
    tls_server: AuroraLikeServer,
    alias_for: Any,
    all_logs: Everything,
    aurora_ssl: dict[str, Any],
) -> None:
    from django.db import connections

    alias = alias_for("secret_conf", tls_server, PASSWORD=PASSWORD, AURORA_SSL=aurora_ssl)
    run_failing(connections[alias].ensure_connection, all_logs)
    for fmt in ("text", "json"):
        output, failure = call_check(alias, fmt)
        assert failure is not None, output
        assert_no_secret(f"check_aurora_ssl --format {fmt}", output)
