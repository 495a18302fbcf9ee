"""What libpq receives connects for real: a fixed corpus of legitimate configurations, and a host
list that reaches the one host that answers, each verified by the server's ``pg_stat_ssl``.

The property tests of what libpq receives, captured before any network I/O:
tests/unit/test_what_libpq_receives.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.testing import AuroraLikeServer
from tests import drivers

HOST = "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com"


@pytest.mark.parametrize(
    ("driver", "connect_args"),
    [
        ("psycopg2", {"cursor_factory": None, "keepalives": 1, "keepalives_idle": 30}),
        ("psycopg", {"prepare_threshold": None, "keepalives": 1}),
        ("psycopg", {"options": '-c search_path="a\\ b",public -c statement_timeout=5000'}),
        ("psycopg2", {"options": "-c application_name='it''s'"}),
        ("psycopg2", {"application_name": "quote ' and backslash \\"}),
    ],
)
def test_legitimate_configurations_connect(
    tls_server: AuroraLikeServer, driver: str, connect_args: dict[str, Any]
) -> None:
    pytest.importorskip(driver)
    if "cursor_factory" in connect_args:
        import psycopg2.extensions

        connect_args = {**connect_args, "cursor_factory": psycopg2.extensions.cursor}
    engine = aurora_ssl.create_engine(
        tls_server.url(f"postgresql+{driver}"),
        aurora_ssl_bundle=str(tls_server.pki.bundle_path),
        connect_args=connect_args,
        poolclass=NullPool,
    )
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).scalar()


@pytest.mark.driver("libpq")
def test_several_hosts_connect_to_the_one_that_answers(tls_server: AuroraLikeServer) -> None:
    params = {**tls_server.params(), "host": f"{HOST},{HOST}", "hostaddr": "127.0.0.2,127.0.0.1"}
    params["port"] = f"{tls_server.port},{tls_server.port}"
    params["connect_timeout"] = "2"
    conn = drivers.libpq_connect(
        **aurora_ssl.connection_params(
            params,
            aurora_ssl.Options(bundle=str(tls_server.pki.bundle_path)),
            driver=drivers.libpq_driver(),
        )
    )
    assert drivers.ssl_in_use(conn)
    conn.close()
