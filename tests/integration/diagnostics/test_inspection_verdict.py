"""The inspect verdict is libpq's: OpenSSL with the same trust file and host name decides.

Issue 9: `aurora-ssl inspect` said UNTRUSTED for a server libpq accepted, because the server
certificate lacked an Authority Key Identifier, which cryptography's strict RFC 5280 profile
requires and OpenSSL (libpq) does not. Here a real PostgreSQL server presents such a
certificate: libpq connects with verify-full (and the server sees a TLS session), and
inspection agrees (VERIFIED) while reporting the stricter profile as advice. The negative:
the same server checked against another root is refused by libpq and by inspection alike.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from aurora_ssl._diagnostics._inspection import Verdict, inspect_server
from aurora_ssl.testing import AuroraLikeServer, Scenario, TestPKI

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class _NoKeyIdentifiers:
    """A root and server certificates with neither Subject nor Authority Key Identifier."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Root without key ids")])
        self.root = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.root_path = directory / "root-without-key-ids.pem"
        self.root_path.write_bytes(_pem(self.root))
        self.issued: list[x509.Certificate] = []
        self.usage = ExtendedKeyUsageOID.SERVER_AUTH

    def issue_server(
        self, names: Sequence[str], *, expired: bool = False, foreign: bool = False
    ) -> tuple[Path, Path]:
        """Stands in for :meth:`TestPKI.issue_server` (same contract: chain and key files)."""
        assert not expired
        assert not foreign
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 90 * DAY)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([self.usage]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.issued.append(leaf)
        stem = self.directory / f"server-{len(self.issued)}"
        chain, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
        chain.write_bytes(_pem(leaf))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        os.chmod(key_path, 0o600)
        return chain, key_path


@pytest.fixture(scope="module")
def no_key_ids(
    pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AuroraLikeServer, _NoKeyIdentifiers]]:
    authority = _NoKeyIdentifiers(tmp_path_factory.mktemp("no-key-ids"))
    patch = pytest.MonkeyPatch()
    patch.setattr(pki, "issue_server", authority.issue_server)
    try:
        with AuroraLikeServer(Scenario.GOOD, pki=pki) as server:
            yield server, authority
    finally:
        patch.undo()


def test_the_certificate_really_lacks_key_identifiers(
    no_key_ids: tuple[AuroraLikeServer, _NoKeyIdentifiers],
) -> None:
    _, authority = no_key_ids
    assert authority.issued
    for cert in (*authority.issued, authority.root):
        kinds = {type(e.value) for e in cert.extensions}
        assert x509.AuthorityKeyIdentifier not in kinds
        assert x509.SubjectKeyIdentifier not in kinds


@pytest.mark.driver("psycopg")
def test_libpq_accepts_and_inspect_agrees_with_advice(
    no_key_ids: tuple[AuroraLikeServer, _NoKeyIdentifiers],
) -> None:
    import psycopg

    server, authority = no_key_ids
    params = {
        **server.params(),
        "sslmode": "verify-full",
        "sslrootcert": str(authority.root_path),
        "connect_timeout": "10",
    }
    with psycopg.connect(**params) as conn:  # libpq: verify-full with this root and name
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row == (True,)  # the server saw a TLS session

    result = inspect_server(
        server.host, server.port, hostaddr=server.hostaddr, sslrootcert=str(authority.root_path)
    )
    assert result.verdict is Verdict.VERIFIED
    assert result.ok
    assert not result.errors
    assert result.trusted
    assert result.hostname_matches
    assert result.time_valid
    store = Store([authority.root])  # cryptography's RFC 5280 profile ...
    verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(server.host))
    with pytest.raises(VerificationError) as strict:
        verifier.verify(authority.issued[-1], [])
    advice = [w for w in result.warnings if w.code == "profile"]
    assert len(advice) == 1  # ... refuses it, which is reported as advice, not as the verdict
    assert "libpq (OpenSSL) accepts" in advice[0].message
    assert "Key Identifier" in advice[0].message
    assert str(strict.value) in advice[0].message  # cryptography's own reason is quoted
    assert result.to_dict()["verdict"] == "verified"


@pytest.mark.driver("psycopg")
def test_same_server_against_another_root_is_refused_by_both(
    no_key_ids: tuple[AuroraLikeServer, _NoKeyIdentifiers], pki: TestPKI
) -> None:
    import psycopg

    server, _ = no_key_ids
    params = {
        **server.params(),
        "sslmode": "verify-full",
        "sslrootcert": str(pki.root_path),
        "connect_timeout": "10",
    }
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(**params).close()

    result = inspect_server(
        server.host, server.port, hostaddr=server.hostaddr, sslrootcert=str(pki.root_path)
    )
    assert result.verdict is Verdict.UNTRUSTED
    assert not result.ok
    assert [e.code for e in result.errors] == ["UntrustedCertificateError"]
    assert not [w for w in result.warnings if w.code == "profile"]


@pytest.mark.driver("psycopg")
def test_openssl_refusal_is_the_verdict_even_when_each_property_looks_right(
    no_key_ids: tuple[AuroraLikeServer, _NoKeyIdentifiers],
) -> None:
    """A certificate for client authentication only: right root, name and dates, but
    OpenSSL (libpq) refuses it as a server certificate, and so does inspection."""
    import psycopg

    server, authority = no_key_ids
    authority.usage = ExtendedKeyUsageOID.CLIENT_AUTH
    try:
        server.use_certificate()
        params = {
            **server.params(),
            "sslmode": "verify-full",
            "sslrootcert": str(authority.root_path),
            "connect_timeout": "10",
        }
        with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
            psycopg.connect(**params).close()
        result = inspect_server(
            server.host, server.port, hostaddr=server.hostaddr, sslrootcert=str(authority.root_path)
        )
    finally:
        authority.usage = ExtendedKeyUsageOID.SERVER_AUTH
        server.use_certificate()
    assert result.trusted
    assert result.hostname_matches
    assert result.time_valid
    assert result.verdict is Verdict.UNTRUSTED
    assert not result.ok
    assert [e.code for e in result.errors] == ["UntrustedCertificateError"]
    assert "OpenSSL (as libpq) refuses" in result.errors[0].message
    assert "purpose" in result.errors[0].message  # OpenSSL's own reason
