"""Passwords from a provider in SQLAlchemy engines (issue 10): IAM tokens, rotation, retry.

Against the real local server over verified TLS. IAM tokens are the deterministic SigV4 of
fixed fake credentials at a pinned clock (see tests/unit/credentials/test_iam.py), set as the role's
password: the server itself accepts or refuses them. Refusals are counted in the server log;
"logged in" is what the server says (current_user, pg_stat_ssl). No AWS API is called.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.pool import NullPool, QueuePool

import aurora_ssl
from aurora_ssl.credentials import CredentialsError, CredentialTarget, IAMTokenProvider
from aurora_ssl.sqlalchemy import is_protected, on_verified
from aurora_ssl.testing import AuroraLikeServer
from tests import drivers
from tests.fix_credentials import (
    ACCESS_KEY,
    SECRET_KEY,
    T0,
    Clock,
    reference_token,
    refused_logins,
    session_with,
    set_password,
)
from tests.fix_credentials import WHO as WHO_QUERY
from tests.fix_servers import admin_execute, role_url, wait_for
from tests.fix_sqlalchemy import PROVIDED_PASSWORD, REGION, provided

WHO = text(WHO_QUERY)


def token_role(server: AuroraLikeServer, roles: Callable[[str], str], at: int = T0) -> str:
    role = roles("not-the-token")
    set_password(server, role, reference_token(server.host, server.port, role, REGION, at))
    return role


def iam() -> IAMTokenProvider:
    """Fixed fake keys; request the ``clock`` fixture too, which pins botocore's clock."""
    return IAMTokenProvider(session=session_with())


def who(engine: sqlalchemy.Engine) -> tuple[str, bool]:
    with engine.connect() as conn:
        user, ssl = conn.execute(WHO).one()
    return str(user), bool(ssl)


# -- IAM tokens through every entry point -------------------------------------------------------


@pytest.mark.parametrize("poolclass", [NullPool, QueuePool])
@pytest.mark.parametrize("driver", drivers.params("postgresql+psycopg2", "postgresql+psycopg"))
def test_iam_token_logs_in_and_a_stale_one_is_retried_once(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    driver: str,
    poolclass: Any,
    clock: Clock,
) -> None:
    role = token_role(logged_server, roles)
    provider = iam()
    engine = aurora_ssl.create_engine(
        role_url(logged_server, driver, role),
        poolclass=poolclass,
        aurora_ssl_password_provider=provider,
    )
    assert who(engine) == (role, True)
    token = provider.password(CredentialTarget(logged_server.host, logged_server.port, role))
    assert token not in str(engine.url)
    assert "passed-as-object" in str(engine.url)
    with engine.connect() as conn:
        assert token not in repr(dict(conn.connection.info))

    # The server now expects a token signed a minute later; the cached one is stale.
    clock.now = T0 + 60
    set_password(
        logged_server,
        role,
        reference_token(logged_server.host, logged_server.port, role, REGION, T0 + 60),
    )
    engine.dispose()  # new physical connections from here on
    before = refused_logins(logged_server, role)
    assert who(engine) == (role, True)
    assert refused_logins(logged_server, role) == before + 1  # one refusal, one retry
    assert provider.signings == 2


@pytest.mark.parametrize("driver", drivers.params("postgresql+asyncpg", "postgresql+psycopg"))
def test_iam_token_through_create_async_engine(
    logged_server: AuroraLikeServer, roles: Callable[[str], str], driver: str, clock: Clock
) -> None:
    role = token_role(logged_server, roles)
    provider = iam()

    async def run() -> list[tuple[str, bool]]:
        engine = aurora_ssl.create_async_engine(
            role_url(logged_server, driver, role), aurora_ssl_password_provider=provider
        )
        seen = []
        async with engine.connect() as conn:
            seen.append(tuple((await conn.execute(WHO)).one()))
        clock.now = T0 + 60
        set_password(
            logged_server,
            role,
            reference_token(logged_server.host, logged_server.port, role, REGION, T0 + 60),
        )
        await engine.dispose()
        async with engine.connect() as conn:
            seen.append(tuple((await conn.execute(WHO)).one()))
        await engine.dispose()
        return seen  # type: ignore[return-value]

    before = refused_logins(logged_server, role)
    assert asyncio.run(run()) == [(role, True), (role, True)]
    assert refused_logins(logged_server, role) == before + 1
    assert provider.signings == 2


@pytest.mark.driver("psycopg2")
def test_iam_through_the_url_plugin_and_a_derived_engine(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
) -> None:
    # aurora_ssl_iam=true uses botocore's default chain: the fake keys come from the
    # environment, and botocore's clock is pinned (the clock fixture).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    role = token_role(logged_server, roles)
    url = role_url(
        logged_server, "postgresql+psycopg2", role, query="&plugin=aurora_ssl&aurora_ssl_iam=true"
    )
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    assert is_protected(engine)
    assert who(engine) == (role, True)
    assert engine.url.query["aurora_ssl_iam"] == "true"
    derived = sqlalchemy.create_engine(engine.url, poolclass=NullPool)
    assert is_protected(derived)
    assert who(derived) == (role, True)


@pytest.mark.driver("psycopg")
def test_module_attribute_provider_through_the_url(
    logged_server: AuroraLikeServer, roles: Callable[[str], str]
) -> None:
    role = roles(PROVIDED_PASSWORD)
    url = role_url(
        logged_server,
        "postgresql+psycopg",
        role,
        query="&plugin=aurora_ssl&aurora_ssl_password_provider=tests.fix_sqlalchemy:provided",
    )
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    assert who(engine) == (role, True)
    assert who(sqlalchemy.create_engine(engine.url, poolclass=NullPool)) == (role, True)


# -- failing closed -----------------------------------------------------------------------------


@pytest.mark.driver("psycopg2")
def test_a_derived_engine_of_an_object_provider_refuses_to_start(
    logged_server: AuroraLikeServer,
) -> None:
    engine = aurora_ssl.create_engine(
        role_url(logged_server, "postgresql+psycopg2", "app"), aurora_ssl_password_provider=provided
    )
    with pytest.raises(CredentialsError, match="was an object, which a URL cannot carry"):
        sqlalchemy.create_engine(engine.url)


@pytest.mark.driver("psycopg2")
def test_provider_failure_is_a_clear_error_without_the_secret(
    logged_server: AuroraLikeServer, roles: Callable[[str], str]
) -> None:
    role = roles(PROVIDED_PASSWORD)
    secret = "s3cr3t-" + secrets.token_hex(4)

    def broken() -> str:
        raise RuntimeError(f"vault said no for {secret}")

    engine = aurora_ssl.create_engine(
        role_url(logged_server, "postgresql+psycopg2", role),
        poolclass=NullPool,
        aurora_ssl_password_provider=broken,
    )
    offset = logged_server.log_path.stat().st_size
    with pytest.raises(CredentialsError, match=f"failed for {role}@") as info:
        who(engine)
    assert secret not in str(info.value)
    assert "connection authorized" not in _log_since(logged_server, offset)  # nothing attempted


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"aurora_ssl_password_provider": "no.such.module:thing"}, "cannot import module"),
        ({"aurora_ssl_iam": "maybe"}, "aurora_ssl_iam"),
        ({"aurora_ssl_iam_profile": "prod"}, "aurora_ssl_iam_profile needs aurora_ssl_iam"),
        (
            {"aurora_ssl_iam": "true", "aurora_ssl_password_provider": provided},
            "give one of them",
        ),
        ({"aurora_ssl_log_level": "LOUD"}, "not a logging level"),
    ],
)
def test_bad_credential_options_fail_at_engine_creation(
    logged_server: AuroraLikeServer, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(aurora_ssl.AuroraSSLError, match=match):
        aurora_ssl.create_engine(role_url(logged_server, "postgresql+psycopg2", "app"), **options)


@pytest.mark.driver("psycopg2")
def test_a_provider_needs_the_user(logged_server: AuroraLikeServer) -> None:
    url = role_url(logged_server, "postgresql+psycopg2", "x").replace("x@", "", 1)
    engine = aurora_ssl.create_engine(
        url, poolclass=NullPool, aurora_ssl_password_provider=provided
    )
    with pytest.raises(CredentialsError, match="needs the database user"):
        who(engine)


# -- rotation while the application keeps working -------------------------------------------


class RotatingSecret:
    """A provider that caches like Secrets Manager does: it re-reads only after invalidate."""

    def __init__(self, store: dict[str, str]) -> None:
        self.store = store
        self.cached: str | None = None
        self.reads = 0

    def password(self, target: CredentialTarget) -> str:
        if self.cached is None:
            self.cached = self.store["password"]
            self.reads += 1
        return self.cached

    async def password_async(self, target: CredentialTarget) -> str:
        return self.password(target)

    def invalidate(self, target: CredentialTarget) -> None:
        self.cached = None


@pytest.mark.driver("psycopg2", "psycopg")  # the admin query, the engine
@pytest.mark.parametrize("poolclass", [QueuePool, NullPool])
def test_rotation_under_load_costs_one_retried_login(
    logged_server: AuroraLikeServer, roles: Callable[[str], str], poolclass: Any
) -> None:
    store = {"password": "first-" + secrets.token_hex(6)}
    role = roles(store["password"])
    provider = RotatingSecret(store)
    engine = aurora_ssl.create_engine(
        role_url(logged_server, "postgresql+psycopg", role),
        poolclass=poolclass,
        pool_pre_ping=True,
        aurora_ssl_password_provider=provider,
    )
    failures: list[BaseException] = []
    done = 0
    stop = threading.Event()
    # Backends are terminated between requests (a query in flight when its backend is killed
    # fails whatever the credentials): the pool then holds dead connections, and the fresh
    # ones need the new password.
    between_requests = threading.Lock()

    def load() -> None:
        nonlocal done
        while not stop.is_set():
            with between_requests:
                try:
                    assert who(engine) == (role, True)
                    done += 1
                except BaseException as exc:  # noqa: BLE001 - every failed request is counted
                    failures.append(exc)
            time.sleep(0.001)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_for(lambda: done >= 5, "the load loop made no progress")
        before = refused_logins(logged_server, role)
        with between_requests:
            store["password"] = "second-" + secrets.token_hex(6)  # the secret store rotates...
            set_password(logged_server, role, store["password"])  # ...the database too
            admin_execute(
                logged_server,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                args=(role,),
            )
            wait_for(lambda: _backends(logged_server, role) == 0, "the role's backends did not end")
            after_rotation = done
        wait_for(lambda: done >= after_rotation + 10, "the load loop made no progress")
    finally:
        stop.set()
        worker.join()
        engine.dispose()
    assert failures == []
    assert refused_logins(logged_server, role) - before == 1
    assert provider.reads == 2


def _backends(server: AuroraLikeServer, role: str) -> int:
    import psycopg2

    conn = psycopg2.connect(**server.admin_params())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _log_since(server: AuroraLikeServer, offset: int) -> str:
    with open(server.log_path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


# -- observability ------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", drivers.params("postgresql+psycopg2", "postgresql+asyncpg"))
def test_each_verified_connection_is_logged_and_reported(
    logged_server: AuroraLikeServer, caplog: pytest.LogCaptureFixture, driver: str
) -> None:
    url = logged_server.url(driver) + f"&aurora_ssl_bundle={logged_server.pki.bundle_path}"
    seen: list[aurora_ssl.sqlalchemy.VerifiedConnection] = []
    caplog.set_level(logging.DEBUG, logger="aurora_ssl.connections")
    if driver.endswith("asyncpg"):

        async def run() -> None:
            engine = aurora_ssl.create_async_engine(
                url, poolclass=NullPool, aurora_ssl_log_level="info"
            )
            assert is_protected(engine)
            on_verified(engine, seen.append)
            for _ in range(2):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            await engine.dispose()

        asyncio.run(run())
    else:
        engine = aurora_ssl.create_engine(url, poolclass=NullPool, aurora_ssl_log_level="info")
        on_verified(engine, seen.append)
        who(engine)
        who(engine)
    lines = [r for r in caplog.records if r.name == "aurora_ssl.connections"]
    assert len(lines) == 2
    assert all(r.levelno == logging.INFO for r in lines)
    message = lines[0].getMessage()
    assert logged_server.host in message
    assert "region:test-region-1" in message
    assert "TLSv1.3" in message
    assert driver.split("+")[1] in message
    assert len(seen) == 2
    facts = seen[0]
    assert (facts.endpoint, facts.port, facts.trust_scope) == (
        logged_server.host,
        logged_server.port,
        "region:test-region-1",
    )
    assert facts.tls.in_use
    assert facts.tls.protocol == "TLSv1.3"
    assert "password" not in facts.params
    assert logged_server.password not in repr(facts)
    assert facts.params["sslrootcert"]
    if driver.endswith("psycopg2"):
        assert facts.params["sslmode"] == "verify-full"
    assert all(logged_server.password not in r.getMessage() for r in lines)
    assert all(r.aurora_ssl_outcome == "verified" for r in lines)  # type: ignore[attr-defined]


@pytest.mark.driver("psycopg2")
def test_is_protected_tells_ours_from_others(logged_server: AuroraLikeServer) -> None:
    ours = aurora_ssl.create_engine(
        logged_server.url() + f"&aurora_ssl_bundle={logged_server.pki.bundle_path}"
    )
    plain = sqlalchemy.create_engine(logged_server.url())
    assert is_protected(ours)
    assert not is_protected(plain)
    with pytest.raises(TypeError, match="on_verified needs an engine"):
        on_verified(plain, print)


# -- which login, and only one retry --------------------------------------------------------


class Recording:
    """A provider that answers from a list and records every question and invalidation."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[CredentialTarget] = []
        self.invalidated: list[CredentialTarget] = []

    def password(self, target: CredentialTarget) -> str:
        self.asked.append(target)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]

    async def password_async(self, target: CredentialTarget) -> str:
        return self.password(target)

    def invalidate(self, target: CredentialTarget) -> None:
        self.invalidated.append(target)


class Asking:
    """Records the targets a real provider is asked about."""

    def __init__(self, inner: IAMTokenProvider) -> None:
        self.inner = inner
        self.asked: list[CredentialTarget] = []

    def password(self, target: CredentialTarget) -> str:
        self.asked.append(target)
        return self.inner.password(target)

    async def password_async(self, target: CredentialTarget) -> str:
        self.asked.append(target)
        return await self.inner.password_async(target)

    def invalidate(self, target: CredentialTarget) -> None:
        self.inner.invalidate(target)


@pytest.mark.parametrize("driver", drivers.params("postgresql+psycopg2", "postgresql+asyncpg"))
def test_the_password_is_for_the_verified_name_through_a_cname(
    logged_server: AuroraLikeServer, roles: Callable[[str], str], driver: str, clock: Clock
) -> None:
    # The app connects to "localhost" (think: a CNAME); the certificate is verified for the
    # RDS name, and that is the name the token must be signed for.
    role = token_role(logged_server, roles)
    recording = Asking(iam())
    cname_url = (
        f"{driver}://{role}@localhost:{logged_server.port}/{logged_server.database}"
        f"?aurora_ssl_bundle={logged_server.pki.bundle_path}"
        f"&aurora_ssl_tls_server_name={logged_server.host}"
    )
    if driver.endswith("asyncpg"):

        async def run() -> tuple[str, bool]:
            engine = aurora_ssl.create_async_engine(
                cname_url, poolclass=NullPool, aurora_ssl_password_provider=recording
            )
            try:
                async with engine.connect() as conn:
                    user, ssl = (await conn.execute(WHO)).one()
                    return str(user), bool(ssl)
            finally:
                await engine.dispose()

        assert asyncio.run(run()) == (role, True)
    else:
        engine = aurora_ssl.create_engine(
            cname_url, poolclass=NullPool, aurora_ssl_password_provider=recording
        )
        assert who(engine) == (role, True)
    assert recording.asked == [CredentialTarget(logged_server.host, logged_server.port, role)]


@pytest.mark.parametrize(
    "driver", drivers.params("postgresql+psycopg2", "postgresql+psycopg", "postgresql+asyncpg")
)
def test_a_refused_retry_is_not_retried_again_and_shows_no_password(
    logged_server: AuroraLikeServer, roles: Callable[[str], str], driver: str
) -> None:
    role = roles("the-right-one-" + secrets.token_hex(4))
    wrong = ["wrong-a-" + secrets.token_hex(4), "wrong-b-" + secrets.token_hex(4)]
    provider = Recording(*wrong)
    before = refused_logins(logged_server, role)
    if driver.endswith("asyncpg"):

        async def run() -> None:
            engine = aurora_ssl.create_async_engine(
                role_url(logged_server, driver, role), aurora_ssl_password_provider=provider
            )
            try:
                async with engine.connect():
                    pass
            finally:
                await engine.dispose()

        with pytest.raises(Exception) as info:  # noqa: PT011 - the driver's own error
            asyncio.run(run())
    else:
        engine = aurora_ssl.create_engine(
            role_url(logged_server, driver, role), aurora_ssl_password_provider=provider
        )
        with pytest.raises(sqlalchemy.exc.OperationalError) as info:
            who(engine)
    assert refused_logins(logged_server, role) - before == 2  # the attempt and one retry
    assert len(provider.asked) == 2
    assert len(provider.invalidated) == 1
    text_seen = "".join(str(e) + repr(e) for e in _chain(info.value))
    assert wrong[0] not in text_seen
    assert wrong[1] not in text_seen


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.mark.driver("psycopg2")
def test_insecure_local_dev_still_uses_the_provider_and_is_not_protected(
    no_tls_server: AuroraLikeServer,
) -> None:
    # The URL carries no password: the provider's is the one used (a password there next to
    # a provider is refused: tests/integration/test_password_and_provider.py).
    url = no_tls_server.url().replace(no_tls_server.host, "localhost")
    url = url.replace(f":{no_tls_server.password}@", "@") + "&sslmode=disable"
    provider = Recording(no_tls_server.password)
    engine = aurora_ssl.create_engine(
        url,
        aurora_ssl_insecure_local_dev=True,
        poolclass=NullPool,
        aurora_ssl_password_provider=provider,
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == no_tls_server.user
    assert [t.host for t in provider.asked] == ["localhost"]
    assert not is_protected(engine)


@pytest.mark.driver("psycopg2")
def test_the_verified_line_is_debug_by_default(
    logged_server: AuroraLikeServer, caplog: pytest.LogCaptureFixture
) -> None:
    engine = aurora_ssl.create_engine(
        logged_server.url() + f"&aurora_ssl_bundle={logged_server.pki.bundle_path}",
        poolclass=NullPool,
    )
    caplog.set_level(logging.INFO, logger="aurora_ssl.connections")
    who(engine)
    assert not [r for r in caplog.records if r.name == "aurora_ssl.connections"]
    caplog.set_level(logging.DEBUG, logger="aurora_ssl.connections")
    who(engine)
    (line,) = [r for r in caplog.records if r.name == "aurora_ssl.connections"]
    assert line.levelno == logging.DEBUG
    assert line.getMessage().startswith("verified TLS connection engine ")
    assert f" to {logged_server.host}:{logged_server.port} " in line.getMessage()
