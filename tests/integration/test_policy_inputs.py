"""Every input libpq reads is checked, and what libpq used is read back (issue 8, principles 2-5).

Each test makes a real attempt against the local TLS server, checked by ``pg_stat_ssl`` and the
server log. The attempts against a fake Unix-socket server that records every byte it receives,
and the refusals that need no server: tests/unit/test_policy_inputs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


# --- a key spelled with a blank, next to the real one -----------------------------------------


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
        (  # libpq 18 knows the keyword; an older libpq (psycopg2-binary's) does not
            "sslkeylogfile",
            "/tmp/keys.log",
            "sslkeylogfile.* in the service 'app'|'app' .* sets 'sslkeylogfile', which is no libpq",
        ),
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
