"""Trust files on disk: who may write where trust comes from, and what is believed.

- every file we trust that someone else could write is refused (``_trust.check_private``): a
  user ``sslrootcert``, a user bundle (``bundle=``, ``AURORA_SSL_BUNDLE``), an installed update
  and the cache directory must, with every ancestor directory (symbolic links resolved), belong
  to root or to us and be closed to group and others; sticky directories (``/tmp``) and
  Kubernetes secret mounts pass;
- an ``updated/`` bundle must hold only self-signed Amazon RDS roots, so one planted while the
  directory was open is refused, and no connection is made with it;
- a user bundle whose "Amazon RDS" roots are not AWS's is named in a warning.

Tests run as root here, so the owner rule is exercised by ``chown``-ing to ``nobody``. That a
refused file never reaches a server: tests/integration/test_trust_files.py.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from aurora_ssl import _trust, clear_caches
from aurora_ssl._trust import SHIPPED_BUNDLE, check_private, select_trust
from aurora_ssl.errors import BundleError
from tests.certs import make_cert_pem
from tests.fix_trust import NOBODY, needs_root, plant_update, private_dir, shipped_bundle, weak_copy

pytestmark = pytest.mark.usefixtures("fresh_caches", "restore_modes")

CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"


# --- check_private: the rule for every file we trust ---------------------------------------


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o660, 0o666])
def test_a_trust_file_writable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    roots = private_dir(tmp_path / "private") / "roots.pem"
    roots.write_bytes(make_cert_pem("My Corp Root"))
    roots.chmod(mode)
    with pytest.raises(BundleError) as refused:
        check_private(str(roots), "The trust file")
    message = str(refused.value)
    assert f"{roots} is writable by other users" in message
    assert f"chmod go-w {roots}" in message
    assert "\n" not in message
    roots.chmod(0o644)  # readable by all is fine
    check_private(str(roots), "The trust file")


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_directory_above_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    weak = private_dir(tmp_path / "weak")
    roots = private_dir(weak / "deeper") / "roots.pem"
    roots.write_bytes(make_cert_pem("My Corp Root"))
    weak.chmod(mode)
    with pytest.raises(BundleError, match=f"{weak} is writable by other users"):
        check_private(str(roots), "The trust file")
    weak.chmod(mode | 0o1000)  # sticky, like /tmp: others cannot replace what is ours
    check_private(str(roots), "The trust file")


@needs_root
@pytest.mark.parametrize("whose", ["file", "parent", "grandparent"])
def test_a_trust_file_or_directory_of_another_user_is_refused(tmp_path: Path, whose: str) -> None:
    grandparent = private_dir(tmp_path / "a")
    parent = private_dir(grandparent / "b")
    roots = parent / "roots.pem"
    roots.write_bytes(make_cert_pem("My Corp Root"))
    theirs = {"file": roots, "parent": parent, "grandparent": grandparent}[whose]
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(BundleError) as refused:
        check_private(str(roots), "The trust file")
    message = str(refused.value)
    assert f"{theirs} belongs to another user (uid {NOBODY})" in message
    assert f"The trust file {roots} is refused" in message
    os.chown(theirs, os.getuid(), os.getgid())  # the same tree, ours again: accepted
    check_private(str(roots), "The trust file")


def test_root_owned_files_are_accepted(tmp_path: Path) -> None:
    """/etc/ssl and package directories belong to root: trusted like our own."""
    check_private("/etc/passwd", "The trust file")  # root's, 0644, in root's 0755 directories


def test_a_symlink_does_not_hide_a_weak_directory(tmp_path: Path) -> None:
    # The link is in a private directory; the file it points to is in a weak one.
    weak = private_dir(tmp_path / "weak")
    (weak / "roots.pem").write_bytes(make_cert_pem("My Corp Root"))
    weak.chmod(0o777)
    link = private_dir(tmp_path / "private") / "roots.pem"
    link.symlink_to(weak / "roots.pem")
    with pytest.raises(BundleError, match=f"{weak} is writable"):
        check_private(str(link), "The trust file")
    # The link itself in a weak directory: whoever may write there may re-point it.
    real = private_dir(tmp_path / "real") / "roots.pem"
    real.write_bytes(make_cert_pem("My Corp Root"))
    open_dir = private_dir(tmp_path / "open")
    (open_dir / "roots.pem").symlink_to(real)
    open_dir.chmod(0o777)
    with pytest.raises(BundleError, match=f"{open_dir} is writable"):
        check_private(str(open_dir / "roots.pem"), "The trust file")
    check_private(str(real), "The trust file")


def _secret_mount(tmp_path: Path, files: dict[str, bytes], mode: int) -> Path:
    """A Kubernetes secret (or configMap) volume as the kubelet writes it: a root-owned
    directory holding a timestamped directory with the files, a ``..data`` symbolic link to
    it, and one symbolic link per file through ``..data``."""
    mount = private_dir(tmp_path / "var" / "run" / "secrets" / "db-ca")
    stamp = mount / "..2026_01_02_03_04_05.123456789"
    stamp.mkdir(mode=0o755)
    for name, content in files.items():
        (stamp / name).write_bytes(content)
        (stamp / name).chmod(mode)
        (mount / name).symlink_to(Path("..data") / name)
    (mount / "..data").symlink_to(stamp.name)
    stamp.chmod(0o755)
    mount.chmod(0o1777)  # the kubelet's tmpfs: world-writable with the sticky bit
    for directory in (tmp_path / "var", tmp_path / "var" / "run", mount.parent):
        directory.chmod(0o755)
    if os.geteuid() == 0:  # as the kubelet leaves them; without root they are ours
        for path in (mount, stamp, *stamp.iterdir()):
            os.chown(path, 0, 0)
    return mount


@pytest.mark.parametrize("mode", [0o444, 0o644])
def test_a_kubernetes_secret_mount_passes(tmp_path: Path, cache: Path, mode: int) -> None:
    ca = make_cert_pem("My Corp Root")
    mount = _secret_mount(tmp_path, {"ca.crt": ca, "rds-bundle.pem": shipped_bundle()}, mode)
    assert os.path.islink(mount / "ca.crt")
    assert os.path.islink(mount / "..data")
    check_private(str(mount / "ca.crt"), "The trust file")
    selection = select_trust(CLUSTER, sslrootcert=mount / "ca.crt")
    assert (selection.scope, selection.path) == ("user-file", str(mount / "ca.crt"))
    selection = select_trust(CLUSTER, bundle=mount / "rds-bundle.pem")
    assert selection.scope == "region:us-east-1"
    assert Path(selection.path).is_relative_to(cache)


@needs_root
def test_a_secret_mount_of_another_user_is_refused(tmp_path: Path) -> None:
    """Control: the same layout with the files' directory owned by someone else."""
    mount = _secret_mount(tmp_path, {"ca.crt": make_cert_pem("My Corp Root")}, 0o444)
    stamp = (mount / "..data").resolve()
    os.chown(stamp, NOBODY, NOBODY)
    with pytest.raises(BundleError, match=f"{stamp} belongs to another user"):
        check_private(str(mount / "ca.crt"), "The trust file")


def test_without_posix_owners_the_mode_bits_refuse_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows: Python reports every directory as 0o777 and has no os.getuid; the owner and
    mode checks, which would refuse every directory there, are POSIX only (documented)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)  # what os.stat says for any directory on Windows
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(cache))
    with pytest.raises(BundleError, match="writable by other users"):
        _trust.cache_dir()  # POSIX: refused
    monkeypatch.delattr(os, "getuid")
    assert _trust.cache_dir() == str(cache)


# --- where the rule is applied: sslrootcert, bundle=, AURORA_SSL_BUNDLE, the cache ----------


def test_user_sslrootcert_open_to_others_is_refused(tmp_path: Path) -> None:
    path = weak_copy(tmp_path, make_cert_pem("My Corp Root"))
    with pytest.raises(BundleError, match=r"The trust file \(sslrootcert\) .* writable by other"):
        select_trust(CLUSTER, sslrootcert=path)


def test_user_bundle_argument_open_to_others_is_refused(cache: Path, tmp_path: Path) -> None:
    path = weak_copy(tmp_path, shipped_bundle())
    with pytest.raises(BundleError, match=f"The RDS bundle {path} is refused"):
        select_trust(CLUSTER, bundle=path)
    assert not (cache / "bundles").exists()  # refused before it was split


def test_bundle_environment_variable_open_to_others_is_refused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = weak_copy(tmp_path, shipped_bundle())
    monkeypatch.setenv(_trust.BUNDLE_ENV, str(path))
    with pytest.raises(BundleError, match="writable by other users"):
        select_trust(CLUSTER)


# --- the cache directory ---------------------------------------------------------------------


def test_world_writable_parent_without_sticky_bit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o777)
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(parent / "me" / "aurora-ssl"))
    with pytest.raises(BundleError) as refused:
        _trust.cache_dir()
    message = str(refused.value)
    assert f"{parent} is writable by other users" in message
    assert f"chmod go-w {parent}" in message
    assert "\n" not in message
    bundle = private_dir(tmp_path / "mine") / "bundle.pem"
    bundle.write_bytes(shipped_bundle())
    with pytest.raises(BundleError, match="shared"):
        select_trust(CLUSTER, bundle=bundle)


def test_world_writable_parent_with_sticky_bit_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o1777)  # like /tmp: others cannot rename what is ours
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(parent / "aurora-ssl"))
    assert _trust.cache_dir() == str(parent / "aurora-ssl")
    bundle = private_dir(tmp_path / "mine") / "bundle.pem"
    bundle.write_bytes(shipped_bundle())
    selection = select_trust(CLUSTER, bundle=bundle)
    assert Path(selection.path).is_relative_to(parent / "aurora-ssl" / "bundles")


@needs_root
def test_cache_parent_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "theirs"
    parent.mkdir(mode=0o755)
    os.chown(parent, NOBODY, NOBODY)
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(parent / "aurora-ssl"))
    with pytest.raises(BundleError, match=rf"{parent} belongs to another user \(uid"):
        _trust.cache_dir()
    os.chown(parent, os.getuid(), os.getgid())  # the same tree, ours again: accepted
    assert _trust.cache_dir() == str(parent / "aurora-ssl")


def test_a_symlink_does_not_hide_a_weak_cache_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = tmp_path / "weak"
    (weak / "real").mkdir(parents=True)
    weak.chmod(0o777)
    (tmp_path / "link").symlink_to(weak / "real")
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(tmp_path / "link" / "aurora-ssl"))
    with pytest.raises(BundleError, match=f"{weak} is writable"):
        _trust.cache_dir()


# --- the updated bundle: owner, mode and RDS-root validation -----------------------------


@needs_root
def test_bundle_update_replaces_a_planted_bundle(cache: Path, tmp_path: Path) -> None:
    """The remedy works: an update with AWS's bundle replaces the planted file."""
    from aurora_ssl._bundle_update import update_bundle

    planted = plant_update(
        cache, shipped_bundle() + make_cert_pem("Amazon RDS us-east-1 Root CA RSA4096 G9")
    )
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(BundleError, match="belongs to another user"):
        select_trust(CLUSTER)
    source = private_dir(tmp_path / "download") / "global-bundle.pem"
    source.write_bytes(shipped_bundle())
    assert update_bundle(from_file=source)["installed"]
    assert planted.stat().st_uid == os.getuid()
    clear_caches()
    subjects = [c.subject for c in _bundle_of(select_trust(CLUSTER).path)]
    assert "Amazon RDS us-east-1 Root CA RSA4096 G9" not in subjects
    assert len(subjects) == 3


def _bundle_of(path: str) -> tuple[object, ...]:
    from aurora_ssl._bundles import load_bundle

    return load_bundle(path).certificates


@pytest.mark.parametrize("target", ["file", "directory"])
def test_updated_bundle_open_to_others_is_refused(cache: Path, target: str) -> None:
    planted = plant_update(cache, shipped_bundle())
    (planted if target == "file" else planted.parent).chmod(
        0o777 if target == "directory" else 0o666
    )
    with pytest.raises(BundleError, match="is writable by other users"):
        select_trust(CLUSTER)


def test_updated_bundle_symlink_to_a_weak_place_is_refused(cache: Path, tmp_path: Path) -> None:
    elsewhere = weak_copy(tmp_path, shipped_bundle())
    updated = Path(_trust.updated_bundle_path())
    updated.parent.mkdir(mode=0o700, parents=True)
    updated.symlink_to(elsewhere)
    with pytest.raises(BundleError, match=f"{elsewhere.parent} is writable"):
        select_trust(CLUSTER)


def test_a_valid_update_is_used(cache: Path) -> None:
    root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1")
    plant_update(cache, root)
    selection = select_trust(CLUSTER)
    assert selection.source == _trust.updated_bundle_path()
    assert Path(selection.path).read_bytes().strip() == root.strip()


# --- user bundles with roots posing as AWS's ----------------------------------------------


def test_user_bundle_with_unknown_rds_roots_is_warned_about(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1")  # AWS's name, not key
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle() + impostor)
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        select_trust(CLUSTER, bundle=bundle)
    [warning] = [r.getMessage() for r in caplog.records if "not AWS's" in r.getMessage()]
    assert "1 root(s)" in warning
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in warning
    assert str(bundle) in warning
    # AWS's own bundle passed as the user's file: every root is known, no warning.
    caplog.clear()
    clear_caches()
    own = tmp_path / "aws.pem"
    shutil.copy(SHIPPED_BUNDLE, own)
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        select_trust(CLUSTER, bundle=own)
    assert "not AWS's" not in caplog.text


def test_a_root_for_a_region_aws_does_not_serve_is_no_impostor(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A private test PKI's regions (``test-region-1``) are not AWS's: no warning."""
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(
        shipped_bundle() + make_cert_pem("Amazon RDS test-region-1 Root CA RSA2048 G1")
    )
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        select_trust(CLUSTER, bundle=bundle)
    assert "not AWS's" not in caplog.text
