"""Bundle indexes (issue 12): selection reads facts, not certificates.

- the shipped index is exactly what ``cryptography`` says about the shipped bundle, and a
  bundle changed without regenerating the index fails here;
- a user bundle is parsed by the first process only; later ones read the cached index;
- a fresh process that makes a verified connection imports no X.509 parser.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from aurora_ssl import bundle_paths, trust
from aurora_ssl.bundle_index import format_index, parse_index
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from aurora_ssl.trust import load_bundle, shipped_bundle_path, shipped_index_path
from tests.certs import make_cert_pem
from tests.fix_servers import fresh_process, verified_connect_in_fresh_process

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("fresh_caches")


def test_shipped_index_matches_the_bundle_as_cryptography_reads_it() -> None:
    data = shipped_bundle_path().read_bytes()
    lines = shipped_index_path().read_text(encoding="utf-8").splitlines()
    assert lines[1] == f"# file-sha256 {hashlib.sha256(data).hexdigest()}", (
        "the shipped bundle changed: run python scripts/generate_bundle_index.py"
    )
    certificates = x509.load_pem_x509_certificates(data)
    rows = [line.split("\t") for line in lines[3:]]
    assert len(rows) == len(certificates) == 102
    for row, cert in zip(rows, certificates, strict=True):
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        region = str(cn).split()[2]  # "Amazon RDS <region> Root CA ..."
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert row == [
            cert.fingerprint(hashes.SHA256()).hex(),
            cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ca" if ca else "-",
            "self-signed" if cert.issuer == cert.subject else "-",
            region,
            cn,
        ]


def test_generator_check_agrees() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_bundle_index.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_loading_the_shipped_bundle_gives_the_index_facts() -> None:
    bundle = load_bundle(shipped_bundle_path())
    east = bundle.for_region("us-east-1")
    assert [c.subject for c in east] == [
        "Amazon RDS us-east-1 Root CA ECC384 G1",
        "Amazon RDS us-east-1 Root CA RSA2048 G1",
        "Amazon RDS us-east-1 Root CA RSA4096 G1",
    ]
    assert east[1].not_after.year == 2061
    assert b"".join(c.pem for c in bundle.certificates).count(b"BEGIN CERTIFICATE") == 102


def test_an_edited_shipped_bundle_is_not_read_through_the_stale_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = tmp_path / "rds-global-bundle.pem"
    edited.write_bytes(shipped_bundle_path().read_bytes() + make_cert_pem("Added Root CA"))
    monkeypatch.setattr(bundle_paths, "shipped_bundle_path", lambda: edited)
    bundle = load_bundle(edited)
    assert len(bundle.certificates) == 103
    assert bundle.certificates[-1].subject == "Added Root CA"


def test_an_index_for_other_content_is_ignored() -> None:
    text = format_index("a" * 64, "user", [])
    assert text is not None
    assert parse_index(text, file_sha256="a" * 64, validated="user", count=0) == ()
    assert parse_index(text, file_sha256="b" * 64, validated="user", count=0) is None
    assert parse_index(text, file_sha256="a" * 64, validated="update", count=0) is None
    assert parse_index(text, file_sha256="a" * 64, validated="user", count=1) is None


def test_user_bundle_index_is_written_once_and_then_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(trust.CACHE_DIR_ENV, str(cache))
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(make_cert_pem("Amazon RDS test-region-1 Root CA RSA2048 G1"))
    first = load_bundle(bundle)
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    index = cache / "index" / f"{digest}.user.idx"
    assert index.is_file()
    # The next process (memo forgotten) reads the index: proven by one the parser would
    # never have produced for this content.
    index.write_text(index.read_text().replace("\tAmazon RDS test-region-1", "\tFrom the index"))
    trust.clear_caches()
    assert load_bundle(bundle).certificates[0].subject.startswith("From the index")
    assert first.certificates[0].subject.startswith("Amazon RDS")
    # A changed bundle has another content hash: parsed (and validated) again.
    bundle.write_bytes(make_cert_pem("Leaf", ca=False))
    trust.clear_caches()
    with pytest.raises(trust.BundleError, match="not CA certificates"):
        load_bundle(bundle)


X509_PARSERS = {"cryptography", "OpenSSL", "asn1crypto", "pyasn1"}

# Selection only (no server): the trust set for each host given, in a fresh interpreter.
_SELECT = """
import json, sys
import aurora_ssl

for host in sys.argv[1:]:
    aurora_ssl.connection_params({"host": host, "user": "app", "dbname": "app"})
print(json.dumps({"modules": sorted(sys.modules)}))
"""


def _parsers(result: dict[str, object]) -> set[str]:
    return X509_PARSERS & set(cast("list[str]", result["modules"]))


@pytest.mark.driver("libpq")
def test_a_verified_connection_imports_no_x509_parser(
    tmp_path: Path, tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    cache = tmp_path / "cache"
    params = tls_server.params()
    bundle = str(pki.bundle_path)  # a user bundle: new to this cache
    first = verified_connect_in_fresh_process(cache, params, bundle)
    assert first["server_saw_tls"] is True
    assert first["sslmode"] == "verify-full"
    assert "cryptography" in _parsers(first)  # validating a new user bundle needs it...
    assert list((cache / "index").glob("*.user.idx"))  # ...once: the facts are kept
    second = verified_connect_in_fresh_process(cache, params, bundle)
    assert second["server_saw_tls"] is True
    assert _parsers(second) == set()


@pytest.mark.driver("libpq")
def test_shipped_bundle_and_proxy_selection_import_no_x509_parser(tmp_path: Path) -> None:
    cluster = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"
    proxy = "myproxy.proxy-c9akciq32xyz.eu-west-1.rds.amazonaws.com"
    result = fresh_process(_SELECT, tmp_path / "empty-cache", cluster, proxy, "db.example.com")
    assert _parsers(result) == set()


# Starfield Services Root G2 has serial number 0, which cryptography warns about (and says a
# future release will refuse): one more reason the connect path pins it instead of parsing.
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_pinned_amazon_trust_services_roots_are_certifis() -> None:
    import certifi

    selected = {c.subject: c for c in trust._amazon_trust_services_roots()}
    assert sorted(selected) == sorted(trust.AMAZON_TRUST_SERVICES_ROOTS)
    text = Path(certifi.where()).read_bytes()
    parsed = {}
    for cert in x509.load_pem_x509_certificates(text):
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if names and names[0].value in selected:
            parsed[names[0].value] = cert
    for subject, chosen in selected.items():
        cert = parsed[subject]
        assert chosen.sha256 == cert.fingerprint(hashes.SHA256()).hex()
        assert chosen.not_after == cert.not_valid_after_utc
        assert x509.load_pem_x509_certificate(chosen.pem) == cert


def test_a_certifi_root_with_another_fingerprint_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import certifi

    fake = tmp_path / "cacert.pem"
    impostor = make_cert_pem("Amazon Root CA 1").decode()
    fake.write_text(f'# Label: "Amazon Root CA 1"\n{impostor}')
    monkeypatch.setattr(certifi, "where", lambda: str(fake))
    with pytest.raises(trust.BundleError, match="none of the Amazon Trust Services roots"):
        trust._amazon_trust_services_roots()
    assert "is not the known root" in caplog.text
