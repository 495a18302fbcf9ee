"""Fork safety and bounded waits without a server: a child keeps the values its parent had, and
a wait for a fetch that never finishes ends with an error naming the login.

The fork is real (``os.fork``), the child's result comes back through a pipe; the slowness is
real botocore code made slow (tests/fix_credentials.py: ``SlowCredentials``). A child forked
mid-fetch that logs in to the real server: tests/integration/credentials/test_fork.py.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import botocore.session
import pytest

from aurora_ssl.credentials import CredentialsError, CredentialTarget, IAMTokenProvider, _cache
from tests.fix_credentials import (
    ACCESS_KEY,
    SECRET_KEY,
    SLOW,
    T0,
    Clock,
    SlowCredentials,
    in_forked_child,
    reference_token,
    session_with,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_the_child_keeps_the_values_the_parent_had(clock: Clock) -> None:
    """A token cached before the fork is still served in the child, without signing again."""
    provider = IAMTokenProvider(session=session_with())
    target = CredentialTarget("a.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app")
    token = provider.password(target)
    status, result = in_forked_child(
        lambda: {"same": provider.password(target) == token, "signings": provider.signings}
    )
    assert (status, result["same"], result["signings"]) == (0, True, 1), result


# -- bounded waits ----------------------------------------------------------------------------


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
