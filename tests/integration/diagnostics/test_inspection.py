"""Certificate inspection of every scenario server: verified, about to expire, another name, a
look-alike CA, expired, no TLS, an outdated bundle, a user's root file.

The helpers and chain checks without a server: tests/unit/diagnostics/test_inspection.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aurora_ssl._diagnostics._inspection import Verdict, inspect_server
from aurora_ssl._trust import TrustSelection, select_trust
from aurora_ssl.errors import ServerTLSUnavailableError
from aurora_ssl.testing import OTHER_HOST, READER_HOST, AuroraLikeServer, TestPKI


def _trust(server: AuroraLikeServer, pki: TestPKI) -> TrustSelection:
    return select_trust(server.host, bundle=pki.bundle_path)


def test_inspect_good_server(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    result = inspect_server(
        tls_server.host,
        tls_server.port,
        hostaddr=tls_server.hostaddr,
        trust=_trust(tls_server, pki),
    )
    assert result.verdict is Verdict.VERIFIED
    assert result.ok
    assert result.address == "127.0.0.1"
    assert result.trusted_by == "Amazon RDS test-region-1 Root CA RSA2048 G1"
    assert result.ca_id == "rds-ca-rsa2048-g1"
    assert result.trust.scope == "region:test-region-1"
    assert READER_HOST in result.to_dict()["names"]
    assert result.to_dict()["certificates"][0]["key_type"] == "RSA 2048"
    assert 300 < result.days_left < 400
    # The presented chain, not only the leaf (Python 3.10+ gives it).
    assert [c["is_ca"] for c in result.to_dict()["certificates"]] == [False, True]
    assert result.tls_version in ("TLSv1.2", "TLSv1.3")
    assert not result.errors
    assert not result.warnings
    data = result.to_dict()
    assert data["verdict"] == "verified"
    assert data["ca_id"] == "rds-ca-rsa2048-g1"
    text = result.to_text()
    assert "VERIFIED" in text
    assert "rds-ca-rsa2048-g1" in text


def test_inspect_warns_before_expiry(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    result = inspect_server(
        tls_server.host,
        tls_server.port,
        hostaddr=tls_server.hostaddr,
        trust=_trust(tls_server, pki),
        expiry_warning_days=1000,
    )
    assert result.ok
    assert [w.code for w in result.warnings] == ["expires-soon"]
    assert "Schedule the certificate rotation" in result.warnings[0].message


def test_inspect_wrong_host_lists_the_names(
    wrong_host_server: AuroraLikeServer, pki: TestPKI
) -> None:
    server = wrong_host_server
    result = inspect_server(
        server.host, server.port, hostaddr=server.hostaddr, trust=_trust(server, pki)
    )
    assert result.verdict is Verdict.HOSTNAME_MISMATCH
    assert result.trusted
    assert not result.hostname_matches
    [error] = result.errors
    assert error.code == "HostnameMismatchError"
    assert OTHER_HOST in error.message
    assert server.host in error.message


def test_inspect_through_a_cname_says_so(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    result = inspect_server(
        "db.internal.example.com",
        tls_server.port,
        hostaddr=tls_server.hostaddr,
        trust=select_trust("db.internal.example.com", bundle=pki.bundle_path),
    )
    assert result.verdict is Verdict.HOSTNAME_MISMATCH
    message = result.errors[0].message
    assert "CNAME" in message
    assert f"tls_server_name={tls_server.host}" in message


def test_inspect_interception_names_the_lookalike(
    interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    server = interception_server
    result = inspect_server(
        server.host, server.port, hostaddr=server.hostaddr, trust=_trust(server, pki)
    )
    assert result.verdict is Verdict.UNTRUSTED
    assert not result.trusted
    assert result.hostname_matches  # same names as the real thing
    assert result.ca_id is None
    message = result.errors[0].message
    assert "exactly that name is trusted, but its key did not sign" in message
    assert "interception" in message


def test_inspect_expired_says_when(expired_server: AuroraLikeServer, pki: TestPKI) -> None:
    server = expired_server
    result = inspect_server(
        server.host, server.port, hostaddr=server.hostaddr, trust=_trust(server, pki)
    )
    assert result.verdict is Verdict.EXPIRED
    assert result.trusted  # genuinely signed by the trusted CA, just expired
    assert -12 <= result.days_left <= -9
    [error] = result.errors
    assert error.code == "CertificateExpiredError"
    assert f"expired {-result.days_left} day(s) ago, on " in error.message
    assert result.leaf.not_valid_after_utc.strftime("%Y-%m-%d") in error.message


def test_inspect_outdated_bundle_hint(tls_server: AuroraLikeServer) -> None:
    """The shipped bundle lacks the test region: the issuer looks RDS but is unknown."""
    result = inspect_server(
        tls_server.host,
        tls_server.port,
        hostaddr=tls_server.hostaddr,
        trust=select_trust(tls_server.host),
    )
    assert result.verdict is Verdict.UNTRUSTED
    assert "bundle-outdated" in [w.code for w in result.warnings]
    assert any("aurora-ssl bundle update" in w.message for w in result.warnings)


def test_inspect_server_without_tls(no_tls_server: AuroraLikeServer) -> None:
    with pytest.raises(
        ServerTLSUnavailableError, match="answered PostgreSQL's SSLRequest with 'N'"
    ):
        inspect_server(no_tls_server.host, no_tls_server.port, hostaddr=no_tls_server.hostaddr)


def test_inspect_with_user_root_file(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    result = inspect_server(
        tls_server.host,
        tls_server.port,
        hostaddr=tls_server.hostaddr,
        sslrootcert=str(pki.root_path),
    )
    assert result.ok
    assert result.trust.scope == "user-file"
    assert Path(result.trust.path) == pki.root_path
