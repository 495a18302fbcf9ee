"""Issue 8 through every Django entry point, and issue 10's subclassed backends, for real.

The session's ``logged_server`` logs every connection and statement, so each refusal is checked by
what the server saw (nothing received, or authorised but no statement), not only by the
exception. ``dbshell`` runs the real psql against it.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

import aurora_ssl
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from aurora_ssl.testing import AuroraLikeServer
from tests.fix_django import database_entry, pool_supported, server_ssl, use_databases

pytestmark = pytest.mark.usefixtures("django_env")

SSL_ROW = "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()"
AWS_NAME = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"
PSQL = Path("/usr/lib/postgresql/15/bin/psql")


@pytest.fixture
def server(logged_server: AuroraLikeServer) -> AuroraLikeServer:
    """The session's good server whose log records every connection and statement."""
    return logged_server


class ServerLog:
    """What the server logged since this object was made."""

    def __init__(self, server: AuroraLikeServer) -> None:
        self.path = server.log_path
        self.start = self.path.stat().st_size

    def text(self) -> str:
        with open(self.path, "rb") as log:
            log.seek(self.start)
            return log.read().decode(errors="replace")

    def assert_nothing_received(self) -> None:
        text = self.text()
        assert "connection received" not in text, text[-2000:]

    def assert_no_statement(self) -> None:
        text = self.text()
        assert "connection received" in text, text[-2000:]  # it did connect
        assert "statement:" not in text, text[-2000:]


# --- options as strings, at connect time --------------------------------------------------------


@pytest.mark.parametrize("value", ["false", "0", "off", "No"])
def test_insecure_local_dev_false_as_a_string_keeps_verification_on(
    server: AuroraLikeServer, value: str
) -> None:
    from django.db import connections

    from aurora_ssl._readback import client_tls

    entry = database_entry(server, aurora={"INSECURE_LOCAL_DEV": value})
    with use_databases({"default": entry}):
        assert server_ssl() is True
        assert client_tls(connections["default"].connection).sslmode == "verify-full"


def test_server_check_at_startup_off_as_a_string(
    server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_aurora_ssl.backends import _connect as wrapper

    asked: list[Any] = []
    monkeypatch.setattr(wrapper, "server_tls", lambda conn: asked.append(conn))
    entry = database_entry(server, aurora={"SERVER_CHECK_AT_STARTUP": "0"})
    with use_databases({"default": entry}):
        assert server_ssl() is True
    assert asked == []


# --- the insecure opt-out's guard, at connect time -------------------------------------------


def guard_entry(server: AuroraLikeServer, source: str) -> dict[str, Any]:
    """The opt-out on a local name, with ``server``'s RDS-like name in one host source."""
    options: dict[str, Any] = {"hostaddr": server.hostaddr}
    aurora: dict[str, Any] = {"INSECURE_LOCAL_DEV": "true"}
    host = "localhost"
    if source == "HOST":
        host = server.host
    elif source == "HOST-list":
        host = f"localhost,{server.host}"
    elif source == "OPTIONS-host":
        host, options["host"] = "", server.host
    elif source == "OPTIONS-host-under-HOST":
        options["host"] = server.host
    elif source == "OPTIONS-hostaddr":
        options["hostaddr"] = AWS_NAME
    elif source == "TLS_SERVER_NAME":
        aurora["TLS_SERVER_NAME"] = server.host
    else:
        assert source == "none", source
    return database_entry(server, HOST=host, options=options, aurora=aurora)


GUARD_SOURCES = [
    "HOST",
    "HOST-list",
    "OPTIONS-host",
    "OPTIONS-host-under-HOST",
    "OPTIONS-hostaddr",
    "TLS_SERVER_NAME",
]


@pytest.mark.parametrize("source", GUARD_SOURCES)
def test_insecure_opt_out_guard_sees_every_host_source(
    server: AuroraLikeServer, source: str
) -> None:
    from django.db import connections

    log = ServerLog(server)
    with use_databases({"default": guard_entry(server, source)}):
        with pytest.raises(InsecureConfigurationError, match="AWS endpoint"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None
    log.assert_nothing_received()


def test_insecure_opt_out_guard_lets_a_local_name_through(server: AuroraLikeServer) -> None:
    log = ServerLog(server)
    with use_databases({"default": guard_entry(server, "none")}):
        server_ssl()  # libpq's default (prefer): the opt-out connects, unverified
    assert "connection authorized" in log.text()


# --- NAME holding a connection string -----------------------------------------------------------


def conninfo_names(server: AuroraLikeServer) -> list[dict[str, Any]]:
    return [
        {"NAME": f"dbname={server.database} sslmode=disable"},
        {"NAME": f"postgresql:///{server.database}?host=/tmp&sslmode=disable"},
        {"OPTIONS": {"hostaddr": server.hostaddr, "dbname": "dbname=app sslmode=allow"}},
    ]


@pytest.mark.parametrize("case", [0, 1, 2])
@pytest.mark.parametrize("opt_out", [False, True])
def test_a_connection_string_in_name_is_refused_at_connect(
    server: AuroraLikeServer, case: int, opt_out: bool
) -> None:
    from django.db import connections

    overrides = conninfo_names(server)[case]
    aurora = {"INSECURE_LOCAL_DEV": True} if opt_out else {}
    entry = database_entry(server, aurora=aurora, **overrides)
    if opt_out:
        entry["HOST"] = "localhost"
    log = ServerLog(server)
    with use_databases({"default": entry}):
        with pytest.raises(InsecureConfigurationError, match="holds a connection string"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None
    log.assert_nothing_received()


@pytest.mark.parametrize("case", [0, 1, 2])
def test_a_connection_string_in_name_is_refused_by_dbshell(
    server: AuroraLikeServer, case: int
) -> None:
    from django.db import connections

    entry = database_entry(server, **conninfo_names(server)[case])
    log = ServerLog(server)
    with use_databases({"default": entry}):
        client = connections["default"].client
        with pytest.raises(InsecureConfigurationError, match="holds a connection string"):
            client.settings_to_cmd_args_env(connections["default"].settings_dict, [])
        with pytest.raises(InsecureConfigurationError, match="holds a connection string"):
            client.runshell(["-c", SSL_ROW])
    log.assert_nothing_received()


# --- dbshell: one complete conninfo beats service files and the environment -------------------


@pytest.fixture
def psql_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    psql = PSQL if PSQL.is_file() else Path(shutil.which("psql") or "/nonexistent")
    if not psql.is_file():
        pytest.skip("psql is not installed")
    monkeypatch.setenv("PATH", f"{psql.parent}{os.pathsep}{os.environ['PATH']}")
    return psql


@pytest.fixture
def weak_service(tmp_path: Path, server: AuroraLikeServer) -> dict[str, str]:
    """A service file that would give psql a plaintext session, and the variables naming it."""
    path = tmp_path / "pg_service.conf"
    path.write_text(
        "[weak]\n"
        f"host=127.0.0.1\nport={server.port}\ndbname={server.database}\n"
        "sslmode=disable\ngssencmode=prefer\nsslrootcert=system\n"
    )
    return {"PGSERVICEFILE": str(path), "PGSERVICE": "weak"}


def run_psql(args: list[str], env: dict[str, str] | None, extra: dict[str, str]) -> str:
    completed = subprocess.run(
        args,
        env={**os.environ, **(env or {}), **extra},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_dbshell_passes_one_full_conninfo_and_no_password(
    server: AuroraLikeServer, psql_path: Path
) -> None:
    from django.db import connections

    from aurora_ssl._libpq import libpq_of

    psqls_libpq = libpq_of("system")  # the one psql loads, asked through ctypes
    with use_databases({"default": database_entry(server)}):
        wrapper = connections["default"]
        args, env = wrapper.client.settings_to_cmd_args_env(wrapper.settings_dict, ["-At"])
    assert args[:2] == ["psql", "-At"]
    assert len(args) == 3  # no -h/-p/-U: everything is in the one conninfo
    conninfo = args[-1]
    for key in ("host", "hostaddr", "port", "sslmode", "sslrootcert", "gssencmode", "sslsni"):
        assert f"{key}=" in conninfo, (key, conninfo)
    assert "sslmode='verify-full'" in conninfo
    assert "ssl_min_protocol_version=" in conninfo
    assert server.password not in " ".join(args)
    assert "password" not in conninfo
    assert env == {"PGPASSWORD": server.password}
    assert psqls_libpq.parse(conninfo)["sslmode"] == "verify-full"  # psql reads it so
    if not psqls_libpq.knows("sslnegotiation"):  # psql would refuse to start on it
        assert "sslnegotiation" not in conninfo


def test_dbshell_beats_a_weak_service_file_in_the_environment(
    server: AuroraLikeServer,
    psql_path: Path,
    weak_service: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import connections

    # Control: the service alone makes psql try this very server in plaintext (its pg_hba
    # accepts TLS only, so the server says so).
    plain = subprocess.run(
        [str(psql_path), "-At", "-c", SSL_ROW],
        env={**os.environ, **weak_service, "PGUSER": server.user, "PGPASSWORD": server.password},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert plain.returncode != 0
    assert "no encryption" in plain.stderr, plain.stderr
    monkeypatch.setenv("PGSSLMODE", "disable")
    monkeypatch.setenv("PGSSLNEGOTIATION", "direct")
    with use_databases({"default": database_entry(server)}):
        wrapper = connections["default"]
        args, env = wrapper.client.settings_to_cmd_args_env(wrapper.settings_dict, ["-At"])
    args[0] = str(psql_path)
    log = ServerLog(server)
    assert run_psql([*args, "-c", SSL_ROW], env, weak_service) == "t"
    assert "connection authorized" in log.text()


def test_dbshell_refuses_a_weak_service_named_in_the_environment(
    server: AuroraLikeServer,
    psql_path: Path,
    weak_service: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With PGSERVICE set while Django builds the command, the service is an input the policy
    checks: its sslmode=disable is refused before psql runs."""
    from django.db import connections

    for name, value in weak_service.items():
        monkeypatch.setenv(name, value)
    log = ServerLog(server)
    refused = pytest.raises(InsecureConfigurationError, match="sslmode=disable in the service")
    with use_databases({"default": database_entry(server)}), refused:
        connections["default"].client.runshell(["-At", "-c", SSL_ROW])
    log.assert_nothing_received()


def test_dbshell_reads_an_accepted_service_and_still_pins_everything(
    server: AuroraLikeServer,
    psql_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A service the policy accepts: its harmless keys reach psql (application_name), its
    destination keys are outranked by ours (a port where nothing listens)."""
    from django.db import connections

    path = tmp_path / "pg_service.conf"
    path.write_text("[app]\nport=1\napplication_name=from-the-service\n")
    monkeypatch.setenv("PGSERVICEFILE", str(path))
    monkeypatch.setenv("PGSERVICE", "app")
    query = (
        "SELECT s.ssl, a.application_name FROM pg_catalog.pg_stat_ssl s "
        "JOIN pg_catalog.pg_stat_activity a USING (pid) WHERE s.pid = pg_backend_pid()"
    )
    with use_databases({"default": database_entry(server)}):
        connections["default"].client.runshell(["-At", "-c", query])
    assert capfd.readouterr().out.strip() == "t|from-the-service"


# --- a subclass that changes a parameter after us is checked at get_new_connection -----------

TAMPERS = {
    "sslrootcert": "system",
    "gssencmode": "prefer",
    "sslsni": "0",
    "sslmode ": "disable",  # a blank in the key: libpq would read it as a second sslmode
    "host ": "/tmp",  # ... or a second host: the password over a Unix socket
}


@pytest.mark.parametrize("key", sorted(TAMPERS))
def test_a_subclass_changing_a_parameter_after_us_is_refused(
    server: AuroraLikeServer, key: str
) -> None:
    from django.db import connections

    entry = database_entry(server, ENGINE="tests.django_backends.tamper")
    entry["TAMPER"] = {key: TAMPERS[key]}
    log = ServerLog(server)
    with use_databases({"default": entry}):
        with pytest.raises(InsecureConfigurationError, match=key.strip()):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None
    log.assert_nothing_received()


def test_a_subclass_naming_a_private_trust_file_of_its_own_is_trusted_like_options(
    server: AuroraLikeServer, tmp_path: Path
) -> None:
    """sslrootcert set by a subclass is checked like OPTIONS['sslrootcert']: a file only root
    or this user can change is the user's choice; one others can write is refused."""
    from django.db import connections

    private = tmp_path / "private" / "root.pem"
    private.parent.mkdir(mode=0o700)
    private.write_bytes(server.pki.root_path.read_bytes())
    entry = database_entry(server, ENGINE="tests.django_backends.tamper")
    entry["TAMPER"] = {"sslrootcert": str(private)}
    with use_databases({"default": entry}):
        assert server_ssl() is True
        assert connections["default"].aurora_ssl_expected_params()["sslrootcert"] == str(private)
    private.parent.chmod(0o777)
    aurora_ssl.clear_caches()  # the next process: trust files are checked once per process
    log = ServerLog(server)
    refused = pytest.raises(AuroraSSLError, match="writable by other users")
    with use_databases({"default": entry}), refused:
        connections["default"].ensure_connection()
    log.assert_nothing_received()


def test_a_subclass_writing_tls_keys_to_a_file_is_refused(
    server: AuroraLikeServer, tmp_path: Path
) -> None:
    from django.db import connections

    keys = tmp_path / "keys.log"
    entry = database_entry(server, ENGINE="tests.django_backends.tamper")
    entry["TAMPER"] = {"sslkeylogfile": str(keys)}
    log = ServerLog(server)
    with use_databases({"default": entry}):
        with pytest.raises(InsecureConfigurationError, match="sslkeylogfile"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None
    log.assert_nothing_received()
    assert not keys.exists()


def test_an_untampered_subclass_connects(server: AuroraLikeServer) -> None:
    entry = database_entry(server, ENGINE="tests.django_backends.tamper")
    with use_databases({"default": entry}):
        assert server_ssl() is True


def test_a_subclass_changing_the_pools_parameters_is_refused(server: AuroraLikeServer) -> None:
    from django.db import connections

    if not pool_supported():
        pytest.skip("Django's pool needs Django >= 5.1, psycopg 3 and psycopg_pool")
    entry = database_entry(
        server,
        ENGINE="tests.django_backends.tamper",
        options={"pool": {"min_size": 0, "max_size": 2, "timeout": 2}},
    )
    entry["TAMPER"] = {"gssencmode": "prefer"}
    log = ServerLog(server)
    with use_databases({"default": entry}):
        with pytest.raises(InsecureConfigurationError, match="gssencmode"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None
    log.assert_nothing_received()


# --- issue 10: a user's subclass is ours --------------------------------------------------------


@pytest.fixture
def provider_entry(server: AuroraLikeServer) -> dict[str, Any]:
    from tests.django_backends.provider import base

    base.calls.clear()
    entry = database_entry(server, ENGINE="tests.django_backends.provider", PASSWORD="")
    entry["TEST_PASSWORD_SOURCE"] = lambda: server.password
    return entry


def test_a_subclassed_backend_passes_check(provider_entry: dict[str, Any]) -> None:
    from django.core.checks import run_checks

    from tests.django_backends.provider import base

    with use_databases({"default": provider_entry}):
        static = [m.id for m in run_checks() if m.id.startswith("aurora_ssl.")]
        database = [
            m.id
            for m in run_checks(databases=["default"])
            if m.id.startswith("aurora_ssl.") or m.is_serious()
        ]
    assert static == []  # no W002 "no database uses an aurora-ssl backend"
    assert database == []
    assert base.calls  # the database check connected through the subclass


def test_a_subclassed_backend_passes_check_commands(
    provider_entry: dict[str, Any], server: AuroraLikeServer
) -> None:
    from django.core.management import call_command

    out = io.StringIO()
    with use_databases({"default": provider_entry}):
        call_command("check", stdout=out)
        call_command("check", "--database", "default", stdout=out)
        call_command("check_aurora_ssl", stdout=out, no_color=True)
        text = out.getvalue()
        json_out = io.StringIO()
        call_command("check_aurora_ssl", "--format", "json", stdout=json_out)
    assert "default: VERIFIED" in text
    report = json.loads(json_out.getvalue())["connections"][0]
    assert report["verdict"] == "verified"
    assert report["server"]["ssl"] is True
    assert server.password not in text + json_out.getvalue()


def test_a_subclass_of_djangos_own_backend_on_an_rds_name_gets_w004(
    server: AuroraLikeServer,
) -> None:
    from django.core.checks import run_checks

    entry = database_entry(server, ENGINE="tests.django_backends.plain")
    del entry["AURORA_SSL"]
    with use_databases({"default": entry}):
        messages = [m for m in run_checks() if m.id.startswith("aurora_ssl.")]
    assert sorted(m.id for m in messages) == ["aurora_ssl.W002", "aurora_ssl.W004"]
    (w004,) = (m for m in messages if m.id == "aurora_ssl.W004")
    assert "django_aurora_ssl.backends.postgresql.base.DatabaseWrapper" in w004.hint


# --- the same read-back with each driver, in a fresh interpreter -------------------------------

DRIVERS = [
    pytest.param(name, marks=pytest.mark.driver(module))  # tests/drivers.py
    for name, module in (("psycopg2", "psycopg2"), ("psycopg3", "psycopg"))
]


def connect_once(server: AuroraLikeServer, entry: dict[str, Any], driver: str) -> dict[str, Any]:
    from tests.fix_django import demo_env, run_script

    env = demo_env(server, AURORA_SSL_TEST_DATABASE=json.dumps(entry))
    completed = run_script("tests/django_backends/connect_once.py", driver=driver, env=env)
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["driver"] == {"psycopg2": "psycopg2", "psycopg3": "psycopg"}[driver]
    return result


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("key", ["gssencmode", "sslmode "])
def test_each_driver_refuses_a_subclass_change_before_connecting(
    server: AuroraLikeServer, driver: str, key: str
) -> None:
    entry = database_entry(server, ENGINE="tests.django_backends.tamper")
    assert connect_once(server, entry, driver) == {
        "driver": {"psycopg2": "psycopg2", "psycopg3": "psycopg"}[driver],
        "ssl": True,
        "connected": True,
    }
    entry["TAMPER"] = {key: "prefer" if key == "gssencmode" else "disable"}
    log = ServerLog(server)
    result = connect_once(server, entry, driver)
    assert result["error"] == "InsecureConfigurationError", result
    assert key.strip() in result["message"]
    assert result["connected"] is False
    assert server.password not in result["message"]
    log.assert_nothing_received()


def test_a_subclass_that_skips_our_get_connection_params_still_gets_our_trust(
    server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Django hands the driver is checked at get_new_connection, whoever built it: libpq's
    default trust anchor (planted where it looks) never gets a say."""
    from django.db import connections

    from aurora_ssl._readback import effective_params

    monkeypatch.setenv("PGSSLROOTCERT", str(server.pki.bundle_path))
    entry = database_entry(server, ENGINE="tests.django_backends.bypass")
    with use_databases({"default": entry}):
        assert server_ssl() is True
        used = effective_params(connections["default"].connection)
    assert used["sslmode"] == "verify-full"
    assert used["sslrootcert"] not in ("", str(server.pki.bundle_path))
    assert Path(used["sslrootcert"]).read_bytes() == server.pki.root_path.read_bytes()


# --- check_aurora_ssl reports what libpq really used ----------------------------------------------


def test_check_aurora_ssl_reports_the_effective_values(server: AuroraLikeServer) -> None:
    from django.core.management import call_command

    out = io.StringIO()
    with use_databases({"default": database_entry(server)}):
        call_command("check_aurora_ssl", "--format", "json", stdout=out)
    report = json.loads(out.getvalue())["connections"][0]
    effective = report["effective"]
    assert report["verdict"] == "verified"
    assert effective["sslmode"] == "verify-full"
    assert effective["sslrootcert"] == report["trust"]["file"]
    assert effective["host"] == server.host
    assert effective["hostaddr"] == server.hostaddr
    assert effective["port"] == str(server.port)
    assert effective["sslkeylogfile"] == ""


def test_check_aurora_ssl_is_not_verified_when_libpq_writes_tls_keys(
    server: AuroraLikeServer, tmp_path: Path
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    entry = database_entry(server, ENGINE="tests.django_backends.tamper")
    entry["TAMPER"] = {"sslkeylogfile": str(tmp_path / "keys.log")}
    out = io.StringIO()
    log = ServerLog(server)
    refused = pytest.raises(CommandError, match="Not verified: default")
    with use_databases({"default": entry}), refused:
        call_command("check_aurora_ssl", "--format", "json", stdout=out)
    report = json.loads(out.getvalue())["connections"][0]
    assert report["verdict"] == "refused"
    assert "sslkeylogfile" in report["errors"][0]["message"]
    log.assert_nothing_received()


def test_a_report_on_a_connection_made_without_the_policy_reads_back_the_key_log(
    server: AuroraLikeServer, tmp_path: Path
) -> None:
    """The report checks the read-back itself, whoever made the connection."""
    psycopg = pytest.importorskip("psycopg")
    from aurora_ssl._diagnostics._inspection import Verdict
    from aurora_ssl._diagnostics._report import check_connection

    if psycopg.pq.version() < 180000:
        pytest.skip("this libpq has no sslkeylogfile")
    keys = tmp_path / "keys.log"
    params = {
        **server.params(),
        "sslmode": "verify-full",
        "sslrootcert": str(server.pki.bundle_path),
        "sslkeylogfile": str(keys),
    }
    report = check_connection(
        lambda: psycopg.connect(**params),
        label="raw",
        host=server.host,
        close=lambda c: c.close(),
        secrets=[server.password],
    )
    assert keys.is_file()  # libpq really wrote the keys
    assert keys.stat().st_size > 0
    assert report.verdict is Verdict.REFUSED
    assert report.effective["sslkeylogfile"] == str(keys)
    assert "sslkeylogfile" in report.errors[0].message


def test_dbshell_refuses_a_users_key_that_psqls_libpq_does_not_know(
    server: AuroraLikeServer, psql_path: Path
) -> None:
    """Dropping it would silently weaken what the user asked for (require_auth: libpq 16+)."""
    from django.db import connections

    from aurora_ssl._libpq import libpq_of

    if libpq_of("system").knows("require_auth"):
        pytest.skip("this psql's libpq knows require_auth")
    entry = database_entry(server, options={"require_auth": "scram-sha-256"})
    log = ServerLog(server)
    with use_databases({"default": entry}):
        refused = pytest.raises(InsecureConfigurationError, match=r"require_auth.* neither a libpq")
        with refused:
            connections["default"].client.runshell(["-c", SSL_ROW])
    log.assert_nothing_received()


# --- the review's attacks on the Django faces (issue 16) ---------------------------------------
# Each is refused before the server sees a byte (its log), next to a control showing the same
# path works without the attack.

SECOND = "second.cluster-c9akciq32xyz.test-region-1.rds.amazonaws.com"
SMALL_POOL = {"min_size": 1, "max_size": 2, "timeout": 1}


class Asked:
    """A password provider that answers ``password`` and records every question."""

    def __init__(self, password: str) -> None:
        self.answer = password
        self.asked: list[Any] = []

    def password(self, target: Any) -> str:
        self.asked.append(target)
        return self.answer

    async def password_async(self, target: Any) -> str:
        return self.password(target)

    def invalidate(self, target: Any) -> None:
        pass


@pytest.mark.parametrize("pooled", [False, True], ids=["unpooled", "pooled"])
@pytest.mark.parametrize("how", ["IAM", "PASSWORD_PROVIDER"])
def test_a_password_provider_with_several_hosts_is_refused_naming_them(
    server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch, how: str, pooled: bool
) -> None:
    """libpq sends one password to whichever host it reaches, and an IAM token is signed for
    one host: a provider's password is never handed to a host list."""
    from django.db import connections

    from aurora_ssl import _connect

    if pooled and not pool_supported():
        pytest.skip("Django's pool needs Django >= 5.1, psycopg 3 and psycopg_pool")
    asked = Asked(server.password)
    monkeypatch.setattr(
        _connect, "_iam_provider", functools.cache(lambda profile: asked)
    )  # no AWS here
    aurora = {"IAM": True} if how == "IAM" else {"PASSWORD_PROVIDER": asked}
    pool = {"pool": SMALL_POOL} if pooled else {}
    one = database_entry(server, PASSWORD="", aurora=aurora, options=pool)
    with use_databases({"default": one}):
        assert server_ssl() is True  # control: one host, the provider's password logs in
    assert asked.asked
    asked.asked.clear()
    two = database_entry(
        server,
        PASSWORD="",
        aurora=aurora,
        HOST=f"{server.host},{SECOND}",
        options={"hostaddr": f"{server.hostaddr},{server.hostaddr}", **pool},
    )
    log = ServerLog(server)
    refused = pytest.raises(AuroraSSLError, match="several")
    with use_databases({"default": two}), refused as info:
        connections["default"].ensure_connection()
    assert server.host in str(info.value)
    assert SECOND in str(info.value)
    assert asked.asked == []  # not even asked: nothing to sign or fetch for a list
    log.assert_nothing_received()


def test_control_djangos_own_backend_takes_a_key_spelled_with_a_blank(
    plaintext_server: AuroraLikeServer,
) -> None:
    """The attack: verify-full asked for, and a second sslmode whose key has a blank; the
    driver writes both into the string, libpq reads the later one: a plaintext session."""
    entry = database_entry(
        plaintext_server,
        ENGINE="django.db.backends.postgresql",
        options={
            "sslmode": "verify-full",
            "sslrootcert": str(plaintext_server.pki.bundle_path),
            "sslmode ": "disable",
        },
    )
    del entry["AURORA_SSL"]
    with use_databases({"default": entry}):
        assert server_ssl() is False


@pytest.mark.parametrize(
    ("key", "value"),
    [("sslmode ", "disable"), ("sslmode\t", "disable"), ("SSLMODE", "disable"), ("host ", "/tmp")],
)
def test_options_with_a_key_spelled_with_a_blank_are_refused(
    plaintext_server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch, key: str, value: str
) -> None:
    import re

    from django.core.checks import run_checks
    from django.db import connections

    ran: list[Any] = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: ran.append(args))
    entry = database_entry(plaintext_server, options={"sslmode": "verify-full", key: value})
    named = re.escape(repr(key))
    log = ServerLog(plaintext_server)
    with use_databases({"default": entry}):
        wrapper = connections["default"]
        with pytest.raises(InsecureConfigurationError, match=f"{named} in DATABASES"):
            wrapper.ensure_connection()
        assert wrapper.connection is None
        with pytest.raises(InsecureConfigurationError, match=named):
            wrapper.client.runshell([])  # dbshell: checked with psql's libpq
        (error,) = [m for m in run_checks() if m.id.startswith("aurora_ssl.")]
    assert error.id == "aurora_ssl.E003"
    assert repr(key) in error.msg
    assert ran == []
    log.assert_nothing_received()


@pytest.mark.parametrize("driver", DRIVERS)
def test_options_with_a_key_spelled_with_a_blank_are_refused_with_each_driver(
    plaintext_server: AuroraLikeServer, driver: str
) -> None:
    entry = database_entry(plaintext_server, options={"sslmode ": "disable"})
    log = ServerLog(plaintext_server)
    result = connect_once(plaintext_server, entry, driver)
    assert result["error"] == "InsecureConfigurationError", result
    assert "'sslmode '" in result["message"]
    log.assert_nothing_received()


@pytest.mark.driver("psycopg")
def test_the_pool_connects_only_through_aurora_ssls_connection_class(
    server: AuroraLikeServer,
) -> None:
    import psycopg
    from django.db import connections

    if not pool_supported():
        pytest.skip("Django's pool needs Django >= 5.1, psycopg 3 and psycopg_pool")
    entry = database_entry(server, options={"pool": SMALL_POOL})
    with use_databases({"default": entry}):
        wrapper = connections["default"]
        assert server_ssl() is True
        ours = type(wrapper.connection)
        assert ours is not psycopg.Connection
        assert issubclass(ours, psycopg.Connection)
        assert ours.aurora_ssl_policy is not None
        assert wrapper.connection.aurora_ssl_decision.params["sslmode"] == "verify-full"
        # Put back behind our back: taken over again before the pool makes a connection.
        wrapper.close()
        wrapper.pool.connection_class = psycopg.Connection
        assert wrapper.pool.connection_class is not psycopg.Connection
        # A connection the pool made with another class never reaches Django: the pool's
        # configure callback refuses it (closed before any query).
        bundle = str(server.pki.bundle_path)
        verified = aurora_ssl.connection_params(
            server.params(), aurora_ssl.Options(bundle=bundle), driver="psycopg"
        )
        stranger = psycopg.connect(**verified)
        with pytest.raises(InsecureConfigurationError, match="without aurora-ssl's connection"):
            wrapper._configure_connection(stranger)
        assert stranger.closed
    # A connection_class in OPTIONS['pool'] would connect after our decision: refused.
    named = database_entry(
        server, options={"pool": {**SMALL_POOL, "connection_class": psycopg.Connection}}
    )
    log = ServerLog(server)
    refused = pytest.raises(InsecureConfigurationError, match="connection_class")
    with use_databases({"default": named}), refused:
        connections["default"].ensure_connection()
    log.assert_nothing_received()


def test_dbshell_builds_psqls_arguments_without_running_it(
    server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Django's own dbshell tests do (``test_sigint_handler``): subprocess.run is mocked,
    so what psql would get is read, and nothing connects."""
    from django.db import connections

    from aurora_ssl._libpq import libpq_of

    ran: list[tuple[list[str], dict[str, str] | None]] = []
    monkeypatch.setattr(
        subprocess, "run", lambda args, env=None, check=False: ran.append((args, env))
    )
    asked = Asked(server.password)
    databases = {
        "default": database_entry(server),
        "provider": database_entry(server, PASSWORD="", aurora={"PASSWORD_PROVIDER": asked}),
        "hosts": database_entry(
            server,
            PASSWORD="",
            HOST=f"{server.host},{SECOND}",
            aurora={"PASSWORD_PROVIDER": asked},
            options={"hostaddr": f"{server.hostaddr},{server.hostaddr}"},
        ),
    }
    log = ServerLog(server)
    with use_databases(databases):
        connections["default"].client.runshell(["-c", SSL_ROW])
        connections["provider"].client.runshell([])
        with pytest.raises(AuroraSSLError, match="several"):
            connections["hosts"].client.runshell([])
    (args, env), (_, provider_env) = ran
    assert args[:3] == ["psql", "-c", SSL_ROW]
    assert len(args) == 4
    parsed = libpq_of("system").parse(args[3])  # as psql's libpq reads it
    assert parsed["sslmode"] == "verify-full"
    assert (parsed["host"], parsed["hostaddr"]) == (server.host, server.hostaddr)
    assert Path(parsed["sslrootcert"]).read_bytes() == server.pki.root_path.read_bytes()
    assert "password" not in parsed
    assert server.password not in " ".join(args)
    assert env is not None
    assert env["PGPASSWORD"] == server.password
    assert provider_env is not None
    assert provider_env["PGPASSWORD"] == server.password
    assert len(asked.asked) == 1  # the provider, for the one host; never for the list
    log.assert_nothing_received()
