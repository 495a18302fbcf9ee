"""The provider contract: adapting user objects, and recognising a refused login.

``is_auth_failure`` is checked on real refusals by the local server (wrong password, unknown
role) through psycopg2, psycopg 3 and asyncpg, bare and wrapped by SQLAlchemy and Django, and
on real non-authentication failures (an intercepted TLS handshake, a closed port) that must
*not* trigger a credentials retry.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.credentials import (
    CredentialsError,
    CredentialTarget,
    PasswordProvider,
    as_provider,
    is_auth_failure,
)
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_credentials import login_role, refused_logins, verified_params, whoami

__all__ = ["login_role"]  # a fixture, used by name

TARGET = CredentialTarget("demo.cluster-abc.us-east-1.rds.amazonaws.com", 5432, "app")
SECRET = "S3cret-Value-Do-Not-Show"


# -- as_provider ------------------------------------------------------------------------------


def no_arguments() -> str:
    return "from-no-arguments"


def with_target(target: CredentialTarget) -> str:
    return f"{target.user}@{target.host}:{target.port}"


class Fixed:
    def __init__(self) -> None:
        self.invalidated: list[CredentialTarget] = []

    def password(self, target: CredentialTarget) -> str:
        return "fixed"

    async def password_async(self, target: CredentialTarget) -> str:
        return "fixed-async"

    def invalidate(self, target: CredentialTarget) -> None:
        self.invalidated.append(target)


@pytest.fixture
def provider_module(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("creds_test_module")
    module.no_arguments = no_arguments  # type: ignore[attr-defined]
    module.with_target = with_target  # type: ignore[attr-defined]
    module.instance = Fixed()  # type: ignore[attr-defined]
    module.Fixed = Fixed  # type: ignore[attr-defined]
    module.text = "not a provider"  # type: ignore[attr-defined]
    module.number = 42  # type: ignore[attr-defined]
    module.namespace = types.SimpleNamespace(inner=with_target)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "creds_test_module", module)
    return "creds_test_module"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("creds_test_module:no_arguments", "from-no-arguments"),
        ("creds_test_module.no_arguments", "from-no-arguments"),
        ("creds_test_module:with_target", "app@demo.cluster-abc.us-east-1.rds.amazonaws.com:5432"),
        (
            "creds_test_module:namespace.inner",
            "app@demo.cluster-abc.us-east-1.rds.amazonaws.com:5432",
        ),
        ("creds_test_module:instance", "fixed"),
        (" creds_test_module:instance ", "fixed"),
    ],
)
def test_as_provider_resolves_strings(provider_module: str, spec: str, expected: str) -> None:
    provider = as_provider(spec)
    assert isinstance(provider, PasswordProvider)
    assert provider.password(TARGET) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("creds_test_module:text", "is a str; expected a provider object"),
        ("creds_test_module:number", "is a int"),
        ("creds_test_module:Fixed", "is a class; give an instance"),
        ("creds_test_module:missing", "has no attribute 'missing'.*'package.module:attribute'"),
        ("no_such_module_xyz:thing", "No module named 'no_such_module_xyz'.*from sys.path"),
        ("justaname", "cannot import module .*'package.module:attribute'"),
        (":thing", "cannot import module .*'package.module:attribute'"),
        ("creds_test_module:", "is a module; expected a provider object"),
    ],
)
def test_as_provider_refuses_bad_strings(provider_module: str, spec: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        as_provider(spec)


def test_as_provider_keeps_providers_and_adapts_callables() -> None:
    fixed = Fixed()
    assert as_provider(fixed) is fixed
    assert as_provider(no_arguments).password(TARGET) == "from-no-arguments"
    assert as_provider(lambda t: t.user).password(TARGET) == "app"
    assert as_provider(lambda *args: str(len(args))).password(TARGET) == "1"
    assert as_provider(lambda target=None: str(target is TARGET)).password(TARGET) == "True"

    class CallableObject:
        def __call__(self) -> str:
            return "object"

    assert as_provider(CallableObject()).password(TARGET) == "object"
    assert asyncio.run(as_provider(with_target).password_async(TARGET)).startswith("app@")


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (None, "is a NoneType; expected a provider object"),
        (42, "is a int"),
        (lambda a, b: "x", "must take no argument or exactly one"),
        (lambda *, key: "x", "must take no argument or exactly one"),
    ],
)
def test_as_provider_refuses_other_objects(obj: object, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        as_provider(obj)


def test_async_functions_are_refused_with_the_alternative() -> None:
    async def fetch() -> str:
        return "x"

    with pytest.raises(CredentialsError, match="async function; give a plain function"):
        as_provider(fetch)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda: None, "returned a NoneType"),
        (lambda: "", "returned an empty string"),
        (lambda: b"bytes", "returned a bytes"),
    ],
)
def test_a_bad_return_value_is_named_not_shown(function: Callable[[], Any], message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as info:
        as_provider(function).password(TARGET)
    assert "demo.cluster-abc" in str(info.value)


def test_a_failing_function_never_leaks_its_message() -> None:
    def leaky() -> str:
        raise ValueError(f"vault said no to password {SECRET}")

    with pytest.raises(CredentialsError) as info:
        as_provider(leaky).password(TARGET)
    assert SECRET not in str(info.value)
    assert "ValueError" in str(info.value)
    assert "leaky" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)  # kept for the traceback


def test_the_callable_runs_off_the_event_loop() -> None:
    import threading

    seen: list[threading.Thread] = []

    def record() -> str:
        seen.append(threading.current_thread())
        return "x"

    async def main() -> str:
        return await as_provider(record).password_async(TARGET)

    assert asyncio.run(main()) == "x"
    assert seen
    assert seen[0] is not threading.main_thread()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "", "port": 5432, "user": "app"}, "needs the endpoint host name"),
        ({"host": "h", "port": "5432", "user": "app"}, "port must be an int from 1 to 65535"),
        ({"host": "h", "port": True, "user": "app"}, "port must be an int from 1 to 65535"),
        ({"host": "h", "port": 0, "user": "app"}, "port must be an int from 1 to 65535, got 0"),
        ({"host": "h", "port": 5432, "user": ""}, "needs a database user"),
    ],
)
def test_credential_target_is_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        CredentialTarget(**kwargs)


# -- is_auth_failure against real refusals -----------------------------------------------------


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


def test_is_auth_failure_follows_chains_without_looping() -> None:
    class CodedError(Exception):
        sqlstate = "28P01"

    outer = RuntimeError("wrapper")
    outer.__cause__ = CodedError()
    assert is_auth_failure(outer)
    looped = RuntimeError("a")
    other = RuntimeError("b")
    looped.__context__ = other
    other.__context__ = looped
    assert not is_auth_failure(looped)


@pytest.mark.driver("libpq")
def test_a_role_not_permitted_to_log_in_is_an_auth_failure(
    tls_server: AuroraLikeServer, pki: TestPKI, login_role: Callable[[str], str]
) -> None:
    """SQLSTATE 28000 (invalid_authorization_specification), through libpq and asyncpg."""
    from tests.fix_credentials import admin_execute

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


def test_importing_the_package_does_not_import_botocore() -> None:
    import subprocess

    code = "import sys, aurora_ssl.credentials; print('botocore' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_async_callable_objects_are_refused_too() -> None:
    class AsyncCallable:
        async def __call__(self) -> str:
            return "x"

    with pytest.raises(CredentialsError, match="async function"):
        as_provider(AsyncCallable())
