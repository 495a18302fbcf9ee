"""pg8000 gets the asyncpg treatment (issue 11, driver parity): our SSLContext, strict keywords.

Decision by what the servers saw: ``pg_stat_ssl`` for "verified"; for refusals, the log of
servers started with ``log_connections`` (no connection authorised, no statement) or, for
refusals at engine creation, not even a connection received.
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.credentials import CredentialTarget
from aurora_ssl.errors import (
    AuroraSSLError,
    HostnameMismatchError,
    InsecureConfigurationError,
    ServerTLSUnavailableError,
    UntrustedCertificateError,
)
from aurora_ssl.sqlalchemy import is_protected, on_verified
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests.fix_credentials import drop_role, make_role, refused_logins
from tests.fix_sqlalchemy import Logged

PG8000 = "postgresql+pg8000"
SSL_ROW = text(
    "SELECT ssl, version, current_setting('application_name') "
    "FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()"
)


def url(server: AuroraLikeServer, extra: str = "") -> str:
    return server.url(PG8000) + f"&aurora_ssl_bundle={server.pki.bundle_path}{extra}"


def test_pg8000_connects_verified(logged_good: Logged) -> None:
    engine = aurora_ssl.create_engine(
        url(logged_good.server, "&application_name=from-url&connect_timeout=5&sslmode=verify-full"),
        poolclass=NullPool,
    )
    seen: list[Any] = []
    on_verified(engine, seen.append)
    with engine.connect() as conn:
        row = conn.execute(SSL_ROW).one()
        usock = conn.connection.driver_connection._usock  # type: ignore[union-attr]
    assert tuple(row) == (True, "TLSv1.3", "from-url")
    assert is_protected(engine)
    # Our context: the selected roots only, host name checks, TLS >= 1.2.
    assert usock.context.verify_mode == ssl.CERT_REQUIRED
    assert usock.context.check_hostname is True
    assert usock.context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert usock.server_hostname == logged_good.server.host
    assert len(usock.context.get_ca_certs()) == 1
    (facts,) = seen
    assert (facts.driver, facts.trust_scope, facts.tls.protocol) == (
        "pg8000",
        "region:test-region-1",
        "TLSv1.3",
    )


def test_pg8000_refuses_the_impostor(logged_impostor: Logged, pki: TestPKI) -> None:
    logged_impostor.mark()
    engine = aurora_ssl.create_engine(url(logged_impostor.server), poolclass=NullPool)
    with pytest.raises(UntrustedCertificateError) as info:
        engine.connect()
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert "(pg8000: " in str(info.value)
    logged_impostor.assert_nothing_authorised()


@pytest.mark.parametrize(
    ("fixture", "error"),
    [("no_tls_server", ServerTLSUnavailableError), ("wrong_host_server", HostnameMismatchError)],
)
def test_pg8000_failures_are_translated(
    request: pytest.FixtureRequest, fixture: str, error: type[AuroraSSLError]
) -> None:
    server: AuroraLikeServer = request.getfixturevalue(fixture)
    with pytest.raises(error) as info:
        aurora_ssl.create_engine(url(server), poolclass=NullPool).connect()
    assert server.password not in str(info.value)
    assert "(pg8000: " in str(info.value)


def test_control_pg8000_alone_talks_to_the_impostor_and_without_tls(
    logged_impostor: Logged, no_tls_server: AuroraLikeServer
) -> None:
    # What the refusals above prevent: pg8000's own ssl_context=True verifies nothing.
    logged_impostor.mark()
    plain = sqlalchemy.create_engine(
        logged_impostor.server.url(PG8000)
        .split("?")[0]
        .replace(logged_impostor.server.host, logged_impostor.server.hostaddr),
        connect_args={"ssl_context": True},
        poolclass=NullPool,
    )
    with plain.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert "connection authorized" in logged_impostor.since()


@pytest.mark.parametrize(
    ("suffix", "kwargs", "match"),
    [
        ("&sslmode=require", {}, "sslmode=require"),
        ("&ssl_context=false", {}, "ssl_context=false"),
        ("&sslrootcert=system", {}, "sslrootcert=system"),
        ("&ssl_min_protocol_version=TLSv1.1", {}, "ssl_min_protocol_version=TLSv1.1"),
        ("&sslsni=0", {}, "sslsni=0"),
        ("&sslnegotiation=direct", {}, "pg8000 always sends the SSLRequest"),
        ("&sslcrl=/tmp/crl.pem", {}, "sslcrl"),
        ("", {"connect_args": {"ssl_context": ssl.create_default_context()}}, "SSLContext"),
        ("", {"connect_args": {"unix_sock": "/tmp/.s.PGSQL.5432"}}, "unix_sock"),
        ("", {"connect_args": {"ssl_context": False}}, "ssl_context=False"),
    ],
)
def test_pg8000_weakening_settings_are_refused(
    logged_good: Logged, suffix: str, kwargs: dict[str, Any], match: str
) -> None:
    logged_good.mark()
    with pytest.raises(InsecureConfigurationError, match=match):
        aurora_ssl.create_engine(url(logged_good.server, suffix), **kwargs)
    logged_good.assert_nothing_received()


def test_pg8000_context_swapped_by_a_later_hook_never_connects(logged_impostor: Logged) -> None:
    engine = aurora_ssl.create_engine(url(logged_impostor.server), poolclass=NullPool)

    @event.listens_for(engine, "do_connect")
    def swap(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        loose = ssl.create_default_context()
        loose.check_hostname = False
        loose.verify_mode = ssl.CERT_NONE
        cparams["ssl_context"] = loose

    logged_impostor.mark()
    with pytest.raises(InsecureConfigurationError, match="SSLContext in the connect parameters"):
        engine.connect()
    logged_impostor.assert_nothing_received()


def test_pg8000_with_a_password_provider_retries_once(logged_good: Logged) -> None:
    server = logged_good.server
    role = make_role(server, "first")
    try:
        passwords = iter(["stale", "first"])
        calls: list[CredentialTarget] = []

        class Rotating:
            def password(self, target: CredentialTarget) -> str:
                calls.append(target)
                return next(passwords)

            async def password_async(self, target: CredentialTarget) -> str:
                return self.password(target)

            def invalidate(self, target: CredentialTarget) -> None:
                pass

        engine = aurora_ssl.create_engine(
            server.url(PG8000).replace(f"{server.user}:{server.password}", role)
            + f"&aurora_ssl_bundle={server.pki.bundle_path}",
            poolclass=NullPool,
            aurora_ssl_password_provider=Rotating(),
        )
        before = refused_logins(server, role)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role
        assert refused_logins(server, role) - before == 1
        assert calls == [CredentialTarget(server.host, server.port, role)] * 2
    finally:
        drop_role(server, role)


@pytest.mark.parametrize("ours", [True, False], ids=["our-context", "another-context"])
def test_pg8000_read_back_takes_only_our_context(logged_good: Logged, ours: bool) -> None:
    """The second net behind the decision: a connection the driver made with any other
    SSLContext than ours (one that verifies, too) is closed before any statement, logged as
    refused; ours passes."""
    import pg8000.dbapi

    from aurora_ssl._connect import verify
    from aurora_ssl._policy import Policy, _context

    server = logged_good.server
    params = {"host": server.host, "hostaddr": server.hostaddr, "port": server.port}
    params.update(user=server.user, database=server.database)
    target = Policy(aurora_ssl.Options(bundle=str(server.pki.bundle_path))).decide_socket(
        params, "the test", driver="pg8000"
    )
    # Another context that verifies the same roots and name, as strictly (TLS 1.3 even).
    other = _context(target.trust.path, server.host, "tlsv1.3", None, None, None)
    context = target.context if ours else other
    assert other is not target.context
    logged_good.mark()
    connection = pg8000.dbapi.connect(
        **{**target.kwargs, "ssl_context": context}, password=server.password
    )
    logged: list[dict[str, Any]] = []
    if ours:
        assert verify(connection, target, lambda made, **outcome: logged.append(outcome)).in_use
        connection.close()
        assert "error" not in logged[0]
        return
    with pytest.raises(InsecureConfigurationError, match="another SSLContext"):
        verify(connection, target, lambda made, **outcome: logged.append(outcome))
    assert isinstance(logged[0]["error"], InsecureConfigurationError)
    with pytest.raises(pg8000.dbapi.InterfaceError):
        connection.cursor().execute("SELECT 1")
    log = logged_good.since()
    assert "connection authorized" in log  # the connection was really made
    assert "statement:" not in log
