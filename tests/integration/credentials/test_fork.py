"""Fork safety and bounded waits: a child forked mid-fetch gets its own password and connects.

Celery prefork and gunicorn ``--preload`` fork a process whose threads may be fetching an IAM
token or a secret at that moment. The child inherits the cache's in-flight entry and lock but
not the thread that would complete them. These tests fork for real (``os.fork``) while a slow
fetch is in flight in the parent, then log in from the child through
``aurora_ssl.create_engine`` to the real TLS server, and read the child's result from a pipe
and its exit status. A watchdog in the child turns a hang into a failure instead of a stuck
suite. The slowness is real botocore code made slow (credentials that take time to freeze, a
``GetSecretValue`` that takes time to answer); Secrets Manager itself is moto's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import botocore.client
import botocore.credentials
import botocore.session
import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.credentials import (
    CredentialsError,
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
    T0,
    WHO,
    Clock,
    login_role,
    rds_secret,
    reference_token,
    session_with,
    set_password,
)

__all__ = ["login_role"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

SLOW = 2.0  # seconds the parent's fetch is still running after the fork
WATCHDOG = 20  # seconds before a child that hangs is killed (SIGALRM); WAIT_SECONDS is 30


class SlowCredentials(botocore.credentials.Credentials):
    """Real botocore credentials whose freezing takes :data:`SLOW` seconds, and says so."""

    started = threading.Event()

    def get_frozen_credentials(self) -> Any:
        self.started.set()
        time.sleep(SLOW)
        return super().get_frozen_credentials()


@pytest.fixture
def slow_iam() -> IAMTokenProvider:
    SlowCredentials.started = threading.Event()
    session = botocore.session.Session()
    session._credentials = SlowCredentials(ACCESS_KEY, SECRET_KEY)  # botocore's own slot
    return IAMTokenProvider(session=session)


def in_forked_child(child: Callable[[], dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """Fork now; the child runs ``child`` and sends its result (JSON) through a pipe.

    Returns:
        The child's exit status (0: ``child`` returned) and what it sent (or the error).
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # 3.12+: forking with threads is the scenario under test
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            signal.alarm(WATCHDOG)
            started = time.monotonic()
            try:
                result = {**child(), "seconds": time.monotonic() - started}
                status = 0
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                result = {"error": type(exc).__name__, "message": str(exc)}
            os.write(write_end, json.dumps(result).encode())
        finally:
            os._exit(status)
    os.close(write_end)
    ready, _, _ = select.select([read_end], [], [], WATCHDOG + 10)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    data = b""
    while ready and (chunk := os.read(read_end, 65536)):
        data += chunk
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status), {"error": "killed", "signal": os.WTERMSIG(status)}
    return os.WEXITSTATUS(status), json.loads(data or b"{}")


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


@pytest.fixture
def fetching() -> Iterator[Callable[[Callable[[], object]], None]]:
    """Start a fetch in a parent thread (``start(call)``); joined after the test."""
    threads: list[threading.Thread] = []

    def start(call: Callable[[], object]) -> None:
        def run() -> None:
            with contextlib.suppress(CredentialsError):  # a bounded wait may give up
                call()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join(timeout=30)


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


def test_the_child_keeps_the_values_the_parent_had(clock: Clock) -> None:
    """A token cached before the fork is still served in the child, without signing again."""
    provider = IAMTokenProvider(session=session_with())
    target = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    token = provider.password(target)
    status, result = in_forked_child(
        lambda: {"same": provider.password(target) == token, "signings": provider.signings}
    )
    assert (status, result["same"], result["signings"]) == (0, True, 1), result


# -- bounded waits ------------------------------------------------------------------------------


def test_a_wait_for_a_fetch_that_does_not_finish_ends_with_an_error_naming_the_login(
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    fetching: Callable[[Callable[[], object]], None],
) -> None:
    monkeypatch.setattr(_cache, "WAIT_SECONDS", 0.3)
    SlowCredentials.started = threading.Event()
    session = botocore.session.Session()
    session._credentials = SlowCredentials(ACCESS_KEY, SECRET_KEY)
    provider = IAMTokenProvider(session=session)
    target = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    fetching(lambda: provider.password(target))
    assert SlowCredentials.started.wait(10)

    started = time.monotonic()
    with pytest.raises(CredentialsError) as sync_wait:
        provider.password(target)
    with pytest.raises(CredentialsError) as async_wait:
        asyncio.run(provider.password_async(target))
    assert time.monotonic() - started < SLOW  # both gave up before the fetch finished
    for info in (sync_wait, async_wait):
        message = str(info.value)
        assert (
            "Waited 0.3 s for an IAM token for app@a.cluster-x.us-east-1.rds.amazonaws.com:5432"
            in message
        )
        assert SECRET_KEY not in message
        assert ACCESS_KEY not in message
    # The fetch itself went on; once it is done, the token is there for everyone.
    time.sleep(SLOW)
    assert provider.password(target) == reference_token(target.host, 5432, "app", "us-east-1", T0)
    assert provider.signings == 1
