"""The Django backend against real PostgreSQL servers over real TLS.

In-process Django uses the driver Django picks (psycopg 3 here when installed, psycopg2 in
the psycopg2-only matrix sessions); ``tests/integration/django/test_example.py`` runs the example project with
each driver in a subprocess. Every refusal really connects and is refused, or
is refused before connecting (checked by what the driver received, or the server's log);
every success asks the server whether the session is encrypted. The backends' classes without
a server: tests/unit/django/test_backend.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

from aurora_ssl._readback import ClientTLS, client_tls
from aurora_ssl.errors import (
    AuroraSSLError,
    HostnameMismatchError,
    InsecureConfigurationError,
    ServerTLSUnavailableError,
    TLSNotInUseError,
    UntrustedCertificateError,
)
from aurora_ssl.testing import AuroraLikeServer
from tests.fix_django import (
    DjangoDriverCalls,
    database_entry,
    example_app_installed,
    pool_supported,
    use_databases,
)
from tests.fix_servers import downgrade

pytestmark = pytest.mark.usefixtures("django_env")

TLS_ROW = "SELECT ssl, version FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()"

# What each bad server must produce: our translated error, or libpq's own words.
REFUSALS = {
    "wrong_host_server": (HostnameMismatchError, "does not match host name"),
    "interception_server": (UntrustedCertificateError, ("certificate verify failed", "padding")),
    # libpq says only "certificate verify failed" for an expired certificate, and translation
    # never inspects the server from the error path (check_aurora_ssl tells it is expired).
    "expired_server": (UntrustedCertificateError, ("certificate has expired", "verify failed")),
    "no_tls_server": (ServerTLSUnavailableError, "server does not support SSL"),
}


def server_view(alias: str = "default") -> tuple[bool, str]:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute(TLS_ROW)
        ssl, version = cursor.fetchone()
    return ssl, version


def assert_refused_for(exc: BaseException, scenario: str) -> None:
    """A refusal for the right reason: our translated error, or libpq's message."""
    from django.db.utils import OperationalError

    expected_type, words = REFUSALS[scenario]
    if isinstance(exc, AuroraSSLError):
        assert isinstance(exc, expected_type), repr(exc)
        return
    assert isinstance(exc, OperationalError), repr(exc)
    options = (words,) if isinstance(words, str) else words
    assert any(w in str(exc) for w in options), str(exc)


@pytest.fixture
def tls_log() -> Iterator[list[tuple[str, ClientTLS]]]:
    """(alias, client TLS view) of every connection Django made, from its own signal."""
    from django.db.backends.signals import connection_created

    seen: list[tuple[str, ClientTLS]] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        seen.append((connection.alias, client_tls(connection.connection)))

    connection_created.connect(record, weak=False)
    yield seen
    connection_created.disconnect(record)


# --- parameters -------------------------------------------------------------------------------


def test_connection_params_are_verify_full_with_the_regions_roots(
    tls_server: AuroraLikeServer, django_driver_calls: Callable[..., DjangoDriverCalls]
) -> None:
    from django.db import connections

    with use_databases({"default": database_entry(tls_server)}):
        received = django_driver_calls()
        assert server_view()[0] is True
        wrapper = connections["default"]
        assert wrapper.aurora_ssl_expected_params() == received.params()
    # One connection string, and only the driver's own keywords beside it.
    assert len(received.strings) == 1
    assert not [k for k in received.kwargs[0] if not k.isidentifier() or k == "sslmode"]
    params = received.params()
    assert params["sslmode"] == "verify-full"
    assert params["gssencmode"] == "disable"
    assert params["ssl_min_protocol_version"] == "TLSv1.2"
    # Only the test region's root, not the 102 + 1 of the bundle it was trimmed from.
    assert Path(params["sslrootcert"]).read_bytes() == tls_server.pki.root_path.read_bytes()
    assert params["host"] == tls_server.host
    assert params["hostaddr"] == tls_server.hostaddr
    # Our options never reach libpq.
    sent = [*params, *received.kwargs[0]]
    assert not [key for key in sent if "aurora" in str(key).lower()]
    assert str(tls_server.pki.bundle_path) not in {str(v) for v in params.values()}
    assert params["password"] == tls_server.password


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_weaker_sslmode_in_options_is_refused_at_connect(
    tls_server: AuroraLikeServer, mode: str
) -> None:
    from django.db import connections

    entry = database_entry(tls_server, options={"sslmode": mode})
    with use_databases({"default": entry}):
        with pytest.raises(InsecureConfigurationError, match=f"sslmode={mode} in DATABASES"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None


def test_aurora_ssl_inside_options_is_refused_before_libpq(tls_server: AuroraLikeServer) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    entry = database_entry(tls_server, options={"AURORA_SSL": {"BUNDLE": "x"}})
    with use_databases({"default": entry}):
        with pytest.raises(ImproperlyConfigured, match="belongs next to OPTIONS"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None


def test_options_edited_in_place_are_read_again(tls_server: AuroraLikeServer) -> None:
    """The options are parsed once per content, not per access: an edit is still seen."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    with use_databases({"default": database_entry(tls_server)}):
        wrapper = connections["default"]
        first = wrapper.aurora_ssl_options
        assert wrapper.aurora_ssl_options is first  # asked three times per connection
        wrapper.settings_dict["AURORA_SSL"]["TLS_SERVER_NAME"] = tls_server.host
        assert wrapper.aurora_ssl_options.tls_server_name == tls_server.host
        wrapper.settings_dict["OPTIONS"]["aurora_ssl"] = {}
        with pytest.raises(ImproperlyConfigured, match="belongs next to OPTIONS"):
            wrapper.ensure_connection()
        assert wrapper.connection is None


# --- a real workload ----------------------------------------------------------------------


def test_migrate_crud_transactions_in_a_test_database_over_tls(
    tls_server: AuroraLikeServer, tls_log: list[tuple[str, ClientTLS]]
) -> None:
    from django.db import connections, transaction

    entry = database_entry(tls_server, TEST={"NAME": "test_aurora_ssl_django_workload"})
    with example_app_installed(), use_databases({"default": entry}):
        from example_project.notes.models import Note

        connection = connections["default"]
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            assert connection.settings_dict["NAME"] == "test_aurora_ssl_django_workload"
            assert server_view()[0] is True
            Note.objects.create(text="a")
            with transaction.atomic():
                Note.objects.create(text="b")
            with contextlib.suppress(RuntimeError), transaction.atomic():
                Note.objects.create(text="rolled back")
                raise RuntimeError
            Note.objects.filter(text="a").update(text="A")
            assert list(Note.objects.values_list("text", flat=True)) == ["A", "b"]
            Note.objects.filter(text="b").delete()
            assert Note.objects.count() == 1
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    aliases = {alias for alias, _ in tls_log}
    # The "__no_db__" connection that created and dropped the test database was verified too.
    assert {"default", "__no_db__"} <= aliases
    assert all(view.in_use for _, view in tls_log)


@pytest.mark.filterwarnings("ignore:Normally Django will use a connection:RuntimeWarning")
@pytest.mark.parametrize("scenario", ["interception_server", "no_tls_server"])
def test_test_database_creation_is_refused_by_bad_servers(
    request: pytest.FixtureRequest, scenario: str
) -> None:
    from django.db import connections

    server: AuroraLikeServer = request.getfixturevalue(scenario)
    entry = database_entry(server, TEST={"NAME": "test_aurora_ssl_never_created"})
    with use_databases({"default": entry}), pytest.raises(Exception) as refused:  # noqa: PT011
        connections["default"].creation.create_test_db(verbosity=0, autoclobber=True)
    assert_refused_for(refused.value, scenario)


def test_multiple_databases_each_verified(
    tls_server: AuroraLikeServer,
    no_sslinfo_server: AuroraLikeServer,
    tls_log: list[tuple[str, ClientTLS]],
) -> None:
    databases = {
        "default": database_entry(tls_server),
        "replica": database_entry(no_sslinfo_server),
    }
    with use_databases(databases):
        assert server_view("default")[0] is True
        assert server_view("replica")[0] is True
    assert {alias for alias, _ in tls_log} == {"default", "replica"}


@pytest.mark.parametrize("scenario", sorted(REFUSALS))
def test_bad_servers_are_refused(request: pytest.FixtureRequest, scenario: str) -> None:
    from django.db import connections

    server: AuroraLikeServer = request.getfixturevalue(scenario)
    with use_databases({"default": database_entry(server)}):
        with pytest.raises(Exception) as refused:  # noqa: PT011 - checked below
            connections["default"].ensure_connection()
        assert connections["default"].connection is None
    assert_refused_for(refused.value, scenario)
    assert server.password not in str(refused.value)


def test_persistent_connection_with_health_checks_reconnects_over_tls(
    tls_server: AuroraLikeServer, tls_log: list[tuple[str, ClientTLS]]
) -> None:
    from django.db import close_old_connections, connections

    pid_and_ssl = "SELECT pid, ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()"
    databases = {
        "default": database_entry(tls_server, CONN_MAX_AGE=None, CONN_HEALTH_CHECKS=True),
        "admin": database_entry(tls_server),
    }
    with use_databases(databases):
        connection = connections["default"]
        with connection.cursor() as cursor:
            cursor.execute(pid_and_ssl)
            first_pid, _ = cursor.fetchone()
        close_old_connections()  # a request finished: the persistent connection stays open
        assert connection.connection is not None
        with connections["admin"].cursor() as cursor:  # the server drops it (failover, idle kill)
            cursor.execute("SELECT pg_terminate_backend(%s)", [first_pid])
        close_old_connections()  # the next request: the health check finds it dead
        with connection.cursor() as cursor:
            cursor.execute(pid_and_ssl)
            second_pid, ssl = cursor.fetchone()
    assert second_pid != first_pid
    assert ssl is True
    views = [view for alias, view in tls_log if alias == "default"]
    assert len(views) == 2
    assert all(view.in_use for view in views)


# --- the TLS assertion itself -----------------------------------------------------------------


class _Recorder:
    """Stands in for the driver module to keep hold of the connections it opens."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self.opened: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        connection = self._module.connect(*args, **kwargs)
        self.opened.append(connection)
        return connection


def downgraded_wrapper(alias: str, *, skip_pool_configure_check: bool = False) -> Any:
    """Our backend whose driver turns TLS off after aurora-ssl checked (a driver bug, a
    hostile plugin): the read-back must still catch the plaintext connection."""
    from django.db import connections

    from django_aurora_ssl.backends.postgresql.base import DatabaseWrapper

    class Downgraded(DatabaseWrapper):  # type: ignore[misc]
        Database = _Recorder(DatabaseWrapper.Database)

        if skip_pool_configure_check:

            def _configure_connection(self, connection: Any) -> Any:
                # Skip our assertion in the pool's configure callback: only the one on
                # checkout is left.
                from django.db.backends.postgresql.base import DatabaseWrapper as Django

                return Django._configure_connection(self, connection)

    return Downgraded(dict(connections[alias].settings_dict), alias=alias)


def test_a_plaintext_connection_is_closed_before_any_query(
    no_tls_server: AuroraLikeServer, django_driver_calls: Callable[..., DjangoDriverCalls]
) -> None:
    with use_databases({"default": database_entry(no_tls_server)}):
        django_driver_calls(tamper=downgrade)
        wrapper = downgraded_wrapper("default")
        with pytest.raises(TLSNotInUseError):
            wrapper.ensure_connection()
    assert wrapper.connection is None
    opened = wrapper.Database.opened
    assert len(opened) == 1
    assert opened[0].closed  # really connected in plaintext, then closed by the assertion


def test_server_is_asked_once_per_process_and_target(
    tls_server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connections

    from django_aurora_ssl.backends import _connect as wrapper

    calls: list[Any] = []
    real = wrapper.server_tls
    monkeypatch.setattr(wrapper, "server_tls", lambda conn: calls.append(conn) or real(conn))
    databases = {
        "default": database_entry(tls_server),
        "quiet": database_entry(tls_server, aurora={"SERVER_CHECK_AT_STARTUP": False}),
    }
    with use_databases(databases):
        for _ in range(3):
            assert server_view("default")[0] is True
            assert server_view("quiet")[0] is True
            connections["default"].close()
            connections["quiet"].close()
    assert len(calls) == 1


def test_insecure_local_dev_connects_without_tls_and_says_so(
    no_tls_server: AuroraLikeServer, caplog: pytest.LogCaptureFixture
) -> None:
    local = database_entry(
        no_tls_server,
        HOST=no_tls_server.hostaddr,
        options={},
        aurora={"INSECURE_LOCAL_DEV": True},
    )
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"), use_databases({"default": local}):
        assert server_view()[0] is False
    assert "INSECURE" in caplog.text


def test_insecure_local_dev_is_refused_for_an_aws_endpoint(
    no_tls_server: AuroraLikeServer,
) -> None:
    from django.db import connections

    entry = database_entry(no_tls_server, aurora={"INSECURE_LOCAL_DEV": True})
    with use_databases({"default": entry}):
        with pytest.raises(InsecureConfigurationError, match="AWS endpoint"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None


# --- Django's psycopg 3 pool ------------------------------------------------------------------


@pytest.fixture
def pool_support() -> None:
    if not pool_supported():
        pytest.skip("Django's pool needs Django >= 5.1, psycopg 3 and psycopg_pool")


POOL = {"min_size": 1, "max_size": 2, "timeout": 2}


@pytest.mark.usefixtures("pool_support")
def test_pool_connections_are_verified(
    tls_server: AuroraLikeServer,
    tls_log: list[tuple[str, ClientTLS]],
    django_driver_calls: Callable[..., DjangoDriverCalls],
) -> None:
    from django.db import connections

    with use_databases({"default": database_entry(tls_server, options={"pool": POOL})}):
        received = django_driver_calls()
        connection = connections["default"]
        assert server_view()[0] is True
        assert getattr(connection.pool.connection_class, "aurora_ssl_policy", None) is not None
        params = received.params()
        assert params["sslmode"] == "verify-full"
        assert Path(params["sslrootcert"]).read_bytes() == tls_server.pki.root_path.read_bytes()
        assert connection.aurora_ssl_expected_params() == params
        connection.close()  # back to the pool
        assert server_view()[0] is True  # checked out again
    assert len(tls_log) >= 2
    assert all(view.in_use for _, view in tls_log)


@pytest.mark.usefixtures("pool_support")
def test_pool_with_the_opt_out_connects_to_a_local_server_without_tls(
    no_tls_server: AuroraLikeServer,
) -> None:
    """The opt-out leaves the pool's connection class alone, and its configure callback too."""
    local = database_entry(
        no_tls_server,
        HOST=no_tls_server.hostaddr,
        options={"pool": {**POOL, "timeout": 5}},
        aurora={"INSECURE_LOCAL_DEV": True},
    )
    with use_databases({"default": local}):
        assert server_view()[0] is False


@pytest.mark.usefixtures("pool_support")
def test_pool_to_an_impostor_gives_the_reason_not_just_a_timeout(
    interception_server: AuroraLikeServer,
) -> None:
    from django.db import connections

    entry = database_entry(interception_server, options={"pool": {**POOL, "timeout": 1}})
    with use_databases({"default": entry}), pytest.raises(Exception) as refused:  # noqa: PT011
        connections["default"].ensure_connection()
    assert_refused_for(refused.value, "interception_server")


@pytest.mark.usefixtures("pool_support")
def test_pool_configure_callback_keeps_plaintext_out_of_the_pool(
    no_tls_server: AuroraLikeServer, django_driver_calls: Callable[..., DjangoDriverCalls]
) -> None:
    # The pool's connections are checked in its connection class (tests/integration/django/test_policy.py); a
    # driver that turns TLS off after that is caught by the read-back in the pool's
    # configure callback, before the connection enters the pool.
    entry = database_entry(no_tls_server, options={"pool": {**POOL, "timeout": 1}})
    with use_databases({"default": entry}):
        django_driver_calls(tamper=downgrade)
        wrapper = downgraded_wrapper("default")
        with pytest.raises(TLSNotInUseError):
            wrapper.ensure_connection()
        pool = wrapper.pool
        stats = pool.get_stats()
        assert stats.get("pool_available", 0) == 0
        assert stats.get("connections_num", 0) >= 1  # it did connect, and refused them


@pytest.mark.usefixtures("pool_support")
def test_pool_checkout_server_check_discards_a_plaintext_connection(
    no_tls_server: AuroraLikeServer, django_driver_calls: Callable[..., DjangoDriverCalls]
) -> None:
    # With the configure callback's read-back skipped too, the server check on the first
    # checkout (the server says the session is not encrypted) refuses it.
    import psycopg

    entry = database_entry(no_tls_server, options={"pool": POOL})
    with use_databases({"default": entry}):
        django_driver_calls(tamper=downgrade)
        wrapper = downgraded_wrapper("default", skip_pool_configure_check=True)
        pool = wrapper.pool
        pool.open(wait=True, timeout=5)
        with pytest.raises(TLSNotInUseError):
            wrapper.ensure_connection()
        assert wrapper.connection is None
        # The refused connection was closed and given back: the pool replaced it.
        pooled = pool.getconn(timeout=5)
        try:
            assert pooled.pgconn.status == psycopg.pq.ConnStatus.OK
        finally:
            pool.putconn(pooled)
        assert pool.get_stats().get("returns_bad", 0) >= 1


# --- dbshell ---------------------------------------------------------------------------------


def _psql() -> str | None:
    found = shutil.which("psql")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    return str(candidates[-1]) if candidates else None


@pytest.fixture
def psql_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    psql = _psql()
    if psql is None:
        pytest.skip("psql is not installed")
    monkeypatch.setenv("PATH", f"{Path(psql).parent}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.usefixtures("psql_on_path")
def test_dbshell_verifies_like_the_application(
    tls_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    from django.db import connections

    monkeypatch.setenv("PGSSLMODE", "disable")  # the environment cannot downgrade psql either
    databases = {
        "default": database_entry(tls_server),
        "impostor": database_entry(interception_server),
    }
    with use_databases(databases):
        connections["default"].client.runshell(["-At", "-c", TLS_ROW])
        out = capfd.readouterr().out
        assert out.strip().startswith("t|TLSv1."), out
        with pytest.raises(subprocess.CalledProcessError):
            connections["impostor"].client.runshell(["-At", "-c", TLS_ROW])
        err = capfd.readouterr().err
        assert "certificate" in err or "SSL" in err, err
