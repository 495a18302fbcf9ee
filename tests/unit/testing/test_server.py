"""aurora_ssl.testing without a server: the scenarios' values, missing server binaries named with
where we looked, and ``serve`` refusing an unknown scenario.

Servers started, restarted and refused for real: tests/integration/testing/test_server.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing import AuroraLikeServer, Scenario
from aurora_ssl.testing.__main__ import main


def test_missing_binaries_say_where_we_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURORA_SSL_PG_BINDIR", str(tmp_path))
    with pytest.raises(TestServerError) as info:
        AuroraLikeServer(pki=None).start()
    message = str(info.value)
    assert f"$AURORA_SSL_PG_BINDIR -> {tmp_path}: missing initdb, postgres, psql" in message
    assert "apt-get install postgresql postgresql-contrib" in message


def test_cli_rejects_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--scenario", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_scenario_values() -> None:
    assert [s.value for s in Scenario] == [
        "good",
        "wrong-host",
        "interception",
        "expired",
        "no-tls",
        "no-sslinfo",
        "tls-optional",
    ]
