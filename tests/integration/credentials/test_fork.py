"""Fork safety: a child forked mid-fetch gets its own password and connects to the real server.

Celery prefork and gunicorn ``--preload`` fork a process whose threads may be fetching an IAM
token or a secret at that moment. The child inherits the cache's in-flight entry and lock but
not the thread that would complete them. These tests fork for real (``os.fork``) while a slow
fetch is in flight in the parent, then log in from the child through
``aurora_ssl.create_engine`` to the real TLS server, and read the child's result from a pipe
and its exit status. A watchdog in the child turns a hang into a failure instead of a stuck
suite. The slowness is real botocore code made slow (credentials that take time to freeze, a
``GetSecretValue`` that takes time to answer); Secrets Manager itself is moto's. Bounded waits
and forks without a server: tests/unit/credentials/test_fork.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.client
import botocore.session
import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.credentials import (
    CredentialTarget,
    IAMTokenProvider,
    PasswordProvider,
    SecretsManager,
    _cache,
)
from aurora_ssl.testing import AuroraLikeServer
from tests.fix_credentials import (
    ACCESS_KEY,
    SECRET_KEY,
    SLOW,
    T0,
    WHO,
    Clock,
    SlowCredentials,
    in_forked_child,
    login_role,
    rds_secret,
    reference_token,
    set_password,
)

__all__ = ["login_role"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture
def slow_iam() -> IAMTokenProvider:
    SlowCredentials.started = threading.Event()
    session = botocore.session.Session()
    session._credentials = SlowCredentials(ACCESS_KEY, SECRET_KEY)  # botocore's own slot
    return IAMTokenProvider(session=session)


def engine_login(
    server: AuroraLikeServer, role: str, provider: PasswordProvider
) -> Callable[[], dict[str, Any]]:
    """Log in as ``role`` through ``aurora_ssl.create_engine`` with ``provider``'s password."""
    url = (
        sqlalchemy.engine.make_url(server.url())
        ._replace(username=role, password=None)
        .update_query_dict({"aurora_ssl_bundle": str(server.pki.bundle_path)})
    )

    def login() -> dict[str, Any]:
        engine = aurora_ssl.create_engine(
            url, poolclass=NullPool, aurora_ssl_password_provider=provider
        )
        try:
            with engine.connect() as conn:
                user, ssl = conn.execute(sqlalchemy.text(WHO)).one()
        finally:
            engine.dispose()
        return {"user": str(user), "ssl": bool(ssl)}

    return login


@pytest.mark.driver("libpq")
def test_a_child_forked_during_an_iam_signing_signs_its_own_token_and_connects(
    tls_server: AuroraLikeServer,
    login_role: Callable[[str], str],
    clock: Clock,
    slow_iam: IAMTokenProvider,
    fetching: Callable[[Callable[[], object]], None],
) -> None:
    role = login_role("not-the-token")
    region = "test-region-1"
    set_password(
        tls_server, role, reference_token(tls_server.host, tls_server.port, role, region, T0)
    )
    target = CredentialTarget(tls_server.host, tls_server.port, role)
    fetching(lambda: slow_iam.password(target))
    assert SlowCredentials.started.wait(10)  # the parent's signing is in flight now

    status, result = in_forked_child(engine_login(tls_server, role, slow_iam))

    assert (status, result.get("user"), result.get("ssl")) == (0, role, True), result
    # It signed for itself (SLOW), not waited out the parent's fetch (WAIT_SECONDS).
    assert result["seconds"] < _cache.WAIT_SECONDS
    assert slow_iam.signings == 1  # the parent's own signing, untouched by the child's


@pytest.mark.driver("libpq")
def test_a_child_forked_during_a_secret_read_reads_it_with_its_own_client_and_connects(
    aws: Any,
    tls_server: AuroraLikeServer,
    login_role: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    fetching: Callable[[Callable[[], object]], None],
) -> None:
    role = login_role("from-the-secret")
    aws.create_secret(Name="forked", SecretString=rds_secret(role, "from-the-secret"))
    started = threading.Event()
    clients: list[object] = []
    real_call = botocore.client.BaseClient._make_api_call
    real_create = botocore.session.Session.create_client

    def slow_call(self: Any, operation: str, params: Any) -> Any:
        if operation == "GetSecretValue":
            started.set()
            time.sleep(SLOW)
        return real_call(self, operation, params)

    def counted_create(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = real_create(self, *args, **kwargs)
        clients.append(client)
        return client

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", slow_call)
    monkeypatch.setattr(botocore.session.Session, "create_client", counted_create)
    provider = SecretsManager("forked")
    target = CredentialTarget(tls_server.host, tls_server.port, role)
    fetching(lambda: provider.password(target))
    assert started.wait(10)  # the parent's GetSecretValue is in flight now

    login = engine_login(tls_server, role, provider)
    status, result = in_forked_child(lambda: {**login(), "clients": len(clients)})

    assert (status, result.get("user"), result.get("ssl")) == (0, role, True), result
    assert result["seconds"] < _cache.WAIT_SECONDS
    # The parent's client (and its pooled HTTPS connections) stayed the parent's.
    assert (len(clients), result["clients"]) == (1, 2)
