"""Trust selection: the shipped per-region files, user bundles split into the cache, and the
choice of file for each kind of host name."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from aurora_ssl import _bundles, _trust, clear_caches
from aurora_ssl._trust import SHIPPED_BUNDLE, SHIPPED_ROOTS, select_trust, write_atomically
from aurora_ssl.errors import BundleError, UnsupportedPartitionError
from tests import ROOT
from tests.certs import make_cert_pem
from tests.fix_trust import shipped_bundle

PINNED = ROOT / "tests" / "data" / "rds-global-bundle.sha256"
SHIPPED_SHA256 = "29a67e2137e98babf3b9afc8ff565e2cd9c538a4fce633e2d356df1ec9642e10"
CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"
WEST = CLUSTER.replace("us-east-1", "us-west-2")
PROXY = "p.proxy-c9akciq32xyz.us-east-1.rds.amazonaws.com"
GLOBAL = "mydb.global-c9akciq32xyz.global.rds.amazonaws.com"

pytestmark = pytest.mark.usefixtures("fresh_caches")


def _der_fingerprints(pem: bytes) -> list[str]:
    certs = x509.load_pem_x509_certificates(pem)
    return [hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in certs]


def _subjects(path: str | Path) -> list[str]:
    """The CNs of the certificates in a trust file, in file order."""
    return [c.subject for c in _bundles.load_bundle(path).certificates]


# --- the shipped bundle and its per-region files ------------------------------------------


def test_shipped_bundle_matches_pinned_fingerprints() -> None:
    data = shipped_bundle()
    pinned = [line.split()[0] for line in PINNED.read_text().splitlines() if line.strip()]
    assert len(pinned) == 102
    assert _der_fingerprints(data) == pinned
    assert hashlib.sha256(data).hexdigest() == SHIPPED_SHA256


def test_shipped_bundle_is_all_valid_rds_roots() -> None:
    bundle = _bundles.load_bundle(SHIPPED_BUNDLE)
    assert len(bundle.certificates) == 102
    assert all(c.is_ca and c.self_signed for c in bundle.certificates)
    assert all(c.subject.startswith("Amazon RDS ") for c in bundle.certificates)
    # 32 regions: AWS's "Beta" and "Preview" roots name no region and get no file.
    assert len(bundle.regions) == 32
    assert "us-east-1" in bundle.regions
    unnamed = [c.subject for c in bundle.certificates if c.region is None]
    assert len(unnamed) == 6
    assert all(" Beta " in s or " Preview " in s for s in unnamed)


def test_committed_region_files_are_what_split_bundle_writes() -> None:
    """scripts/split_bundle.py --check: the files in aurora_ssl/data/roots match the bundle
    (and certifi's Amazon Trust Services roots for proxy.pem)."""
    done = subprocess.run(
        [sys.executable, "scripts/split_bundle.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_split_bundle_check_fails_on_a_changed_region_file(tmp_path: Path) -> None:
    """The check can fail: a copy of the script run on a tree with one region file changed."""
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    (tree / "scripts" / "split_bundle.py").write_bytes(
        (ROOT / "scripts/split_bundle.py").read_bytes()
    )
    package = tree / "aurora_ssl"
    import shutil

    shutil.copytree(ROOT / "aurora_ssl", package, ignore=shutil.ignore_patterns("__pycache__"))
    east = package / "data" / "roots" / "us-east-1.pem"
    east.write_bytes(east.read_bytes() + make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G9"))
    done = subprocess.run(
        [sys.executable, "scripts/split_bundle.py", "--check"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "us-east-1.pem" in done.stdout


def test_each_region_file_holds_exactly_that_regions_roots() -> None:
    bundle = _bundles.load_bundle(SHIPPED_BUNDLE)
    files = sorted(p.name for p in Path(SHIPPED_ROOTS).glob("*.pem"))
    assert files == sorted([*(f"{r}.pem" for r in bundle.regions), "proxy.pem"])
    for region in bundle.regions:
        subjects = _subjects(Path(SHIPPED_ROOTS) / f"{region}.pem")
        assert subjects == [c.subject for c in bundle.certificates if c.region == region]
        assert sorted(subjects) == [
            f"Amazon RDS {region} Root CA {kind} G1" for kind in ("ECC384", "RSA2048", "RSA4096")
        ]


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (b"-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----", 1),
        (b"-----BEGIN CERTIFICATE-----\r\nA\r\n-----END CERTIFICATE-----\n", 1),
        (b"# Label\n-----BEGIN CERTIFICATE-----\nA\nB\n-----END CERTIFICATE-----\n" * 2, 2),
        (b"-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----", 0),  # empty body
        (b"-----BEGIN CERTIFICATE-----\nA\n", 0),  # cut before the end line
        (b"-----BEGIN CERTIFICATE-----A\n-----END CERTIFICATE-----", 0),
        (b"-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----", 0),
        (b"", 0),
    ],
)
def test_pem_blocks(data: bytes, count: int) -> None:
    blocks = _bundles.pem_blocks(data)
    assert len(blocks) == count
    assert all(b.startswith(b"-----BEGIN CERTIFICATE-----") for b in blocks)
    assert all(b.endswith(b"-----END CERTIFICATE-----") for b in blocks)


def test_pem_der_reads_one_block_only() -> None:
    block = _bundles.pem_blocks(shipped_bundle())[0]
    der = _bundles.pem_der(block)
    assert hashlib.sha256(der).hexdigest() == PINNED.read_text().split()[0]
    with pytest.raises(ValueError, match=r"padding|single PEM"):
        _bundles.pem_der(block + b"\n" + block)


# --- choosing the file for a host ----------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        CLUSTER,
        "mydb.cluster-ro-c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "x.cluster-custom-c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "db1.c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "MyDB.Cluster-C9AKCIQ32XYZ.US-EAST-1.rds.amazonaws.com.",
    ],
)
def test_regional_endpoint_gets_its_three_roots(host: str) -> None:
    selection = select_trust(host)
    assert selection.scope == "region:us-east-1"
    assert selection.path == os.path.join(SHIPPED_ROOTS, "us-east-1.pem")
    assert selection.source == SHIPPED_BUNDLE
    assert sorted(_subjects(selection.path)) == [
        f"Amazon RDS us-east-1 Root CA {kind} G1" for kind in ("ECC384", "RSA2048", "RSA4096")
    ]
    assert selection.warnings == ()


def test_other_regions_are_not_mixed() -> None:
    east, west = select_trust(CLUSTER), select_trust(CLUSTER.replace("us-east-1", "eu-west-3"))
    assert east.path != west.path
    assert all("eu-west-3" in s for s in _subjects(west.path))


@pytest.mark.parametrize(
    "host",
    [
        PROXY,
        "e.endpoint.proxy-c9akciq32xyz.eu-west-1.rds.amazonaws.com",
    ],
)
def test_proxy_gets_amazon_trust_services_roots(host: str) -> None:
    selection = select_trust(host)
    assert selection.scope == "proxy"
    assert selection.path == os.path.join(SHIPPED_ROOTS, "proxy.pem")
    subjects = _subjects(selection.path)
    assert sorted(subjects) == sorted(_bundles.AMAZON_TRUST_SERVICES_ROOTS)
    assert not any("RDS" in s for s in subjects)


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("db.example.com", "not an RDS endpoint name"),
        ("10.0.0.5", "an IP address"),
        ("::1", "an IP address"),
        ("localhost", "not an RDS endpoint name"),
        ("rds.amazonaws.com.evil.test", "not an RDS endpoint name"),
    ],
)
def test_other_names_get_the_full_bundle_with_a_warning(
    host: str, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        selection = select_trust(host)
    assert selection.scope == "full-bundle"
    assert selection.path == SHIPPED_BUNDLE
    [warning] = selection.warnings
    assert said in warning
    assert "tls_server_name" in warning  # the CNAME hint
    assert warning in caplog.text


def test_global_database_endpoint_gets_every_region(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        selection = select_trust(GLOBAL)
    assert selection.scope == "full-bundle"
    assert selection.path == SHIPPED_BUNDLE
    [warning] = selection.warnings
    assert "Global Database" in warning
    assert GLOBAL in caplog.text


def test_hosts_of_one_region_keep_its_file() -> None:
    reader = CLUSTER.replace("cluster-", "cluster-ro-")
    selection = select_trust(f"{CLUSTER},{reader}")
    assert selection.scope == "region:us-east-1"
    assert selection.path == os.path.join(SHIPPED_ROOTS, "us-east-1.pem")


@pytest.mark.parametrize(
    "hosts",
    [f"{CLUSTER},{WEST}", [CLUSTER, "db.internal.example.com"], [CLUSTER, GLOBAL]],
)
def test_hosts_needing_different_roots_get_the_full_bundle(hosts: str | list[str]) -> None:
    selection = select_trust(hosts)
    assert selection.scope == "full-bundle"
    assert selection.path == SHIPPED_BUNDLE
    assert len(_subjects(selection.path)) == 102


def test_hosts_of_two_regions_are_told_why_every_root_is_trusted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        selection = select_trust([CLUSTER, WEST])
    [warning] = selection.warnings
    assert "different regions (" in warning
    assert "us-east-1" in warning
    assert warning in caplog.text


def test_proxy_endpoints_of_several_regions_share_the_proxy_roots() -> None:
    selection = select_trust([PROXY, PROXY.replace("us-east-1", "eu-west-1")])
    assert selection.scope == "proxy"


@pytest.mark.parametrize("other", [CLUSTER, "db.example.com", GLOBAL])
def test_a_host_list_mixing_proxy_and_other_endpoints_is_refused(other: str) -> None:
    with pytest.raises(BundleError) as refused:
        select_trust([PROXY, other])
    message = str(refused.value)
    assert "mixes RDS Proxy endpoints" in message
    assert PROXY in message
    assert other in message
    assert "one engine (or Django alias) per kind of endpoint" in message


def test_empty_host_gets_the_full_bundle() -> None:
    assert select_trust("").scope == "full-bundle"


@pytest.mark.parametrize(
    "suffix", ["cn-north-1.rds.amazonaws.com.cn", "us-gov-west-1.rds.amazonaws.com"]
)
def test_partitions_outside_the_global_bundle_need_a_bundle(suffix: str) -> None:
    with pytest.raises(UnsupportedPartitionError, match="https://") as info:
        select_trust(f"db.cluster-abc123.{suffix}")
    assert "bundle=" in str(info.value)
    assert "AURORA_SSL_BUNDLE" in str(info.value)


def test_region_missing_from_bundle_falls_back_to_full_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        selection = select_trust("db.cluster-abc123.zz-north-9.rds.amazonaws.com")
    assert selection.scope == "full-bundle"
    assert len(_subjects(selection.path)) == 102
    assert "aurora-ssl bundle update" in caplog.text
    assert any("zz-north-9" in w for w in selection.warnings)


# --- the user's own trust file ---------------------------------------------------------------


def test_user_sslrootcert_is_used_untouched(tmp_path: Path) -> None:
    own = tmp_path / "mine.pem"
    own.write_bytes(make_cert_pem("My Corp Root"))
    selection = select_trust(CLUSTER, sslrootcert=own)
    assert selection.path == str(own)
    assert selection.scope == "user-file"
    assert _subjects(selection.path) == ["My Corp Root"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "no PEM certificate"),
        (b"hello, I am not a certificate\n", "no PEM certificate"),
    ],
)
def test_bad_user_files_are_refused_before_connecting(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "roots.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BundleError, match=message) as info:
        select_trust(CLUSTER, sslrootcert=path)
    assert str(path) in str(info.value)


# --- bundles: the user's, the environment's, an installed update -----------------------------


def test_truncated_bundle_keeps_only_complete_blocks(tmp_path: Path) -> None:
    data = shipped_bundle()
    path = tmp_path / "cut.pem"
    path.write_bytes(data[: len(data) // 2])
    bundle = _bundles.load_bundle(path)  # the complete blocks before the cut still parse...
    assert 0 < len(bundle.certificates) < 102
    path.write_bytes(data[:200])
    with pytest.raises(BundleError, match="no PEM certificate"):  # ...a file with none is refused
        _bundles.load_bundle(path)
    with pytest.raises(BundleError, match="no PEM certificate"):
        select_trust(CLUSTER, bundle=path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n", "does not parse"),
        ("leaf", "is not a CA certificate"),
    ],
)
def test_a_user_bundle_is_parsed_and_refused_when_broken(
    tmp_path: Path, content: bytes | str, message: str
) -> None:
    bundle = tmp_path / "bundle.pem"
    pem = make_cert_pem("db.example.com", ca=False) if content == "leaf" else content
    assert isinstance(pem, bytes)
    bundle.write_bytes(shipped_bundle() + pem)
    with pytest.raises(BundleError, match=message) as refused:
        select_trust(CLUSTER, bundle=bundle)
    assert str(bundle) in str(refused.value)


def test_explicit_bundle_is_trimmed_too(tmp_path: Path) -> None:
    china = [make_cert_pem(f"Amazon RDS cn-north-1 Root CA {k} G1") for k in ("RSA2048", "ECC384")]
    other = make_cert_pem("Amazon RDS cn-northwest-1 Root CA RSA2048 G1")
    bundle = tmp_path / "cn-bundle.pem"
    bundle.write_bytes(b"".join([*china, other]))
    selection = select_trust("db.cluster-abc123.cn-north-1.rds.amazonaws.com.cn", bundle=bundle)
    assert selection.scope == "region:cn-north-1"
    assert selection.source == str(bundle)
    assert _subjects(selection.path) == [
        "Amazon RDS cn-north-1 Root CA RSA2048 G1",
        "Amazon RDS cn-north-1 Root CA ECC384 G1",
    ]


def test_bundle_env_variable_is_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "env.pem"
    bundle.write_bytes(shipped_bundle() + make_cert_pem("Amazon RDS xx-test-1 Root CA RSA2048 G1"))
    monkeypatch.setenv(_trust.BUNDLE_ENV, str(bundle))
    assert _trust.bundle_source() == (str(bundle), _trust.BUNDLE_ENV)
    selection = select_trust("db.cluster-abc123.xx-test-1.rds.amazonaws.com")
    assert _subjects(selection.path) == ["Amazon RDS xx-test-1 Root CA RSA2048 G1"]
    assert selection.source == str(bundle)
    # The argument outranks the environment.
    assert _trust.bundle_source(_trust.SHIPPED_BUNDLE) == (SHIPPED_BUNDLE, "argument")


def test_updated_bundle_takes_precedence_over_shipped() -> None:
    updated = _trust.updated_bundle_path()
    write_atomically(updated, make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1"))
    try:
        assert _trust.bundle_source() == (updated, "updated")
        assert _subjects(select_trust(CLUSTER).path) == ["Amazon RDS us-east-1 Root CA RSA2048 G1"]
    finally:
        os.unlink(updated)
    clear_caches()
    assert _trust.bundle_source() == (SHIPPED_BUNDLE, "shipped")
    assert select_trust(CLUSTER).path == os.path.join(SHIPPED_ROOTS, "us-east-1.pem")


def test_the_shipped_bundle_needs_no_cache_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """An RDS name on the shipped bundle is a path: no cache directory is made or checked."""
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, "/dev/null/not-a-directory")
    assert select_trust(CLUSTER).path == os.path.join(SHIPPED_ROOTS, "us-east-1.pem")
    assert select_trust(PROXY).scope == "proxy"
    assert select_trust("db.example.com").path == SHIPPED_BUNDLE


def test_unusable_cache_location_is_named_when_a_user_bundle_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(shipped_bundle())
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, "/dev/null/not-a-directory")
    with pytest.raises(BundleError) as refused:
        select_trust(CLUSTER, bundle=bundle)
    assert "/dev/null/not-a-directory" in str(refused.value)
    assert _trust.CACHE_DIR_ENV in str(refused.value)


# --- the split of a user bundle: once per content, in the cache -----------------------------


def _split_directory(selection: _trust.TrustSelection) -> Path:
    return Path(selection.path).parent


def test_a_user_bundle_is_split_into_the_cache_by_content(tmp_path: Path) -> None:
    bundle = tmp_path / "mine.pem"
    data = shipped_bundle()
    bundle.write_bytes(data)
    selection = select_trust(CLUSTER, bundle=bundle)
    directory = _split_directory(selection)
    assert directory == Path(_trust.cache_dir()) / "bundles" / f"{zlib.crc32(data):08x}-{len(data)}"
    assert selection.path == str(directory / "us-east-1.pem")
    # The region file is the shipped one, byte for byte; full.pem is the bundle itself.
    assert Path(selection.path).read_bytes() == (Path(SHIPPED_ROOTS) / "us-east-1.pem").read_bytes()
    assert (directory / "full.pem").read_bytes() == data
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [*(f"{r}.pem" for r in _bundles.load_bundle(bundle).regions), "full.pem"]
    )
    assert directory.stat().st_mode & 0o077 == 0
    # Other names on the same bundle get its full.pem, not the shipped bundle.
    assert select_trust("db.example.com", bundle=bundle).path == str(directory / "full.pem")
    # No trust-*.pem, index or selection record files anywhere in the cache (the direct-TLS
    # markers of other tests may be there).
    cache = Path(_trust.cache_dir())
    assert not [
        p
        for p in cache.rglob("*")
        if p.is_file() and p.parts[len(cache.parts)] not in ("bundles", "direct-tls", "updated")
    ]


def test_a_user_bundle_is_split_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle())
    first = select_trust(CLUSTER, bundle=bundle)
    made = Path(first.path).stat().st_mtime_ns

    def never(*args: object) -> object:
        raise AssertionError("the bundle was parsed again")

    monkeypatch.setattr(_bundles, "read_certificates", never)
    clear_caches()  # a later process: reads and hashes the bundle, finds the split made
    second = select_trust(CLUSTER, bundle=bundle)
    assert second.path == first.path
    assert Path(second.path).stat().st_mtime_ns == made
    monkeypatch.undo()

    # New content: a new split, next to the old one; the old one is untouched.
    bundle.write_bytes(shipped_bundle() + make_cert_pem("Amazon RDS xx-test-1 Root CA RSA2048 G1"))
    clear_caches()
    third = select_trust(CLUSTER, bundle=bundle)
    assert third.path != first.path
    assert Path(first.path).is_file()
    assert _subjects(
        select_trust("a.cluster-b.xx-test-1.rds.amazonaws.com", bundle=bundle).path
    ) == ["Amazon RDS xx-test-1 Root CA RSA2048 G1"]


def test_a_split_is_used_only_when_it_holds_the_bundle_byte_for_byte(
    tmp_path: Path, cache: Path
) -> None:
    """The directory's name (CRC-32 and length) only finds it: another bundle under the same
    name, or an edited split, is replaced before anything of it is trusted."""
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle())
    directory = Path(_trust.cache_dir()) / "bundles" / _trust.split_name(shipped_bundle())
    directory.parent.mkdir(mode=0o700)
    directory.mkdir(mode=0o700)
    (directory / "full.pem").write_bytes(make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1"))
    (directory / "us-east-1.pem").write_bytes(
        make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1")
    )
    selection = select_trust(CLUSTER, bundle=bundle)
    assert selection.path == str(directory / "us-east-1.pem")
    assert Path(selection.path).read_bytes() == (Path(SHIPPED_ROOTS) / "us-east-1.pem").read_bytes()
    assert (directory / "full.pem").read_bytes() == shipped_bundle()


def test_a_removed_split_is_made_again_on_the_next_connection(tmp_path: Path) -> None:
    """A temp cleaner may empty the cache under a long-running process: ensure() re-splits."""
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle())
    selection = select_trust(CLUSTER, bundle=bundle)
    original = Path(selection.path).read_bytes()
    import shutil

    shutil.rmtree(_split_directory(selection))
    assert selection.ensure() == selection.path
    assert Path(selection.path).read_bytes() == original


def test_shipped_selection_ensure_touches_nothing() -> None:
    selection = select_trust(CLUSTER)
    assert selection.ensure() == os.path.join(SHIPPED_ROOTS, "us-east-1.pem")


def test_cache_dir_writable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(shared))
    with pytest.raises(BundleError, match="writable by other users") as refused:
        _trust.cache_dir()
    assert f"chmod go-w {shared}" in str(refused.value)
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle())
    with pytest.raises(BundleError, match="The cache directory"):
        select_trust(CLUSTER, bundle=bundle)


def test_cache_dir_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_trust.CACHE_DIR_ENV, str(tmp_path / "new" / "aurora-ssl"))
    directory = Path(_trust.cache_dir())
    assert directory == tmp_path / "new" / "aurora-ssl"
    assert directory.stat().st_mode & 0o077 == 0
    monkeypatch.delenv(_trust.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _trust.cache_dir() == str(tmp_path / "xdg" / "aurora-ssl")


# --- concurrency: many writers and readers, never a partial file -------------------------

_A = shipped_bundle()
_B = _A[: len(_A) // 3]


def _writer(path: str, rounds: int) -> None:
    for i in range(rounds):
        write_atomically(path, _A if i % 2 else _B)


def _select_in_process(cache: str, bundle: str, queue: multiprocessing.Queue[str]) -> None:
    os.environ[_trust.CACHE_DIR_ENV] = cache
    for _ in range(20):
        clear_caches()
        path = select_trust(CLUSTER, bundle=bundle).path
        queue.put(hashlib.sha256(Path(path).read_bytes()).hexdigest())


def test_concurrent_writers_never_expose_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "trust.pem"
    write_atomically(target, _A)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(hashlib.sha256(target.read_bytes()).digest())

    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(str(target), 40)) for _ in range(4)]
    threads = [threading.Thread(target=_writer, args=(str(target), 40)) for _ in range(8)]
    readers = [threading.Thread(target=reader) for _ in range(4)]
    for worker in [*processes, *threads, *readers]:
        worker.start()
    for worker in [*processes, *threads]:
        worker.join(timeout=120)
    stop.set()
    for r in readers:
        r.join()
    assert all(p.exitcode == 0 for p in processes)
    assert seen <= {hashlib.sha256(_A).digest(), hashlib.sha256(_B).digest()}
    assert len(seen) >= 1
    assert [p.name for p in tmp_path.iterdir()] == ["trust.pem"]  # no temp files left


def test_many_processes_and_threads_splitting_one_bundle_agree(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle())
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = context.Queue()
    processes = [
        context.Process(target=_select_in_process, args=(str(cache), str(bundle), queue))
        for _ in range(4)
    ]
    for p in processes:
        p.start()
    results: list[str] = []
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            for _ in range(20):
                _trust._split_dir.cache_clear()
                path = Path(_trust._split_dir(str(bundle))) / "us-east-1.pem"
                results.append(hashlib.sha256(path.read_bytes()).hexdigest())
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    os.environ[_trust.CACHE_DIR_ENV], previous = str(cache), os.environ[_trust.CACHE_DIR_ENV]
    try:
        threads = [threading.Thread(target=in_thread) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os.environ[_trust.CACHE_DIR_ENV] = previous
    results.extend(queue.get(timeout=60) for _ in range(80))
    for p in processes:
        p.join(timeout=60)
    assert not errors
    assert len(results) == 16 * 20 + 80
    east = hashlib.sha256((Path(SHIPPED_ROOTS) / "us-east-1.pem").read_bytes()).hexdigest()
    assert set(results) == {east}  # every reader saw the one complete file
    assert [p.name for p in (cache / "bundles").iterdir()] == [
        _trust.split_name(shipped_bundle())
    ]  # one split, no staging directories left


def test_clear_caches_forgets_every_memo(tmp_path: Path) -> None:
    from aurora_ssl._endpoint import parse_endpoint

    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(shipped_bundle())
    first = select_trust(CLUSTER)
    assert select_trust(CLUSTER) is first  # memoised
    select_trust(CLUSTER, bundle=bundle)
    assert parse_endpoint.cache_info().currsize > 0
    assert _trust._split_dir.cache_info().currsize > 0
    clear_caches()
    assert parse_endpoint.cache_info().currsize == 0
    assert _trust._split_dir.cache_info().currsize == 0
    assert _trust._select.cache_info().currsize == 0
    second = select_trust(CLUSTER)
    assert second is not first
    assert (second.path, second.scope) == (first.path, first.scope)


def test_a_home_that_cannot_hold_the_cache_falls_back_to_the_temp_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aurora_ssl import _trust

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")  # like a read-only home: ~/.cache/aurora-ssl cannot be made
    monkeypatch.delenv("AURORA_SSL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(mode=0o700)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    made = _trust.cache_dir()
    assert made.startswith(str(tmp_path / "tmp" / "aurora-ssl-"))
    assert _trust.cache_path() == made
    assert oct(Path(made).stat().st_mode & 0o777) == "0o700"
