"""Helpers for the credentials tests: throwaway login roles on the shared TLS server.

The session's ``tls_server`` is shared, so these tests never change the ``app`` role's
password: each test creates its own role (dropped afterwards) and sets *its* password to the
token or secret under test. Whether a login worked is asked of the server (``current_user``,
``pg_stat_ssl``); whether it was refused is read from the server's log.

Also shared here: the fixed fake AWS credentials and clock with botocore's own token as the
reference (``reference_token``), and moto's Secrets Manager (``aws``). The fixtures are
registered by the root conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import os
import secrets
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.credentials
import botocore.session
import pytest

import aurora_ssl
from aurora_ssl.credentials import (
    CredentialsError,
    CredentialTarget,
    PasswordProvider,
    connect_with_password,
    is_auth_failure,
)
from aurora_ssl.testing import AuroraLikeServer
from tests import drivers
from tests.fix_servers import admin_execute


def set_password(server: AuroraLikeServer, role: str, password: str) -> None:
    admin_execute(server, f'ALTER ROLE "{role}" PASSWORD %s', args=(password,))


def refused_logins(server: AuroraLikeServer, role: str) -> int:
    """How many logins of ``role`` the server refused for a wrong password, per its log."""
    text = Path(server.log_path).read_text(encoding="utf-8", errors="replace")
    return text.count(f'password authentication failed for user "{role}"')


def make_role(server: AuroraLikeServer, password: str) -> str:
    """A new login role with ``password`` on ``server``; its name."""
    name = f"role_{secrets.token_hex(4)}"
    admin_execute(server, f'CREATE ROLE "{name}" LOGIN PASSWORD %s', args=(password,))
    return name


def drop_role(server: AuroraLikeServer, name: str) -> None:
    """End the role's sessions and drop it."""
    admin_execute(
        server,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
        args=(name,),
    )
    admin_execute(server, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def role_on(pki: Any) -> Iterator[Callable[[AuroraLikeServer, str], str]]:
    """Throwaway login roles (``make(server, password) -> name``), dropped after the test: the
    shared servers are shared, so a test never changes the ``app`` role's password."""
    made: list[tuple[AuroraLikeServer, str]] = []

    def make(server: AuroraLikeServer, password: str) -> str:
        made.append((server, make_role(server, password)))
        return made[-1][1]

    yield make
    for server, name in made:
        drop_role(server, name)


@pytest.fixture
def login_role(
    tls_server: AuroraLikeServer, role_on: Callable[[AuroraLikeServer, str], str]
) -> Callable[[str], str]:
    """``role_on`` on the shared TLS server: ``make(password) -> name``."""
    return lambda password: role_on(tls_server, password)


def verified_params(server: AuroraLikeServer, user: str) -> dict[str, Any]:
    """aurora-ssl's verify-full parameters for ``user`` (no password: the provider gives it)."""
    return aurora_ssl.connection_params(
        {
            "host": server.host,
            "hostaddr": server.hostaddr,
            "port": str(server.port),
            "user": user,
            "dbname": server.database,
        },
        aurora_ssl.Options(bundle=str(server.pki.bundle_path)),
    )


#: What the server says about a session: its user, and whether it is encrypted.
WHO = "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def whoami(conn: Any) -> tuple[str, bool]:
    """:data:`WHO` on a DB-API connection (psycopg2, psycopg 3, a Django connection)."""
    with conn.cursor() as cur:
        cur.execute(WHO)
        user, ssl = cur.fetchone()
    return str(user), bool(ssl)


async def whoami_async(conn: Any) -> tuple[str, bool]:
    """:data:`WHO` on a psycopg 3 ``AsyncConnection``, which it then closes."""
    async with conn:
        cur = await conn.execute(WHO)
        row = await cur.fetchone()
    assert row is not None
    return str(row[0]), bool(row[1])


def promote_pending(aws: Any, secret_id: str, version: str) -> None:
    """Secrets Manager rotation's last step: the AWSPENDING ``version`` becomes AWSCURRENT."""
    current = next(
        v["VersionId"]
        for v in aws.list_secret_version_ids(SecretId=secret_id)["Versions"]
        if "AWSCURRENT" in v["VersionStages"]
    )
    aws.update_secret_version_stage(
        SecretId=secret_id,
        VersionStage="AWSCURRENT",
        MoveToVersionId=version,
        RemoveFromVersionId=current,
    )


def connect_with_retry(
    server: AuroraLikeServer, provider: PasswordProvider, target: CredentialTarget
) -> tuple[Any, int]:
    """What an integration does (:func:`connect_with_password`), counting refused attempts.

    Returns:
        The connection and how many attempts were refused (0 or 1).
    """
    dbapi = drivers.libpq_module()  # the run's libpq driver: mark the test driver("libpq")
    params = verified_params(server, target.user)
    refused = 0

    def connect(password: str) -> Any:
        nonlocal refused
        try:
            return dbapi.connect(**params, password=password)
        except dbapi.OperationalError as exc:
            refused += is_auth_failure(exc)
            raise

    return connect_with_password(provider, target, connect), refused


# -- RDS IAM tokens: fixed fake credentials and clock, botocore's token as the reference -------

ACCESS_KEY = "AKIDEXAMPLEFAKE00001"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
T0 = 1_796_000_000  # 2026-11-30T..., any fixed instant


@functools.lru_cache(maxsize=64)
def _rds_client(region: str, access_key: str, secret_key: str, token: str | None) -> Any:
    return _REFERENCE_SESSION.create_client(
        "rds",
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
    )


_REFERENCE_SESSION = botocore.session.Session()


class Clock:
    """botocore's signing clock, pinned to ``now`` (POSIX seconds, settable).

    Installed as ``botocore.auth.get_current_datetime``, it is the time every token is signed
    at (``X-Amz-Date``) and the time the IAM provider's cache compares expiries with.
    """

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self, remove_tzinfo: bool = True) -> datetime.datetime:
        moment = datetime.datetime.fromtimestamp(self.now, datetime.timezone.utc)
        return moment.replace(tzinfo=None) if remove_tzinfo else moment


@contextlib.contextmanager
def signing_at(clock: Clock) -> Iterator[Clock]:
    """botocore signs (and the IAM cache reads the time) at ``clock.now`` inside the block.

    ``botocore.auth.get_current_datetime`` is what botocore's SigV4 signers read; if botocore
    renames it, this fails here rather than letting tests sign at the wall-clock time.
    """
    saved = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = clock
    try:
        yield clock
    finally:
        botocore.auth.get_current_datetime = saved


@pytest.fixture
def clock() -> Iterator[Clock]:
    """botocore's clock pinned at :data:`T0` for the test; move it with ``clock.now = ...``."""
    with signing_at(Clock()) as pinned:
        yield pinned


def reference_token(
    host: str,
    port: int,
    user: str,
    region: str,
    at: float,
    *,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    token: str | None = None,
) -> str:
    """botocore's generate_db_auth_token at the instant ``at`` (its clock pinned)."""
    client = _rds_client(region, access_key, secret_key, token)
    with signing_at(Clock(at)):
        return str(client.generate_db_auth_token(host, port, user, Region=region))


def session_with(access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> Any:
    session = botocore.session.Session()
    session.set_credentials(access_key, secret_key)
    return session


# -- a fetch in flight: slow credentials, a parent thread fetching, a forked child --------------

SLOW = 2.0  # seconds a SlowCredentials fetch stays in flight (a test may set a shorter delay)
WATCHDOG = 20  # seconds before a child that hangs is killed (SIGALRM); WAIT_SECONDS is 30


class SlowCredentials(botocore.credentials.Credentials):
    """Real botocore credentials whose freezing takes ``delay`` seconds (:data:`SLOW` unless an
    instance says otherwise), and says when it began (``started``: a test that waits for it
    sets a fresh Event first). A fetch held in flight, or a race widened on purpose."""

    delay = SLOW
    started = threading.Event()

    def get_frozen_credentials(self) -> Any:
        self.started.set()
        time.sleep(self.delay)
        return super().get_frozen_credentials()


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


# -- Secrets Manager: moto stands in for the AWS API ---------------------------------------------

SECRETS_REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    """moto's simulated AWS with fake credentials; yields a Secrets Manager client."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", SECRETS_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with mock_aws():
        yield botocore.session.Session().create_client("secretsmanager", region_name=SECRETS_REGION)


def rds_secret(username: str, password: str, **extra: Any) -> str:
    return json.dumps({"engine": "postgres", "username": username, "password": password, **extra})
