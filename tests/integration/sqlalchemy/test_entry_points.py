"""Every SQLAlchemy entry point obeys the policy (issue 8; asyncpg items of issue 11).

Decision by what the servers saw: ``pg_stat_ssl`` for "verified", and for refusals the server
log of servers started here with ``log_connections`` and ``log_statement=all`` (no connection
authorised, no statement), next to the exception. The entry points' refusals that need no
server: tests/unit/sqlalchemy/test_plugin.py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

import aurora_ssl
from aurora_ssl.errors import (
    AuroraSSLError,
    CertificateExpiredError,
    HostnameMismatchError,
    InsecureConfigurationError,
    ServerTLSUnavailableError,
    TLSError,
    UntrustedCertificateError,
)
from aurora_ssl.sqlalchemy import is_protected
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_sqlalchemy import DriverCalls, Logged

SYNC_DRIVERS = drivers.params("postgresql+psycopg2", "postgresql+psycopg")
AWS = "demo.cluster-abc123xyz.us-east-1.rds.amazonaws.com"


def engine_ssl(engine: sqlalchemy.Engine) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).one()
    return bool(row[0])


def async_engine_ssl(engine: Any) -> bool:
    async def run() -> bool:
        try:
            async with engine.connect() as conn:
                result = await conn.execute(
                    text("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()")
                )
                return bool(result.scalar())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def async_connect(engine: Any) -> None:
    async def run() -> None:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    asyncio.run(run())


# --- 1. creator=, pool=, async_creator= ----------------------------------------------------


def _impostor_creator(server: AuroraLikeServer) -> Any:
    """What a user's creator typically does: its own TLS settings, accepted by the impostor."""
    dbapi = drivers.libpq_module()
    return lambda: dbapi.connect(**server.params(), sslmode="require")


@pytest.mark.driver("libpq")
def test_control_the_impostor_accepts_a_users_creator(logged_impostor: Logged) -> None:
    # Without aurora-ssl the creator's connection reaches the impostor: the refusals below
    # are what keeps it away.
    logged_impostor.mark()
    _impostor_creator(logged_impostor.server)().close()
    assert "connection authorized" in logged_impostor.since()


@pytest.mark.driver("libpq")
@pytest.mark.parametrize(
    "make",
    [
        lambda url, fn: aurora_ssl.create_engine(url, creator=fn),
        lambda url, fn: sqlalchemy.create_engine(f"{url}&plugin=aurora_ssl", creator=fn),
        lambda url, fn: aurora_ssl.create_engine(url, pool=QueuePool(fn)),
        lambda url, fn: sqlalchemy.create_engine(f"{url}&plugin=aurora_ssl", pool=QueuePool(fn)),
    ],
    ids=["create_engine-creator", "plugin-creator", "create_engine-pool", "plugin-pool"],
)
def test_creator_and_pool_are_refused_and_never_called(
    logged_impostor: Logged, bundle_env: Path, make: Any
) -> None:
    logged_impostor.mark()

    def attempt() -> None:
        make(logged_impostor.server.url(), _impostor_creator(logged_impostor.server)).connect()

    with pytest.raises(InsecureConfigurationError, match="connect_args") as info:
        attempt()
    assert "creator=" in str(info.value) or "pool=" in str(info.value)
    logged_impostor.assert_nothing_received()


@pytest.mark.parametrize("form", ["wrapper", "plugin"])
def test_async_creator_is_refused_and_never_called(
    logged_impostor: Logged, bundle_env: Path, form: str
) -> None:
    import asyncpg

    server = logged_impostor.server

    async def creator() -> Any:
        return await asyncpg.connect(
            host=server.hostaddr, port=server.port, user=server.user,
            password=server.password, database=server.database, ssl="require",
        )  # fmt: skip

    url = server.url("postgresql+asyncpg")
    logged_impostor.mark()

    def attempt() -> None:
        if form == "wrapper":
            engine = aurora_ssl.create_async_engine(url, async_creator=creator)
        else:
            engine = sa_create_async_engine(f"{url}&plugin=aurora_ssl", async_creator=creator)
        async_connect(engine)

    with pytest.raises(InsecureConfigurationError, match="async_creator="):
        attempt()
    logged_impostor.assert_nothing_received()


@pytest.mark.driver("libpq")
def test_a_replaced_pool_creator_is_closed_before_any_query(
    logged_impostor: Logged, bundle_env: Path
) -> None:
    engine = aurora_ssl.create_engine(logged_impostor.server.url(), poolclass=NullPool)
    creator = _impostor_creator(logged_impostor.server)
    engine.pool._creator = lambda record: creator()  # type: ignore[attr-defined]
    logged_impostor.mark()
    with pytest.raises(InsecureConfigurationError, match="without passing aurora-ssl"):
        engine.connect()
    log = logged_impostor.since()
    assert "connection authorized" in log  # it did connect (behind our back) ...
    assert "statement:" not in log  # ... and was closed before any statement


@pytest.mark.driver("libpq")
@pytest.mark.parametrize("where", ["dialect.connect", "do_connect", "the driver's connect"])
def test_a_mock_as_the_driver_connection_gets_our_refusal_naming_it(
    tls_server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # SQLAlchemy's own DialectEventTest (test/engine/test_execute.py) and users' unit tests
    # hand the pool a Mock: it must get our error naming the Mock, not be probed for
    # attributes (a Mock has them all: that recursed until RecursionError).
    engine = sqlalchemy.create_engine(tls_server.database_url(), poolclass=NullPool)
    fake = Mock()
    if where == "dialect.connect":
        monkeypatch.setattr(engine.dialect, "connect", Mock(return_value=fake))
    elif where == "do_connect":
        event.listen(engine, "do_connect", lambda *args: fake)
    else:
        monkeypatch.setattr(engine.dialect.loaded_dbapi, "connect", Mock(return_value=fake))
    with pytest.raises(InsecureConfigurationError, match=r"unittest\.mock\.Mock connection"):
        engine.connect()
    fake.close.assert_called()  # closed, not used


# --- 2. options from INI-style configuration -----------------------------------------------


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_engine_from_config_false_keeps_verify_full(
    tls_server: AuroraLikeServer, interception_server: AuroraLikeServer, pki: TestPKI,
    fresh_caches: None, driver: str,
) -> None:  # fmt: skip
    def from_config(server: AuroraLikeServer) -> sqlalchemy.Engine:
        return sqlalchemy.engine_from_config(
            {
                "sqlalchemy.url": f"{server.url(driver)}&plugin=aurora_ssl",
                "sqlalchemy.aurora_ssl_insecure_local_dev": "false",
                "sqlalchemy.aurora_ssl_bundle": str(pki.bundle_path),
                "sqlalchemy.pool_pre_ping": "true",
            }
        )

    engine = from_config(tls_server)
    assert engine_ssl(engine) is True
    engine.dispose()
    with pytest.raises(UntrustedCertificateError):
        from_config(interception_server).connect()


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"sqlalchemy.aurora_ssl_insecure_local_dev": "nope"}, "aurora_ssl_insecure_local_dev='nope'"),
        ({"sqlalchemy.aurora_ssl_insecure_local_dev": "truee"}, "not a boolean"),
        ({"sqlalchemy.aurora_ssl_bundel": "/x.pem"}, "Unknown aurora-ssl option aurora_ssl_bundel"),
        ({"sqlalchemy.aurora_ssl_bundle": " "}, "aurora_ssl_bundle in .* is empty"),
    ],
)  # fmt: skip
def test_bad_options_from_config_are_errors(
    tls_server: AuroraLikeServer, bundle_env: Path, config: dict[str, str], match: str
) -> None:
    with pytest.raises(InsecureConfigurationError, match=match):
        sqlalchemy.engine_from_config(
            {"sqlalchemy.url": f"{tls_server.url()}&plugin=aurora_ssl", **config}
        )


def test_empty_options_from_config_count_as_not_given(
    tls_server: AuroraLikeServer, bundle_env: Path
) -> None:
    # An INI line "aurora_ssl_bundle =" is the same as none: the defaults, verification on.
    engine = sqlalchemy.engine_from_config(
        {
            "sqlalchemy.url": f"{tls_server.url()}&plugin=aurora_ssl",
            "sqlalchemy.aurora_ssl_insecure_local_dev": "",
            "sqlalchemy.aurora_ssl_bundle": "",
        },
        poolclass=NullPool,
    )
    assert is_protected(engine)
    assert engine_ssl(engine) is True
    assert "aurora_ssl_bundle" not in engine.url.query
    engine.dispose()


@pytest.mark.parametrize(
    "suffix",
    [
        "&aurora_ssl_insecure_local_dev=maybe",
        "&aurora_ssl_unknown=1",
        "&AURORA_SSL_BUNDLE=/x.pem",
        "&aurora_ssl_tls_server_name=a&aurora_ssl_tls_server_name=b",
    ],
)
def test_bad_options_in_the_url_are_errors(
    tls_server: AuroraLikeServer, bundle_env: Path, suffix: str
) -> None:
    with pytest.raises(InsecureConfigurationError, match=r"aurora_ssl|AURORA_SSL"):
        sqlalchemy.create_engine(f"{tls_server.url()}&plugin=aurora_ssl{suffix}")


def test_our_options_in_connect_args_are_errors(tls_server: AuroraLikeServer) -> None:
    with pytest.raises(InsecureConfigurationError, match="in connect_args would be ignored"):
        aurora_ssl.create_engine(
            tls_server.url(), connect_args={"aurora_ssl_insecure_local_dev": "false"}
        )


def test_url_and_keyword_must_agree(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    with pytest.raises(InsecureConfigurationError, match="give it in one place"):
        aurora_ssl.create_engine(
            f"{tls_server.url()}&aurora_ssl_bundle={pki.bundle_path}",
            aurora_ssl_bundle=str(pki.root_path),
        )


# --- 3. the opt-out's AWS guard sees every host source ------------------------------------


@pytest.mark.driver("libpq")
def test_insecure_guard_also_runs_per_connection(no_tls_server: AuroraLikeServer) -> None:
    url = no_tls_server.url().replace(no_tls_server.host, "localhost") + "&sslmode=disable"
    engine = aurora_ssl.create_engine(url, aurora_ssl_insecure_local_dev="yes", poolclass=NullPool)
    assert engine_ssl(engine) is False  # the opt-out works for a local name ...

    @event.listens_for(engine, "do_connect")
    def to_aws(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["host"] = AWS

    with pytest.raises(InsecureConfigurationError, match="AWS endpoint"):
        engine.connect()  # ... but not once a hook points the connection at an AWS name


# --- 4. asyncpg trusts the selected roots only ---------------------------------------------


@pytest.fixture
def impostor_in_os_store(pki: TestPKI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """SSL_CERT_FILE and SSL_CERT_DIR both trust the impostor's CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.foreign_root_path))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    return pki.foreign_root_path


def test_control_ssl_true_alone_would_trust_ssl_cert_file(
    interception_server: AuroraLikeServer, impostor_in_os_store: Path
) -> None:
    # asyncpg's ssl=True is create_default_context(): with SSL_CERT_FILE pointing at the
    # impostor's CA it connects to the impostor. This is what aurora-ssl must prevent.
    import asyncpg

    context = ssl.create_default_context()
    context.check_hostname = False  # the impostor's name matches anyway; connect by address

    async def run() -> Any:
        conn = await asyncpg.connect(
            host=interception_server.hostaddr, port=interception_server.port,
            user=interception_server.user, password=interception_server.password,
            database=interception_server.database, ssl=context,
        )  # fmt: skip
        try:
            return await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        finally:
            await conn.close()

    assert asyncio.run(run()) is True


@pytest.mark.parametrize(
    ("suffix", "connect_args"),
    [
        ("&ssl=true", {}),
        ("", {"ssl": True}),
        ("&ssl=verify-full", {}),
        ("&sslmode=verify-full", {}),
        ("&sslmode=verify-full&sslnegotiation=postgres&sslsni=1&gssencmode=disable", {}),
        ("&ssl_min_protocol_version=TLSv1.3&sslkeylogfile=", {}),
    ],
    ids=["url-ssl-true", "connect_args-ssl-True", "ssl-verify-full", "sslmode-verify-full",
         "harmless-libpq-keywords", "tls13-empty-keylog"],
)  # fmt: skip
def test_asyncpg_verify_spellings_use_only_the_selected_roots(
    tls_server: AuroraLikeServer,
    logged_impostor: Logged,
    bundle_env: Path,
    impostor_in_os_store: Path,
    suffix: str,
    connect_args: dict[str, Any],
) -> None:
    def make(server: AuroraLikeServer) -> Any:
        return aurora_ssl.create_async_engine(
            server.url("postgresql+asyncpg") + suffix,
            connect_args=dict(connect_args),
            poolclass=NullPool,
        )

    assert async_engine_ssl(make(tls_server)) is True
    logged_impostor.mark()
    with pytest.raises(UntrustedCertificateError) as info:
        async_connect(make(logged_impostor.server))
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    logged_impostor.assert_nothing_authorised()


def test_asyncpg_sslrootcert_is_the_trust_set(
    tls_server: AuroraLikeServer, logged_impostor: Logged, pki: TestPKI, fresh_caches: None,
    impostor_in_os_store: Path,
) -> None:  # fmt: skip
    suffix = f"&sslmode=verify-full&sslrootcert={pki.root_path}"
    engine = aurora_ssl.create_async_engine(tls_server.url("postgresql+asyncpg") + suffix)
    assert async_engine_ssl(engine) is True
    logged_impostor.mark()
    with pytest.raises(UntrustedCertificateError):
        async_connect(
            aurora_ssl.create_async_engine(
                logged_impostor.server.url("postgresql+asyncpg") + suffix
            )
        )
    logged_impostor.assert_nothing_authorised()


def _contexts(pki: TestPKI) -> list[ssl.SSLContext]:
    default = ssl.create_default_context()  # OS store: not listable
    only_right_root = ssl.create_default_context(cafile=str(pki.root_path))
    foreign = ssl.create_default_context(cafile=str(pki.foreign_root_path))
    return [default, only_right_root, foreign]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["os-store", "right-root-only", "foreign"])
def test_asyncpg_user_sslcontext_is_refused(
    logged_impostor: Logged, pki: TestPKI, bundle_env: Path, which: int
) -> None:
    context = _contexts(pki)[which]
    url = logged_impostor.server.url("postgresql+asyncpg")
    logged_impostor.mark()
    with pytest.raises(InsecureConfigurationError, match=r"sslrootcert=/path/ca\.pem"):
        async_connect(aurora_ssl.create_async_engine(url, connect_args={"ssl": context}))
    logged_impostor.assert_nothing_received()


def test_asyncpg_context_swapped_by_a_later_hook_never_connects(
    logged_impostor: Logged, pki: TestPKI, bundle_env: Path
) -> None:
    engine = aurora_ssl.create_async_engine(
        logged_impostor.server.url("postgresql+asyncpg"), poolclass=NullPool
    )
    foreign = _contexts(pki)[2]
    foreign.check_hostname = False

    @event.listens_for(engine.sync_engine, "do_connect")
    def swap(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["ssl"] = foreign

    logged_impostor.mark()
    with pytest.raises(InsecureConfigurationError, match="SSLContext in the connect parameters"):
        async_connect(engine)
    logged_impostor.assert_nothing_received()


@pytest.mark.parametrize(
    ("suffix", "match"),
    [
        ("&sslmode=require", "sslmode=require"),
        ("&sslmode=verify-ca", "sslmode=verify-ca"),
        ("&ssl=false", "ssl=false"),
        ("&ssl=prefer", "ssl=prefer"),
        ("&sslrootcert=system", "sslrootcert=system"),
        ("&sslsni=0", "sslsni=0"),
        ("&ssl_min_protocol_version=TLSv1.1", "ssl_min_protocol_version=TLSv1.1"),
        ("&gssencmode=prefer", "gssencmode=prefer"),
        ("&sslkeylogfile=/tmp/keys", "sslkeylogfile"),
        ("&sslcrl=/tmp/crl.pem", "sslcrl"),
        ("&sslnegotiation=sideways", "sslnegotiation=sideways"),
    ],
)
def test_asyncpg_weakening_libpq_keywords_are_refused(
    logged_good: Logged, bundle_env: Path, suffix: str, match: str
) -> None:
    logged_good.mark()
    with pytest.raises(InsecureConfigurationError, match=match):
        aurora_ssl.create_async_engine(logged_good.server.url("postgresql+asyncpg") + suffix)
    logged_good.assert_nothing_received()


def test_asyncpg_application_name_and_timeout_are_translated(
    tls_server: AuroraLikeServer, bundle_env: Path
) -> None:
    url = tls_server.url("postgresql+asyncpg") + "&application_name=from-url&connect_timeout=5"

    async def run() -> Any:
        engine = aurora_ssl.create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("SHOW application_name"))).scalar()
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == "from-url"


# --- 5. derived engines keep the protection -----------------------------------------------


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_an_engine_derived_from_engine_url_is_verified(
    tls_server: AuroraLikeServer, logged_impostor: Logged, pki: TestPKI, fresh_caches: None,
    driver: str, driver_calls: Callable[[Any], DriverCalls],
) -> None:  # fmt: skip
    def derived(server: AuroraLikeServer) -> sqlalchemy.Engine:
        original = aurora_ssl.create_engine(
            server.url(driver) + "&application_name=kept",
            aurora_ssl_bundle=pki.bundle_path,  # keyword only: must travel in the URL
        )
        return sqlalchemy.create_engine(original.url, poolclass=NullPool)

    engine = derived(tls_server)
    received = driver_calls(engine)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ssl, current_setting('application_name') FROM pg_catalog.pg_stat_ssl"
                " WHERE pid = pg_backend_pid()"
            )
        ).one()
    assert tuple(row) == (True, "kept")  # verified, and unrelated keys passed through
    seen = {**received.params(), **received.calls[0][1]}
    assert seen["sslmode"] == "verify-full"
    assert not [k for k in seen if k == "plugin" or k.startswith("aurora_ssl")]
    assert tls_server.password not in str(engine.url)
    assert tls_server.password not in repr(engine)
    engine.dispose()
    logged_impostor.mark()
    with pytest.raises(UntrustedCertificateError):
        derived(logged_impostor.server).connect()
    logged_impostor.assert_nothing_authorised()


def test_an_async_engine_derived_from_engine_url_is_verified(
    tls_server: AuroraLikeServer, logged_impostor: Logged, pki: TestPKI, fresh_caches: None
) -> None:
    def derived(server: AuroraLikeServer) -> Any:
        original = aurora_ssl.create_async_engine(
            server.url("postgresql+asyncpg"), aurora_ssl_bundle=str(pki.bundle_path)
        )
        return sa_create_async_engine(original.url, poolclass=NullPool)

    assert async_engine_ssl(derived(tls_server)) is True
    logged_impostor.mark()
    with pytest.raises(UntrustedCertificateError):
        async_connect(derived(logged_impostor.server))
    logged_impostor.assert_nothing_authorised()


@pytest.mark.driver("libpq")
def test_keyword_options_travel_in_the_url_as_strings(
    tls_server: AuroraLikeServer, bundle_env: Path
) -> None:
    url = tls_server.url().replace(tls_server.host, "localhost").split("?")[0]
    engine = aurora_ssl.create_engine(url, aurora_ssl_tls_server_name=tls_server.host)
    assert engine.url.query["aurora_ssl_tls_server_name"] == tls_server.host
    assert engine.url.query["plugin"] == "aurora_ssl"
    derived = sqlalchemy.create_engine(engine.url, poolclass=NullPool)
    assert engine_ssl(derived) is True  # verified the RDS name while connecting to localhost
    derived.dispose()
    local = aurora_ssl.create_engine(
        f"{drivers.libpq_drivername()}://u@localhost/db", aurora_ssl_insecure_local_dev=True
    )
    assert local.url.query["aurora_ssl_insecure_local_dev"] == "true"


# --- 7. asyncpg failures become the errors psycopg users get ------------------------------


@pytest.mark.parametrize(
    ("scenario_fixture", "error", "raw"),
    [
        ("interception_server", UntrustedCertificateError, ssl.SSLCertVerificationError),
        ("expired_server", CertificateExpiredError, ssl.SSLCertVerificationError),
        ("wrong_host_server", HostnameMismatchError, ssl.SSLCertVerificationError),
        ("no_tls_server", ServerTLSUnavailableError, ConnectionError),
    ],
)
def test_asyncpg_failures_are_translated(
    request: pytest.FixtureRequest,
    bundle_env: Path,
    scenario_fixture: str,
    error: type[AuroraSSLError],
    raw: type[BaseException],
) -> None:
    server: AuroraLikeServer = request.getfixturevalue(scenario_fixture)
    with pytest.raises(error) as info:
        async_connect(
            aurora_ssl.create_async_engine(server.url("postgresql+asyncpg"), poolclass=NullPool)
        )
    assert isinstance(info.value.__cause__, raw)
    assert "(asyncpg: " in str(info.value)
    assert server.password not in str(info.value)


def test_asyncpg_direct_tls_to_an_old_server_is_explained(
    tls_server: AuroraLikeServer, bundle_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = tls_server.url("postgresql+asyncpg")
    monkeypatch.setenv("PGSSLNEGOTIATION", "direct")  # pinned away: still connects
    assert async_engine_ssl(aurora_ssl.create_async_engine(url, poolclass=NullPool)) is True
    with pytest.raises(TLSError, match="PostgreSQL 17") as info:
        async_connect(
            aurora_ssl.create_async_engine(f"{url}&sslnegotiation=direct", poolclass=NullPool)
        )
    assert isinstance(info.value.__cause__, ConnectionResetError)


# --- 6. later do_connect hooks: their result is checked before connecting ------------------
# (sslrootcert swaps, host moves and listeners returning their own connection: test_sqlalchemy)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sslsni", "0"),
        ("gssencmode", "prefer"),
        ("ssl_min_protocol_version", "TLSv1.1"),
        ("sslkeylogfile", "/tmp/keys"),
        ("sslnegotiation", "sideways"),
        ("host", "/tmp"),
        ("sslmode ", "disable"),
    ],
)
def test_a_later_hook_changing_security_params_is_refused_before_connecting(
    logged_good: Logged, bundle_env: Path, driver: str, key: str, value: str
) -> None:
    engine = aurora_ssl.create_engine(logged_good.server.url(driver), poolclass=NullPool)
    assert engine_ssl(engine) is True  # control: without the hook it connects

    @event.listens_for(engine, "do_connect")
    def hook(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams[key] = value

    logged_good.mark()
    with pytest.raises(InsecureConfigurationError) as info:
        engine.connect()
    assert key.strip() in str(info.value)
    assert "connect parameters" in str(info.value)
    logged_good.assert_nothing_received()
    engine.dispose()


def test_asyncpg_creator_set_by_a_later_hook_never_connects(
    logged_good: Logged, pki: TestPKI, bundle_env: Path
) -> None:
    import asyncpg

    engine = aurora_ssl.create_async_engine(
        logged_good.server.url("postgresql+asyncpg"), poolclass=NullPool
    )
    other = ssl.create_default_context(cafile=str(pki.root_path))
    other.check_hostname = False

    @event.listens_for(engine.sync_engine, "do_connect")
    def bypass(dialect: Any, rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["async_creator_fn"] = asyncpg.connect  # would skip aurora-ssl's connect
        cparams["ssl"] = other

    logged_good.mark()
    with pytest.raises(InsecureConfigurationError, match="async_creator_fn in the connect"):
        async_connect(engine)
    logged_good.assert_nothing_received()
