"""One DATABASE_URL works for ``check``: the SQLAlchemy plugin's URL, its bundle and
``tls_server_name``, against the real local TLS server; a refusal is checked by the report the
server's answer produced. Bad input without a server: tests/unit/cli/test_inputs.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse

import pytest

from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_cli import Capture, run_cli
from tests.fix_servers import log_since


def _database_url(server: AuroraLikeServer, pki: TestPKI, driver: str, **extra: str) -> str:
    quoted = urllib.parse.quote(server.password, safe="")
    query = {
        "hostaddr": server.hostaddr,
        "plugin": "aurora_ssl",
        "aurora_ssl_bundle": str(pki.bundle_path),
        **extra,
    }
    return (
        f"postgresql+{driver}://{server.user}:{quoted}@{server.host}:{server.port}"
        f"/{server.database}?{urllib.parse.urlencode(query)}"
    )


@pytest.mark.parametrize("driver", drivers.params("psycopg", "psycopg2", "asyncpg"))
def test_check_accepts_the_sqlalchemy_plugin_url(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, fresh_caches: None, driver: str
) -> None:
    url = _database_url(tls_server, pki, driver)
    code, out, err = run_cli(capsys, "check", "--format", "json", url)
    assert code == 0, out + err
    document = json.loads(out)
    assert document["ok"] is True
    (report,) = document["connections"]
    assert report["server"]["ssl"] is True  # the server's own view of the session
    assert report["trust"]["scope"].startswith("region")  # the URL's bundle was used
    assert tls_server.password not in out + err


@pytest.mark.driver("psycopg")
def test_check_honours_the_url_bundle(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, fresh_caches: None
) -> None:
    """Without aurora_ssl_bundle the test root is unknown, so the same URL is refused."""
    url = (
        _database_url(tls_server, pki, "psycopg")
        .replace(urllib.parse.urlencode({"aurora_ssl_bundle": str(pki.bundle_path)}), "x=1")
        .replace("&x=1", "")
    )
    code, out, _ = run_cli(capsys, "check", "--format", "json", url)
    assert code == 1
    (report,) = json.loads(out)["connections"]
    assert report["verdict"] == "refused"


@pytest.mark.driver("psycopg2")
def test_check_honours_the_url_tls_server_name(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, fresh_caches: None
) -> None:
    """Connect to 'localhost' and verify the RDS name given in aurora_ssl_tls_server_name."""
    url = _database_url(tls_server, pki, "psycopg2", aurora_ssl_tls_server_name=tls_server.host)
    url = url.replace(f"@{tls_server.host}:", "@localhost:").replace("hostaddr=127.0.0.1&", "")
    code, out, _ = run_cli(capsys, "check", url)
    assert code == 0, out
    assert "VERIFIED" in out


def test_check_refuses_an_asyncpg_only_key_it_cannot_check(
    logged_server: AuroraLikeServer, pki: TestPKI, capsys: Capture
) -> None:
    """check connects with libpq; asyncpg's ``ssl=`` is no libpq keyword, so the URL is
    refused (never connected with the key dropped), without echoing the URL."""
    before = logged_server.log_path.stat().st_size
    url = _database_url(logged_server, pki, "asyncpg", ssl="require")
    code, out, err = run_cli(capsys, "check", "--format", "json", url)
    assert code == 2
    assert json.loads(out)["ok"] is False
    assert "cannot parse" in err
    assert logged_server.password not in out + err
    assert "connection received" not in log_since(logged_server, before)


@pytest.mark.driver("psycopg")
@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_readme_pipeline_prints_true(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    """aurora-ssl check --format json "$DATABASE_URL" | jq .ok"""
    env = dict(os.environ, DATABASE_URL=_database_url(tls_server, pki, "psycopg"))
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -m aurora_ssl check --format json "$DATABASE_URL" | jq .ok',
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "true", result.stderr


@pytest.mark.parametrize("driver", drivers.params("psycopg", "psycopg2"))
def test_check_explains_direct_tls_to_an_old_server(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, driver: str
) -> None:
    url = _database_url(tls_server, pki, driver, sslnegotiation="direct")
    before = tls_server.log_path.read_text(errors="replace")
    code, out, _ = run_cli(capsys, "check", "--format", "json", url)
    assert (
        "invalid length of startup packet"
        in tls_server.log_path.read_text(errors="replace")[len(before) :]
    )
    assert code == 1
    (report,) = json.loads(out)["connections"]
    (error,) = report["errors"]
    assert error["code"] == "TLSError"
    assert "sslnegotiation=direct" in error["message"]
    assert "PostgreSQL 17" in error["message"]
    assert "EOF" in error["cause"] or "eof" in error["cause"]  # libpq's words, kept
