"""RDS IAM tokens against a real server: the token logs in, a stale or wrong one is refused.

The tokens are the deterministic SigV4 of fixed fake credentials at botocore's pinned clock
(``clock``), computed by botocore's own ``generate_db_auth_token`` and made the role's
password; a refusal is read back from the server's log. Signing, caching and single-flight
without a server: tests/unit/credentials/test_iam.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from aurora_ssl.credentials import CredentialTarget, IAMTokenProvider, is_auth_failure
from aurora_ssl.testing import AuroraLikeServer, iam_token_as_password
from tests import drivers
from tests.fix_credentials import (
    SECRET_KEY,
    T0,
    Clock,
    connect_with_retry,
    login_role,
    reference_token,
    refused_logins,
    session_with,
    set_password,
    verified_params,
    whoami,
    whoami_async,
)

__all__ = ["login_role"]  # a fixture, used by name

# botocore signs at the pinned clock in every test here (signing time and cache time).
pytestmark = pytest.mark.usefixtures("clock")


@pytest.mark.driver("libpq")
def test_the_token_logs_in_and_a_stale_one_is_refused_then_retry_recovers(
    tls_server: AuroraLikeServer, login_role: Callable[[str], str], clock: Clock
) -> None:
    dbapi = drivers.libpq_module()

    region = "test-region-1"  # what the test server's endpoint name says
    role = login_role("not-the-token")
    expected = reference_token(tls_server.host, tls_server.port, role, region, T0)
    set_password(tls_server, role, expected)
    provider = IAMTokenProvider(session=session_with())
    target = CredentialTarget(tls_server.host, tls_server.port, role)

    token = provider.password(target)
    assert token == expected
    conn = dbapi.connect(**verified_params(tls_server, role), password=token)
    assert whoami(conn) == (role, True)
    conn.close()

    # A minute later the server expects a token signed then (as RDS would after a credential
    # change); the cached one is now stale and the server refuses it.
    clock.now = T0 + 60
    fresh = reference_token(tls_server.host, tls_server.port, role, region, T0 + 60)
    set_password(tls_server, role, fresh)
    assert provider.password(target) == expected  # still cached: one signing per 10 minutes
    before = refused_logins(tls_server, role)
    with pytest.raises(dbapi.OperationalError) as info:
        dbapi.connect(**verified_params(tls_server, role), password=expected)
    assert refused_logins(tls_server, role) == before + 1
    assert is_auth_failure(info.value)

    # What an integration does: invalidate, retry once; the retry signs anew and gets in.
    conn, refused = connect_with_retry(tls_server, provider, target)
    assert refused == 1
    assert whoami(conn) == (role, True)
    conn.close()
    assert refused_logins(tls_server, role) == before + 2
    assert provider.signings == 2


@pytest.mark.driver("psycopg")
def test_the_async_path_logs_in_with_psycopg_async(
    tls_server: AuroraLikeServer, login_role: Callable[[str], str]
) -> None:
    import psycopg

    role = login_role("x")
    target = CredentialTarget(tls_server.host, tls_server.port, role)

    async def main(provider: IAMTokenProvider) -> tuple[str, bool]:
        conn = await psycopg.AsyncConnection.connect(
            **verified_params(tls_server, role), password=await provider.password_async(target)
        )
        return await whoami_async(conn)

    with iam_token_as_password(tls_server, role, at=T0):
        assert asyncio.run(main(IAMTokenProvider())) == (role, True)  # the default chain


@pytest.mark.driver("libpq")
def test_a_token_for_another_user_or_port_is_refused(
    tls_server: AuroraLikeServer, login_role: Callable[[str], str]
) -> None:
    dbapi = drivers.libpq_module()

    role = login_role("x")
    wrong_port = CredentialTarget(tls_server.host, tls_server.port + 1, role)
    wrong_keys = IAMTokenProvider(session=session_with(secret_key=SECRET_KEY[::-1]))
    right = CredentialTarget(tls_server.host, tls_server.port, role)
    with iam_token_as_password(tls_server, role, at=T0):
        provider = IAMTokenProvider()  # botocore's default chain
        tokens = (provider.password(wrong_port), wrong_keys.password(right))
        good = provider.password(right)
    before = refused_logins(tls_server, role)
    for token in tokens:
        with pytest.raises(dbapi.OperationalError):
            dbapi.connect(**verified_params(tls_server, role), password=token)
    assert refused_logins(tls_server, role) == before + 2
    conn = dbapi.connect(**verified_params(tls_server, role), password=good)
    assert whoami(conn) == (role, True)
    conn.close()
