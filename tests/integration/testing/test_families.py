"""Each CA family RDS issues under (RSA2048, RSA4096, ECC384), end to end on a real server.

Every test runs once per family (the ``family_pki`` fixture): the chain is of that family
from root to server key, aurora-ssl connects with verify-full through ``create_engine``,
``aurora-ssl check`` and ``inspect`` say so, and a look-alike CA of the same family, with
identical names, is refused before the server sees a login.
"""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import aurora_ssl
from aurora_ssl.cli import main
from aurora_ssl.errors import UntrustedCertificateError
from aurora_ssl.testing import CLUSTER_HOST, AuroraLikeServer, TestPKI
from tests.fix_servers import log_since

sqlalchemy = pytest.importorskip("sqlalchemy")

#: family: (key type, key size, signature hash), for the root, subordinate and server alike
EXPECTED = {
    "rsa2048": (rsa.RSAPublicKey, 2048, "sha256"),
    "rsa4096": (rsa.RSAPublicKey, 4096, "sha384"),
    "ecc384": (ec.EllipticCurvePublicKey, 384, "sha384"),
}


def test_the_whole_chain_is_of_the_family(family_pki: TestPKI) -> None:
    key_type, key_size, digest = EXPECTED[family_pki.family]
    label = family_pki.family.upper()
    root = x509.load_pem_x509_certificate(family_pki.root_path.read_bytes())
    leaf, subordinate = x509.load_pem_x509_certificates(
        family_pki.issue_server([CLUSTER_HOST])[0].read_bytes()
    )
    names = [
        c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in (root, subordinate)
    ]
    assert names == [
        f"Amazon RDS test-region-1 Root CA {label} G1",
        f"Amazon RDS test-region-1 Subordinate CA {label} G1.A.1",
    ]
    for cert in (root, subordinate, leaf):
        key = cert.public_key()
        assert isinstance(key, key_type)
        assert key.key_size == key_size
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == digest
    assert leaf.issuer == subordinate.subject
    assert subordinate.issuer == root.subject
    foreign = x509.load_pem_x509_certificate(family_pki.foreign_root_path.read_bytes())
    assert foreign.subject == root.subject
    assert foreign.public_key() != root.public_key()


@pytest.mark.driver("libpq")
def test_create_engine_connects_with_verified_tls(family_server: AuroraLikeServer) -> None:
    engine = aurora_ssl.create_engine(family_server.database_url())
    try:
        with engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            ).one()
    finally:
        engine.dispose()
    assert row.ssl is True
    assert row.version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.driver("libpq")
def test_check_verifies(
    family_server: AuroraLikeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", family_server.database_url(), "--format", "json"])
    (report,) = json.loads(capsys.readouterr().out)["connections"]
    assert code == 0
    assert report["verdict"] == "verified"
    assert report["server"]["ssl"] is True


def test_inspect_names_the_family(
    family_server: AuroraLikeServer, family_pki: TestPKI, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "inspect",
            f"{family_server.host}:{family_server.port}",
            "--hostaddr",
            family_server.hostaddr,
            "--bundle",
            str(family_pki.bundle_path),
            "--format",
            "json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["verdict"] == "verified"
    assert document["ca_id"] == f"rds-ca-{family_pki.family}-g1"
    key_type, key_size, digest = EXPECTED[family_pki.family]
    for cert in document["certificates"]:  # the server's own key and its subordinate
        assert cert["key_type"] == (
            "EC secp384r1" if key_type is ec.EllipticCurvePublicKey else f"RSA {key_size}"
        )
        assert digest.upper() in cert["signature_algorithm"].upper()


@pytest.mark.driver("libpq")
def test_a_look_alike_ca_of_the_family_is_refused(
    family_impostor: AuroraLikeServer, family_pki: TestPKI
) -> None:
    offset = family_impostor.log_path.stat().st_size
    engine = aurora_ssl.create_engine(family_impostor.database_url())
    try:
        with pytest.raises(UntrustedCertificateError) as refused, engine.connect():
            pass
    finally:
        engine.dispose()
    assert "certificate verify failed" in str(refused.value)
    assert family_impostor.password not in str(refused.value)
    seen = log_since(family_impostor, offset)
    assert "connection received" in seen  # the attempt reached the server...
    assert "connection authorized" not in seen  # ...and no login followed
