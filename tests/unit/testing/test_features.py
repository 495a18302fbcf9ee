"""What users of aurora_ssl.testing asked for, without a server: names written into URLs as
SQLAlchemy reads them, and the hint for a forgotten test bundle given for the test PKI only.

The claims checked by a real connection and what the server reports:
tests/integration/testing/test_features.py.
"""

from __future__ import annotations

import pytest

from aurora_ssl._diagnostics._translation import is_test_ca, missing_test_bundle_hint
from aurora_ssl.testing import CLUSTER_HOST, Scenario, TestPKI
from aurora_ssl.testing._server import _url_database

sqlalchemy = pytest.importorskip("sqlalchemy")


@pytest.mark.parametrize(
    ("database", "written"),
    [("app", "/app?"), ("db'name", "/db'name?"), ("a b/c", "/a b/c?")],
)
def test_url_writes_plain_names_verbatim(database: str, written: str) -> None:
    """Verbatim is what SQLAlchemy 2.0 (no decoding) and 2.1 (decoding) read alike."""
    url = f"postgresql://u:p@h:1/{_url_database(database)}?hostaddr=127.0.0.1"
    assert written in url
    assert sqlalchemy.engine.make_url(url).database == database


@pytest.mark.parametrize(
    ("issuers", "trusted", "hint"),
    [
        (["Amazon RDS test-region-1 Subordinate CA RSA2048 G1.A.1"], ["Amazon RDS x"], True),
        (["Amazon RDS test-region-1 Root CA RSA2048 G1"], [], True),
        (
            ["Amazon RDS test-region-1 Root CA RSA2048 G1"],
            ["Amazon RDS test-region-1 Root CA RSA2048 G1"],
            False,
        ),
        (["Amazon RDS us-east-1 Root CA RSA2048 G1"], [], False),
        ([None], [], False),
    ],
)
def test_hint_only_for_the_test_pki_without_its_root(
    issuers: list[str | None], trusted: list[str], hint: bool
) -> None:
    assert (missing_test_bundle_hint(issuers, trusted) is not None) is hint


def test_is_test_ca_knows_the_pki_it_generates(pki: TestPKI) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    chain = x509.load_pem_x509_certificates(pki.issue_server([CLUSTER_HOST])[0].read_bytes())
    for cert in (*chain, x509.load_pem_x509_certificate(pki.foreign_root_path.read_bytes())):
        issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert is_test_ca(str(issuer))
    assert not is_test_ca(CLUSTER_HOST)
    assert Scenario("good") is Scenario.GOOD
