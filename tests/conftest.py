"""Shared test set-up: a private trust cache per session, and the real-TLS server fixtures.

The cache directory is set before any test runs so no test writes to the developer's
``~/.cache``; ``fresh_caches`` empties the per-process memos for tests that change the
environment (bundle source, cache directory) and need selection to run again.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fix_servers", "tests.fix_django"]

_SESSION_CACHE = tempfile.mkdtemp(prefix="aurora-ssl-test-cache-")
os.environ["AURORA_SSL_CACHE_DIR"] = _SESSION_CACHE
atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)
os.environ.pop("AURORA_SSL_BUNDLE", None)


def clear_aurora_caches() -> None:
    """Forget every per-process memo of trust selection and bundle parsing."""
    from aurora_ssl import policy, trust

    trust.clear_caches()
    policy.policy_for.cache_clear()


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    clear_aurora_caches()
    yield
    clear_aurora_caches()
