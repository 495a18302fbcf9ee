"""Tiny certificate factory for unit tests that need a CA with a chosen name."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_cert_pem(
    common_name: str,
    *,
    ca: bool = True,
    days: int = 365,
    expired: bool = False,
) -> bytes:
    """A self-signed certificate (EC P-256: fast) as PEM; ``ca=False`` makes a leaf."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    start = (
        now - datetime.timedelta(days=days + 10) if expired else now - datetime.timedelta(days=1)
    )
    end = now - datetime.timedelta(days=10) if expired else now + datetime.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
