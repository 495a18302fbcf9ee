"""Recognising a refused login (``is_auth_failure``) on real refusals by the local server.

Wrong password, unknown role and a role without LOGIN, through psycopg2, psycopg 3 and
asyncpg, bare and wrapped by SQLAlchemy and Django; and real failures that are not about the
login (an intercepted TLS handshake, a closed port), which must *not* trigger a credentials
retry. The provider contract itself: tests/unit/credentials/test_contract.py.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import types
from collections.abc import Callable

import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.credentials import is_auth_failure
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_credentials import login_role, refused_logins, verified_params, whoami

__all__ = ["login_role"]  # a fixture, used by name


@pytest.fixture
def role(login_role: Callable[[str], str]) -> str:
    return login_role("right-password")


@pytest.mark.driver("psycopg2")
def test_psycopg2_wrong_password_is_an_auth_failure(
    tls_server: AuroraLikeServer, role: str
) -> None:
    import psycopg2

    params = verified_params(tls_server, role)
    before = refused_logins(tls_server, role)
    with pytest.raises(psycopg2.OperationalError) as info:
        psycopg2.connect(**params, password="wrong")
    assert refused_logins(tls_server, role) == before + 1  # the server refused it
    assert is_auth_failure(info.value)
    conn = psycopg2.connect(**params, password="right-password")
    assert whoami(conn) == (role, True)
    conn.close()


@pytest.mark.driver("psycopg")
def test_psycopg_wrong_password_and_unknown_role_are_auth_failures(
    tls_server: AuroraLikeServer, role: str
) -> None:
    import psycopg

    params = verified_params(tls_server, role)
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(**params, password="wrong")
    assert is_auth_failure(info.value)
    with pytest.raises(psycopg.OperationalError) as unknown:
        psycopg.connect(**{**params, "user": "no_such_role_xyz"}, password="x")
    assert is_auth_failure(unknown.value)


def _asyncpg_connect(server: AuroraLikeServer, pki: TestPKI, user: str, password: str) -> None:
    import asyncpg

    # Chain verified; the name is not (asyncpg takes no server_hostname, and this test is
    # about the login, which the SQLAlchemy test below also covers with full verification).
    context = ssl.create_default_context(cafile=str(pki.bundle_path))
    context.check_hostname = False

    async def main() -> None:
        conn = await asyncpg.connect(
            host=server.hostaddr,
            port=server.port,
            user=user,
            password=password,
            database=server.database,
            ssl=context,
        )
        await conn.close()

    asyncio.run(main())


def test_asyncpg_wrong_password_is_an_auth_failure(
    tls_server: AuroraLikeServer, pki: TestPKI, role: str
) -> None:
    before = refused_logins(tls_server, role)
    with pytest.raises(Exception) as info:  # noqa: PT011 - the class is asyncpg's, checked below
        _asyncpg_connect(tls_server, pki, role, "wrong")
    assert type(info.value).__name__ == "InvalidPasswordError"
    assert refused_logins(tls_server, role) == before + 1
    assert is_auth_failure(info.value)


@pytest.mark.parametrize(
    "driver", drivers.params("postgresql+psycopg2", "postgresql+psycopg", "postgresql+asyncpg")
)
def test_sqlalchemy_wrapped_refusals_are_auth_failures(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    role: str,
    driver: str,
    monkeypatch: pytest.MonkeyPatch,
    fresh_caches: None,
) -> None:
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(pki.bundle_path))
    url = sqlalchemy.engine.make_url(tls_server.url(driver)).set(username=role, password="wrong")
    if driver.endswith("asyncpg") and sqlalchemy.__version__.startswith("2.0."):
        pytest.skip(
            "SQLAlchemy 2.0 raises asyncpg's connect errors unwrapped (2.1 wraps them); the raw "
            "error: test_asyncpg_wrong_password_is_an_auth_failure"
        )
    if driver.endswith("asyncpg"):
        from sqlalchemy.ext.asyncio import AsyncEngine

        engine: AsyncEngine = aurora_ssl.create_async_engine(url, poolclass=NullPool)

        async def main() -> None:
            try:
                async with engine.connect():
                    pass
            finally:
                await engine.dispose()

        with pytest.raises(sqlalchemy.exc.DBAPIError) as info:
            asyncio.run(main())
    else:
        sync_engine = aurora_ssl.create_engine(url, poolclass=NullPool)
        with pytest.raises(sqlalchemy.exc.DBAPIError) as info:
            sync_engine.connect()
        sync_engine.dispose()
    assert is_auth_failure(info.value)


@pytest.mark.driver("libpq")
def test_django_wrapped_refusal_is_an_auth_failure(tls_server: AuroraLikeServer, role: str) -> None:
    from django.db.utils import DatabaseErrorWrapper, OperationalError

    dbapi = drivers.libpq_module()

    params = verified_params(tls_server, role)
    wrapper = DatabaseErrorWrapper(types.SimpleNamespace(Database=dbapi))
    with pytest.raises(OperationalError) as info, wrapper:
        dbapi.connect(**params, password="wrong")
    assert isinstance(info.value.__cause__, dbapi.OperationalError)
    assert is_auth_failure(info.value)


@pytest.mark.driver("libpq")
def test_tls_and_network_failures_are_not_auth_failures(
    interception_server: AuroraLikeServer, role: str, tls_server: AuroraLikeServer
) -> None:
    # Intercepted: the handshake fails before any password is sent; a new token cannot help.
    dbapi = drivers.libpq_module()

    params = verified_params(interception_server, role)
    with pytest.raises(dbapi.OperationalError) as intercepted:
        dbapi.connect(**params, password="x")
    assert "certificate verify failed" in str(intercepted.value) or "SSL" in str(intercepted.value)
    assert not is_auth_failure(intercepted.value)
    # Nobody listening.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(dbapi.OperationalError) as refused:
        dbapi.connect(
            **{**verified_params(tls_server, role), "port": str(closed_port)}, password="x"
        )
    assert not is_auth_failure(refused.value)
    # A query-time error on a good session is not a login failure either.
    conn = dbapi.connect(**verified_params(tls_server, role), password="right-password")
    try:
        with conn.cursor() as cur, pytest.raises(dbapi.Error) as query:
            cur.execute("SELECT 'password authentication failed for user'::int")
    finally:
        conn.close()
    assert not is_auth_failure(query.value)


@pytest.mark.driver("libpq")
def test_a_role_not_permitted_to_log_in_is_an_auth_failure(
    tls_server: AuroraLikeServer, pki: TestPKI, login_role: Callable[[str], str]
) -> None:
    """SQLSTATE 28000 (invalid_authorization_specification), through libpq and asyncpg."""
    from tests.fix_servers import admin_execute

    dbapi = drivers.libpq_module()

    role = login_role("right-password")
    admin_execute(tls_server, f'ALTER ROLE "{role}" NOLOGIN')
    with pytest.raises(dbapi.OperationalError) as libpq:
        dbapi.connect(**verified_params(tls_server, role), password="right-password")
    assert "is not permitted to log in" in str(libpq.value)
    assert is_auth_failure(libpq.value)
    with pytest.raises(Exception) as native:  # noqa: PT011 - the class is asyncpg's, checked below
        _asyncpg_connect(tls_server, pki, role, "right-password")
    assert getattr(native.value, "sqlstate", None) == "28000"
    assert is_auth_failure(native.value)
