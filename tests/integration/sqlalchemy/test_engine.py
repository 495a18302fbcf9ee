"""SQLAlchemy integration against real PostgreSQL servers over real TLS.

Every "refused" test really connects and is refused by libpq, or is refused by aurora-ssl
before any byte reaches the server (checked by the server's log); every "works" test asks the
server whether the session is encrypted. What the driver receives is recorded at the driver's
own ``connect`` (``driver_calls``), after every ``do_connect`` listener and aurora-ssl's
decision. The plugin's refusals that need no server: tests/unit/sqlalchemy/.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from ssl import SSLError
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError, TLSError, TLSNotInUseError
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_servers import downgrade
from tests.fix_sqlalchemy import DriverCalls, Logged

SYNC_DRIVERS = drivers.params("postgresql+psycopg2", "postgresql+psycopg")
ASYNC_DRIVERS = drivers.params("postgresql+asyncpg", "postgresql+psycopg")


def _server_says_tls(engine: sqlalchemy.Engine) -> tuple[bool, str]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).one()
    return bool(row[0]), str(row[1])


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_create_engine_connects_with_verified_tls(
    tls_server: AuroraLikeServer,
    bundle_env: Path,
    driver: str,
    driver_calls: Callable[[Any], DriverCalls],
) -> None:
    engine = aurora_ssl.create_engine(tls_server.url(driver), poolclass=NullPool)
    received = driver_calls(engine)
    ssl, version = _server_says_tls(engine)
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")
    # One connection string, holding every pinned key.
    ((args, kwargs),) = received.calls
    assert len(args) == 1
    assert "sslmode" not in kwargs
    used = received.params()
    assert (used["sslmode"], used["gssencmode"], used["sslsni"]) == ("verify-full", "disable", "1")
    # Only the test region's root is trusted, not the 102 + 1 of the bundle.
    assert Path(used["sslrootcert"]).read_bytes() == tls_server.pki.root_path.read_bytes()
    assert tls_server.password in used["password"]  # from the URL, in the string, never logged
    engine.dispose()


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_url_plugin_gives_the_same_protection(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    driver: str,
    fresh_caches: None,
    driver_calls: Callable[[Any], DriverCalls],
) -> None:
    # The bundle comes from the URL itself here: tools that take only a URL can say it all.
    url = f"{tls_server.url(driver)}&plugin=aurora_ssl&aurora_ssl_bundle={pki.bundle_path}"
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    received = driver_calls(engine)
    assert _server_says_tls(engine)[0] is True
    # Our query keys stay in engine.url (derived engines keep the protection) but never
    # reach the driver.
    assert engine.url.query["plugin"] == "aurora_ssl"
    assert engine.url.query["aurora_ssl_bundle"] == str(pki.bundle_path)
    ((_, kwargs),) = received.calls
    sent = [*received.params(), *kwargs]
    assert not [k for k in sent if k == "plugin" or k.startswith("aurora_ssl")]
    assert received.params()["sslmode"] == "verify-full"
    engine.dispose()
    with pytest.raises(InsecureConfigurationError, match="sslmode=require in the URL"):
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

        # Translated like libpq's failures (tests/integration/sqlalchemy/test_entry_points.py has the
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
        ("&sslmode=disable", {}, "sslmode=disable in the URL"),
        ("&sslmode=prefer", {}, "sslmode=prefer in the URL"),
        (
            "",
            {"connect_args": {"sslmode": "require"}},
            "sslmode=require in the URL and connect_args",
        ),
        (
            "",
            {"connect_args": {"dsn": "sslmode=allow"}},
            "sslmode=allow in dsn in the URL and connect_args",
        ),
        ("&sslrootcert=system", {}, "sslrootcert=system in the URL"),
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


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_a_later_listener_turning_tls_off_is_refused_before_connecting(
    logged_good: Logged, bundle_env: Path, driver: str
) -> None:
    # Listeners run before the dialect's connect, where aurora-ssl checks: whatever their
    # order, what they leave is checked like the URL.
    engine = aurora_ssl.create_engine(logged_good.server.url(driver), poolclass=NullPool)
    assert _server_says_tls(engine)[0] is True  # control: the same engine connects

    @event.listens_for(engine, "do_connect")
    def downgrade(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["sslmode"] = "disable"

    logged_good.mark()
    with pytest.raises(InsecureConfigurationError, match="sslmode=disable in the connect param"):
        engine.connect()
    logged_good.assert_nothing_received()
    engine.dispose()


@pytest.fixture
def tampering_driver(
    no_tls_server: AuroraLikeServer,
    bundle_env: Path,
    driver_calls: Callable[..., DriverCalls],
) -> Iterator[sqlalchemy.Engine]:
    """An engine whose driver changes what aurora-ssl checked (sslmode) on its way to libpq:
    only the read-back after connecting can see that."""
    engine = aurora_ssl.create_engine(no_tls_server.url(), poolclass=NullPool)
    driver_calls(engine, tamper=downgrade)
    yield engine
    engine.dispose()


@pytest.mark.driver("libpq")
def test_connection_without_tls_is_closed_before_any_query(
    tampering_driver: sqlalchemy.Engine,
) -> None:
    statements: list[str] = []
    event.listen(tampering_driver, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with pytest.raises(TLSNotInUseError):
        tampering_driver.connect()
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


@pytest.mark.driver("asyncpg")
def test_the_asyncpg_dialects_own_arguments_reach_it(
    tls_server: AuroraLikeServer, bundle_env: Path
) -> None:
    """``prepared_statement_cache_size`` is SQLAlchemy's, not asyncpg's: it passes the
    decision untouched and its dialect takes it (0: no statement cache)."""
    url = tls_server.url("postgresql+asyncpg") + "&prepared_statement_cache_size=0"

    async def run() -> Any:
        engine = aurora_ssl.create_async_engine(url)
        try:
            async with engine.connect() as conn:
                adapted = (await conn.get_raw_connection()).dbapi_connection
                used = (await conn.execute(text("SELECT ssl_is_used()"))).scalar()
                return used, adapted._prepared_statement_cache
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == (True, None)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_later_hook_weakening_sslmode_is_refused_before_the_impostor_sees_a_byte(
    logged_impostor: Logged, bundle_env: Path, driver: str
) -> None:
    # A hook after ours turns verification off: libpq would happily encrypt to the impostor
    # and send the password. The final parameters are checked before connecting.
    engine = aurora_ssl.create_engine(logged_impostor.server.url(driver), poolclass=NullPool)

    @event.listens_for(engine, "do_connect")
    def weaken(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["sslmode"] = "require"
        cparams.pop("sslrootcert", None)

    logged_impostor.mark()
    with pytest.raises(InsecureConfigurationError, match="sslmode=require in the connect param"):
        engine.connect()
    logged_impostor.assert_nothing_received()
    engine.dispose()


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_control_the_impostor_takes_the_weakened_parameters(
    logged_impostor: Logged, driver: str
) -> None:
    # What the refusal above prevents: the same parameters, given to the driver, log in.
    dbapi = __import__(driver.split("+")[1])
    logged_impostor.mark()
    dbapi.connect(**logged_impostor.server.params(), sslmode="require").close()
    assert "connection authorized" in logged_impostor.since()


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_a_listener_that_changes_host_gets_trust_for_the_new_host(
    tls_server: AuroraLikeServer,
    bundle_env: Path,
    driver: str,
    driver_calls: Callable[[Any], DriverCalls],
) -> None:
    # The URL names another region's endpoint (its roots would not verify the server): the
    # listener points the connection at the test region's endpoint, and the roots follow.
    other = "other.cluster-abc123xyz.us-west-2.rds.amazonaws.com"
    engine = aurora_ssl.create_engine(
        tls_server.url(driver).replace(tls_server.host, other), poolclass=NullPool
    )
    with pytest.raises(AuroraSSLError):  # control: the URL's own host does not verify
        engine.connect()

    @event.listens_for(engine, "do_connect")
    def move(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["host"] = tls_server.host

    received = driver_calls(engine)
    assert _server_says_tls(engine)[0] is True
    used = received.params()
    assert used["host"] == tls_server.host
    assert Path(used["sslrootcert"]).read_bytes() == tls_server.pki.root_path.read_bytes()
    engine.dispose()


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_a_listener_that_returns_its_own_connection_is_closed_before_its_first_query(
    logged_good: Logged, bundle_env: Path, driver: str
) -> None:
    # Its connection never passed the dialect's connect, so it could not be checked before
    # login: the connect event (first in line) closes it, naming do_connect.
    engine = aurora_ssl.create_engine(logged_good.server.url(driver), poolclass=NullPool)
    assert _server_says_tls(engine)[0] is True  # control: without the listener it connects
    dbapi = __import__(driver.split("+")[1])
    made: list[Any] = []

    @event.listens_for(engine, "do_connect")
    def own(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        made.append(dbapi.connect(**logged_good.server.params(), sslmode="require"))
        return made[-1]

    logged_good.mark()
    with pytest.raises(InsecureConfigurationError, match="do_connect"):
        engine.connect()
    log = logged_good.since()
    assert "connection authorized" in log  # the listener did log in, behind our back ...
    assert "statement:" not in log  # ... and its connection ran no query
    assert made[0].closed
    engine.dispose()


def _private_copy(source: Path, directory: Path, mode: int) -> str:
    directory.mkdir(mode=0o700)
    os.chmod(directory, mode)
    copy = directory / "root.pem"
    copy.write_bytes(source.read_bytes())
    os.chmod(copy, 0o644)
    return str(copy)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
@pytest.mark.parametrize("where", ["system", "others-can-write"])
def test_a_listener_that_changes_sslrootcert_is_refused_before_login(
    logged_good: Logged, bundle_env: Path, tmp_path: Path, driver: str, where: str
) -> None:
    # libpq would trust whatever the listener names; aurora-ssl checks it like any other
    # sslrootcert: a private file of yours is yours to trust (the control), "system" or a file
    # another user could rewrite is refused before anything is sent.
    root = logged_good.server.pki.root_path
    engine = aurora_ssl.create_engine(logged_good.server.url(driver), poolclass=NullPool)
    chosen = {"path": _private_copy(root, tmp_path / "private", 0o700)}

    @event.listens_for(engine, "do_connect")
    def swap(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["sslrootcert"] = chosen["path"]

    assert _server_says_tls(engine)[0] is True  # control: a private file of yours is used
    chosen["path"] = (
        "system" if where == "system" else _private_copy(root, tmp_path / "open", 0o777)
    )
    logged_good.mark()
    with pytest.raises(AuroraSSLError, match=r"sslrootcert|writable by other users"):
        engine.connect()
    logged_good.assert_nothing_received()
    engine.dispose()


@pytest.mark.driver("asyncpg")
@pytest.mark.parametrize("where", ["system", "others-can-write"])
def test_an_asyncpg_listener_that_changes_sslrootcert_is_refused_before_login(
    logged_good: Logged, bundle_env: Path, tmp_path: Path, where: str
) -> None:
    root = logged_good.server.pki.root_path
    chosen = {"path": _private_copy(root, tmp_path / "private", 0o700)}

    def run() -> Any:
        async def go() -> Any:
            engine = aurora_ssl.create_async_engine(
                logged_good.server.url("postgresql+asyncpg"), poolclass=NullPool
            )

            @event.listens_for(engine.sync_engine, "do_connect")
            def swap(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
                cparams["sslrootcert"] = chosen["path"]

            try:
                async with engine.connect() as conn:
                    return (await conn.execute(text("SELECT ssl_is_used()"))).scalar()
            finally:
                await engine.dispose()

        return asyncio.run(go())

    assert run() is True  # control: a private file of yours is used
    chosen["path"] = (
        "system" if where == "system" else _private_copy(root, tmp_path / "open", 0o777)
    )
    logged_good.mark()
    with pytest.raises(AuroraSSLError, match=r"sslrootcert|writable by other users"):
        run()
    logged_good.assert_nothing_received()
