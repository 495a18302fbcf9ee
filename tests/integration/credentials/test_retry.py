"""connect_with_password(_async): one retry after a refused login, none after anything else.

Decision by the real server: how many logins it refused (its log), and who is logged in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest

from aurora_ssl.credentials import (
    CredentialTarget,
    IAMTokenProvider,
    connect_with_password,
    connect_with_password_async,
)
from aurora_ssl.testing import AuroraLikeServer
from tests import drivers
from tests.fix_credentials import (
    Clock,
    login_role,
    refused_logins,
    verified_params,
    whoami,
    whoami_async,
)

__all__ = ["login_role"]  # a fixture, used by name


class Counting:
    """A provider that hands out a fixed list of passwords and records the calls."""

    def __init__(self, *passwords: str) -> None:
        self.passwords = list(passwords)
        self.asked = 0
        self.invalidated = 0

    def password(self, target: CredentialTarget) -> str:
        self.asked += 1
        return self.passwords[min(self.asked, len(self.passwords)) - 1]

    async def password_async(self, target: CredentialTarget) -> str:
        return self.password(target)

    def invalidate(self, target: CredentialTarget) -> None:
        self.invalidated += 1


@pytest.mark.driver("libpq")
def test_a_refused_login_is_retried_once_with_a_fresh_password(
    tls_server: AuroraLikeServer, login_role: Callable[[str], str]
) -> None:
    dbapi = drivers.libpq_module()

    role = login_role("fresh")
    provider = Counting("stale", "fresh")
    target = CredentialTarget(tls_server.host, tls_server.port, role)
    params = verified_params(tls_server, role)
    before = refused_logins(tls_server, role)
    conn = connect_with_password(provider, target, lambda pw: dbapi.connect(**params, password=pw))
    assert whoami(conn) == (role, True)
    conn.close()
    assert (provider.asked, provider.invalidated) == (2, 1)
    assert refused_logins(tls_server, role) == before + 1


@pytest.mark.driver("libpq")
def test_only_one_retry(tls_server: AuroraLikeServer, login_role: Callable[[str], str]) -> None:
    dbapi = drivers.libpq_module()

    role = login_role("right")
    provider = Counting("wrong", "still-wrong", "right")
    target = CredentialTarget(tls_server.host, tls_server.port, role)
    params = verified_params(tls_server, role)
    before = refused_logins(tls_server, role)
    with pytest.raises(dbapi.OperationalError, match="password authentication failed"):
        connect_with_password(provider, target, lambda pw: dbapi.connect(**params, password=pw))
    assert (provider.asked, provider.invalidated) == (2, 1)
    assert refused_logins(tls_server, role) == before + 2


@pytest.mark.driver("libpq")
def test_a_tls_failure_is_not_retried(
    interception_server: AuroraLikeServer, login_role: Callable[[str], str]
) -> None:
    dbapi = drivers.libpq_module()

    role = login_role("right")
    provider = Counting("right")
    target = CredentialTarget(interception_server.host, interception_server.port, role)
    params = verified_params(interception_server, role)
    with pytest.raises(dbapi.OperationalError, match="certificate verify failed"):
        connect_with_password(provider, target, lambda pw: dbapi.connect(**params, password=pw))
    assert (provider.asked, provider.invalidated) == (1, 0)


@pytest.mark.driver("psycopg")
def test_async_retry_recovers_with_a_fresh_iam_token(
    tls_server: AuroraLikeServer, login_role: Callable[[str], str], clock: Clock
) -> None:
    import psycopg

    from tests.fix_credentials import ACCESS_KEY, SECRET_KEY, T0, reference_token, set_password

    role = login_role("x")
    session = botocore.session.Session()
    session.set_credentials(ACCESS_KEY, SECRET_KEY)
    provider = IAMTokenProvider(session=session)
    target = CredentialTarget(tls_server.host, tls_server.port, role)
    params = verified_params(tls_server, role)

    async def connect(password: str) -> Any:
        return await psycopg.AsyncConnection.connect(**params, password=password)

    async def login() -> tuple[str, bool]:
        return await whoami_async(await connect_with_password_async(provider, target, connect))

    set_password(
        tls_server,
        role,
        reference_token(tls_server.host, tls_server.port, role, "test-region-1", T0),
    )
    assert asyncio.run(login()) == (role, True)
    # The server now wants a token signed later; the cached one is refused once, then re-signed.
    clock.now = T0 + 120
    set_password(
        tls_server,
        role,
        reference_token(tls_server.host, tls_server.port, role, "test-region-1", T0 + 120),
    )
    before = refused_logins(tls_server, role)
    assert asyncio.run(login()) == (role, True)
    assert refused_logins(tls_server, role) == before + 1
    assert provider.signings == 2


@pytest.mark.driver("libpq")
def test_refusals_never_show_the_passwords(
    tls_server: AuroraLikeServer, login_role: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import traceback

    dbapi = drivers.libpq_module()

    role = login_role("the-right-one")
    first, second = "Distinctive-Stale-9f1c", "Distinctive-Wrong-77ab"
    provider = Counting(first, second)
    target = CredentialTarget(tls_server.host, tls_server.port, role)
    params = verified_params(tls_server, role)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(dbapi.OperationalError) as info:
        connect_with_password(provider, target, lambda pw: dbapi.connect(**params, password=pw))
    text = "".join(traceback.format_exception(info.value)) + repr(info.value) + caplog.text
    assert "password authentication failed" in text
    assert first not in text
    assert second not in text
