"""Downgrade attempts, each refused or proven harmless by a real connection.

Every source a weaker setting can come from is tried against real servers: the URL, a DSN
string, connect kwargs, Django OPTIONS, the libpq environment (PGSSLMODE, PGSSLROOTCERT,
PGSSLNEGOTIATION, PGGSSENCMODE, PGSSLMINPROTOCOLVERSION, PGSERVICE files),
``sslrootcert=system``, and empty or garbage bundle files. "Harmless" is never assumed: the
connection is made and the server is asked whether the session is encrypted, and the same
setting is tried against the impostor (interception) and plaintext servers, which must refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.errors import AuroraSSLError, BundleError, InsecureConfigurationError
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_servers import log_since
from tests.fix_sqlalchemy import DriverCalls

SYNC_DRIVERS = drivers.params("postgresql+psycopg2", "postgresql+psycopg")
REFUSED = (DBAPIError, AuroraSSLError)
WEAK_MODES = ["disable", "allow", "prefer", "require", "verify-ca"]


@pytest.fixture(params=SYNC_DRIVERS)
def drivername(request: pytest.FixtureRequest) -> str:
    """Each sync SQLAlchemy drivername in turn (``postgresql+psycopg2``, ``postgresql+psycopg``)."""
    return str(request.param)


def server_tls_of(engine: sqlalchemy.Engine) -> tuple[bool, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT ssl, version FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).one()
    return bool(row[0]), row[1]


def assert_verified(server: AuroraLikeServer, drivername: str, **kwargs: Any) -> None:
    """Connects to the good server with TLS (the server agrees)."""
    engine = aurora_ssl.create_engine(server.url(drivername), poolclass=NullPool, **kwargs)
    try:
        assert server_tls_of(engine)[0] is True
    finally:
        engine.dispose()


def connect_and_query(url: str, **kwargs: Any) -> None:
    engine = aurora_ssl.create_engine(url, poolclass=NullPool, **kwargs)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def assert_refused_at_connect(
    server: AuroraLikeServer, drivername: str, **kwargs: Any
) -> BaseException:
    """Refused before any query: at engine creation or at connect."""
    with pytest.raises(REFUSED) as info:
        connect_and_query(server.url(drivername), **kwargs)
    return info.value


# --- explicit settings: URL, DSN, kwargs --------------------------------------------------


@pytest.mark.parametrize("mode", WEAK_MODES)
def test_weak_sslmode_in_the_url_is_refused(
    tls_server: AuroraLikeServer, bundle_env: Path, drivername: str, mode: str
) -> None:
    with pytest.raises(InsecureConfigurationError, match=f"sslmode={mode} in the URL"):
        aurora_ssl.create_engine(f"{tls_server.url(drivername)}&sslmode={mode}")


@pytest.mark.parametrize("mode", WEAK_MODES)
@pytest.mark.parametrize(
    "connect_args",
    [
        lambda m: {"sslmode": m},
        lambda m: {"dsn": f"sslmode={m}"},
        lambda m: {"dsn": f"postgresql:///?sslmode={m}"},
        lambda m: {"dsn": f"application_name=x sslmode='{m}'"},
    ],
    ids=["kwarg", "dsn-keywords", "dsn-uri", "dsn-quoted"],
)
def test_weak_sslmode_in_connect_args_or_dsn_is_refused(
    tls_server: AuroraLikeServer, bundle_env: Path, drivername: str, mode: str, connect_args: Any
) -> None:
    with pytest.raises(InsecureConfigurationError, match=f"sslmode={mode}"):
        aurora_ssl.create_engine(tls_server.url(drivername), connect_args=connect_args(mode))


@pytest.mark.parametrize("mode", WEAK_MODES)
@pytest.mark.parametrize("first", [True, False], ids=["listener-first", "listener-last"])
def test_weak_sslmode_added_per_connection_is_refused_at_connect(
    no_tls_server: AuroraLikeServer, bundle_env: Path, drivername: str, mode: str, first: bool
) -> None:
    """A weaker mode that slips in after engine creation (another do_connect listener, e.g. a
    token-refresh hook) is refused before the attempt, whatever the listeners' order: the
    final parameters are checked at the dialect's connect, after every listener."""
    engine = aurora_ssl.create_engine(no_tls_server.url(drivername), poolclass=NullPool)
    statements: list[str] = []
    sqlalchemy.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def sneak_in(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["sslmode"] = mode

    sqlalchemy.event.listen(engine, "do_connect", sneak_in, insert=first)
    with pytest.raises(InsecureConfigurationError, match=f"sslmode={mode} in the connect"):
        engine.connect()
    engine.dispose()
    assert statements == []


def test_raw_connection_params_with_weak_dsn_are_refused(
    tls_server: AuroraLikeServer, bundle_env: Path
) -> None:
    params = tls_server.params()
    for dsn in ("sslmode=disable", "sslmode=require", f"host={params['host']} sslmode=prefer"):
        with pytest.raises(InsecureConfigurationError, match="in dsn in the connection param"):
            aurora_ssl.connection_params({**params, "dsn": dsn})


@pytest.mark.parametrize(
    ("suffix", "connect_args", "message"),
    [
        ("&sslrootcert=system", {}, "sslrootcert=system"),
        ("", {"sslrootcert": "system"}, "sslrootcert=system"),
        ("", {"sslrootcert": ""}, "sslrootcert='' in the URL and connect_args"),
        ("&gssencmode=prefer", {}, "gssencmode=prefer"),
        ("", {"gssencmode": "require"}, "gssencmode=require"),
        ("&ssl_min_protocol_version=TLSv1", {}, "ssl_min_protocol_version=TLSv1"),
    ],
)
def test_other_weakenings_are_refused(
    tls_server: AuroraLikeServer,
    bundle_env: Path,
    drivername: str,
    suffix: str,
    connect_args: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(InsecureConfigurationError, match=message):
        aurora_ssl.create_engine(tls_server.url(drivername) + suffix, connect_args=connect_args)


def test_nul_character_cannot_truncate_the_parameters(
    interception_server: AuroraLikeServer, bundle_env: Path
) -> None:
    """psycopg 3 joins parameters into one string and libpq stops at a NUL: a NUL in an
    earlier value used to drop sslmode/sslrootcert, leaving libpq's default (prefer), which
    happily talks to an impostor. Now refused before connecting."""
    pytest.importorskip("psycopg")
    url = interception_server.url("postgresql+psycopg")
    with pytest.raises(InsecureConfigurationError, match="NUL"):
        connect_and_query(url, connect_args={"application_name": "a\x00b"})


# --- the libpq environment ----------------------------------------------------------------


@pytest.mark.parametrize("mode", WEAK_MODES)
def test_pgsslmode_cannot_downgrade(
    tls_server: AuroraLikeServer,
    no_tls_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    bundle_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
    mode: str,
) -> None:
    monkeypatch.setenv("PGSSLMODE", mode)
    assert_verified(tls_server, drivername)
    assert_refused_at_connect(no_tls_server, drivername)
    assert_refused_at_connect(interception_server, drivername)


def test_pgsslrootcert_pointing_at_the_impostor_ca_changes_nothing(
    tls_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    pki: TestPKI,
    bundle_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
) -> None:
    monkeypatch.setenv("PGSSLROOTCERT", str(pki.foreign_root_path))
    assert_verified(tls_server, drivername)  # our file, not PGSSLROOTCERT, is used
    assert_refused_at_connect(interception_server, drivername)


@pytest.mark.parametrize("value", ["require", "prefer"])
def test_pggssencmode_cannot_replace_tls(
    tls_server: AuroraLikeServer,
    no_tls_server: AuroraLikeServer,
    bundle_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
    value: str,
) -> None:
    # "require" would fail outright without Kerberos if it were obeyed; the explicit
    # gssencmode=disable wins, so the connection is plain verified TLS.
    monkeypatch.setenv("PGGSSENCMODE", value)
    assert_verified(tls_server, drivername)
    assert_refused_at_connect(no_tls_server, drivername)


@pytest.mark.parametrize("value", ["postgres", "direct"])
def test_pgsslnegotiation_is_harmless(
    tls_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    no_tls_server: AuroraLikeServer,
    bundle_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
    value: str,
) -> None:
    """libpq >= 17 knows PGSSLNEGOTIATION. "direct" starts TLS without the SSLRequest; the
    PostgreSQL 15 test server does not speak it, so the connection fails, which is safe.
    Either way no connection is ever made without verified TLS."""
    monkeypatch.setenv("PGSSLNEGOTIATION", value)
    engine = aurora_ssl.create_engine(tls_server.url(drivername), poolclass=NullPool)
    try:
        assert server_tls_of(engine)[0] is True
    except REFUSED:
        assert value == "direct"  # refused, never downgraded
    finally:
        engine.dispose()
    assert_refused_at_connect(interception_server, drivername)
    assert_refused_at_connect(no_tls_server, drivername)


def test_pgsslminprotocolversion_cannot_lower_the_minimum(
    tls_server: AuroraLikeServer,
    bundle_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
    driver_calls: Callable[[Any], DriverCalls],
) -> None:
    monkeypatch.setenv("PGSSLMINPROTOCOLVERSION", "TLSv1")
    engine = aurora_ssl.create_engine(tls_server.url(drivername), poolclass=NullPool)
    received = driver_calls(engine)
    ssl, version = server_tls_of(engine)
    engine.dispose()
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")
    assert received.params()["ssl_min_protocol_version"] == "TLSv1.2"  # beats the environment


@pytest.fixture
def service_file(tmp_path: Path, pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> str:
    """A pg_service.conf that asks for no TLS and the impostor's CA."""
    path = tmp_path / "pg_service.conf"
    path.write_text(
        "[weak]\nsslmode=disable\ngssencmode=prefer\n"
        f"sslrootcert={pki.foreign_root_path}\nssl_min_protocol_version=TLSv1\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(path))
    return "weak"


def test_a_weak_service_file_is_refused_before_any_connection(
    logged_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    bundle_env: Path,
    service_file: str,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
) -> None:
    """A service ranks above the environment in libpq, so it is checked like any other input:
    named in the connection or through PGSERVICE, its sslmode=disable is refused, and the
    servers never see an attempt."""
    offset = logged_server.log_path.stat().st_size
    for server in (logged_server, interception_server):
        error = assert_refused_at_connect(
            server, drivername, connect_args={"service": service_file}
        )
        assert "the service 'weak'" in str(error)
    monkeypatch.setenv("PGSERVICE", service_file)
    for server in (logged_server, interception_server):
        assert "sslmode=disable in the service 'weak'" in str(
            assert_refused_at_connect(server, drivername)
        )
    assert "connection received" not in log_since(logged_server, offset)
    monkeypatch.delenv("PGSERVICE")
    assert_verified(logged_server, drivername)  # the control: an attempt made is logged
    assert "connection received" in log_since(logged_server, offset)


# --- bundle files ---------------------------------------------------------------------------


@pytest.fixture(params=["empty", "garbage", "truncated", "leaf-only", "missing"])
def bad_bundle(request: pytest.FixtureRequest, tmp_path: Path, pki: TestPKI) -> Path:
    path = tmp_path / f"{request.param}.pem"
    real = Path(pki.bundle_path).read_bytes()
    if request.param == "empty":
        path.write_bytes(b"")
    elif request.param == "garbage":
        path.write_bytes(b"\x00\xffnot a certificate\n" * 50)
    elif request.param == "truncated":
        path.write_bytes(real[: len(real) // 2 + 17])
    elif request.param == "leaf-only":
        from tests.certs import make_cert_pem

        path.write_bytes(make_cert_pem("not a CA", ca=False))
    return path


def test_bad_bundle_source_is_refused_before_connecting(
    tls_server: AuroraLikeServer,
    bad_bundle: Path,
    fresh_caches: None,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
) -> None:
    if bad_bundle.name.startswith("truncated"):
        # A bundle cut in the middle of a certificate still holds complete certificates
        # before the cut; either it is refused, or the trimmed set lacks the test root and
        # the good server is refused. Never is verification skipped.
        monkeypatch.setenv("AURORA_SSL_BUNDLE", str(bad_bundle))
        assert_refused_at_connect(tls_server, drivername)
        return
    with pytest.raises(BundleError):
        aurora_ssl.create_engine(tls_server.url(drivername), aurora_ssl_bundle=str(bad_bundle))
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(bad_bundle))
    with pytest.raises(BundleError):
        aurora_ssl.create_engine(tls_server.url(drivername))


def test_bad_user_root_file_is_refused_before_connecting(
    tls_server: AuroraLikeServer, bad_bundle: Path, bundle_env: Path, drivername: str
) -> None:
    if bad_bundle.name.startswith(("truncated", "leaf-only")):
        # PEM certificates, used as given (aurora-ssl does not parse a user's sslrootcert):
        # the test root is not among them, so libpq refuses the server. Never unverified.
        assert_refused_at_connect(
            tls_server, drivername, connect_args={"sslrootcert": str(bad_bundle)}
        )
        return
    with pytest.raises(BundleError):
        aurora_ssl.create_engine(tls_server.url(drivername) + f"&sslrootcert={bad_bundle}")


def test_bundle_replaced_by_garbage_after_start_cannot_weaken(
    tls_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    pki: TestPKI,
    tmp_path: Path,
    fresh_caches: None,
    monkeypatch: pytest.MonkeyPatch,
    drivername: str,
) -> None:
    """Trimmed roots are materialised once; the source going bad later changes nothing for
    running engines (their file holds the same roots). A new engine in the same process may
    reuse that selection or refuse the garbage; either way the impostor is refused."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(pki.bundle_path).read_bytes())
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(bundle))
    engine = aurora_ssl.create_engine(tls_server.url(drivername), poolclass=NullPool)
    assert server_tls_of(engine)[0] is True
    bundle.write_bytes(b"garbage")
    assert server_tls_of(engine)[0] is True
    engine.dispose()
    with pytest.raises(REFUSED):
        connect_and_query(interception_server.url(drivername))


def test_a_deleted_trust_file_is_rewritten_with_the_right_roots(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    bundle_env: Path,
    drivername: str,
    driver_calls: Callable[[Any], DriverCalls],
) -> None:
    engine = aurora_ssl.create_engine(tls_server.url(drivername), poolclass=NullPool)
    received = driver_calls(engine)
    assert server_tls_of(engine)[0] is True
    Path(received.params(0)["sslrootcert"]).unlink()  # a temp cleaner ran
    assert server_tls_of(engine)[0] is True
    assert Path(received.params(1)["sslrootcert"]).read_bytes() == pki.root_path.read_bytes()
    engine.dispose()
