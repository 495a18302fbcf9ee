"""AWS's Advanced Python Wrapper with aurora-ssl's plugin, against one real TLS server.

The issue's "done when": ``aurora_ssl.create_engine("postgresql+aws_wrapper_psycopg://...",
connect_args={"hostaddr": ..., "wrapper_dialect": "pg"})`` connects over verified TLS (the
server sees a TLS session) and the same against an impostor with identical names is refused
with no login in its log. Then every refusal the plugin makes, each by connecting and being
refused. The cluster, failover and monitoring tests are in tests/integration/aws_wrapper/test_failover.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

import aurora_ssl
from aurora_ssl.errors import (
    CredentialsError,
    InsecureConfigurationError,
    UntrustedCertificateError,
)
from aurora_ssl.testing import INSTANCE_HOST, AuroraLikeServer, TestPKI
from tests.fix_servers import log_since
from tests.fix_sqlalchemy import Logged

pytest.importorskip("aws_advanced_python_wrapper")
psycopg = pytest.importorskip("psycopg")
sqlalchemy = pytest.importorskip("sqlalchemy")
from aurora_ssl import aws_wrapper  # noqa: E402 - after the skip: it imports the wrapper

pytestmark = pytest.mark.driver("psycopg")
LOGIN = "connection authorized: user=app"


@pytest.fixture(autouse=True)
def _released() -> Iterator[None]:
    """Each test starts and ends with no monitor threads of the wrapper left running."""
    from aws_advanced_python_wrapper import release_resources
    from aws_advanced_python_wrapper.connection_provider import ConnectionProviderManager

    yield
    ConnectionProviderManager.reset_provider()
    release_resources()


def wrapper_url(server: AuroraLikeServer) -> str:
    """The server by its instance endpoint name (a cluster name makes the wrapper's
    host_monitoring_v2 ask for Aurora's topology, which ``wrapper_dialect=pg`` lacks)."""
    return f"postgresql+aws_wrapper_psycopg://app:{quote(server.password)}@{INSTANCE_HOST}:{server.port}/app"


def engine_for(server: AuroraLikeServer, pki: TestPKI, **connect_args: Any) -> Any:
    return aurora_ssl.create_engine(
        wrapper_url(server),
        aurora_ssl_bundle=str(pki.bundle_path),
        connect_args={"hostaddr": server.hostaddr, "wrapper_dialect": "pg", **connect_args},
    )


def conninfo(server: AuroraLikeServer, pki: TestPKI) -> dict[str, Any]:
    """Keyword arguments for the wrapper's connect, without any ssl* key."""
    return {
        "host": INSTANCE_HOST, "hostaddr": server.hostaddr, "port": server.port, "user": "app",
        "password": server.password, "dbname": "app", "wrapper_dialect": "pg",
        "aurora_ssl_bundle": str(pki.bundle_path),
    }  # fmt: skip


def test_create_engine_connects_with_verified_tls(
    logged_server: AuroraLikeServer, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aurora_ssl.connections")
    offset = logged_server.log_path.stat().st_size
    engine = engine_for(logged_server, pki)
    assert aurora_ssl.sqlalchemy.is_protected(engine)
    with engine.connect() as conn:
        wrapped = conn.connection.dbapi_connection
        assert type(wrapped).__name__ == "AwsWrapperConnection"
        server_saw_tls = conn.exec_driver_sql(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).scalar()
        used = {o.keyword.decode(): (o.val or b"").decode() for o in wrapped.pgconn.info}
    engine.dispose()
    assert server_saw_tls is True
    assert used["sslmode"] == "verify-full"
    assert used["sslrootcert"].endswith("test-region-1.pem")  # the host's region, not all roots
    assert used["host"] == INSTANCE_HOST
    records = [r for r in caplog.records if r.name == "aurora_ssl.connections"]
    assert [r.aurora_ssl_outcome for r in records] == ["verified"]  # type: ignore[attr-defined]
    assert records[0].server_host == INSTANCE_HOST  # type: ignore[attr-defined]
    assert "SSL enabled" in next(
        line for line in log_since(logged_server, offset).splitlines() if LOGIN in line
    )


def test_an_impostor_with_identical_names_is_refused_before_login(
    logged_impostor: Logged, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = logged_impostor.server
    offset = impostor.log_path.stat().st_size
    engine = engine_for(impostor, pki)
    with pytest.raises(UntrustedCertificateError, match="not signed by a CA this connection"):
        engine.connect()
    engine.dispose()
    assert LOGIN not in log_since(impostor, offset)
    refused = [r for r in caplog.records if getattr(r, "aurora_ssl_outcome", "") == "refused"]
    assert refused
    assert refused[0].server_host == INSTANCE_HOST  # type: ignore[attr-defined]
    assert impostor.password not in caplog.text


def test_the_url_plugin_accepts_the_wrapper(logged_server: AuroraLikeServer, pki: TestPKI) -> None:
    url = (
        f"{wrapper_url(logged_server)}?plugin=aurora_ssl&hostaddr={logged_server.hostaddr}"
        f"&wrapper_dialect=pg&wrapper_plugins=failover_v2"
        f"&aurora_ssl_bundle={quote(str(pki.bundle_path), safe='')}"
    )
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT ssl_is_used()").scalar() is True
    engine.dispose()


def test_plain_wrapper_connect_with_the_plugin(
    logged_server: AuroraLikeServer, pki: TestPKI
) -> None:
    from aws_advanced_python_wrapper import AwsWrapperConnection

    aws_wrapper.register()
    with AwsWrapperConnection.connect(
        psycopg.Connection.connect,
        "",
        **conninfo(logged_server, pki),
        plugins="failover_v2,host_monitoring_v2,aurora_ssl",
    ) as conn:
        assert conn.target_connection.pgconn.ssl_in_use
        cursor = conn.cursor()
        cursor.execute("SELECT ssl_is_used()")
        assert cursor.fetchone() == (True,)
    with aws_wrapper.connect(**conninfo(logged_server, pki)) as conn:  # plugin added
        assert conn.target_connection.info.get_parameters()["sslmode"] == "verify-full"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"sslmode": "disable"}, "sslmode=disable in the URL and connect_args"),
        ({"monitoring-sslmode": "require"}, "monitoring-\\* properties"),
        ({"topology-monitoring-sslrootcert": "system"}, "topology-monitoring-\\* properties"),
        ({"plugins": "aurora_ssl,connect_time"}, "must be the last plugin.*connect_time"),
        (
            {"plugins": "aurora_ssl,failover_v2", "auto_sort_wrapper_plugin_order": False},
            "aurora_ssl, failover_v2",
        ),
        ({"sslmodes": "verify-full"}, "'sslmodes' in the URL and connect_args is neither"),
    ],
)
def test_what_would_weaken_any_connection_fails_at_create_engine(
    logged_server: AuroraLikeServer, pki: TestPKI, extra: dict[str, Any], expected: str
) -> None:
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(InsecureConfigurationError, match=expected):
        engine_for(logged_server, pki, **extra)
    assert LOGIN not in log_since(logged_server, offset)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"sslmode": "prefer"}, "sslmode=prefer in the wrapper's properties"),
        ({"monitoring-sslmode": "disable"}, "monitoring-\\* properties"),
        ({"aurora_ssl_tls_server_name": INSTANCE_HOST}, "aurora_ssl_tls_server_name is not"),
        ({"aurora_ssl_iam": "true"}, "aurora_ssl_iam is not available"),
        ({"plugins": "aurora_ssl,dev"}, "must be the last plugin"),
    ],
)
def test_the_plugin_refuses_before_connecting(
    logged_server: AuroraLikeServer, pki: TestPKI, extra: dict[str, Any], expected: str
) -> None:
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(InsecureConfigurationError, match=expected):
        aws_wrapper.connect(**{**conninfo(logged_server, pki), **extra})
    assert LOGIN not in log_since(logged_server, offset)


def test_a_target_other_than_psycopg_connect_is_refused(
    logged_server: AuroraLikeServer, pki: TestPKI
) -> None:
    from aws_advanced_python_wrapper import AwsWrapperConnection

    def my_connect(**kwargs: Any) -> Any:  # could add sslmode=disable behind our back
        return psycopg.Connection.connect(**kwargs)

    aws_wrapper.register()
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(InsecureConfigurationError, match=r"not psycopg\.Connection\.connect"):
        AwsWrapperConnection.connect(
            my_connect, "", **conninfo(logged_server, pki), plugins="aurora_ssl"
        )
    assert LOGIN not in log_since(logged_server, offset)


def test_the_pooled_connection_provider_is_refused(
    logged_server: AuroraLikeServer, pki: TestPKI
) -> None:
    from aws_advanced_python_wrapper.connection_provider import ConnectionProviderManager
    from aws_advanced_python_wrapper.sql_alchemy_connection_provider import (
        SqlAlchemyPooledConnectionProvider,
    )

    ConnectionProviderManager.set_connection_provider(
        SqlAlchemyPooledConnectionProvider(accept_url_func=lambda host, props: True)
    )
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(InsecureConfigurationError, match="SqlAlchemyPooledConnectionProvider"):
        aws_wrapper.connect(**conninfo(logged_server, pki))
    assert LOGIN not in log_since(logged_server, offset)


def test_our_password_providers_are_refused_for_the_wrapper(
    logged_server: AuroraLikeServer, pki: TestPKI
) -> None:
    url = wrapper_url(logged_server).replace(f":{quote(logged_server.password)}@", "@")
    with pytest.raises(CredentialsError, match="iam \\(or aws_secrets_manager\\) plugin"):
        aurora_ssl.create_engine(url, aurora_ssl_iam=True)


def test_the_wrappers_async_package_does_not_know_the_plugin(
    logged_server: AuroraLikeServer, pki: TestPKI
) -> None:
    import asyncio

    from aws_advanced_python_wrapper.aio import psycopg as aio_psycopg
    from aws_advanced_python_wrapper.errors import AwsWrapperError

    aws_wrapper.register()
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(AwsWrapperError, match="aurora_ssl"):
        asyncio.run(aio_psycopg.connect(**conninfo(logged_server, pki), plugins="aurora_ssl"))
    assert LOGIN not in log_since(logged_server, offset)


def test_a_do_connect_listener_that_weakens_is_refused_at_connect(
    logged_server: AuroraLikeServer, pki: TestPKI
) -> None:
    engine = engine_for(logged_server, pki)

    @sqlalchemy.event.listens_for(engine, "do_connect")
    def weaken(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["sslmode"] = "require"

    offset = logged_server.log_path.stat().st_size
    with pytest.raises(InsecureConfigurationError, match="sslmode=require in the wrapper's"):
        engine.connect()
    engine.dispose()
    assert LOGIN not in log_since(logged_server, offset)


def test_on_verified_says_it_is_not_available_for_the_wrapper(
    logged_server: AuroraLikeServer, pki: TestPKI
) -> None:
    engine = engine_for(logged_server, pki)
    with pytest.raises(TypeError, match=r"aurora_ssl\.connections"):
        aurora_ssl.sqlalchemy.on_verified(engine, print)
    engine.dispose()
