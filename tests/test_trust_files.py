"""Trust files on disk (issue 8): who may write where trust comes from, and what is believed.

- the cache directory and every ancestor are checked like OpenSSH's StrictModes;
- an ``updated/`` bundle must be ours and hold only self-signed Amazon RDS roots, so one
  planted while the directory was open is refused, and no connection is made with it;
- a user bundle whose "Amazon RDS" roots are not AWS's is named in a warning (and by
  ``aurora-ssl check``);
- a multi-host list that mixes in a non-RDS host says that it costs the region trimming.

Tests run as root here, so the owner rule is exercised by ``chown``-ing to ``nobody``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aurora_ssl import connection_params, trust
from aurora_ssl.cli import main
from aurora_ssl.errors import BundleError
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from aurora_ssl.trust import select_trust, shipped_bundle_path, write_atomically
from tests import drivers
from tests.certs import make_cert_pem

pytestmark = pytest.mark.usefixtures("fresh_caches")

NOBODY = 65534
CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(directory))
    monkeypatch.delenv(trust.BUNDLE_ENV, raising=False)
    return directory


# --- the cache directory: StrictModes for every ancestor --------------------------------


def test_world_writable_parent_without_sticky_bit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o777)
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(parent / "me" / "aurora-ssl"))
    with pytest.raises(BundleError) as refused:
        trust.cache_dir()
    message = str(refused.value)
    assert f"ancestor {parent} is writable by other users" in message
    assert f"chmod go-w {parent}" in message
    assert "\n" not in message
    assert not (parent / "me").exists()  # refused before anything was created below it
    with pytest.raises(BundleError, match="shared"):
        select_trust(CLUSTER)


def test_world_writable_parent_with_sticky_bit_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o1777)  # like /tmp: others cannot rename what is ours
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(parent / "aurora-ssl"))
    assert trust.cache_dir() == parent / "aurora-ssl"
    assert Path(select_trust(CLUSTER).path).parent == parent / "aurora-ssl"


@needs_root
def test_parent_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "theirs"
    parent.mkdir(mode=0o755)
    os.chown(parent, NOBODY, NOBODY)
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(parent / "aurora-ssl"))
    with pytest.raises(BundleError, match=rf"ancestor {parent} belongs to another user \(uid"):
        trust.cache_dir()
    os.chown(parent, os.getuid(), os.getgid())  # the same tree, ours again: accepted
    assert trust.cache_dir() == parent / "aurora-ssl"


def test_a_symlink_does_not_hide_a_weak_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = tmp_path / "weak"
    (weak / "real").mkdir(parents=True)
    weak.chmod(0o777)
    (tmp_path / "link").symlink_to(weak / "real")
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(tmp_path / "link" / "aurora-ssl"))
    with pytest.raises(BundleError, match=f"ancestor {weak} is writable"):
        trust.cache_dir()


# --- the updated bundle: owner, mode and RDS-root validation -----------------------------


def _connections_logged(server: AuroraLikeServer, since: int) -> str:
    with open(server.log_path, "rb") as log:
        log.seek(since)
        return log.read().decode(errors="replace")


def _attempts(log: str) -> int:
    """Connections the server saw: accepted ones, and ones whose TLS handshake it refused."""
    return log.count("connection received") + log.count("could not accept SSL connection")


def _log_after_attempts(server: AuroraLikeServer, since: int, expected: int) -> str:
    """The server's log since ``since``, once it shows ``expected`` attempts (it lags a bit).

    Lines arrive in order, so an earlier attempt would be in the log by then too.
    """
    deadline = time.monotonic() + 10
    log = _connections_logged(server, since)
    while _attempts(log) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        log = _connections_logged(server, since)
    return log


def _plant(cache: Path, content: bytes) -> Path:
    updated = trust.updated_bundle_path()
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
    dbapi = drivers.libpq_module()

    planted = _plant(cache, shipped_bundle_path().read_bytes() + pki.foreign_root_path.read_bytes())
    os.chown(planted, NOBODY, NOBODY)
    server = interception_server
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError) as refused:
        connection_params(server.params())
    message = str(refused.value)
    assert f"updated RDS bundle {planted} is refused" in message
    assert "belongs to another user (uid 65534)" in message
    assert f"rm {planted}" in message
    assert "\n" not in message
    with pytest.raises(BundleError, match="refused"):
        select_trust(server.host)

    assert _connections_logged(server, since) == ""  # the server saw nothing at all

    # Control: the same file, ours. Nothing else tells it from a real update, so it is used
    # and the interceptor is reached; what refused it above was the owner check alone.
    os.chown(planted, os.getuid(), os.getgid())
    trust.clear_caches()
    params = connection_params(server.params())
    assert Path(params["sslrootcert"]).read_bytes() == pki.foreign_root_path.read_bytes()
    with dbapi.connect(**params, connect_timeout=5) as connection, connection.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)  # the interceptor's server saw a TLS session
    connection.close()


@pytest.mark.driver("libpq")
def test_planted_non_rds_root_is_refused_and_never_connects(
    cache: Path, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    dbapi = drivers.libpq_module()

    planted = _plant(cache, pki.foreign_root_path.read_bytes() + make_cert_pem("Evil Root CA"))
    server = interception_server
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError) as refused:
        connection_params(server.params())
    message = str(refused.value)
    assert f"updated RDS bundle {planted} is refused" in message
    assert "(Evil Root CA) is not an Amazon RDS root" in message
    assert f"rm {planted}" in message
    assert "Nothing was changed" not in message  # bundle update's wording, not ours here
    assert "\n" not in message
    # The control connection with the file removed (shipped bundle: no test-region-1 root,
    # so the full bundle) is refused by the server's chain: it is what the server saw.
    planted.unlink()
    trust.clear_caches()
    with pytest.raises(dbapi.OperationalError, match="certificate verify failed"):
        dbapi.connect(**connection_params(server.params()), connect_timeout=5)
    log = _log_after_attempts(server, since, 1)
    assert _attempts(log) == 1, log[-2000:]  # only the control's
    assert "connection authorized" not in log


@needs_root
def test_bundle_update_replaces_a_planted_bundle(cache: Path, tmp_path: Path) -> None:
    """The remedy the refusal names works: a new update replaces the planted file."""
    from aurora_ssl.bundle_update import update_bundle
    from aurora_ssl.certificates import pem_der

    planted = _plant(cache, shipped_bundle_path().read_bytes())
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(BundleError, match="belongs to another user"):
        select_trust(CLUSTER)
    new_root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA4096 G2")
    source = tmp_path / "global-bundle.pem"
    source.write_bytes(shipped_bundle_path().read_bytes() + new_root)
    fingerprint = hashlib.sha256(pem_der(new_root)).hexdigest()  # a root AWS has not made
    assert update_bundle(from_file=source, accept_roots=[fingerprint]).installed
    assert planted.stat().st_uid == os.getuid()
    trust.clear_caches()
    assert "Amazon RDS us-east-1 Root CA RSA4096 G2" in select_trust(CLUSTER).subjects


@needs_root
@pytest.mark.parametrize("target", ["file", "directory"])
def test_updated_bundle_open_to_others_is_refused(cache: Path, target: str) -> None:
    planted = _plant(cache, shipped_bundle_path().read_bytes())
    (planted if target == "file" else planted.parent).chmod(
        0o777 if target == "directory" else 0o666
    )
    with pytest.raises(BundleError, match="is writable by other users"):
        select_trust(CLUSTER)


def test_updated_bundle_symlink_is_refused(cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.pem"
    elsewhere.write_bytes(shipped_bundle_path().read_bytes())
    updated = trust.updated_bundle_path()
    updated.parent.mkdir(mode=0o700)
    updated.symlink_to(elsewhere)
    with pytest.raises(BundleError, match="is a symbolic link"):
        select_trust(CLUSTER)


def test_a_valid_update_is_used(cache: Path) -> None:
    root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1")
    _plant(cache, root)
    selection = select_trust(CLUSTER)
    assert selection.subjects == ("Amazon RDS us-east-1 Root CA RSA2048 G1",)
    assert Path(selection.path).read_bytes() == root


# --- user bundles with roots posing as AWS's ----------------------------------------------


def test_user_bundle_with_unknown_rds_roots_is_warned_about(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1")  # AWS's name, not key
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle_path().read_bytes() + impostor)
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        selection = select_trust(CLUSTER, bundle=bundle)
    [warning] = [w for w in selection.warnings if "not AWS's" in w]
    assert "1 root(s)" in warning
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in warning
    assert str(bundle) in warning
    assert warning in caplog.text
    # AWS's own bundle passed as the user's file: every root is known, no warning.
    trust.clear_caches()
    own = tmp_path / "aws.pem"
    shutil.copy(shipped_bundle_path(), own)
    assert not [w for w in select_trust(CLUSTER, bundle=own).warnings if "not AWS's" in w]


def test_roots_of_a_verified_update_are_known(cache: Path, tmp_path: Path) -> None:
    new_root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA4096 G2")
    _plant(cache, shipped_bundle_path().read_bytes() + new_root)
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle_path().read_bytes() + new_root)
    assert not [w for w in select_trust(CLUSTER, bundle=bundle).warnings if "not AWS's" in w]


def test_check_reports_unknown_rds_roots(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    impostor = make_cert_pem("Amazon RDS us-east-1 Root CA ECC384 G1")
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(pki.bundle_path.read_bytes() + impostor)
    url = tls_server.url("postgresql")
    code = main(["check", url, "--bundle", str(bundle)])
    out, err = capsys.readouterr()
    assert code == 0, out + err  # verified: the warning informs, it does not refuse
    assert "VERIFIED" in out
    assert "not AWS's" in out
    assert "Amazon RDS us-east-1 Root CA ECC384 G1" in out
    assert tls_server.password not in out + err
    # The same check with the PKI's own bundle names no impostor.
    trust.clear_caches()
    main(["check", url, "--bundle", str(pki.bundle_path)])
    out, _ = capsys.readouterr()
    assert "not AWS's" not in out


# --- multi-host lists ---------------------------------------------------------------------


def test_mixing_a_non_rds_host_into_a_host_list_says_it_costs_the_trimming() -> None:
    selection = select_trust([CLUSTER, "db.internal.example.com"])
    assert selection.scope == "full-bundle+region:us-east-1"
    assert len(selection.subjects) == 102  # the union: the whole bundle
    [warning] = [w for w in selection.warnings if "mixes" in w]
    assert "db.internal.example.com" in warning
    assert "region:us-east-1" in warning
    assert "\n" not in warning


def test_rds_hosts_alone_keep_the_trimming_without_that_warning() -> None:
    west = "mydb.cluster-c9akciq32xyz.us-west-2.rds.amazonaws.com"
    selection = select_trust([CLUSTER, west])
    assert len(selection.subjects) == 6
    assert not [w for w in selection.warnings if "mixes" in w]


@pytest.fixture(autouse=True)
def _restore_modes(tmp_path: Path) -> Iterator[None]:
    """pytest must be able to remove what the tests chmod-ed and chown-ed."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, os.getuid(), os.getgid())
            path.chmod(0o700)


def test_without_posix_owners_the_mode_bits_refuse_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows: Python reports every directory as 0o777 and has no os.getuid; the owner and
    mode checks, which would refuse every directory there, are POSIX only (documented)."""
    from aurora_ssl import trust

    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)  # what os.stat says for any directory on Windows
    monkeypatch.setenv("AURORA_SSL_CACHE_DIR", str(cache))
    with pytest.raises(BundleError, match="writable by other users"):
        trust.cache_dir()  # POSIX: refused
    monkeypatch.delattr(os, "getuid")
    assert str(trust.cache_dir()) == str(cache)
