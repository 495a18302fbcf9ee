"""connect_with_password(_async) without a server: a provider that fails is a credentials error,
found before connecting, and nothing is sent.

The retry after a refused login, decided by the real server: tests/integration/credentials/test_retry.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aurora_ssl.credentials import (
    CredentialsError,
    CredentialTarget,
    connect_with_password,
    connect_with_password_async,
)


class Broken:
    """A provider object that fails as user code does: its own exception, a secret inside."""

    def __init__(self, result: object = None, error: Exception | None = None) -> None:
        self.result = result
        self.error = error

    def password(self, target: CredentialTarget) -> Any:
        if self.error is not None:
            raise self.error
        return self.result

    async def password_async(self, target: CredentialTarget) -> Any:
        return self.password(target)

    def invalidate(self, target: CredentialTarget) -> None:
        raise AssertionError("nothing was refused")


LEAKED = "vault-token-Zq9-do-not-show"
BROKEN_TARGET = CredentialTarget("demo.cluster-abc.us-east-1.rds.amazonaws.com", 5432, "app")


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        (Broken(error=KeyError(f"no key {LEAKED}")), "failed for app@demo.cluster-abc"),
        (Broken(result=None), "returned a NoneType for app@demo.cluster-abc"),
        (Broken(result=""), "returned an empty string for app@demo.cluster-abc"),
    ],
)
def test_a_provider_that_fails_is_a_credentials_error_and_nothing_is_sent(
    provider: Broken, message: str
) -> None:
    """Found before connecting: named as a credentials problem, the login, never the secret."""
    sent: list[str] = []

    async def connect_async(password: str) -> None:
        sent.append(password)

    with pytest.raises(CredentialsError, match=message) as sync_info:
        connect_with_password(provider, BROKEN_TARGET, sent.append)
    with pytest.raises(CredentialsError, match=message) as async_info:
        asyncio.run(connect_with_password_async(provider, BROKEN_TARGET, connect_async))
    assert sent == []
    for info in (sync_info, async_info):
        assert ":5432" in str(info.value)
        assert LEAKED not in str(info.value)
        assert "Broken" in str(info.value)  # which provider
        if provider.error is not None:
            assert info.value.__cause__ is provider.error  # kept for the traceback
