"""Passwords from a provider through the Django backend, against the real TLS server.

IAM: the local server cannot ask AWS about a token, but SigV4 is deterministic: for fixed
fake credentials and a fixed clock botocore signs exactly one token, which the test makes the
role's password (``aurora_ssl.testing.iam_token_as_password``, as users' suites do). Logging in with it through the backend,
unpooled and through Django's psycopg 3 pool, and on psycopg2 in a subprocess, shows the
backend asked the provider for the endpoint name it verifies. Rotation: Secrets Manager is
simulated by moto (AWS cannot be reached here; nothing else is simulated); the database
password really changes (``ALTER ROLE``), backends are really terminated, and refusals are
counted in the server's log.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from aurora_ssl.credentials import IAMTokenProvider
from aurora_ssl.testing import AuroraLikeServer, iam_token_as_password
from tests.fix_credentials import (
    T0,
    Clock,
    promote_pending,
    rds_secret,
    reference_token,
    session_with,
    set_password,
)
from tests.fix_django import (
    database_entry,
    demo_env,
    django_whoami,
    pool_supported,
    run_script,
    use_databases,
)
from tests.fix_servers import admin_execute, log_since, log_size, logins, wait_for

REGION = "test-region-1"  # what the test servers' endpoint names say
POOL = {"min_size": 1, "max_size": 2, "timeout": 3}


def pooled(enabled: bool) -> dict[str, Any]:
    if not enabled:
        return {}
    if not pool_supported():
        pytest.skip("Django's pool needs Django >= 5.1, psycopg 3 and psycopg_pool")
    return {"pool": dict(POOL)}


def refusals(server: AuroraLikeServer, role: str, since: int = 0) -> int:
    return log_since(server, since).count(f'password authentication failed for user "{role}"')


@pytest.fixture
def deterministic_iam(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Clock:
    """``AURORA_SSL["IAM"] = True`` signs with fixed fake credentials at a fixed instant.

    The backend's one IAMTokenProvider per profile is pre-built with them (the default chain
    would find no credentials here), and botocore's clock is pinned at ``T0`` (``clock``).
    """
    from aurora_ssl import _connect

    provider = IAMTokenProvider(session=session_with())
    monkeypatch.setattr(_connect, "_iam_provider", functools.cache(lambda profile: provider))
    return clock


# -- IAM tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("pool", [False, True], ids=["unpooled", "pooled"])
def test_iam_token_logs_in_through_the_backend(
    logged_server: AuroraLikeServer,
    role_on: Callable[[AuroraLikeServer, str], str],
    django_env: None,
    pool: bool,
) -> None:
    server = logged_server
    role = role_on(server, "not-the-token")
    entry = database_entry(
        server, USER=role, PASSWORD="", aurora={"IAM": True}, options=pooled(pool)
    )
    start = log_size(server)
    with iam_token_as_password(server, role), use_databases({"default": entry}):
        from django.db import connections

        assert django_whoami() == (role, True)
        connections["default"].close()
        assert django_whoami() == (role, True)  # again: unpooled a new login, pooled a reused one
    assert refusals(server, role, start) == 0
    assert logins(server, role, start) >= 1


@pytest.mark.parametrize("pool", [False, True], ids=["unpooled", "pooled"])
def test_stale_iam_token_is_refused_once_then_the_retry_logs_in(
    logged_server: AuroraLikeServer,
    role_on: Callable[[AuroraLikeServer, str], str],
    deterministic_iam: Clock,
    django_env: None,
    pool: bool,
) -> None:
    """Pooled: the pool's next physical connection asks again, so the token the pool was
    built with never goes stale in it (Django's own pool keeps static kwargs)."""
    server = logged_server
    role = role_on(server, "x")
    set_password(server, role, reference_token(server.host, server.port, role, REGION, T0))
    entry = database_entry(
        server,
        USER=role,
        PASSWORD="",
        CONN_HEALTH_CHECKS=pool,
        aurora={"IAM": True},
        options=pooled(pool),
    )
    with use_databases({"default": entry}):
        from django.db import connections

        assert django_whoami() == (role, True)
        connections["default"].close()
        # The server now expects a token signed a minute later; the cached one is stale.
        deterministic_iam.now = T0 + 60
        later = reference_token(server.host, server.port, role, REGION, T0 + 60)
        set_password(server, role, later)
        # The session ends (RDS failover, idle timeout): the pool must log in again.
        admin_execute(
            server,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            args=(role,),
        )
        start = log_size(server)
        assert django_whoami() == (role, True)
        connections["default"].close()
    # The stale token, then the fresh one got in: once per new physical connection (the
    # pool may open its min_size replacement and the request's connection at once).
    refused = refusals(server, role, start)
    assert 1 <= refused <= (POOL["max_size"] if pool else 1)
    assert logins(server, role, start) >= refused


@pytest.mark.parametrize("pool", [False, True], ids=["unpooled", "pooled"])
def test_iam_token_is_signed_for_tls_server_name(
    logged_server: AuroraLikeServer,
    role_on: Callable[[AuroraLikeServer, str], str],
    django_env: None,
    pool: bool,
) -> None:
    """HOST is another name (a CNAME); the token is signed for the verified RDS name."""
    server = logged_server
    role = role_on(server, "x")
    entry = database_entry(
        server,
        USER=role,
        PASSWORD="",
        HOST="localhost",
        aurora={"IAM": True, "TLS_SERVER_NAME": server.host},
        options={**pooled(pool)},
    )
    entry["OPTIONS"].pop("hostaddr")
    with iam_token_as_password(server, role), use_databases({"default": entry}):
        assert django_whoami() == (role, True)


@pytest.mark.driver("psycopg2")
def test_iam_token_through_psycopg2_and_a_provider_path(
    tls_server: AuroraLikeServer, role_on: Callable[[AuroraLikeServer, str], str]
) -> None:
    """psycopg2 (psycopg hidden, a fresh interpreter), the provider named "module:attr"."""
    role = role_on(tls_server, "x")
    set_password(
        tls_server, role, reference_token(tls_server.host, tls_server.port, role, REGION, T0)
    )
    entry = database_entry(
        tls_server,
        USER=role,
        PASSWORD="",
        aurora={"PASSWORD_PROVIDER": "tests.django_backends.iam_token:provider"},
    )
    env = demo_env(tls_server, AURORA_SSL_TEST_DATABASE=json.dumps(entry))
    completed = run_script("tests/django_backends/connect_once.py", driver="psycopg2", env=env)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result == {"driver": "psycopg2", "ssl": True, "connected": True}


def test_checks_pass_with_iam(
    tls_server: AuroraLikeServer,
    role_on: Callable[[AuroraLikeServer, str], str],
    django_env: None,
) -> None:
    """``check``, ``check --database`` and ``check_aurora_ssl`` with ``IAM: True``."""
    from io import StringIO

    from django.core.management import call_command

    role = role_on(tls_server, "x")
    entry = database_entry(tls_server, USER=role, PASSWORD="", aurora={"IAM": True})
    with iam_token_as_password(tls_server, role) as token, use_databases({"default": entry}):
        checks, report = StringIO(), StringIO()
        call_command("check", stdout=checks)
        call_command("check", databases=["default"], stdout=checks)
        call_command("check_aurora_ssl", stdout=report, no_color=True)  # SystemExit if not
        text = checks.getvalue() + report.getvalue()
    assert checks.getvalue().count("System check identified no issues") == 2
    assert report.getvalue().startswith("default: VERIFIED"), report.getvalue()
    assert token not in text
    assert "X-Amz-Signature" not in text


# -- rotation through Secrets Manager (moto) ------------------------------------------------


def _rotate(
    aws: Any,
    server: AuroraLikeServer,
    secret_id: str,
    role: str,
    password: str,
    between_requests: threading.Lock,
) -> None:
    """As AWS's rotation Lambda: AWSPENDING, ALTER ROLE, move AWSCURRENT; then terminate
    the role's backends, so even pooled connections must log in again.

    The termination waits for the end of a request: a backend killed in the middle of a
    query fails that request whatever the credentials (Django does not replay queries), and
    that is not what this test is about.
    """
    version = aws.put_secret_value(
        SecretId=secret_id, SecretString=rds_secret(role, password), VersionStages=["AWSPENDING"]
    )["VersionId"]
    set_password(server, role, password)
    time.sleep(0.2)
    promote_pending(aws, secret_id, version)
    with between_requests:
        admin_execute(
            server,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            args=(role,),
        )


@pytest.mark.parametrize("pool", [False, True], ids=["unpooled", "pooled"])
def test_rotation_and_terminated_backends_need_no_restart(
    aws: Any,
    logged_server: AuroraLikeServer,
    role_on: Callable[[AuroraLikeServer, str], str],
    django_env: None,
    pool: bool,
) -> None:
    from aurora_ssl.credentials import SecretsManager

    server = logged_server
    role = role_on(server, "first-password")
    aws.create_secret(Name="django-rotating", SecretString=rds_secret(role, "first-password"))
    provider = SecretsManager("django-rotating")
    entry = database_entry(
        server,
        USER=role,
        PASSWORD="",
        CONN_HEALTH_CHECKS=pool,  # the pool then checks a connection before handing it out
        aurora={"PASSWORD_PROVIDER": provider},
        options=pooled(pool),
    )
    start = log_size(server)
    stop = threading.Event()
    done: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    between_requests = threading.Lock()

    def requests() -> None:
        from django.db import connections

        while not stop.is_set():
            with between_requests:
                try:
                    done.append(django_whoami())
                except BaseException as exc:  # noqa: BLE001 - a failed request is the finding
                    errors.append(exc)
                finally:
                    connections["default"].close()  # a request's end (CONN_MAX_AGE = 0)
            time.sleep(0.002)

    def after_requests(count: int) -> None:
        """Wait for ``count`` more requests: each rotation must meet requests on both sides,
        however slow a loaded machine runs them."""
        goal = len(done) + count
        wait_for(lambda: len(done) >= goal, f"{count} more requests")

    rotations = ["second-password", "third-password"]
    with use_databases({"default": entry}):
        loop = threading.Thread(target=requests)
        loop.start()
        try:
            for password in rotations:
                after_requests(5)
                _rotate(aws, server, "django-rotating", role, password, between_requests)
            after_requests(5)
        finally:
            stop.set()
            loop.join()
    assert errors == []  # no request failed: each refusal was absorbed by the one retry
    assert len(done) > 10
    assert set(done) == {(role, True)}
    refused = refusals(server, role, start)
    # Unpooled: the next request's login is refused once per rotation. Pooled: up to one
    # refusal per connection the pool opens at once (max_size) per rotation.
    upper = POOL["max_size"] if pool else 1
    assert len(rotations) <= refused <= upper * len(rotations)
    assert logins(server, role, start) >= 1 + len(rotations)  # logged in anew after each
    assert provider.reads == 1 + len(rotations)


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aurora", "message"),
    [
        ({"IAM": "maybe"}, "IAM"),
        (
            {"IAM": True, "PASSWORD_PROVIDER": "os:getcwd"},
            "IAM and PASSWORD_PROVIDER both choose the password",
        ),
        ({"IAM": True, "INSECURE_LOCAL_DEV": True}, "IAM needs verified TLS"),
        ({"IAM_PROFILE": "prod"}, "IAM_PROFILE needs IAM"),
        ({"IAM_PROFILE": 3, "IAM": True}, "IAM_PROFILE"),
        ({"PASSWORD_PROVIDER": 42}, "PASSWORD_PROVIDER"),
        ({"PASSWORD_PROVIDER": "no_such_module_xyz:get"}, "cannot import"),
        ({"PASSWORD_PROVIDER": "os:no_such_attribute"}, "no attribute"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"LOG_LEVEL": True}, "LOG_LEVEL"),
        ({"EXPLAIN_POOL_TIMEOUT": "sometimes"}, "EXPLAIN_POOL_TIMEOUT"),
    ],
)
def test_bad_credential_options_are_e002(
    tls_server: AuroraLikeServer, django_env: None, aurora: dict[str, Any], message: str
) -> None:
    from django.core.checks import run_checks

    entry = database_entry(tls_server, PASSWORD="", aurora=aurora)
    with use_databases({"default": entry}):
        found = [m for m in run_checks() if m.id == "aurora_ssl.E002"]
    assert len(found) == 1, found
    assert message in found[0].msg
    assert tls_server.password not in found[0].msg


def test_a_provider_error_is_ours_and_never_shows_the_password(
    tls_server: AuroraLikeServer, django_env: None
) -> None:
    from aurora_ssl.errors import CredentialsError

    secret = "hunter2-" + secrets.token_hex(8)

    def failing() -> str:
        raise RuntimeError(f"vault said no to {secret}")

    entry = database_entry(tls_server, PASSWORD="", aurora={"PASSWORD_PROVIDER": failing})
    with use_databases({"default": entry}), pytest.raises(CredentialsError) as info:
        django_whoami()
    assert "RuntimeError" in str(info.value)
    assert secret not in str(info.value)


def test_dbshell_gets_the_providers_password_in_the_environment(
    tls_server: AuroraLikeServer, django_env: None
) -> None:
    """``manage.py dbshell`` runs psql: the provider's password travels in PGPASSWORD only."""
    from django_aurora_ssl.backends.postgresql.base import DatabaseWrapper

    asked: list[Any] = []

    def provider(target: Any) -> str:
        asked.append(target)
        return "from-the-provider"

    entry = database_entry(tls_server, PASSWORD="", aurora={"PASSWORD_PROVIDER": provider})
    args, env = DatabaseWrapper.client_class.settings_to_cmd_args_env(entry, [])
    assert env is not None
    assert env["PGPASSWORD"] == "from-the-provider"
    assert not any("from-the-provider" in arg for arg in args)
    assert [(t.host, t.port, t.user) for t in asked] == [
        (tls_server.host, tls_server.port, tls_server.user)
    ]
