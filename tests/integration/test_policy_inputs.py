"""Every input libpq reads is checked, and what libpq used is read back (issue 8, principles 2-5).

Each test makes a real attempt: against the local TLS server (checked by ``pg_stat_ssl`` and
the server log), or against a fake Unix-socket server that records every byte it receives,
for the promise that no password travels before TLS.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aurora_ssl
from aurora_ssl import Options, connection_params
from aurora_ssl._readback import effective_params, require_tls
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.testing import READER_HOST, AuroraLikeServer, TestPKI
from tests import drivers
from tests.drivers import connect_with
from tests.fix_servers import log_since


def server_says_ssl(connection: Any) -> bool:
    cursor = connection.cursor()
    cursor.execute("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()")
    row = cursor.fetchone()
    cursor.close()
    return bool(row[0])


# --- a fake server on a Unix socket: nothing may reach it -----------------------------------


class FakeSocketServer:
    """Listens where libpq looks for a local PostgreSQL (``DIR/.s.PGSQL.5432``) and keeps
    every byte any client sends, so a test can show that no startup packet (and so no
    password exchange) ever began there."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.received: list[bytes] = []
        self.connections = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(directory / ".s.PGSQL.5432"))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(1.0)
            try:
                data = conn.recv(65536)
                self.received.append(data)
                # Answer an SSLRequest with 'N' (no TLS), as a plaintext server would, and
                # read what a client sends next (its startup packet, then a password).
                if data[:8] == b"\x00\x00\x00\x08\x04\xd2\x16\x2f":
                    conn.sendall(b"N")
                    self.received.append(conn.recv(65536))
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture
def fake_socket_server() -> Iterator[FakeSocketServer]:
    # A short path: Unix socket paths are limited to ~107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="as-sock-", dir="/tmp"))
    server = FakeSocketServer(directory)
    yield server
    server.close()
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


@pytest.mark.driver("libpq")
def test_the_fake_socket_server_does_receive_an_unprotected_client(
    fake_socket_server: FakeSocketServer,
) -> None:
    """The control: without aurora-ssl, libpq does go to the socket and sends its packets."""
    dbapi = drivers.libpq_module()

    with pytest.raises(dbapi.OperationalError):
        dbapi.connect(
            host=str(fake_socket_server.directory), user="app", password="pw", connect_timeout=2
        )
    assert fake_socket_server.connections >= 1
    assert any(fake_socket_server.received)


@pytest.mark.parametrize(
    "how",
    ["host", "pghost-env", "dsn", "uri", "host-list", "service", "service-env"],
)
def test_no_byte_reaches_a_unix_socket(
    how: str,
    fake_socket_server: FakeSocketServer,
    bundle_options: Options,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
) -> None:
    socket_dir = str(fake_socket_server.directory)
    params: dict[str, Any] = {"user": "app", "password": "s3cret-pw", "connect_timeout": "2"}
    service = tmp_path / "pg_service.conf"
    service.write_text(f"[sock]\nhost={socket_dir}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    monkeypatch.delenv("PGHOST", raising=False)
    if how == "host":
        params["host"] = socket_dir
    elif how == "pghost-env":
        monkeypatch.setenv("PGHOST", socket_dir)
    elif how == "dsn":
        params["dsn"] = f"host={socket_dir}"
    elif how == "uri":
        params["dsn"] = f"postgresql://{socket_dir.replace('/', '%2F')}/app"
    elif how == "host-list":
        params["host"] = f"demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com,{socket_dir}"
    elif how == "service":
        params["service"] = "sock"
    elif how == "service-env":
        monkeypatch.setenv("PGSERVICE", "sock")
    with pytest.raises(InsecureConfigurationError, match="Unix socket"):
        connect_with(driver, connection_params(params, bundle_options, driver=driver))
    assert fake_socket_server.connections == 0
    assert fake_socket_server.received == []


@pytest.mark.driver("libpq")
def test_no_byte_reaches_a_unix_socket_through_sqlalchemy(
    fake_socket_server: FakeSocketServer, bundle_options: Options, pki: TestPKI
) -> None:
    drivername = drivers.libpq_drivername()
    url = f"{drivername}://app:pw@/app?host={fake_socket_server.directory}"
    with pytest.raises(InsecureConfigurationError, match="Unix socket"):
        aurora_ssl.create_engine(url, aurora_ssl_bundle=str(pki.bundle_path)).connect()
    assert fake_socket_server.connections == 0


# --- a key spelled with a blank, next to the real one -----------------------------------------


@pytest.mark.parametrize("key", ["host ", "host\t"])
def test_a_blank_spelled_host_key_never_reaches_a_unix_socket(
    key: str, fake_socket_server: FakeSocketServer, bundle_options: Options, driver: str
) -> None:
    """``{"host": <the endpoint>, "host ": <a socket directory>}``: both drivers write
    ``host=... host =/dir``, and libpq takes the later one, so the password goes to a socket."""
    attack = {
        "host": "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com",
        key: str(fake_socket_server.directory),
        "user": "app",
        "password": "s3cret-pw",
        "connect_timeout": "2",
    }
    if driver == "psycopg2":  # psycopg 3 resolves the first host itself, and fails here
        # The control: without aurora-ssl, libpq goes to the socket and sends its packets.
        with pytest.raises(Exception):  # noqa: B017, PT011 - the fake server answers nothing useful
            connect_with(driver, attack).close()
        assert fake_socket_server.connections >= 1
        fake_socket_server.connections, fake_socket_server.received = 0, []
    with pytest.raises(InsecureConfigurationError, match=repr(key).replace("\\", "\\\\")):
        connect_with(driver, connection_params(attack, bundle_options, driver=driver))
    assert fake_socket_server.connections == 0
    assert fake_socket_server.received == []


@pytest.mark.parametrize("key", ["sslmode ", "sslmode\n"])
def test_a_blank_spelled_sslmode_key_is_refused_before_the_server_sees_anything(
    key: str, logged_server: AuroraLikeServer, bundle_options: Options, pki: TestPKI, driver: str
) -> None:
    attack = {
        **logged_server.params(),
        "sslmode": "verify-full",
        "sslrootcert": str(pki.root_path),
        key: "disable",
        "connect_timeout": "5",
    }
    # The control: without aurora-ssl, libpq reads the later "sslmode =disable" and tries a
    # plaintext session, which this server (like RDS with rds.force_ssl) rejects.
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(Exception, match="no encryption"):
        connect_with(driver, attack).close()
    assert "no encryption" in log_since(logged_server, offset)
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(InsecureConfigurationError, match="neither a libpq keyword"):
        connect_with(driver, connection_params(attack, bundle_options, driver=driver))
    assert "connection received" not in log_since(logged_server, offset)


# --- service files ----------------------------------------------------------------------------


def write_service(path: Path, name: str, **values: str) -> None:
    lines = "".join(f"{key}={value}\n" for key, value in values.items())
    path.write_text(f"# a comment\n[other]\nsslmode=disable\n\n[{name}]\n{lines}")


def test_a_benign_service_supplies_the_destination_and_is_verified(
    tls_server: AuroraLikeServer,
    bundle_options: Options,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
) -> None:
    service = tmp_path / "pg_service.conf"
    write_service(
        service,
        "app",
        host=tls_server.host,
        hostaddr=tls_server.hostaddr,
        port=str(tls_server.port),
        dbname=tls_server.database,
        user=tls_server.user,
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    monkeypatch.setenv("PGSERVICE", "app")
    params = connection_params({"password": tls_server.password}, bundle_options, driver=driver)
    assert params["host"] == tls_server.host  # the service's destination, now explicit
    assert params["port"] == str(tls_server.port)
    connection = connect_with(driver, params)
    try:
        require_tls(connection, expected=params)
        assert server_says_ssl(connection)
    finally:
        connection.close()


@pytest.mark.driver("libpq")
@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("sslmode", "require", "sslmode=require in the service 'app'"),
        ("sslkeylogfile", "/tmp/keys.log", "sslkeylogfile.* in the service 'app'"),
        ("gssencmode", "prefer", "gssencmode=prefer in the service 'app'"),
        ("sslsni", "0", "sslsni=0 in the service 'app'"),
        ("ssl_min_protocol_version", "TLSv1", "ssl_min_protocol_version=TLSv1 in the service"),
        ("sslrootcert", "system", "sslrootcert=system in the service 'app'"),
    ],
)
def test_a_weak_service_is_refused_and_the_server_sees_nothing(
    key: str,
    value: str,
    words: str,
    logged_server: AuroraLikeServer,
    bundle_options: Options,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    driver = drivers.libpq_driver()
    service = tmp_path / "pg_service.conf"
    write_service(service, "app", **{key: value})
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(InsecureConfigurationError, match=words):
        connect_with(
            driver,
            connection_params(
                {**logged_server.params(), "service": "app"}, bundle_options, driver=driver
            ),
        )
    assert "connection received" not in log_since(logged_server, offset)
    # The control: the same server logs an attempt that is made.
    connect_with(
        driver, connection_params(logged_server.params(), bundle_options, driver=driver)
    ).close()
    assert "connection received" in log_since(logged_server, offset)


def test_an_unknown_service_is_refused_with_the_files_searched(
    bundle_options: Options, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "none.conf"))
    monkeypatch.delenv("PGSYSCONFDIR", raising=False)
    with pytest.raises(InsecureConfigurationError, match=r"'nosuch'.*none\.conf.*PGSYSCONFDIR"):
        connection_params({"host": "db.example.com", "service": "nosuch"}, bundle_options)


def test_a_malformed_service_file_is_refused_naming_the_line(
    bundle_options: Options, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = tmp_path / "pg_service.conf"
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    service.write_text("[a]\nhost=db.example.com\nno equals sign\n")
    with pytest.raises(InsecureConfigurationError, match=r"pg_service\.conf, line 3"):
        connection_params({"service": "a"}, bundle_options)
    service.write_text("[a]\nservice=b\n")
    with pytest.raises(InsecureConfigurationError, match="nested service"):
        connection_params({"service": "a"}, bundle_options)


def test_a_service_key_libpq_does_not_know_is_refused(
    bundle_options: Options, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = tmp_path / "pg_service.conf"
    service.write_text("[a]\nhost=db.example.com\nsslmode =disable\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    with pytest.raises(
        InsecureConfigurationError, match="sets 'sslmode ', which is no libpq keyword"
    ):
        connection_params({"service": "a"}, bundle_options)


def test_the_user_service_file_hides_the_system_one(
    bundle_options: Options, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq reads $PGSYSCONFDIR/pg_service.conf only if the user file lacks the service."""
    user, system = tmp_path / "user.conf", tmp_path / "pg_service.conf"
    user.write_text("[a]\nhost=from-user.example.com\n")
    system.write_text(
        "[a]\nhost=from-system.example.com\nsslmode=disable\n[b]\nhost=only-system.example.com\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(user))
    monkeypatch.setenv("PGSYSCONFDIR", str(tmp_path))
    assert connection_params({"service": "a"}, bundle_options)["host"] == "from-user.example.com"
    assert connection_params({"service": "b"}, bundle_options)["host"] == "only-system.example.com"
    # Without the user file, the system file's [a] is read, and its sslmode decision.
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "absent.conf"))
    with pytest.raises(InsecureConfigurationError, match=r"sslmode=disable in the service 'a'"):
        connection_params({"service": "a"}, bundle_options)


# --- nothing is left for the environment or a later service to fill --------------------------


def test_pghostaddr_is_an_input_and_passed_explicitly(
    tls_server: AuroraLikeServer,
    bundle_options: Options,
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
) -> None:
    monkeypatch.setenv("PGHOSTADDR", tls_server.hostaddr)
    given = {k: v for k, v in tls_server.params().items() if k != "hostaddr"}
    params = connection_params(given, bundle_options, driver=driver)
    assert params["hostaddr"] == tls_server.hostaddr
    connection = connect_with(driver, params)
    try:
        require_tls(connection, expected=params)
        assert server_says_ssl(connection)
    finally:
        connection.close()


@pytest.mark.driver("libpq")  # both bundle libpq >= 17 (psycopg2 17, psycopg 3 18)
def test_pgsslnegotiation_direct_cannot_break_an_old_server(
    tls_server: AuroraLikeServer, bundle_options: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL 15 does not speak direct TLS; libpq 17's PGSSLNEGOTIATION=direct would end
    in an unexplained EOF. The policy pins sslnegotiation=postgres (libpq >= 17 only)."""
    driver = drivers.libpq_driver()
    monkeypatch.setenv("PGSSLNEGOTIATION", "direct")
    params = connection_params(tls_server.params(), bundle_options, driver=driver)
    assert params["sslnegotiation"] == "postgres"
    connection = connect_with(driver, params)
    try:
        assert effective_params(connection)["sslnegotiation"] == "postgres"
        assert server_says_ssl(connection)
    finally:
        connection.close()


def test_a_service_appearing_after_the_policy_ran_can_fill_nothing(
    tls_server: AuroraLikeServer,
    bundle_options: Options,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PGSERVICE set after the parameters were built (a race, or another library) names a
    service with a key-log file and another address: every such key is already explicit."""
    pytest.importorskip("psycopg")
    params = connection_params(tls_server.params(), bundle_options, driver="psycopg")
    keylog = tmp_path / "keys.log"
    service = tmp_path / "pg_service.conf"
    write_service(service, "late", sslkeylogfile=str(keylog), sslmode="disable")
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    monkeypatch.setenv("PGSERVICE", "late")
    connection = connect_with("psycopg", params)
    try:
        require_tls(connection, expected=params)
        assert server_says_ssl(connection)
        assert effective_params(connection)["sslkeylogfile"] == ""
    finally:
        connection.close()
    assert not keylog.exists()


# --- read-back: a change after the policy is caught -----------------------------------------


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda p, pki: {**p, "sslrootcert": str(pki.root_path)}, "sslrootcert"),
        (lambda p, pki: {**p, "sslsni": "0"}, "sslsni"),
        (lambda p, pki: {**p, "ssl_min_protocol_version": "TLSv1.3"}, "ssl_min_protocol_version"),
        (lambda p, pki: {**p, "host": READER_HOST}, "host"),
    ],
    ids=["other-trust-file", "no-sni", "other-tls-floor", "other-host-in-the-certificate"],
)
def test_a_parameter_changed_after_the_policy_is_caught(
    change: Any,
    key: str,
    logged_server: AuroraLikeServer,
    bundle_options: Options,
    pki: TestPKI,
    driver: str,
) -> None:
    """The changed connection works (the server would accept it), but it is not what the
    policy set: read back at no I/O, closed before any statement."""
    params = connection_params(logged_server.params(), bundle_options, driver=driver)
    changed = change(params, pki)
    offset = logged_server.log_path.stat().st_size
    connection = connect_with(driver, changed)
    with pytest.raises(InsecureConfigurationError, match=key) as info:
        require_tls(connection, expected=params)
    assert logged_server.password not in str(info.value)
    assert bool(getattr(connection, "closed", False))
    log = log_since(logged_server, offset)
    assert "connection authorized" in log  # the attempt really happened
    assert "statement:" not in log


def test_effective_params_never_carry_the_password(
    tls_server: AuroraLikeServer, bundle_options: Options, driver: str
) -> None:
    params = connection_params(tls_server.params(), bundle_options, driver=driver)
    connection = connect_with(driver, params)
    try:
        effective = effective_params(connection)
        assert "password" not in effective
        assert tls_server.password not in repr(effective)
        assert effective["sslmode"] == "verify-full"
        assert effective["sslrootcert"] == params["sslrootcert"]
    finally:
        connection.close()


# --- values that weaken, wherever they appear ------------------------------------------------


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"sslsni": "0"}, "sslsni=0"),
        ({"ssl_min_protocol_version": ""}, "ssl_min_protocol_version=''"),
        ({"sslnegotiation": "requiredirect"}, "sslnegotiation=requiredirect"),
        ({"dbname": "dbname=app sslmode=disable"}, "holds a connection string"),
        ({"dbname": "postgresql://h/app?sslmode=disable"}, "holds a connection string"),
        ({"port": "abc"}, r"port=abc .*is not a port number"),
        ({"dsn": "port=99999"}, r"port=99999 .*is not a port number"),
    ],
)
def test_weakening_or_malformed_values_are_refused(
    params: dict[str, str], words: str, bundle_options: Options
) -> None:
    with pytest.raises(InsecureConfigurationError, match=words):
        connection_params({"host": "db.example.com", **params}, bundle_options)


def test_a_long_host_is_not_echoed_whole(bundle_options: Options) -> None:
    with pytest.raises(InsecureConfigurationError, match="No TCP host") as info:
        connection_params({"host": "/" + "x" * 100_000}, bundle_options)
    assert len(str(info.value)) < 1000
    assert "x" * 100 not in str(info.value)


def test_process_environment_is_not_changed_by_the_policy(bundle_options: Options) -> None:
    before = dict(os.environ)
    connection_params({"host": "db.example.com"}, bundle_options)
    assert dict(os.environ) == before
