"""The environment the documentation's examples run in (see docs/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aurora_ssl.testing import AuroraLikeServer, TestPKI


@pytest.fixture(scope="module")
def docs_env(tls_server: AuroraLikeServer, pki: TestPKI) -> Iterator[dict[str, str]]:
    """``DATABASE_URL`` (the local server, reached through its RDS-like name) and the test
    bundle in ``AURORA_SSL_BUNDLE``, as a deployment's environment would hold them."""
    mp = pytest.MonkeyPatch()
    env = {
        "DATABASE_URL": tls_server.url("postgresql+psycopg"),
        "DB_PASSWORD": tls_server.password,
        "AURORA_SSL_BUNDLE": str(pki.bundle_path),
    }
    for key, value in env.items():
        mp.setenv(key, value)
    from tests.conftest import clear_aurora_caches

    clear_aurora_caches()
    yield env
    mp.undo()
    clear_aurora_caches()
