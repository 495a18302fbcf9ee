"""Secrets Manager rotation without a restart, against the real server.

``moto`` stands in for AWS Secrets Manager (it cannot be reached from here); the database side
is real: the test changes a role's password on the local TLS server with ``ALTER ROLE`` while a
loop keeps logging in through the provider, and the refusals are counted in the server's own
log. The secret's JSON and the provider's cache: tests/unit/credentials/test_secrets.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from aurora_ssl.credentials import CredentialTarget, SecretsManager
from aurora_ssl.testing import AuroraLikeServer
from tests.fix_credentials import (
    connect_with_retry,
    login_role,
    promote_pending,
    rds_secret,
    refused_logins,
    set_password,
    whoami,
)
from tests.fix_servers import wait_for

__all__ = ["login_role"]  # a fixture, used by name


def _keep_connecting(
    server: AuroraLikeServer,
    provider: SecretsManager,
    target: CredentialTarget,
    stop: threading.Event,
    refusals: list[int],
    errors: list[BaseException],
) -> None:
    """Log in over and over, like requests of a running app, recording each login's refusals
    (as it goes: the test waits for logins on both sides of a rotation) and errors."""
    while not stop.is_set():
        try:
            conn, refused = connect_with_retry(server, provider, target)
        except BaseException as exc:  # noqa: BLE001 - a surfaced failure is the finding
            errors.append(exc)
            continue
        try:
            assert whoami(conn) == (target.user, True)
        finally:
            conn.close()
        refusals.append(refused)


def _rotate_like_the_aws_lambda(
    aws: Any, server: AuroraLikeServer, secret_id: str, role: str, password: str
) -> None:
    """createSecret (AWSPENDING), setSecret (ALTER ROLE), finishSecret (move AWSCURRENT).

    The database changes *before* the label moves, as with AWS's rotation functions, so a
    login in between finds AWSCURRENT already refused.
    """
    version = aws.put_secret_value(
        SecretId=secret_id,
        SecretString=rds_secret(role, password),
        VersionStages=["AWSPENDING"],
    )["VersionId"]
    set_password(server, role, password)
    time.sleep(0.5)  # a login in this window gets the old password from AWSCURRENT
    promote_pending(aws, secret_id, version)


@pytest.mark.driver("libpq")  # connect_with_retry
@pytest.mark.parametrize("loops", [1, 4])
def test_rotation_needs_no_restart(
    aws: Any,
    tls_server: AuroraLikeServer,
    login_role: Callable[[str], str],
    loops: int,
) -> None:
    role = login_role("first-password")
    aws.create_secret(Name="rotating", SecretString=rds_secret(role, "first-password"))
    provider = SecretsManager("rotating")
    target = CredentialTarget(tls_server.host, tls_server.port, role)
    refused_before = refused_logins(tls_server, role)
    stop = threading.Event()
    outcomes: list[tuple[list[int], list[BaseException]]] = [([], []) for _ in range(loops)]
    threads = [
        threading.Thread(target=_keep_connecting, args=(tls_server, provider, target, stop, *out))
        for out in outcomes
    ]

    def after_logins(count: int) -> None:
        """Wait for ``count`` more logins in every loop, however slow a loaded machine is."""
        goals = [len(done) + count for done, _ in outcomes]
        wait_for(
            lambda: all(len(d) >= g for (d, _), g in zip(outcomes, goals, strict=True)),
            f"{count} more logins in every loop",
        )

    for thread in threads:
        thread.start()
    rotations = ["second-password", "third-password"]
    try:
        for password in rotations:
            after_logins(5)
            _rotate_like_the_aws_lambda(aws, tls_server, "rotating", role, password)
        after_logins(5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    refusals = [r for loop_refusals, _ in outcomes for r in loop_refusals]
    errors = [e for _, loop_errors in outcomes for e in loop_errors]
    assert errors == []  # no request failed: every refusal was absorbed by the one retry
    assert len(refusals) > 10 * loops  # the loops really kept logging in throughout
    refused = sum(refusals)
    # Each loop is refused at most once per rotation, and the server saw exactly those.
    assert 1 * len(rotations) <= refused <= loops * len(rotations)
    assert refused_logins(tls_server, role) - refused_before == refused
    # One read per rotation, however many loops were refused at once: the late reports name
    # a password that was already replaced and are ignored.
    assert provider.reads == 1 + len(rotations)
    if loops == 1:
        assert refused == len(rotations)
