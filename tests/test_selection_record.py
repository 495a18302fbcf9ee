"""Remembered trust selections (issue 12): a later process reuses them, never a stale one.

Judged by what really happens to files and connections: which roots end up in the trust file,
what a fresh interpreter imports while it connects to the local TLS server (and what the server
saw), and which records exist on disk. Tests that change a bundle and select again within the
same second lower the "settled" margin (:data:`aurora_ssl.selection_record._SETTLED_NS`) and
wait a little between writes, so each change gets a new ctime; one test keeps the real margin.
"""

from __future__ import annotations

import binascii
import logging
import os
import time
from pathlib import Path
from typing import cast

import pytest

from aurora_ssl import selection_record, trust
from aurora_ssl.errors import BundleError
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from aurora_ssl.trust import select_trust
from tests.certs import make_cert_pem
from tests.fix_servers import verified_connect_in_fresh_process

HOST = "db.cluster-c9akciq32xyz.test-region-1.rds.amazonaws.com"
REGION_ROOT = "Amazon RDS test-region-1 Root CA RSA2048 G1"

pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(directory))
    return directory


@pytest.fixture
def settle_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record outcomes of files written a moment ago (the tests wait between changes)."""
    monkeypatch.setattr(selection_record, "_SETTLED_NS", 0)


def _tick() -> None:
    """Longer than a file-system timestamp tick, so the next write gets a new ctime."""
    time.sleep(0.05)


def _records(cache: Path) -> list[Path]:
    return sorted(cache.glob("selection-*.rec"))


def _next_process() -> None:
    """What a new process starts with: no memo of any selection or bundle."""
    trust.clear_caches()


def _same_size(*pems: bytes) -> list[bytes]:
    """Each PEM padded (with text outside any block, which PEM readers skip) to one size."""
    size = max(len(p) for p in pems) + 16
    return [p + b"#" * (size - len(p) - 1) + b"\n" for p in pems]


@pytest.mark.usefixtures("settle_now")
def test_the_next_process_gets_the_same_selection_from_the_record(
    tmp_path: Path, cache: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_cert_pem(REGION_ROOT) + make_cert_pem("Amazon RDS elsewhere-1 Root"))
    _tick()
    first = select_trust(HOST, bundle=bundle)
    assert len(_records(cache)) == 1
    _next_process()
    second = select_trust(HOST, bundle=bundle)
    assert second == first
    assert second._content == Path(first.path).read_bytes()
    assert second.subjects == (REGION_ROOT,)


@pytest.mark.usefixtures("settle_now")
def test_a_rewritten_bundle_of_the_same_size_and_mtime_is_selected_again(
    tmp_path: Path, cache: Path
) -> None:
    old_root, new_root = _same_size(make_cert_pem(REGION_ROOT), make_cert_pem(REGION_ROOT))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(old_root)
    _tick()
    first = select_trust(HOST, bundle=bundle)
    assert Path(first.path).read_bytes().strip() in old_root
    before = bundle.stat()
    _tick()
    bundle.write_bytes(new_root)  # same inode, same size...
    os.utime(bundle, ns=(before.st_atime_ns, before.st_mtime_ns))  # ...and the old mtime
    assert (bundle.stat().st_size, bundle.stat().st_mtime_ns) == (
        before.st_size,
        before.st_mtime_ns,
    )
    _next_process()
    second = select_trust(HOST, bundle=bundle)
    assert second.path != first.path
    assert Path(second.path).read_bytes().strip() in new_root  # the new root, not the recorded


@pytest.mark.usefixtures("settle_now")
def test_a_removed_or_altered_trust_file_is_made_again(tmp_path: Path, cache: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_cert_pem(REGION_ROOT))
    _tick()
    first = select_trust(HOST, bundle=bundle)
    good = Path(first.path).read_bytes()
    Path(first.path).unlink()  # a temp cleaner
    _next_process()
    assert Path(select_trust(HOST, bundle=bundle).path).read_bytes() == good
    Path(first.path).write_bytes(make_cert_pem("Somebody Else's CA"))  # tampered
    _next_process()
    again = select_trust(HOST, bundle=bundle)
    assert again.path == first.path
    assert Path(again.path).read_bytes() == good


@pytest.mark.usefixtures("settle_now")
def test_a_record_naming_a_trust_file_outside_the_cache_is_not_used(
    tmp_path: Path, cache: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_cert_pem(REGION_ROOT))
    _tick()
    first = select_trust(HOST, bundle=bundle)
    (record,) = _records(cache)
    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(Path(first.path).read_bytes())  # even with the recorded content
    record.write_text(record.read_text().replace(first.path, str(foreign)))
    _next_process()
    assert select_trust(HOST, bundle=bundle).path == first.path


@pytest.mark.usefixtures("settle_now")
def test_warnings_are_logged_again_by_the_process_that_reuses_a_record(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_cert_pem("Amazon RDS elsewhere-1 Root CA"))
    _tick()
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        first = select_trust(HOST, bundle=bundle)
    assert first.scope == "full-bundle"
    assert "has no roots for region test-region-1" in caplog.text
    assert _records(cache)
    caplog.clear()
    _next_process()
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        assert select_trust(HOST, bundle=bundle).warnings == first.warnings
    assert "has no roots for region test-region-1" in caplog.text


@pytest.mark.usefixtures("settle_now")
def test_a_users_own_file_is_recorded_and_a_changed_one_validated_again(
    tmp_path: Path, cache: Path
) -> None:
    mine = tmp_path / "mine.pem"
    mine.write_bytes(make_cert_pem("My Own Root CA"))
    _tick()
    first = select_trust(HOST, sslrootcert=mine)
    assert (first.path, first.subjects) == (str(mine), ("My Own Root CA",))
    assert _records(cache)
    _next_process()
    assert select_trust(HOST, sslrootcert=mine) == first
    _tick()
    mine.write_bytes(make_cert_pem("Not a CA", ca=False))
    _next_process()
    with pytest.raises(BundleError, match="not CA certificates"):
        select_trust(HOST, sslrootcert=mine)


@pytest.mark.usefixtures("settle_now")
def test_an_update_installed_or_removed_later_changes_the_warning_of_the_next_process(
    tmp_path: Path, cache: Path
) -> None:
    # The "not AWS's roots" warning about a user's bundle depends on the installed update,
    # a file the selection reads although it is not the bundle in use.
    from aurora_ssl.trust import shipped_bundle_path, updated_bundle_path, write_atomically

    cluster = "db.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"
    new_root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA4096 G2")  # not (yet) AWS's
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle_path().read_bytes() + new_root)
    _tick()

    def unknown_roots() -> list[str]:
        _next_process()
        return [w for w in select_trust(cluster, bundle=bundle).warnings if "not AWS's" in w]

    assert unknown_roots()
    assert _records(cache)
    write_atomically(updated_bundle_path(), shipped_bundle_path().read_bytes() + new_root)
    _tick()
    assert unknown_roots() == []  # the update vouches for the new root now
    updated_bundle_path().unlink()
    _tick()
    assert unknown_roots()  # and no longer


def test_a_bundle_changed_within_the_settling_margin_is_not_recorded(
    tmp_path: Path, cache: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_cert_pem(REGION_ROOT))  # just now: its ctime may share a tick
    select_trust(HOST, bundle=bundle)  # with a change still to come
    assert Path(select_trust(HOST, bundle=bundle).path).is_file()
    assert _records(cache) == []


def test_a_record_that_is_not_one_is_ignored(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selection_record, "_SETTLED_NS", 0)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(make_cert_pem(REGION_ROOT))
    _tick()
    first = select_trust(HOST, bundle=bundle)
    (record,) = _records(cache)
    text = record.read_bytes()
    for broken in (b"", b"\xff\xfe", text.replace(b"selection 3", b"selection 2"), text[:-40]):
        record.write_bytes(broken)
        _next_process()
        assert select_trust(HOST, bundle=bundle) == first
        assert record.read_bytes() == text  # selected again, and written down again
    # Sealed correctly, but depending on nothing (so nothing could ever invalidate it), and
    # claiming another scope to tell whether it was used: it is not.
    blob = b"\n".join(
        line.replace(first.scope.encode(), b"region:forged")
        for line in text.rpartition(b"\nend\t")[0].split(b"\n")
        if not line.startswith(b"depends\t")
    )
    record.write_bytes(blob + b"\nend\t" + b"%08x" % binascii.crc32(blob))
    _next_process()
    assert select_trust(HOST, bundle=bundle).scope == first.scope != "region:forged"


#: What reading a bundle needs; a process that reuses a record imports none of it.
BUNDLE_READING = {"aurora_ssl.bundles", "aurora_ssl.bundle_index", "aurora_ssl.certificates"}
#: Every aurora-ssl module a later process imports to connect: each costs a fresh process
#: about 55 us before it runs a line (issue 12), so a new one here should be a decision.
CONNECT_PATH = {
    "aurora_ssl",
    "aurora_ssl._frozen",
    "aurora_ssl.bundle_paths",
    "aurora_ssl.conninfo",
    "aurora_ssl.errors",
    "aurora_ssl.policy",
    "aurora_ssl.selection_record",
    "aurora_ssl.trust",
    "aurora_ssl.trust_cache",
}


@pytest.mark.driver("libpq")
def test_a_later_process_connects_verified_without_reading_the_bundle(
    tmp_path: Path, tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(pki.bundle_path).read_bytes())
    time.sleep(selection_record._SETTLED_NS / 1e9 + 0.1)  # in place for the real margin
    cache = tmp_path / "cache"
    first = verified_connect_in_fresh_process(cache, tls_server.params(), str(bundle))
    assert set(cast("list[str]", first["modules"])) >= BUNDLE_READING
    assert _records(cache)
    second = verified_connect_in_fresh_process(cache, tls_server.params(), str(bundle))
    assert second["server_saw_tls"] is True
    assert second["sslrootcert"] == first["sslrootcert"]
    assert Path(str(second["sslrootcert"])).read_bytes() == Path(pki.root_path).read_bytes()
    modules = set(cast("list[str]", second["modules"]))
    assert modules & BUNDLE_READING == set()
    assert {m for m in modules if m.split(".")[0] == "aurora_ssl"} == CONNECT_PATH
