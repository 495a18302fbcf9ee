"""Trust on disk for the tests: a private trust cache per test, the shipped bundle's bytes, and
files and directories someone else could write.

The tests run as root here, so "another user" is ``nobody`` (:data:`NOBODY`, by ``chown``); a
module that chmods or chowns under ``tmp_path`` uses ``restore_modes`` so pytest can remove it.
The fixtures are registered by the root conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aurora_ssl import _trust
from aurora_ssl._bundle_update import UPDATE_CAFILE_ENV
from aurora_ssl._trust import SHIPPED_BUNDLE, write_atomically

NOBODY = 65534

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_caches: None) -> Path:
    """A private trust cache directory for this test (``AURORA_SSL_CACHE_DIR``, not created
    yet), with no bundle or update CA file from the environment: what a test splits or
    installs there never leaks into another test."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(directory))
    monkeypatch.delenv(_trust.BUNDLE_ENV, raising=False)
    monkeypatch.delenv(UPDATE_CAFILE_ENV, raising=False)
    return directory


@pytest.fixture
def restore_modes(tmp_path: Path) -> Iterator[None]:
    """pytest must be able to remove what the test chmod-ed and chown-ed."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, os.getuid(), os.getgid())
            path.chmod(0o700)


def shipped_bundle() -> bytes:
    """The RDS bundle the package ships (AWS's global bundle), as bytes."""
    return Path(SHIPPED_BUNDLE).read_bytes()


def private_dir(path: Path) -> Path:
    """``path`` made, with its parents, as a directory only we may write."""
    path.mkdir(parents=True, mode=0o700)
    return path


def weak_copy(tmp_path: Path, content: bytes) -> Path:
    """``content`` in a file whose directory anyone may write (``0o777``, no sticky bit)."""
    shared = private_dir(tmp_path / "shared")
    path = shared / "roots.pem"
    path.write_bytes(content)
    shared.chmod(0o777)
    return path


def plant_update(cache: Path, content: bytes) -> Path:
    """``content`` written where ``aurora-ssl bundle update`` installs the updated bundle."""
    updated = Path(_trust.updated_bundle_path())
    assert updated.parent.parent == cache
    write_atomically(updated, content)
    return updated
