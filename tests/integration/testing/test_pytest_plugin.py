"""The pytest plugin, as a user's test suite meets it: run by pytest in a subprocess (pytester).

Each run's user tests report what the server saw (pg_stat_ssl for their own backend) and what
the pytest process started (its child processes), so "verified TLS" and "inert" are checked by
the server and the process table, not by the plugin's word.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Shared by the user test files below: the pytest process's own child processes by name.
CHILDREN = textwrap.dedent(
    """
    import os
    from pathlib import Path

    def child_commands():
        me = str(os.getpid())
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
            except (OSError, IndexError):
                continue
            if fields[1] == me:
                found.append(name)
        return found
    """
)


def test_fixtures_connect_over_verified_tls(pytester: pytest.Pytester) -> None:
    pytest.importorskip("sqlalchemy")
    pytester.makepyfile(
        children=CHILDREN,
        test_user_app=textwrap.dedent(
            """
            import sqlalchemy
            import aurora_ssl
            from aurora_ssl.errors import AuroraSSLError
            from children import child_commands

            SSL = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

            def test_plain_sqlalchemy_with_the_url(aurora_database_url, aurora_server):
                assert "plugin=aurora_ssl" in aurora_database_url
                engine = sqlalchemy.create_engine(aurora_database_url)
                with engine.connect() as conn:
                    ssl, version = conn.exec_driver_sql(SSL).one()
                    used = conn.exec_driver_sql("SELECT ssl_is_used()").scalar()
                engine.dispose()
                assert ssl is True and used is True and version.startswith("TLSv1.")
                assert "postgres" in child_commands()  # the server is this session's own

            def test_aurora_create_engine(aurora_database_url, aurora_bundle):
                assert str(aurora_bundle) in aurora_database_url
                engine = aurora_ssl.create_engine(aurora_database_url)
                with engine.connect() as conn:
                    assert conn.exec_driver_sql(SSL).one()[0] is True
                engine.dispose()

            def test_verification_is_real(aurora_server, aurora_database_url):
                # Without the test bundle (only AWS's roots) the same server is refused.
                driver = aurora_database_url.split("://")[0]
                url = aurora_server.url(driver) + "&plugin=aurora_ssl"
                engine = sqlalchemy.create_engine(url)
                try:
                    engine.connect()
                except AuroraSSLError as exc:
                    assert "aurora_ssl.testing" in str(exc), str(exc)
                else:
                    raise AssertionError("connected without the test root")
                finally:
                    engine.dispose()
            """
        ),
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_plugin_is_inert_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        children=CHILDREN,
        test_unrelated=textwrap.dedent(
            """
            import sys
            from children import child_commands

            def test_something(pytestconfig):
                assert pytestconfig.pluginmanager.has_plugin("aurora_ssl")  # loaded...
                assert 1 + 1 == 2

            def test_nothing_started_or_imported():
                assert "postgres" not in child_commands()  # ...but started no server
                heavy = {"aurora_ssl.testing", "aurora_ssl.testing._server",
                         "aurora_ssl.testing._pki", "cryptography", "sqlalchemy", "django"}
                assert heavy.isdisjoint(sys.modules), heavy & set(sys.modules)
            """
        ),
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:django")
    result.assert_outcomes(passed=2)


DJANGO_SETTINGS = """
SECRET_KEY = "plugin-test"
INSTALLED_APPS = ["django.contrib.contenttypes"]
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django_aurora_ssl.backends.postgresql", "NAME": "unset",
                         "TEST": {"NAME": "test_mine"}}}
"""

DJANGO_CONFTEST = """
import pytest

@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    aurora_django_db_settings, django_db_modify_db_settings_parallel_suffix
):
    pass
"""

DJANGO_TESTS = """
import os
import pytest
from django.db import connection

QUERY = (
    "SELECT s.ssl, current_database(), ssl_is_used(), inet_server_port(), "
    "d.oid || '/' || (SELECT system_identifier FROM pg_control_system()) "
    "FROM pg_stat_ssl s, pg_database d "
    "WHERE s.pid = pg_backend_pid() AND d.datname = current_database()"
)

@pytest.mark.django_db
@pytest.mark.parametrize("n", range(4))
def test_test_database_over_verified_tls(n, aurora_server):
    with connection.cursor() as cur:
        cur.execute(QUERY)
        ssl, database, used, port, oid = cur.fetchone()
    assert ssl is True and used is True
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    assert database == "test_mine" + (f"_{worker}" if worker else "")
    assert port == aurora_server.port
    raw = connection.connection
    dsn = raw.info.dsn if hasattr(raw.info, "dsn") else raw.dsn
    assert "sslmode=verify-full" in dsn
    print(f"\\nSERVED-BY {worker or '-'} {port} {oid}")
"""


def test_django_with_xdist_one_server_per_worker(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_django")
    pytest.importorskip("xdist")
    pytester.makepyfile(settings_user=DJANGO_SETTINGS, conftest=DJANGO_CONFTEST)
    pytester.makepyfile(test_django_user=DJANGO_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ds=settings_user", "-n", "2", "--reuse-db", "-rA"
    )
    result.assert_outcomes(passed=4)
    served = {tuple(line.split()[1:]) for line in result.outlines if "SERVED-BY" in line}
    workers = {worker for worker, _port, _oid in served}
    ports = {port for _worker, port, _oid in served}
    assert len(workers) == len(ports) >= 1, served  # each worker its own server


def test_django_reuse_db_keeps_the_test_database(
    pytester: pytest.Pytester, kept_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pytest_django")
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)  # the inner run is no xdist worker
    data = kept_dir
    pytester.makepyfile(settings_user=DJANGO_SETTINGS, conftest=DJANGO_CONFTEST)
    pytester.makepyfile(test_django_user=DJANGO_TESTS)
    args = ["-p", "no:cacheprovider", "-p", "no:xdist", "--ds=settings_user", "-s", "-v"]
    args += ["--reuse-db", f"--aurora-ssl-data-dir={data}", "-k", "0"]
    first = pytester.runpytest_subprocess(*args)
    first.assert_outcomes(passed=1)
    second = pytester.runpytest_subprocess(*args)
    second.assert_outcomes(passed=1)
    # The server's own record: the same database (OID) in the same cluster (system identifier,
    # new with every initdb), not a new one.
    runs = [
        [ln.split() for ln in r.outlines if ln.startswith("SERVED-BY")] for r in (first, second)
    ]
    (first_served,), (second_served,) = runs
    assert first_served[3] == second_served[3], runs
    assert (data / "main" / "server" / "data" / "PG_VERSION").is_file()
