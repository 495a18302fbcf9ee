"""The test PKI of aurora_ssl.testing, without a server: RDS-like names and chains, a look-alike
root, an expired certificate, the bundle as AWS's plus the test root.

The servers this PKI certifies, each scenario failing for its own reason:
tests/integration/testing/test_server.py.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aurora_ssl._trust import SHIPPED_BUNDLE
from aurora_ssl.testing import CLUSTER_HOST, READER_HOST, TestPKI


def load_chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_pki_looks_like_rds(pki: TestPKI) -> None:
    root = x509.load_pem_x509_certificate(pki.root_path.read_bytes())
    cn = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "Amazon RDS test-region-1 Root CA RSA2048 G1"
    assert root.subject == root.issuer
    rdns = {attr.oid: attr.value for attr in root.subject}
    assert rdns[NameOID.ORGANIZATIONAL_UNIT_NAME] == "Amazon RDS"
    assert rdns[NameOID.ORGANIZATION_NAME] == "Amazon.com"

    chain_path, key_path = pki.issue_server([CLUSTER_HOST, READER_HOST])
    leaf, sub = load_chain(chain_path)
    assert sub.issuer == root.subject
    assert sub.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert leaf.issuer == sub.subject
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [CLUSTER_HOST, READER_HOST]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc)
    assert key_path.stat().st_mode & 0o777 == 0o600


def test_foreign_root_is_a_look_alike(pki: TestPKI) -> None:
    root = x509.load_pem_x509_certificate(pki.root_path.read_bytes())
    foreign = x509.load_pem_x509_certificate(pki.foreign_root_path.read_bytes())
    assert foreign.subject == root.subject
    assert foreign.public_key() != root.public_key()
    (leaf, sub), (fleaf, fsub) = (
        load_chain(pki.issue_server([CLUSTER_HOST])[0]),
        load_chain(pki.issue_server([CLUSTER_HOST], foreign=True)[0]),
    )
    assert (fleaf.subject, fsub.subject) == (leaf.subject, sub.subject)
    assert fsub.public_key() != sub.public_key()


def test_expired_certificate_ended_ten_days_ago(pki: TestPKI) -> None:
    (leaf, _sub) = load_chain(pki.issue_server([CLUSTER_HOST], expired=True)[0])
    ago = datetime.datetime.now(datetime.timezone.utc) - leaf.not_valid_after_utc
    assert datetime.timedelta(days=9) < ago < datetime.timedelta(days=11)


def test_bundle_is_shipped_bundle_plus_test_root(pki: TestPKI) -> None:
    bundle = load_chain(pki.bundle_path)
    shipped = x509.load_pem_x509_certificates(Path(SHIPPED_BUNDLE).read_bytes())
    assert bundle[:-1] == shipped
    assert bundle[-1] == x509.load_pem_x509_certificate(pki.root_path.read_bytes())
