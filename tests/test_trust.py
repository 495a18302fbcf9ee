"""Trust selection and the trust-file cache, on the shipped bundle and generated ones."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from aurora_ssl import trust
from aurora_ssl.errors import BundleError, UnsupportedPartitionError
from aurora_ssl.trust import select_trust, shipped_bundle_path, write_atomically
from tests.certs import make_cert_pem

PINNED = Path(__file__).parent / "data" / "rds-global-bundle.sha256"
SHIPPED_SHA256 = "29a67e2137e98babf3b9afc8ff565e2cd9c538a4fce633e2d356df1ec9642e10"
CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"

pytestmark = pytest.mark.usefixtures("fresh_caches")


def _der_fingerprints(pem: bytes) -> list[str]:
    certs = x509.load_pem_x509_certificates(pem)
    return [hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in certs]


def test_shipped_bundle_matches_pinned_fingerprints() -> None:
    data = shipped_bundle_path().read_bytes()
    pinned = [line.split()[0] for line in PINNED.read_text().splitlines() if line.strip()]
    assert len(pinned) == 102
    assert _der_fingerprints(data) == pinned
    assert hashlib.sha256(data).hexdigest() == SHIPPED_SHA256


def test_shipped_bundle_is_all_valid_rds_roots() -> None:
    bundle = trust.load_bundle(shipped_bundle_path())
    assert len(bundle.certificates) == 102
    assert all(c.is_ca and c.self_signed for c in bundle.certificates)
    assert all(c.subject.startswith("Amazon RDS ") for c in bundle.certificates)
    assert len(bundle.regions) == 34  # 32 regions + Beta + Preview


@pytest.mark.parametrize(
    "host",
    [
        CLUSTER,
        "mydb.cluster-ro-c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "x.cluster-custom-c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "db1.c9akciq32xyz.us-east-1.rds.amazonaws.com",
    ],
)
def test_regional_endpoint_gets_its_three_roots(host: str) -> None:
    selection = select_trust(host)
    assert selection.scope == "region:us-east-1"
    assert sorted(selection.subjects) == [
        f"Amazon RDS us-east-1 Root CA {kind} G1" for kind in ("ECC384", "RSA2048", "RSA4096")
    ]
    # The file holds exactly those three certificates, nothing else.
    assert len(_der_fingerprints(Path(selection.path).read_bytes())) == 3


def test_other_regions_are_not_mixed() -> None:
    east, west = select_trust(CLUSTER), select_trust(CLUSTER.replace("us-east-1", "eu-west-3"))
    assert east.path != west.path
    assert all("eu-west-3" in s for s in west.subjects)


@pytest.mark.parametrize(
    "host",
    [
        "p.proxy-c9akciq32xyz.us-east-1.rds.amazonaws.com",
        "e.endpoint.proxy-c9akciq32xyz.eu-west-1.rds.amazonaws.com",
    ],
)
def test_proxy_gets_amazon_trust_services_roots(host: str) -> None:
    selection = select_trust(host)
    assert selection.scope == "proxy"
    assert sorted(selection.subjects) == sorted(trust.AMAZON_TRUST_SERVICES_ROOTS)
    assert not any("RDS" in s for s in selection.subjects)


@pytest.mark.parametrize("host", ["db.example.com", "10.0.0.5", "localhost"])
def test_other_names_get_the_full_bundle(host: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        selection = select_trust(host)
    assert selection.scope == "full-bundle"
    assert len(selection.subjects) == 102
    if host == "db.example.com":
        assert "tls_server_name" in caplog.text  # the CNAME hint


def test_multi_host_unites_regions() -> None:
    selection = select_trust(f"{CLUSTER},{CLUSTER.replace('us-east-1', 'us-west-2')}")
    assert len(selection.subjects) == 6


def test_user_sslrootcert_is_used_untouched(tmp_path: Path) -> None:
    own = tmp_path / "mine.pem"
    own.write_bytes(make_cert_pem("My Corp Root"))
    selection = select_trust(CLUSTER, sslrootcert=own)
    assert selection.path == str(own)
    assert selection.scope == "user-file"
    assert selection.subjects == ("My Corp Root",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "no PEM certificate"),
        (b"hello, I am not a certificate\n", "no PEM certificate"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
            "does not parse",
        ),
        ("leaf", "not CA certificates"),
    ],
)
def test_bad_user_files_are_refused_before_connecting(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "roots.pem"
    if content == "leaf":
        path.write_bytes(make_cert_pem("db.example.com", ca=False))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(BundleError, match=message) as info:
        select_trust(CLUSTER, sslrootcert=path)
    assert str(path) in str(info.value)


def test_truncated_bundle_is_refused(tmp_path: Path) -> None:
    data = shipped_bundle_path().read_bytes()
    path = tmp_path / "cut.pem"
    path.write_bytes(data[: len(data) // 2])
    bundle = trust.load_bundle(path)  # the complete blocks before the cut still parse...
    assert 0 < len(bundle.certificates) < 102
    path.write_bytes(data[:200])
    with pytest.raises(BundleError):  # ...but a file with no complete block is refused
        trust.load_bundle(path)


@pytest.mark.parametrize(
    "suffix", ["cn-north-1.rds.amazonaws.com.cn", "us-gov-west-1.rds.amazonaws.com"]
)
def test_partitions_outside_the_global_bundle_need_a_bundle(suffix: str) -> None:
    with pytest.raises(UnsupportedPartitionError, match="https://") as info:
        select_trust(f"db.cluster-abc123.{suffix}")
    assert "bundle=" in str(info.value)


def test_explicit_bundle_is_trimmed_too(tmp_path: Path) -> None:
    china = [make_cert_pem(f"Amazon RDS cn-north-1 Root CA {k} G1") for k in ("RSA2048", "ECC384")]
    other = make_cert_pem("Amazon RDS cn-northwest-1 Root CA RSA2048 G1")
    bundle = tmp_path / "cn-bundle.pem"
    bundle.write_bytes(b"".join([*china, other]))
    selection = select_trust("db.cluster-abc123.cn-north-1.rds.amazonaws.com.cn", bundle=bundle)
    assert selection.scope == "region:cn-north-1"
    assert len(selection.subjects) == 2


def test_bundle_env_variable_is_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "env.pem"
    bundle.write_bytes(
        shipped_bundle_path().read_bytes()
        + make_cert_pem("Amazon RDS xx-test-1 Root CA RSA2048 G1")
    )
    monkeypatch.setenv(trust.BUNDLE_ENV, str(bundle))
    selection = select_trust("db.cluster-abc123.xx-test-1.rds.amazonaws.com")
    assert selection.subjects == ("Amazon RDS xx-test-1 Root CA RSA2048 G1",)
    assert selection.source == str(bundle)


def test_region_missing_from_bundle_falls_back_to_full_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="aurora_ssl"):
        selection = select_trust("db.cluster-abc123.zz-north-9.rds.amazonaws.com")
    assert selection.scope == "full-bundle"
    assert len(selection.subjects) == 102
    assert "aurora-ssl bundle update" in caplog.text
    assert any("zz-north-9" in w for w in selection.warnings)


def test_updated_bundle_takes_precedence_over_shipped(tmp_path: Path) -> None:
    updated = trust.updated_bundle_path()
    write_atomically(updated, make_cert_pem("Amazon RDS us-east-1 Root CA RSA2048 G1"))
    try:
        assert trust.bundle_source() == (updated, "updated")
        assert select_trust(CLUSTER).subjects == ("Amazon RDS us-east-1 Root CA RSA2048 G1",)
    finally:
        updated.unlink()
    assert trust.bundle_source()[1] == "shipped"


def test_trust_file_name_is_content_addressed_and_reused() -> None:
    first = select_trust(CLUSTER)
    trust.clear_caches()
    second = select_trust(CLUSTER)
    content = Path(first.path).read_bytes()
    assert first.path == second.path
    assert hashlib.sha256(content).hexdigest()[:24] in first.path


def test_deleted_trust_file_is_recreated_on_next_connection() -> None:
    selection = select_trust(CLUSTER)
    original = Path(selection.path).read_bytes()
    os.unlink(selection.path)
    assert selection.ensure() == selection.path
    assert Path(selection.path).read_bytes() == original


def test_tampered_trust_file_is_rewritten() -> None:
    selection = select_trust(CLUSTER)
    original = Path(selection.path).read_bytes()
    Path(selection.path).write_bytes(make_cert_pem("Evil Root"))
    trust.clear_caches()
    assert Path(select_trust(CLUSTER).path).read_bytes() == original


def test_unwritable_cache_location_falls_back_to_private_temp_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(trust.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "/dev/null/not-a-directory")
    directory = trust.cache_dir()
    assert directory.name == f"aurora-ssl-{os.getuid()}"
    assert directory.stat().st_mode & 0o077 == 0
    assert Path(select_trust(CLUSTER).path).parent == directory


def test_cache_dir_writable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(shared))
    with pytest.raises(BundleError, match="writable by other users"):
        trust.cache_dir()


# --- concurrency: many writers and readers, never a partial file -------------------------

_A = shipped_bundle_path().read_bytes()
_B = _A[: len(_A) // 3]


def _writer(path: str, rounds: int) -> None:
    for i in range(rounds):
        write_atomically(Path(path), _A if i % 2 else _B)


def _select_in_process(cache: str, queue: multiprocessing.Queue[str]) -> None:
    os.environ[trust.CACHE_DIR_ENV] = cache
    for _ in range(20):
        trust.clear_caches()
        path = select_trust(CLUSTER).path
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


def test_many_processes_and_threads_selecting_at_once_agree(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = context.Queue()
    processes = [
        context.Process(target=_select_in_process, args=(str(cache), queue)) for _ in range(4)
    ]
    for p in processes:
        p.start()
    results: list[str] = []
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            for _ in range(20):
                path = Path(
                    trust._materialise(b"".join(c.pem for c in _east()), "region-us-east-1")
                )
                results.append(hashlib.sha256(path.read_bytes()).hexdigest())
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    os.environ[trust.CACHE_DIR_ENV], previous = str(cache), os.environ[trust.CACHE_DIR_ENV]
    try:
        threads = [threading.Thread(target=in_thread) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os.environ[trust.CACHE_DIR_ENV] = previous
    results.extend(queue.get(timeout=60) for _ in range(80))
    for p in processes:
        p.join(timeout=60)
    assert not errors
    assert len(results) == 16 * 20 + 80
    assert len(set(results)) == 1  # every reader saw the one complete file
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]


def _east() -> tuple[trust.BundleCertificate, ...]:
    return trust.load_bundle(shipped_bundle_path()).for_region("us-east-1")


def test_clear_caches_forgets_every_memo() -> None:
    from aurora_ssl import bundles, endpoint

    first = select_trust(CLUSTER)
    assert select_trust(CLUSTER) is first  # memoised
    endpoint.parse_endpoint(CLUSTER)
    _east()
    assert endpoint.parse_endpoint.cache_info().currsize > 0
    assert bundles._load_bundle_cached.cache_info().currsize > 0
    trust.clear_caches()
    assert endpoint.parse_endpoint.cache_info().currsize == 0
    assert bundles._load_bundle_cached.cache_info().currsize == 0
    second = select_trust(CLUSTER)
    assert second is not first
    assert second == first
