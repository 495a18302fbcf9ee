"""SQLAlchemy integration against real PostgreSQL servers over real TLS.

Every "refused" test really connects and is refused by libpq (or by our TLS assertion);
every "works" test asks the server whether the session is encrypted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from ssl import SSLError
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.errors import (
    AuroraSSLError,
    InsecureConfigurationError,
    TLSError,
    TLSNotInUseError,
)
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers

SYNC_DRIVERS = drivers.params("postgresql+psycopg2", "postgresql+psycopg")
ASYNC_DRIVERS = drivers.params("postgresql+asyncpg", "postgresql+psycopg")


@pytest.fixture
def bundle_env(pki: TestPKI, monkeypatch: pytest.MonkeyPatch, fresh_caches: None) -> Path:
    """Make the test root part of "the RDS bundle", as if test-region-1 were a real region."""
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(pki.bundle_path))
    return pki.bundle_path


def _server_says_tls(engine: sqlalchemy.Engine) -> tuple[bool, str]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).one()
    return bool(row[0]), str(row[1])


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_create_engine_connects_with_verified_tls(
    tls_server: AuroraLikeServer, bundle_env: Path, driver: str
) -> None:
    engine = aurora_ssl.create_engine(tls_server.url(driver), poolclass=NullPool)
    used: list[dict[str, Any]] = []
    event.listen(engine, "do_connect", lambda d, r, a, kw: used.append(dict(kw)))
    ssl, version = _server_says_tls(engine)
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")
    assert used[0]["sslmode"] == "verify-full"
    # Only the test region's root is trusted, not the 102 + 1 of the bundle.
    assert Path(used[0]["sslrootcert"]).read_bytes() == tls_server.pki.root_path.read_bytes()
    engine.dispose()


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_url_plugin_gives_the_same_protection(
    tls_server: AuroraLikeServer, pki: TestPKI, driver: str, fresh_caches: None
) -> None:
    # The bundle comes from the URL itself here: tools that take only a URL can say it all.
    url = f"{tls_server.url(driver)}&plugin=aurora_ssl&aurora_ssl_bundle={pki.bundle_path}"
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    seen: list[dict[str, Any]] = []
    event.listen(engine, "do_connect", lambda d, r, a, kw: seen.append(dict(kw)))
    assert _server_says_tls(engine)[0] is True
    # Our query keys stay in engine.url (derived engines keep the protection) but never
    # reach the driver.
    assert engine.url.query["plugin"] == "aurora_ssl"
    assert engine.url.query["aurora_ssl_bundle"] == str(pki.bundle_path)
    assert not [k for k in seen[0] if k == "plugin" or k.startswith("aurora_ssl")]
    engine.dispose()
    with pytest.raises(InsecureConfigurationError, match="sslmode=require in the URL query"):
        sqlalchemy.create_engine(f"{url}&sslmode=require")


@pytest.mark.driver("libpq")
def test_unrelated_kwargs_and_query_keys_pass_through(
    tls_server: AuroraLikeServer, bundle_env: Path
) -> None:
    engine = aurora_ssl.create_engine(
        tls_server.url() + "&application_name=aurora-ssl-test",
        pool_size=3,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(text("SHOW application_name")).scalar() == "aurora-ssl-test"
    engine.dispose()


@pytest.mark.parametrize("driver", ASYNC_DRIVERS)
def test_create_async_engine_connects_with_verified_tls(
    tls_server: AuroraLikeServer, bundle_env: Path, driver: str
) -> None:
    async def run() -> tuple[Any, ...]:
        engine = aurora_ssl.create_async_engine(tls_server.url(driver), poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(
                    text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                )
                return tuple(result.one())
        finally:
            await engine.dispose()

    ssl, version = asyncio.run(run())
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("scenario_fixture", "libpq_words"),
    [
        ("wrong_host_server", "does not match host name"),
        ("interception_server", "certificate verify failed|invalid padding|bad signature"),
        ("expired_server", "expired"),
        ("no_tls_server", "does not support SSL"),
    ],
)
@pytest.mark.parametrize("driver", [*SYNC_DRIVERS, *drivers.params("postgresql+asyncpg")])
def test_bad_servers_are_refused(
    request: pytest.FixtureRequest,
    bundle_env: Path,
    scenario_fixture: str,
    libpq_words: str,
    driver: str,
) -> None:
    server: AuroraLikeServer = request.getfixturevalue(scenario_fixture)
    if driver.endswith("asyncpg"):

        async def run() -> None:
            engine = aurora_ssl.create_async_engine(server.url(driver), poolclass=NullPool)
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            finally:
                await engine.dispose()

        # Translated like libpq's failures (tests/test_sqlalchemy_entry_points.py has the
        # class per scenario); the raw asyncpg/ssl error is kept as the cause.
        with pytest.raises(TLSError) as info:
            asyncio.run(run())
        assert isinstance(info.value.__cause__, (SSLError, ConnectionError))
    else:
        engine = aurora_ssl.create_engine(server.url(driver), poolclass=NullPool)
        with pytest.raises((OperationalError, AuroraSSLError)) as info:
            engine.connect()
        chain = _chain_text(info.value)
        assert pytest.importorskip("re").search(libpq_words, chain), chain
    assert server.password not in _chain_text(info.value)


def _chain_text(exc: BaseException | None) -> str:
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_pgsslmode_disable_in_environment_changes_nothing(
    tls_server: AuroraLikeServer,
    no_tls_server: AuroraLikeServer,
    bundle_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
) -> None:
    monkeypatch.setenv("PGSSLMODE", "disable")
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_server.pki.foreign_root_path))
    monkeypatch.setenv("PGGSSENCMODE", "prefer")
    engine = aurora_ssl.create_engine(tls_server.url(driver), poolclass=NullPool)
    assert _server_says_tls(engine)[0] is True
    plain = aurora_ssl.create_engine(no_tls_server.url(driver), poolclass=NullPool)
    with pytest.raises((OperationalError, AuroraSSLError)):
        plain.connect()


@pytest.mark.driver("libpq")
@pytest.mark.parametrize(
    ("url_suffix", "kwargs", "where"),
    [
        ("&sslmode=disable", {}, "the URL query"),
        ("&sslmode=prefer", {}, "the URL query"),
        ("", {"connect_args": {"sslmode": "require"}}, "connect_args"),
        ("", {"connect_args": {"dsn": "sslmode=allow"}}, "the DSN string in connect_args"),
        ("&sslrootcert=system", {}, "the URL query"),
    ],
)
def test_weaker_settings_are_refused_at_engine_creation(
    tls_server: AuroraLikeServer,
    bundle_env: Path,
    url_suffix: str,
    kwargs: dict[str, Any],
    where: str,
) -> None:
    with pytest.raises(InsecureConfigurationError) as info:
        aurora_ssl.create_engine(tls_server.url() + url_suffix, **kwargs)
    assert where in str(info.value)
    assert tls_server.password not in str(info.value)


@pytest.mark.driver("asyncpg")
@pytest.mark.parametrize("ssl_value", ["disable", "prefer", "require"])
def test_asyncpg_weaker_ssl_is_refused(
    tls_server: AuroraLikeServer, bundle_env: Path, ssl_value: str
) -> None:
    with pytest.raises(InsecureConfigurationError, match=f"ssl={ssl_value}"):
        aurora_ssl.create_async_engine(tls_server.url("postgresql+asyncpg") + f"&ssl={ssl_value}")


def test_unsupported_driver_is_refused(bundle_env: Path) -> None:
    # pg8000 is supported since issue 11 (tests/test_sqlalchemy_pg8000.py); psycopg2cffi
    # is not, and the message lists what is.
    with pytest.raises(InsecureConfigurationError, match="psycopg2cffi cannot be made") as info:
        aurora_ssl.create_engine("postgresql+psycopg2cffi://u@db.example.com/x")
    assert "postgresql+pg8000" in str(info.value)


@pytest.fixture
def sabotaged_engine(
    no_tls_server: AuroraLikeServer, bundle_env: Path
) -> Iterator[sqlalchemy.Engine]:
    """An engine whose parameters are weakened *after* our injection, by a later listener."""
    engine = aurora_ssl.create_engine(no_tls_server.url(), poolclass=NullPool)

    @event.listens_for(engine, "do_connect")
    def downgrade(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["sslmode"] = "disable"

    yield engine
    engine.dispose()


@pytest.mark.driver("libpq")
def test_connection_without_tls_is_closed_before_any_query(
    sabotaged_engine: sqlalchemy.Engine,
) -> None:
    statements: list[str] = []
    event.listen(sabotaged_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with pytest.raises(TLSNotInUseError):
        sabotaged_engine.connect()
    assert statements == []  # not even the dialect's first-connect queries ran


@pytest.mark.driver("libpq")
def test_insecure_opt_out_is_loud_and_local_only(
    no_tls_server: AuroraLikeServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="aurora_ssl"):
        engine = aurora_ssl.create_engine(
            no_tls_server.url().replace(no_tls_server.host, "localhost") + "&sslmode=disable",
            aurora_ssl_insecure_local_dev=True,
            poolclass=NullPool,
        )
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    assert "INSECURE" in caplog.text
    assert no_tls_server.password not in caplog.text
    with pytest.raises(InsecureConfigurationError, match="AWS endpoint"):
        aurora_ssl.create_engine(no_tls_server.url(), aurora_ssl_insecure_local_dev=True)


@pytest.mark.driver("libpq")
def test_tls_server_name_verifies_the_rds_name_through_another_name(
    tls_server: AuroraLikeServer, bundle_env: Path
) -> None:
    # "localhost" stands for a CNAME: verify-full on it would fail; naming the RDS endpoint
    # makes libpq check that name while connecting to localhost's address.
    url = tls_server.url().replace(tls_server.host, "localhost").split("?")[0]
    engine = aurora_ssl.create_engine(
        url, aurora_ssl_tls_server_name=tls_server.host, poolclass=NullPool
    )
    assert _server_says_tls(engine)[0] is True
    engine.dispose()
    without = aurora_ssl.create_engine(url, poolclass=NullPool)
    with pytest.raises((OperationalError, AuroraSSLError)):
        without.connect()


@pytest.mark.driver("asyncpg")
def test_tls_server_name_with_asyncpg(tls_server: AuroraLikeServer, bundle_env: Path) -> None:
    url = tls_server.url("postgresql+asyncpg").replace(tls_server.host, "localhost").split("?")[0]

    async def run() -> Any:
        engine = aurora_ssl.create_async_engine(url, aurora_ssl_tls_server_name=tls_server.host)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT ssl_is_used()"))).scalar()
        finally:
            await engine.dispose()

    assert asyncio.run(run()) is True


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, aurora_ssl; heavy = [m for m in ('sqlalchemy', 'django', 'cryptography',"
        " 'psycopg2', 'psycopg', 'asyncpg') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_later_hook_weakening_sslmode_is_caught_before_any_query(
    interception_server: AuroraLikeServer, bundle_env: Path, driver: str
) -> None:
    # A hook after ours turns verification off: libpq happily encrypts to the impostor.
    # The effective sslmode is read back from libpq (no round trip) and the connection closed.
    engine = aurora_ssl.create_engine(interception_server.url(driver), poolclass=NullPool)

    @event.listens_for(engine, "do_connect")
    def weaken(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["sslmode"] = "require"
        cparams.pop("sslrootcert", None)

    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with pytest.raises(InsecureConfigurationError, match="sslmode=require, not verify-full"):
        engine.connect()
    assert statements == []
    engine.dispose()
