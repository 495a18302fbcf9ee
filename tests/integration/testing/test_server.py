"""The test harness itself, proven with a real driver: every scenario fails for its own reason.

libpq's messages are what other modules translate, so the exact texts are asserted here; when
libpq's text is too generic (expired and interception both say "certificate verify failed"),
a stdlib TLS handshake shows the underlying verification error, so a scenario cannot pass for
the wrong reason. The PKI and the harness's refusals without a server: tests/unit/testing/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing import (
    CLUSTER_HOST,
    INSTANCE_HOST,
    OTHER_HOST,
    READER_HOST,
    AuroraLikeServer,
    TestPKI,
)
from aurora_ssl.testing.__main__ import main
from tests import ROOT, drivers
from tests.fix_servers import BARE_ENV, wait_for_env_file


def _params(server: AuroraLikeServer, sslmode: str, kw: dict[str, Any]) -> dict[str, Any]:
    return {**server.params(), "sslmode": sslmode, "connect_timeout": 10, **kw}


def connect(server: AuroraLikeServer, sslmode: str = "verify-full", **kw: Any) -> Any:
    """A connection through the run's libpq driver (psycopg2 or psycopg 3)."""
    return drivers.libpq_connect(**_params(server, sslmode, kw))


def refusal(server: AuroraLikeServer, sslmode: str = "verify-full", **kw: Any) -> str:
    """libpq's message for a connection that must fail (the same words from either driver)."""
    return drivers.libpq_refusal(**_params(server, sslmode, kw))


def query(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def stdlib_verify_error(server: AuroraLikeServer, cafile: Path) -> str | None:
    """Handshake with Python's ssl (verify + host name); the OpenSSL reason it fails, if any."""
    with socket.create_connection((server.hostaddr, server.port), timeout=10) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest
        assert sock.recv(1) == b"S"
        context = ssl.create_default_context(cafile=str(cafile))
        try:
            with context.wrap_socket(sock, server_hostname=server.host):
                return None
        except ssl.SSLCertVerificationError as exc:
            return str(exc.verify_message)


# -- scenarios ------------------------------------------------------------------------------


@pytest.mark.driver("libpq")
@pytest.mark.parametrize("host", [CLUSTER_HOST, READER_HOST, INSTANCE_HOST])
def test_good_server_verifies(tls_server: AuroraLikeServer, pki: TestPKI, host: str) -> None:
    conn = connect(tls_server, sslrootcert=str(pki.root_path), host=host)
    try:
        assert drivers.ssl_in_use(conn) is True
        assert query(conn, "SELECT ssl_is_used()") is True
        assert query(conn, "SELECT current_user") == tls_server.user
    finally:
        conn.close()


@pytest.mark.driver("libpq")
def test_good_server_verifies_with_the_bundle(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    conn = connect(tls_server, sslrootcert=str(pki.bundle_path))
    try:
        assert query(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    finally:
        conn.close()


@pytest.mark.driver("libpq")
def test_plain_tcp_is_rejected_like_rds_force_ssl(tls_server: AuroraLikeServer) -> None:
    message = refusal(tls_server, "disable")
    assert 'pg_hba.conf rejects connection for host "127.0.0.1", user "app"' in message
    assert message.rstrip().endswith("no encryption")


@pytest.mark.driver("libpq")
def test_admin_params_reach_the_superuser(
    tls_server: AuroraLikeServer, no_tls_server: AuroraLikeServer
) -> None:
    for server, force_ssl in ((tls_server, "1"), (no_tls_server, "0")):
        params = server.admin_params()
        assert "password" not in params
        conn = drivers.libpq_connect(**params)
        try:
            assert query(conn, "SELECT current_setting('is_superuser')") == "on"
            assert query(conn, "SHOW rds.force_ssl") == force_ssl
            assert query(conn, "SELECT current_database()") == server.database
        finally:
            conn.close()


@pytest.mark.driver("libpq")
def test_wrong_host(wrong_host_server: AuroraLikeServer, pki: TestPKI) -> None:
    message = refusal(wrong_host_server, sslrootcert=str(pki.root_path))
    assert (
        f'server certificate for "{OTHER_HOST}" does not match host name "{CLUSTER_HOST}"'
        in message
    )


@pytest.mark.driver("libpq")
def test_interception(interception_server: AuroraLikeServer, pki: TestPKI) -> None:
    for rootcert in (pki.root_path, pki.bundle_path):
        message = refusal(interception_server, sslrootcert=str(rootcert))
        assert "SSL error: certificate verify failed" in message
    reason = stdlib_verify_error(interception_server, pki.root_path)
    assert reason == "unable to get local issuer certificate"
    assert stdlib_verify_error(interception_server, pki.foreign_root_path) is None


@pytest.mark.driver("libpq")
def test_expired(expired_server: AuroraLikeServer, pki: TestPKI) -> None:
    message = refusal(expired_server, sslrootcert=str(pki.root_path))
    assert "SSL error: certificate verify failed" in message  # libpq does not say why
    assert stdlib_verify_error(expired_server, pki.root_path) == "certificate has expired"


@pytest.mark.driver("libpq")
def test_no_tls(no_tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    message = refusal(no_tls_server, sslrootcert=str(pki.root_path))
    assert "server does not support SSL, but SSL was required" in message
    conn = connect(no_tls_server, "disable")
    try:
        assert drivers.ssl_in_use(conn) is False
        assert query(conn, "SELECT ssl_is_used()") is False
    finally:
        conn.close()


@pytest.mark.driver("libpq")
def test_no_sslinfo(no_sslinfo_server: AuroraLikeServer, pki: TestPKI) -> None:
    undefined_function = drivers.libpq_module().errors.UndefinedFunction
    conn = connect(no_sslinfo_server, sslrootcert=str(pki.root_path))
    try:
        with pytest.raises(undefined_function, match=r"ssl_is_used\(\)"):
            query(conn, "SELECT ssl_is_used()")
        conn.rollback()
        assert query(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    finally:
        conn.close()


def test_params_and_repr_keep_ssl_and_password_out(tls_server: AuroraLikeServer) -> None:
    params = tls_server.params()
    assert set(params) == {"host", "hostaddr", "port", "user", "password", "dbname"}
    assert params["host"] == CLUSTER_HOST
    assert params["hostaddr"] == "127.0.0.1"
    assert tls_server.password not in repr(tls_server)
    assert tls_server.url().endswith(f":{tls_server.port}/app?hostaddr=127.0.0.1")


def test_url_defaults_to_an_installed_libpq_driver(tls_server: AuroraLikeServer) -> None:
    """A project with only psycopg 3 (or only psycopg2) gets a URL its engine can load."""
    default = tls_server.url()
    assert default.split("://")[0] == tls_server.database_url().split("://")[0]
    assert drivers.driver_of(default) in drivers.LIBPQ
    assert drivers.is_installed(drivers.driver_of(default))
    if drivers.is_installed("psycopg"):  # the driver Django and new projects prefer
        assert default.startswith("postgresql+psycopg://")
    for pinned in ("postgresql+psycopg2", "postgresql+asyncpg", "postgresql+pg8000"):
        assert tls_server.url(pinned).startswith(f"{pinned}://")


# -- lifecycle ------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.driver("libpq")
def test_own_server_swaps_certificates_restarts_and_cleans_up(pki: TestPKI) -> None:
    server = AuroraLikeServer("good", pki=pki)
    with server:
        workdir, port = server.socket_dir, server.port
        conn = connect(server, sslrootcert=str(pki.root_path))
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
        conn.close()

        server.use_certificate(foreign=True)
        assert "certificate verify failed" in refusal(server, sslrootcert=str(pki.root_path))
        server.use_certificate(names=[OTHER_HOST])
        assert "does not match host name" in refusal(server, sslrootcert=str(pki.root_path))
        server.use_certificate()
        server.restart()
        assert server.port == port
        conn = connect(server, sslrootcert=str(pki.root_path))
        try:
            assert query(conn, "SELECT count(*) FROM kept") == 1
        finally:
            conn.close()
    assert not workdir.exists()
    assert port_is_free(port)
    server.stop()  # twice is fine


@pytest.mark.driver("libpq")
def test_custom_names_and_password_are_quoted(pki: TestPKI) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    password = "p@ss:/w%rd 'x\\"
    with AuroraLikeServer(
        "no-sslinfo", pki=pki, user='odd "user"', password=password, database="db'name"
    ) as server:
        conn = connect(server, sslrootcert=str(pki.root_path))
        try:
            assert query(conn, "SELECT current_user") == 'odd "user"'
            assert query(conn, "SELECT current_database()") == "db'name"
        finally:
            conn.close()
        engine = sqlalchemy.create_engine(
            server.url(),
            connect_args={"sslmode": "verify-full", "sslrootcert": str(pki.root_path)},
            poolclass=sqlalchemy.pool.NullPool,
        )
        with engine.connect() as sa_conn:
            assert sa_conn.exec_driver_sql("SELECT current_database()").scalar() == "db'name"
        engine.dispose()


def test_context_manager_stops_on_error(pki: TestPKI) -> None:
    server = AuroraLikeServer("no-tls", pki=pki)
    seen: list[Path] = []

    def fail_inside() -> None:
        with server:
            seen.append(server.socket_dir)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert seen
    assert not seen[0].exists()
    assert not server.running


def test_failed_start_shows_the_log_and_cleans_up(pki: TestPKI) -> None:
    server = AuroraLikeServer("good", pki=pki, settings={"shared_buffers": "lots"})
    with pytest.raises(TestServerError) as info:
        server.start()
    assert 'invalid value for parameter "shared_buffers": "lots"' in str(info.value)
    assert "Last lines of the server log" in str(info.value)
    assert not server.running
    with pytest.raises(TestServerError, match="not started"):
        server.params()


# -- command line ---------------------------------------------------------------------------


def check_demo_env(env: dict[str, str]) -> None:
    assert env["AURORA_SSL_DEMO_HOST"] == CLUSTER_HOST
    conn = drivers.libpq_connect(
        host=env["AURORA_SSL_DEMO_HOST"],
        hostaddr=env["AURORA_SSL_DEMO_HOSTADDR"],
        port=env["AURORA_SSL_DEMO_PORT"],
        user=env["AURORA_SSL_DEMO_USER"],
        password=env["AURORA_SSL_DEMO_PASSWORD"],
        dbname=env["AURORA_SSL_DEMO_DBNAME"],
        sslmode="verify-full",
        sslrootcert=env["AURORA_SSL_DEMO_BUNDLE"],
    )
    conn.close()


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    return tmp_path / "demo.env"


@pytest.mark.driver("libpq")
def test_cli_serve_in_process(env_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, str] = {}

    def client() -> None:
        try:
            seen.update(wait_for_env_file(env_file))
            check_demo_env(seen)
            assert env_file.stat().st_mode & 0o777 == 0o600
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=client)
    thread.start()
    assert main(["serve", "--env-file", str(env_file)]) == 0
    thread.join()
    assert seen["AURORA_SSL_DEMO_USER"] == "app"
    assert f"AURORA_SSL_DEMO_PORT='{seen['AURORA_SSL_DEMO_PORT']}'" in capsys.readouterr().out
    assert not env_file.exists()
    assert port_is_free(int(seen["AURORA_SSL_DEMO_PORT"]))


#: Everything a shell would read as syntax if it were not quoted (an `&` once cut the URL short).
AWKWARD_PASSWORD = "p&w;d $HOME `id` 'q' \"x\" \\ #"


def getting_started_examples() -> str:
    """The Python blocks of docs/index.md's "First connection", which read DATABASE_URL."""
    page = (ROOT / "docs" / "index.md").read_text()
    section = page.split("## First connection", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, re.DOTALL))


@pytest.mark.driver("psycopg")  # the documentation's examples use psycopg 3
def test_cli_serve_env_file_is_sourced_as_written_and_runs_the_getting_started_page(
    env_file: Path,
) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "aurora_ssl.testing", "serve", "--scenario", "good"),
            *("--password", AWKWARD_PASSWORD, "--env-file", str(env_file)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=BARE_ENV,
    )
    try:
        env = wait_for_env_file(env_file, proc)
        written = env_file.read_text()
        check_demo_env(env)
        # The URL survives the shell whole: every query key, the password as given.
        url = sqlalchemy.engine.make_url(env["DATABASE_URL"])
        assert url.password == AWKWARD_PASSWORD == env["AURORA_SSL_DEMO_PASSWORD"]
        assert set(url.query) == {"hostaddr", "plugin", "aurora_ssl_bundle"}
        script = 'set -a; . "$1"; set +a; exec "$2" -c "$3"'
        examples = subprocess.run(
            [
                "bash",
                "-c",
                script,
                "bash",
                str(env_file),
                sys.executable,
                getting_started_examples(),
            ],
            capture_output=True,
            text=True,
            env=BARE_ENV,
            timeout=120,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert examples.returncode == 0, examples.stderr
    assert "This looks like aurora_ssl.testing's server" in examples.stdout  # the impostor
    assert proc.returncode == 0, err
    assert out == written  # what serve prints is what it writes
    assert port_is_free(int(env["AURORA_SSL_DEMO_PORT"]))
