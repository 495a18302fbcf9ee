"""The tests' certificate factory: small self-signed certificates with a chosen name, for unit
tests of bundle and trust-file handling (a server's chain comes from aurora_ssl.testing's PKI)."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_cert_pem(
    common_name: str, *, ca: bool = True, days: int = 365, expired: bool = False
) -> bytes:
    """A self-signed certificate (EC P-256: fast to make) as PEM.

    Args:
        common_name: the subject (and issuer) CN, e.g. an RDS-like root name.
        ca: ``False`` makes a leaf (basicConstraints CA:FALSE).
        days: validity from yesterday.
        expired: valid for ``days`` until ten days ago instead.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        start, end = now - datetime.timedelta(days=days + 10), now - datetime.timedelta(days=10)
    else:
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=days)
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
