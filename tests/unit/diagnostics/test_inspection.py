"""Certificate inspection without a server: parsing helpers, chain checks, network failures
(every scenario server: tests/integration/diagnostics/test_inspection.py).

The negatives matter most: a look-alike CA, an expired certificate and a certificate for
another name must each be recognised for what it is, and a peer that is not PostgreSQL, a
server without TLS, a closed port and an unknown name must each give a clear error in time.
"""

from __future__ import annotations

import datetime
import socket
import threading
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aurora_ssl._diagnostics._inspection import (
    Inspection,
    Verdict,
    assess,
    ca_identifier,
    certificate_facts,
    inspect_server,
    name_matches,
    names_of,
)
from aurora_ssl._diagnostics._wire import Handshake, split_host_port
from aurora_ssl._trust import TrustSelection
from aurora_ssl.errors import InspectionError

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


# ------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("db.example.com", ("db.example.com", 5432)),
        ("db.example.com:6543", ("db.example.com", 6543)),
        ("127.0.0.1:5433", ("127.0.0.1", 5433)),
        ("[::1]:5434", ("::1", 5434)),
        ("[::1]", ("::1", 5432)),
        ("::1", ("::1", 5432)),
    ],
)
def test_split_host_port(target: str, expected: tuple[str, int]) -> None:
    assert split_host_port(target) == expected


@pytest.mark.parametrize("target", ["", ":5432", "db:0", "db:65536", "db:port"])
def test_split_host_port_refuses(target: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)host|port"):
        split_host_port(target)


_KEY = ec.generate_private_key(ec.SECP256R1())


def _info(
    dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), cn: str | None = None
) -> x509.Certificate:
    """A certificate with exactly these names: the CN, and the SAN entries."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
    )
    sans = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ip_address(ip)) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(_KEY, hashes.SHA256())


@pytest.mark.parametrize(
    ("name", "info", "matches"),
    [
        (
            "db.cluster-x.us-east-1.rds.amazonaws.com",
            _info(("db.cluster-x.us-east-1.rds.amazonaws.com",)),
            True,
        ),
        (
            "DB.Cluster-X.us-east-1.rds.amazonaws.com.",
            _info(("db.cluster-x.us-east-1.rds.amazonaws.com",)),
            True,
        ),
        ("a.example.com", _info(("*.example.com",)), True),
        ("a.b.example.com", _info(("*.example.com",)), False),  # one label only
        ("example.com", _info(("*.example.com",)), False),
        ("a.com", _info(("*.com",)), False),  # no wildcard over a public suffix-ish name
        ("other.example.com", _info(("db.example.com",)), False),
        ("db.example.com", _info(cn="db.example.com"), True),  # CN only without SAN
        ("db.example.com", _info(("x.example.com",), cn="db.example.com"), False),  # SAN wins
        ("127.0.0.1", _info(ips=("127.0.0.1",)), True),
        ("127.0.0.1", _info(("127.0.0.1",)), False),  # an address needs an iPAddress SAN
        ("::1", _info(ips=("::1",)), True),
    ],
)
def test_name_matches_follows_libpq(name: str, info: x509.Certificate, matches: bool) -> None:
    assert name_matches(name, info) is matches


@pytest.mark.parametrize(
    ("cn", "expected"),
    [
        ("Amazon RDS us-east-1 Root CA RSA2048 G1", "rds-ca-rsa2048-g1"),
        ("Amazon RDS eu-west-3 Root CA RSA4096 G1", "rds-ca-rsa4096-g1"),
        ("Amazon RDS ap-south-2 Root CA ECC384 G1", "rds-ca-ecc384-g1"),
        ("Amazon RDS Root 2019 CA", "rds-ca-2019"),
        ("Amazon RDS us-east-1 2019 CA", "rds-ca-2019"),
        ("Amazon Root CA 1", "amazon-trust-services"),
        ("Evil Root CA RSA2048 G1", None),
        (None, None),
    ],
)
def test_ca_identifier(cn: str | None, expected: str | None) -> None:
    assert ca_identifier(cn) == expected


# ------------------------------------------------------------------ chain checks (no network)


class _CA:
    """A tiny EC PKI: root -> (optional) leaf, with chosen names and dates."""

    def __init__(self, name: str = "Amazon RDS xx-test-1 Root CA RSA2048 G1") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - 400 * DAY)
            .not_valid_after(NOW + 4000 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    def leaf(
        self, *names: str, start: datetime.datetime = NOW - DAY, days: int = 90
    ) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + days * DAY)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )


HOST = "db.cluster-abc.xx-test-1.rds.amazonaws.com"


@pytest.fixture(scope="module")
def ca() -> _CA:
    return _CA()


def _assess(
    chain: list[x509.Certificate], root: x509.Certificate, tmp_path: Path, verified: bool
) -> Inspection:
    """What an inspection says of ``chain`` presented for HOST, given OpenSSL's verdict."""
    trust_file = tmp_path / "root.pem"
    trust_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    trust = TrustSelection(str(trust_file), "user-file", str(trust_file))
    der = tuple(c.public_bytes(serialization.Encoding.DER) for c in chain)
    handshake = Handshake("127.0.0.1", "TLSv1.3", None, der, verified)
    return assess(HOST, 5432, handshake, trust, now=NOW)


def test_a_verified_chain_meets_the_strict_profile_too(ca: _CA, tmp_path: Path) -> None:
    result = _assess([ca.leaf(HOST)], ca.cert, tmp_path, verified=True)
    assert result.verdict is Verdict.VERIFIED
    assert result.trusted
    assert result.hostname_matches
    assert result.time_valid
    assert result.trusted_by == "Amazon RDS xx-test-1 Root CA RSA2048 G1"
    assert not result.errors
    assert not result.warnings  # no "profile" advice: cryptography's RFC 5280 profile agrees


def test_a_lookalike_ca_is_untrusted(ca: _CA, tmp_path: Path) -> None:
    impostor = _CA()  # same name, other key
    result = _assess([impostor.leaf(HOST)], ca.cert, tmp_path, verified=False)
    assert result.verdict is Verdict.UNTRUSTED
    assert not result.trusted
    assert result.hostname_matches  # the names are perfect: only the signature betrays it
    assert "exactly that name is trusted, but its key did not sign" in result.errors[0].message


def test_an_expired_certificate_is_still_recognised_as_trusted(ca: _CA, tmp_path: Path) -> None:
    leaf = ca.leaf(HOST, start=NOW - 100 * DAY, days=90)
    result = _assess([leaf], ca.cert, tmp_path, verified=False)
    assert result.verdict is Verdict.EXPIRED
    assert result.trusted
    assert not result.time_valid
    assert result.outside_validity == (HOST,)
    assert result.days_left == -10
    assert "expired 10 day(s) ago" in result.errors[0].message


def test_a_certificate_for_another_name_is_still_recognised_as_trusted(
    ca: _CA, tmp_path: Path
) -> None:
    result = _assess([ca.leaf("other.example.com")], ca.cert, tmp_path, verified=False)
    assert result.verdict is Verdict.HOSTNAME_MISMATCH
    assert result.trusted
    assert result.time_valid
    assert not result.hostname_matches
    assert [e.code for e in result.errors] == ["HostnameMismatchError"]


def test_a_legacy_rds_ca_2019_certificate_says_how_to_move_to_a_current_ca(
    ca: _CA, tmp_path: Path
) -> None:
    """rds-ca-2019 is in no current bundle: the refusal names the rotation, not an update of
    the bundle (which cannot help)."""
    legacy = _CA("Amazon RDS Root 2019 CA")
    result = _assess([legacy.leaf(HOST)], ca.cert, tmp_path, verified=False)
    assert result.verdict is Verdict.UNTRUSTED
    message = result.errors[0].message
    assert "legacy rds-ca-2019 CA, which expired in August 2024" in message
    assert "modify the DB instance to a current CA (rds-ca-rsa2048-g1)" in message
    assert "bundle update" not in message
    assert "bundle-outdated" not in [w.code for w in result.warnings]


def test_certificate_facts(ca: _CA) -> None:
    leaf = ca.leaf(HOST, "reader.example.com")
    info = certificate_facts(leaf)
    assert info["common_name"] == HOST
    assert info["dns_names"] == [HOST, "reader.example.com"]
    assert info["key_type"] == "EC secp256r1"
    assert info["signature_algorithm"] == "ecdsa-with-SHA256"
    assert info["issuer_common_name"] == "Amazon RDS xx-test-1 Root CA RSA2048 G1"
    assert not info["is_ca"]
    assert len(info["sha256"]) == 64
    assert info["not_after"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert names_of(leaf) == [HOST, "reader.example.com"]


# ------------------------------------------------------------------ network failures


def test_inspect_name_does_not_resolve() -> None:
    with pytest.raises(InspectionError, match="does not resolve"):
        inspect_server("nothing.invalid", 5432, timeout=2)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_inspect_connection_refused() -> None:
    with pytest.raises(InspectionError, match="connection refused"):
        inspect_server("db.example.com", _closed_port(), hostaddr="127.0.0.1", timeout=2)


@pytest.fixture
def fake_peer() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP peer that answers each connection with the next canned reply (None: silence)."""
    replies: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)  # accept() polls, so teardown does not wait
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                conn.recv(8)
                reply = replies.pop(0) if replies else b""
                if reply == b"<silence>":
                    stop.wait(3)
                elif reply:
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1]), replies
    stop.set()
    listener.close()
    thread.join(5)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a PostgreSQL server"),
        (b"", "closed the connection after the SSLRequest"),
        (b"<silence>", "no reply to PostgreSQL's SSLRequest in time"),
    ],
)
def test_inspect_non_postgresql_peer(
    fake_peer: tuple[int, list[bytes]], reply: bytes, message: str
) -> None:
    port, replies = fake_peer
    replies.append(reply)
    with pytest.raises(InspectionError, match=message):
        inspect_server("db.example.com", port, hostaddr="127.0.0.1", timeout=0.5)
