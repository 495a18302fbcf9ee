"""The suite's driver helpers (tests/drivers.py): which libpq driver a run connects with, and
that the refusal helper cannot pass when the connection is made.

A wrong choice here would quietly move coverage from one driver to the other, so the choice is
pinned down: the session's driver first, else psycopg 3, else psycopg2.
"""

from __future__ import annotations

import pytest

from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers


def _only(monkeypatch: pytest.MonkeyPatch, *present: str) -> None:
    monkeypatch.setattr(drivers, "is_installed", lambda name: name in present)


@pytest.mark.parametrize(
    ("present", "session", "chosen"),
    [
        (("psycopg2", "psycopg"), "", "psycopg"),
        (("psycopg2", "psycopg"), "psycopg2", "psycopg2"),
        (("psycopg2", "psycopg"), "psycopg", "psycopg"),
        (("psycopg2",), "", "psycopg2"),
        (("psycopg2",), "psycopg", "psycopg2"),  # named but not installed: the installed one
        (("psycopg",), "psycopg2", "psycopg"),
        (("psycopg2", "psycopg"), "asyncpg", "psycopg"),  # not a libpq driver
    ],
)
def test_libpq_driver_is_the_sessions_else_psycopg_else_psycopg2(
    monkeypatch: pytest.MonkeyPatch, present: tuple[str, ...], session: str, chosen: str
) -> None:
    _only(monkeypatch, *present)
    monkeypatch.setenv("AURORA_SSL_TEST_DRIVER", session)
    assert drivers.libpq_driver() == chosen
    assert drivers.libpq_drivername() == f"postgresql+{chosen}"


def test_without_a_libpq_driver_the_marker_is_unmet_and_the_helper_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _only(monkeypatch, "asyncpg", "pg8000")
    assert drivers.is_available("libpq") is False
    assert drivers.is_available("asyncpg") is True
    with pytest.raises(RuntimeError, match=r"driver\('libpq'\)"):
        drivers.libpq_driver()
    _only(monkeypatch, "psycopg")
    assert drivers.is_available("libpq") is True
    assert drivers.is_available("psycopg2") is False


@pytest.mark.driver("libpq")
def test_refusal_fails_the_test_when_the_connection_is_made(
    tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    params = {**tls_server.params(), "sslmode": "verify-full", "sslrootcert": str(pki.root_path)}
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        drivers.libpq_refusal(**params)
    conn = drivers.libpq_connect(**params)
    try:
        assert drivers.ssl_in_use(conn) is True
    finally:
        conn.close()
