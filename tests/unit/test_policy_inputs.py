"""Every input libpq reads is checked before a byte is sent (issue 8), shown without a server: a
fake server on a Unix socket records every byte it receives (for the promise that no password
travels before TLS), and service files and weakening values are refused with what to fix.

The inputs against the local TLS server, and the read-back of what libpq used:
tests/integration/test_policy_inputs.py.
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
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.testing import TestPKI
from tests import drivers
from tests.drivers import connect_with

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


# --- service files ----------------------------------------------------------------------------


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
