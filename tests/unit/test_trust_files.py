"""Trust files on disk: who may write where trust comes from, and what is believed.

- every file we trust that someone else could write is refused (``_trust.check_private``): a
  user ``sslrootcert``, a user bundle (``bundle=``, ``AURORA_SSL_BUNDLE``), an installed update
  and the cache directory must, with every ancestor directory (symbolic links resolved), belong
  to root or to us and be closed to group and others; sticky directories (``/tmp``) and
  Kubernetes secret mounts pass;
- an ``updated/`` bundle must hold only self-signed Amazon RDS roots, so one planted while the
  directory was open is refused, and no connection is made with it;
- a user bundle whose "Amazon RDS" roots are not AWS's is named in a warning.

Tests run as root here, so the owner rule is exercised by ``chown``-ing to ``nobody``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aurora_ssl import Options, _trust, clear_caches, connection_params
from aurora_ssl._trust import SHIPPED_BUNDLE, check_private, select_trust, write_atomically
from aurora_ssl.errors import BundleError
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.certs import make_cert_pem
from tests.fix_servers import log_since

pytestmark = pytest.mark.usefixtures("fresh_caches")

NOBODY = 65534
CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(directory))
    monkeypatch.delenv(_trust.BUNDLE_ENV, raising=False)
    return directory


@pytest.fixture(autouse=True)
def _restore_modes(tmp_path: Path) -> Iterator[None]:
    """pytest must be able to remove what the tests chmod-ed and chown-ed."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, os.getuid(), os.getgid())
            path.chmod(0o700)


def _shipped() -> bytes:
    return Path(SHIPPED_BUNDLE).read_bytes()


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, mode=0o700)
    return path


# --- check_private: the rule for every file we trust ---------------------------------------


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o660, 0o666])
def test_a_trust_file_writable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    roots = _private_dir(tmp_path / "private") / "roots.pem"
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
    weak = _private_dir(tmp_path / "weak")
    roots = _private_dir(weak / "deeper") / "roots.pem"
    roots.write_bytes(make_cert_pem("My Corp Root"))
    weak.chmod(mode)
    with pytest.raises(BundleError, match=f"{weak} is writable by other users"):
        check_private(str(roots), "The trust file")
    weak.chmod(mode | 0o1000)  # sticky, like /tmp: others cannot replace what is ours
    check_private(str(roots), "The trust file")


@needs_root
@pytest.mark.parametrize("whose", ["file", "parent", "grandparent"])
def test_a_trust_file_or_directory_of_another_user_is_refused(tmp_path: Path, whose: str) -> None:
    grandparent = _private_dir(tmp_path / "a")
    parent = _private_dir(grandparent / "b")
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
    weak = _private_dir(tmp_path / "weak")
    (weak / "roots.pem").write_bytes(make_cert_pem("My Corp Root"))
    weak.chmod(0o777)
    link = _private_dir(tmp_path / "private") / "roots.pem"
    link.symlink_to(weak / "roots.pem")
    with pytest.raises(BundleError, match=f"{weak} is writable"):
        check_private(str(link), "The trust file")
    # The link itself in a weak directory: whoever may write there may re-point it.
    real = _private_dir(tmp_path / "real") / "roots.pem"
    real.write_bytes(make_cert_pem("My Corp Root"))
    open_dir = _private_dir(tmp_path / "open")
    (open_dir / "roots.pem").symlink_to(real)
    open_dir.chmod(0o777)
    with pytest.raises(BundleError, match=f"{open_dir} is writable"):
        check_private(str(open_dir / "roots.pem"), "The trust file")
    check_private(str(real), "The trust file")


def _secret_mount(tmp_path: Path, files: dict[str, bytes], mode: int) -> Path:
    """A Kubernetes secret (or configMap) volume as the kubelet writes it: a root-owned
    directory holding a timestamped directory with the files, a ``..data`` symbolic link to
    it, and one symbolic link per file through ``..data``."""
    mount = _private_dir(tmp_path / "var" / "run" / "secrets" / "db-ca")
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
    mount = _secret_mount(tmp_path, {"ca.crt": ca, "rds-bundle.pem": _shipped()}, mode)
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


def _weak_copy(tmp_path: Path, content: bytes) -> Path:
    shared = _private_dir(tmp_path / "shared")
    path = shared / "roots.pem"
    path.write_bytes(content)
    shared.chmod(0o777)
    return path


def test_user_sslrootcert_open_to_others_is_refused(tmp_path: Path) -> None:
    path = _weak_copy(tmp_path, make_cert_pem("My Corp Root"))
    with pytest.raises(BundleError, match=r"The trust file \(sslrootcert\) .* writable by other"):
        select_trust(CLUSTER, sslrootcert=path)


def test_user_bundle_argument_open_to_others_is_refused(cache: Path, tmp_path: Path) -> None:
    path = _weak_copy(tmp_path, _shipped())
    with pytest.raises(BundleError, match=f"The RDS bundle {path} is refused"):
        select_trust(CLUSTER, bundle=path)
    assert not (cache / "bundles").exists()  # refused before it was split


def test_bundle_environment_variable_open_to_others_is_refused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _weak_copy(tmp_path, _shipped())
    monkeypatch.setenv(_trust.BUNDLE_ENV, str(path))
    with pytest.raises(BundleError, match="writable by other users"):
        select_trust(CLUSTER)


@pytest.mark.driver("libpq")
@pytest.mark.parametrize("how", ["sslrootcert", "bundle"])
def test_a_trust_file_open_to_others_never_reaches_the_server(
    logged_server: AuroraLikeServer, pki: TestPKI, tmp_path: Path, cache: Path, how: str
) -> None:
    server = logged_server
    source = pki.root_path if how == "sslrootcert" else pki.bundle_path
    path = _weak_copy(tmp_path, source.read_bytes())
    params = server.params()
    options = Options(bundle=str(path)) if how == "bundle" else None
    if how == "sslrootcert":
        params["sslrootcert"] = str(path)
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError, match="writable by other users"):
        connection_params(params, options, driver=drivers.libpq_driver())
    time.sleep(0.2)
    assert "connection received" not in log_since(server, since)  # not one byte
    # Control: the directory closed to others, the same file connects and the server saw TLS.
    path.parent.chmod(0o755)
    clear_caches()
    connect = connection_params(params, options, driver=drivers.libpq_driver())
    with (
        drivers.libpq_connect(**connect, connect_timeout=5) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cursor.fetchone() == (True,)
    connection.close()


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
    bundle = _private_dir(tmp_path / "mine") / "bundle.pem"
    bundle.write_bytes(_shipped())
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
    bundle = _private_dir(tmp_path / "mine") / "bundle.pem"
    bundle.write_bytes(_shipped())
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


def _attempts(log: str) -> int:
    """Connections the server saw: accepted ones, and ones whose TLS handshake it refused."""
    return log.count("connection received") + log.count("could not accept SSL connection")


def _log_after_attempts(server: AuroraLikeServer, since: int, expected: int) -> str:
    """The server's log since ``since``, once it shows ``expected`` attempts (it lags a bit).

    Lines arrive in order, so an earlier attempt would be in the log by then too.
    """
    deadline = time.monotonic() + 10
    log = log_since(server, since)
    while _attempts(log) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        log = log_since(server, since)
    return log


def _plant(cache: Path, content: bytes) -> Path:
    updated = Path(_trust.updated_bundle_path())
    assert updated.parent.parent == cache
    write_atomically(updated, content)
    return updated


@pytest.mark.driver("libpq")
@needs_root
def test_planted_rds_named_foreign_root_is_refused_and_never_connects(
    cache: Path, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    # Another user planted AWS's bundle plus an interceptor's root that carries the exact name
    # of an RDS root, while updated/ was writable; the owner then ran the advised chmod.
    driver = drivers.libpq_driver()
    planted = _plant(cache, _shipped() + pki.foreign_root_path.read_bytes())
    os.chown(planted, NOBODY, NOBODY)
    server = interception_server
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError) as refused:
        connection_params(server.params(), driver=driver)
    message = str(refused.value)
    assert f"The updated RDS bundle {planted} is refused" in message
    assert "belongs to another user (uid 65534)" in message
    assert "\n" not in message
    with pytest.raises(BundleError, match="refused"):
        select_trust(server.host)

    time.sleep(0.2)
    assert log_since(server, since) == ""  # the server saw nothing at all

    # Control: the same file, ours. Nothing else tells it from a real update, so it is used
    # and the interceptor is reached; what refused it above was the owner check alone.
    os.chown(planted, os.getuid(), os.getgid())
    clear_caches()
    params = connection_params(server.params(), driver=driver)
    assert Path(params["sslrootcert"]).read_bytes().strip() == (
        pki.foreign_root_path.read_bytes().strip()
    )
    with (
        drivers.libpq_connect(**params, connect_timeout=5) as connection,
        connection.cursor() as cur,
    ):
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)  # the interceptor's server saw a TLS session
    connection.close()


@pytest.mark.driver("libpq")
def test_planted_non_rds_root_is_refused_and_never_connects(
    cache: Path, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    dbapi = drivers.libpq_module()
    driver = drivers.libpq_driver()
    planted = _plant(cache, pki.foreign_root_path.read_bytes() + make_cert_pem("Evil Root CA"))
    server = interception_server
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError) as refused:
        connection_params(server.params(), driver=driver)
    message = str(refused.value)
    assert f"The bundle {planted} is refused" in message
    assert "Evil Root CA is not a self-signed Amazon RDS root" in message
    assert "aurora-ssl bundle update" in message
    assert "\n" not in message
    # The control connection with the file removed (shipped bundle: no test-region-1 root,
    # so the full bundle) is refused by the server's chain: it is what the server saw.
    planted.unlink()
    clear_caches()
    with pytest.raises(dbapi.OperationalError, match="certificate verify failed"):
        dbapi.connect(**connection_params(server.params(), driver=driver), connect_timeout=5)
    log = _log_after_attempts(server, since, 1)
    assert _attempts(log) == 1, log[-2000:]  # only the control's
    assert "connection authorized" not in log


@needs_root
def test_bundle_update_replaces_a_planted_bundle(cache: Path, tmp_path: Path) -> None:
    """The remedy works: an update with AWS's bundle replaces the planted file."""
    from aurora_ssl._bundle_update import update_bundle

    planted = _plant(cache, _shipped() + make_cert_pem("Amazon RDS us-east-1 Root CA RSA4096 G9"))
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(BundleError, match="belongs to another user"):
        select_trust(CLUSTER)
    source = _private_dir(tmp_path / "download") / "global-bundle.pem"
    source.write_bytes(_shipped())
    assert update_bundle(from_file=source).installed
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
    planted = _plant(cache, _shipped())
    (planted if target == "file" else planted.parent).chmod(
        0o777 if target == "directory" else 0o666
    )
    with pytest.raises(BundleError, match="is writable by other users"):
        select_trust(CLUSTER)


def test_updated_bundle_symlink_to_a_weak_place_is_refused(cache: Path, tmp_path: Path) -> None:
    elsewhere = _weak_copy(tmp_path, _shipped())
    updated = Path(_trust.updated_bundle_path())
    updated.parent.mkdir(mode=0o700, parents=True)
    updated.symlink_to(elsewhere)
    with pytest.raises(BundleError, match=f"{elsewhere.parent} is writable"):
        select_trust(CLUSTER)


def test_a_valid_update_is_used(cache: Path) -> None:
    root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1")
    _plant(cache, root)
    selection = select_trust(CLUSTER)
    assert selection.source == _trust.updated_bundle_path()
    assert Path(selection.path).read_bytes().strip() == root.strip()


# --- user bundles with roots posing as AWS's ----------------------------------------------


def test_user_bundle_with_unknown_rds_roots_is_warned_about(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1")  # AWS's name, not key
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(_shipped() + impostor)
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
    bundle.write_bytes(_shipped() + make_cert_pem("Amazon RDS test-region-1 Root CA RSA2048 G1"))
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        select_trust(CLUSTER, bundle=bundle)
    assert "not AWS's" not in caplog.text


def test_check_and_inspect_report_unknown_rds_roots(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every run says it, not only the first (which split the bundle and logged it)."""
    from aurora_ssl.cli import main

    impostor = make_cert_pem("Amazon RDS us-east-1 Root CA ECC384 G1")
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(pki.bundle_path.read_bytes() + impostor)
    url = tls_server.url("postgresql")
    for _ in range(2):
        clear_caches()
        code = main(["check", url, "--bundle", str(bundle)])
        out, err = capsys.readouterr()
        assert code == 0, out + err  # verified: the warning informs, it does not refuse
        assert "VERIFIED" in out
        assert "not AWS's" in out
        assert "Amazon RDS us-east-1 Root CA ECC384 G1" in out
        assert tls_server.password not in out + err
    where = [f"{tls_server.host}:{tls_server.port}", "--hostaddr", tls_server.hostaddr]
    assert main(["inspect", *where, "--bundle", str(bundle)]) == 0
    assert "Amazon RDS us-east-1 Root CA ECC384 G1" in capsys.readouterr().out
    # The PKI's own bundle names no impostor.
    clear_caches()
    main(["check", url, "--bundle", str(pki.bundle_path)])
    assert "not AWS's" not in capsys.readouterr().out


def test_roots_of_a_verified_update_are_known(
    cache: Path, tmp_path: Path, tls_server: AuroraLikeServer, pki: TestPKI,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from aurora_ssl.cli import main

    new_root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA4096 G2")
    _plant(cache, _shipped() + new_root)
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(pki.bundle_path.read_bytes() + new_root)
    assert main(["check", tls_server.url("postgresql"), "--bundle", str(bundle)]) == 0
    assert "not AWS's" not in capsys.readouterr().out
    os.unlink(_trust.updated_bundle_path())  # control: without the update it is unknown
    clear_caches()
    assert main(["check", tls_server.url("postgresql"), "--bundle", str(bundle)]) == 0
    assert "Amazon RDS us-east-1 Root CA RSA4096 G2" in capsys.readouterr().out
