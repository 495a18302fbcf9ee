"""Which libpq keys the policy pins when the caller does not name the driver.

``connection_params()`` without ``driver=`` pins only keys that every imported libpq driver
accepts. psycopg2's wheel bundles libpq 17 and psycopg's libpq 18, which added
``sslkeylogfile``; a memo of the first answer made the result depend on import order: an
application that imported psycopg first kept getting ``sslkeylogfile`` and psycopg2 then
refused to connect ("invalid connection option"). Decision by really connecting.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests.fix_servers import fresh_process

_BOTH_IMPORTED_IN_TURN = """
import json, sys
import psycopg
import aurora_ssl

params, settings = json.loads(sys.argv[1]), aurora_ssl.Options(bundle=sys.argv[2])
first = aurora_ssl.connection_params(params, settings)   # only psycopg imported so far
import psycopg2
second = aurora_ssl.connection_params(params, settings)  # psycopg2 too: its libpq decides
with psycopg2.connect(**second, connect_timeout=5) as connection:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        saw_tls = cursor.fetchone()[0]
connection.close()
print(json.dumps({"first": sorted(first), "second": sorted(second), "saw_tls": saw_tls,
                  "versions": [psycopg.pq.version(), psycopg2.extensions.libpq_version()]}))
"""


@pytest.mark.driver("psycopg2", "psycopg")
def test_importing_another_driver_later_changes_the_pinned_keys(
    tmp_path: Path, tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    params = json.dumps(tls_server.params())
    result = fresh_process(_BOTH_IMPORTED_IN_TURN, tmp_path / "cache", params, str(pki.bundle_path))
    assert result["saw_tls"] is True  # psycopg2 connected, verified, with the second set
    psycopg_version, psycopg2_version = result["versions"]  # type: ignore[misc]
    if psycopg2_version < 180000 <= psycopg_version:
        assert "sslkeylogfile" in result["first"]  # type: ignore[operator]
        assert "sslkeylogfile" not in result["second"]  # type: ignore[operator]
