"""RDS IAM tokens: equal to botocore's, cached, refreshed, single-flight (the server's side:
tests/integration/credentials/test_iam.py).

The local server cannot ask AWS whether a token is valid, but SigV4 is deterministic: for
fixed (fake) credentials and a fixed clock there is exactly one right token. The tests compute
it with botocore's own ``generate_db_auth_token`` (the reference implementation, through an RDS
client), make it the role's password, and log in with what the provider returns. A wrong or
stale token is then a real refusal by the server, read back from its log. No AWS API is
called, so nothing here is simulated. botocore's clock is pinned (``clock`` fixture) for every
test here: it is both the time tokens are signed at and the time the cache compares with.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import logging
import sys
import threading
import time
from typing import Any

import botocore.auth
import botocore.credentials
import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aurora_ssl.credentials import CredentialsError, CredentialTarget, IAMTokenProvider
from tests.fix_credentials import (
    ACCESS_KEY,
    SECRET_KEY,
    T0,
    Clock,
    SlowCredentials,
    reference_token,
    session_with,
    signing_at,
)


@pytest.fixture(autouse=True)
def pinned(clock: Clock) -> Clock:
    return clock


# -- the signature ------------------------------------------------------------------------------


def test_botocore_signs_with_the_clock_the_tests_pin() -> None:
    """If botocore renames or stops reading its clock, every pinned test would sign at the
    wall-clock time and fail obscurely; this says what changed instead."""
    assert callable(getattr(botocore.auth, "get_current_datetime", None)), (
        "botocore.auth.get_current_datetime is gone: find what botocore's SigV4 signers read "
        "the time from now, and pin that in tests/fix_credentials.py (Clock, signing_at) and "
        "read it in aurora_ssl/credentials/_iam.py (_now)."
    )
    target = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    for at in (T0, T0 + 86_400 * 400):
        with signing_at(Clock(at)):
            token = IAMTokenProvider(session=session_with()).password(target)
        stamp = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
        assert f"X-Amz-Date={stamp:%Y%m%dT%H%M%SZ}" in token, (
            "botocore's SigV4QueryAuth no longer signs at botocore.auth.get_current_datetime()"
        )


_label = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    host=st.builds(
        lambda a, b, r: f"{a}.cluster-{b}.{r}.rds.amazonaws.com", _label, _label, _label
    ),
    port=st.integers(1, 65535),
    user=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40),
    region=st.sampled_from(["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1"]),
    at=st.integers(946_684_800, 4_102_444_800),
    token=st.sampled_from([None, "FwoGZXIvYXdzEJr//////////wEaDH+tok/en==", "a b&c=d%e"]),
)
def test_token_is_byte_for_byte_botocores(
    host: str, port: int, user: str, region: str, at: int, token: str | None
) -> None:
    session = botocore.session.Session()
    session.set_credentials(ACCESS_KEY, SECRET_KEY, token)
    with signing_at(Clock(at)):
        ours = IAMTokenProvider(session=session).password(
            CredentialTarget(host, port, user, region)
        )
    assert ours == reference_token(host, port, user, region, at, token=token)


def test_botocores_debug_log_never_spells_out_a_token(caplog: pytest.LogCaptureFixture) -> None:
    """botocore.auth logs the canonical request and the signature at DEBUG: for a token,
    that is the token. Our signings are left out; botocore's other signings still log."""
    import botocore.auth
    import botocore.awsrequest

    session = botocore.session.Session()
    session.set_credentials(ACCESS_KEY, SECRET_KEY, "session-token-value")
    caplog.set_level(logging.DEBUG, logger="botocore")
    token = IAMTokenProvider(session=session).password(
        CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    )
    signature = token.rpartition("X-Amz-Signature=")[2]
    assert len(signature) == 64
    for secret in (signature, "session-token-value", SECRET_KEY):
        assert secret not in caplog.text
    # Someone else's request, signed by botocore in the same process, is logged as before.
    request = botocore.awsrequest.AWSRequest("GET", "https://example.com/")
    frozen = session.get_credentials().get_frozen_credentials()
    botocore.auth.SigV4Auth(frozen, "s3", "us-east-1").add_auth(request)
    assert "Signature:" in caplog.text


def test_token_is_signed_for_the_rds_name_also_behind_a_cname() -> None:
    # The integration passes the RDS endpoint name (tls_server_name), never the CNAME.
    rds_name = "demo.cluster-abc123.eu-central-1.rds.amazonaws.com"
    provider = IAMTokenProvider(session=session_with())
    token = provider.password(CredentialTarget(rds_name, 5432, "app"))
    assert token == reference_token(rds_name, 5432, "app", "eu-central-1", T0)
    assert token.startswith(f"{rds_name}:5432/?Action=connect&DBUser=app&")


# -- caching and refresh ------------------------------------------------------------------------


def test_tokens_are_cached_per_key_and_refreshed_before_expiry(clock: Clock) -> None:
    provider = IAMTokenProvider(session=session_with(), refresh_margin=300)
    a = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    first = provider.password(a)
    assert provider.password(a) is first
    # Every part of the key gets its own token.
    others = [
        CredentialTarget("b.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app"),
        CredentialTarget(a.host, 5433, "app"),
        CredentialTarget(a.host, 5432, "other"),
        CredentialTarget(a.host, 5432, "app", region="us-west-2"),
    ]
    tokens = {provider.password(t) for t in others}
    assert len(tokens) == 4
    assert first not in tokens
    assert provider.signings == 5
    clock.now = T0 + 599  # 900 - 300 - 1: still served from the cache
    assert provider.password(a) is first
    clock.now = T0 + 600
    refreshed = provider.password(a)
    assert refreshed != first
    assert refreshed == reference_token(a.host, 5432, "app", "us-east-1", T0 + 600)
    assert provider.signings == 6


def test_the_refresh_time_is_read_from_the_tokens_own_date(clock: Clock) -> None:
    # Asked at T0 + 0.9 s, the token says X-Amz-Date = T0 (whole seconds): it expires at
    # T0 + 900, so with the 300 s margin it is re-signed from T0 + 600, not T0 + 600.9.
    clock.now = T0 + 0.9
    provider = IAMTokenProvider(session=session_with())
    target = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    first = provider.password(target)
    assert first == reference_token(target.host, 5432, "app", "us-east-1", T0)
    assert "X-Amz-Expires=900&" in first
    clock.now = T0 + 599.95
    assert provider.password(target) is first
    clock.now = T0 + 600.1
    assert provider.password(target) != first
    assert provider.signings == 2


def test_a_refusal_of_an_already_replaced_token_does_not_resign(clock: Clock) -> None:
    provider = IAMTokenProvider(session=session_with())
    target = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    # Another thread (its own context) got the first token...
    other = contextvars.copy_context()
    first = other.run(provider.password, target)
    # ...this one is refused with it, invalidates, and gets a new one.
    clock.now += 5
    provider.invalidate(target)
    second = provider.password(target)
    assert second != first
    assert provider.signings == 2
    # The other thread's refusal names the old token: the new one is kept.
    other.run(provider.invalidate, target)
    assert provider.password(target) is second
    assert provider.signings == 2
    # A refusal of the current token does sign again.
    clock.now += 5
    provider.invalidate(target)
    assert provider.password(target) != second
    assert provider.signings == 3


def test_credentials_are_resolved_once(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    """botocore's chain is walked once per provider, not once per signing."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    calls = 0
    original = botocore.credentials.CredentialResolver.load_credentials

    def counting(self: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self)

    monkeypatch.setattr(botocore.credentials.CredentialResolver, "load_credentials", counting)
    provider = IAMTokenProvider()
    host = "a.cluster-x.us-east-1.rds.amazonaws.com"
    for step in range(5):
        clock.now = T0 + step * 1000  # every call needs a new token
        token = provider.password(CredentialTarget(host, 5432, "app"))
    assert token == reference_token(
        host, 5432, "app", "us-east-1", T0 + 4000, token="session-token-value"
    )
    assert provider.signings == 5
    assert calls == 1


def test_refreshable_credentials_are_followed() -> None:
    """Temporary credentials that botocore refreshes sign with their current keys."""
    keys = iter([("AKIDFIRST", "secret-one"), ("AKIDSECOND", "secret-two")])

    def refresh() -> dict[str, str]:
        access, secret = next(keys)
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
        return {
            "access_key": access,
            "secret_key": secret,
            "token": "t",
            "expiry_time": expiry.isoformat(),
        }

    session = botocore.session.Session()
    credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
        refresh(), refresh, "test"
    )
    session._credentials = credentials  # botocore's own slot for explicit credentials
    provider = IAMTokenProvider(session=session)
    target = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    # Five minutes left is inside botocore's mandatory refresh window: it refreshes now.
    assert "AKIDSECOND" in provider.password(target)


# -- errors -------------------------------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_no_credentials_is_an_actionable_error(no_aws: None) -> None:
    provider = IAMTokenProvider()
    with pytest.raises(CredentialsError, match="no AWS credentials found") as info:
        provider.password(CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app"))
    assert "AWS_PROFILE" in str(info.value)
    assert "for app@a.cluster-x.us-east-1.rds.amazonaws.com:5432" in str(info.value)


def test_unknown_profile_is_an_actionable_error(no_aws: None) -> None:
    provider = IAMTokenProvider(profile="nope")
    with pytest.raises(CredentialsError, match="profile 'nope' is not configured"):
        provider.password(CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app"))


def test_profile_from_the_config_file_is_used(no_aws: None, tmp_path: Any) -> None:
    (tmp_path / "credentials").write_text(
        f"[ops]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    (tmp_path / "config").write_text("[profile ops]\nregion = ap-south-1\n")
    provider = IAMTokenProvider(profile="ops")
    # A name without a region: the profile's region is used.
    token = provider.password(CredentialTarget("db.internal.example", 5432, "app"))
    assert token == reference_token("db.internal.example", 5432, "app", "ap-south-1", T0)


def test_no_region_is_an_actionable_error(no_aws: None) -> None:
    provider = IAMTokenProvider(session=session_with())
    with pytest.raises(CredentialsError, match="cannot tell the AWS region") as info:
        provider.password(CredentialTarget("db.internal.example", 5432, "app"))
    assert "for app@db.internal.example:5432" in str(info.value)
    assert "region=" in str(info.value)
    assert "AWS_REGION" in str(info.value)
    explicit = IAMTokenProvider(session=session_with(), region="eu-north-1")
    assert "eu-north-1" in explicit.password(CredentialTarget("db.internal.example", 5432, "a"))


def test_missing_botocore_is_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "botocore"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed: imports raise
    provider = IAMTokenProvider()
    with pytest.raises(CredentialsError, match=r"pip install 'aurora-ssl\[iam\]'") as info:
        provider.password(CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app"))
    assert "for app@a.cluster-x.us-east-1.rds.amazonaws.com:5432 needs botocore" in str(info.value)


@pytest.mark.parametrize("margin", [-1, 900, 10_000])
def test_refresh_margin_is_checked(margin: float) -> None:
    with pytest.raises(CredentialsError, match="refresh_margin"):
        IAMTokenProvider(refresh_margin=margin)


def test_errors_never_contain_the_secret_key(no_aws: None, tmp_path: Any) -> None:
    (tmp_path / "credentials").write_text(
        f"[half]\naws_secret_access_key = {SECRET_KEY}\n"  # no access key id
    )
    provider = IAMTokenProvider(profile="half")
    with pytest.raises(CredentialsError) as info:
        provider.password(CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app"))
    text = f"{info.value!s} {info.value!r} {info.value.__cause__!s}"
    assert SECRET_KEY not in text
    assert "credentials" in str(info.value).lower()


# -- concurrency --------------------------------------------------------------------------------


def provider_signing_in(seconds: float) -> IAMTokenProvider:
    """A provider whose credentials take ``seconds`` to freeze, so each signing does too."""
    session = botocore.session.Session()
    credentials = SlowCredentials(ACCESS_KEY, SECRET_KEY)
    credentials.delay = seconds
    session._credentials = credentials
    return IAMTokenProvider(session=session)


@pytest.fixture
def slow_provider() -> IAMTokenProvider:
    return provider_signing_in(0.2)  # widens the race on purpose, without slowing the suite


HOST = "demo.cluster-abc.us-east-1.rds.amazonaws.com"


def test_many_threads_sign_once_per_key(slow_provider: IAMTokenProvider) -> None:
    users = ["u0", "u1", "u2", "u3"]
    threads_per_user = 12
    barrier = threading.Barrier(len(users) * threads_per_user)
    results: dict[str, list[str]] = {user: [] for user in users}
    errors: list[BaseException] = []

    def ask(user: str) -> None:
        try:
            barrier.wait()
            token = slow_provider.password(CredentialTarget(HOST, 5432, user))
            results[user].append(token)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=ask, args=(user,))
        for user in users
        for _ in range(threads_per_user)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert slow_provider.signings == len(users)
    for user in users:
        assert len(results[user]) == threads_per_user
        assert set(results[user]) == {reference_token(HOST, 5432, user, "us-east-1", T0)}


def test_many_tasks_sign_once_and_the_loop_keeps_running() -> None:
    provider = provider_signing_in(0.5)
    target = CredentialTarget(HOST, 5432, "app")

    async def main() -> tuple[set[str], float]:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.005)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        tick = asyncio.create_task(ticker())
        tokens = await asyncio.gather(*(provider.password_async(target) for _ in range(300)))
        done.set()
        await tick
        return set(tokens), max(gaps)

    tokens, longest_gap = asyncio.run(main())
    assert tokens == {reference_token(HOST, 5432, "app", "us-east-1", T0)}
    assert provider.signings == 1
    # Signing took 0.5 s in a worker thread; meanwhile the loop kept running other tasks. A
    # loop blocked by the signing would leave the ticker waiting the whole 0.5 s; a free one
    # runs it every few milliseconds, or within a tenth of a second on a loaded machine.
    assert longest_gap < 0.4, longest_gap


def test_threads_and_tasks_together_sign_once(slow_provider: IAMTokenProvider) -> None:
    target = CredentialTarget(HOST, 5432, "app")
    barrier = threading.Barrier(9)
    seen: list[str] = []

    def in_thread() -> None:
        barrier.wait()
        seen.append(slow_provider.password(target))

    def in_loop() -> None:
        async def main() -> list[str]:
            barrier.wait()
            return list(
                await asyncio.gather(*(slow_provider.password_async(target) for _ in range(50)))
            )

        seen.extend(asyncio.run(main()))

    threads = [threading.Thread(target=in_thread) for _ in range(6)]
    threads += [threading.Thread(target=in_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6 + 150
    assert len(set(seen)) == 1
    assert slow_provider.signings == 1


def test_a_cancelled_waiter_does_not_cancel_the_others(slow_provider: IAMTokenProvider) -> None:
    target = CredentialTarget(HOST, 5432, "app")

    async def main() -> str:
        first = asyncio.create_task(slow_provider.password_async(target))
        second = asyncio.create_task(slow_provider.password_async(target))
        await asyncio.sleep(0.05)
        first.cancel()
        return await second

    assert asyncio.run(main()) == reference_token(HOST, 5432, "app", "us-east-1", T0)
    assert slow_provider.signings == 1


def test_a_failed_signing_reaches_every_waiter_and_is_retried_next_time(
    no_aws: None,
) -> None:
    provider = IAMTokenProvider()
    target = CredentialTarget(HOST, 5432, "app")

    async def main() -> list[BaseException | str]:
        return list(
            await asyncio.gather(
                *(provider.password_async(target) for _ in range(20)), return_exceptions=True
            )
        )

    results = asyncio.run(main())
    assert all(isinstance(r, CredentialsError) for r in results)
    with pytest.raises(CredentialsError):
        provider.password(target)  # not cached: asked again


def test_the_providers_are_providers() -> None:
    from aurora_ssl.credentials import PasswordProvider, SecretsManager, as_provider

    iam = IAMTokenProvider()
    secrets = SecretsManager("any")
    assert isinstance(iam, PasswordProvider)
    assert isinstance(secrets, PasswordProvider)
    assert as_provider(iam) is iam
    assert as_provider(secrets) is secrets
    assert "secret" not in repr(iam).lower()
