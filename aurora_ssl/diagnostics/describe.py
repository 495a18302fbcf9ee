"""What a certificate says, for people: its facts, the names it covers, which RDS CA it is.

The facts (:class:`CertificateInfo`) are what ``aurora-ssl inspect`` prints and puts in JSON;
:func:`name_matches` applies libpq's host name rules to them; :func:`ca_identifier` turns a
root's name into the identifier the RDS console and CLI use.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import re
from typing import TYPE_CHECKING, Any

from aurora_ssl.certificates import common_name, is_ca, sha256_fingerprint, timestamp
from aurora_ssl._endpoint import is_ip
from aurora_ssl._bundles import AMAZON_TRUST_SERVICES_ROOTS

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "LEGACY_2019",
    "CertificateInfo",
    "ca_identifier",
    "describe_certificate",
    "name_matches",
]

_RDS_CA_ALGORITHM = re.compile(r"\bRoot CA (RSA2048|RSA4096|ECC384) G(\d+)\b")
#: The CN of the legacy rds-ca-2019 CAs (expired in August 2024).
LEGACY_2019 = re.compile(r"^Amazon RDS (?:\S+ )?(?:Root )?2019 CA$")


@dataclasses.dataclass(frozen=True)
class CertificateInfo:
    """The facts of one presented certificate that operators ask about."""

    subject: str
    common_name: str | None
    issuer: str
    issuer_common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial_number: str
    key_type: str
    signature_algorithm: str
    sha256: str
    is_ca: bool
    der: bytes = dataclasses.field(repr=False, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The names a client may verify: SAN entries, or the CN if there are none."""
        sans = self.dns_names + self.ip_addresses
        if sans:
            return sans
        return (self.common_name,) if self.common_name else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "common_name": self.common_name,
            "issuer": self.issuer,
            "issuer_common_name": self.issuer_common_name,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "not_before": timestamp(self.not_before),
            "not_after": timestamp(self.not_after),
            "serial_number": self.serial_number,
            "key_type": self.key_type,
            "signature_algorithm": self.signature_algorithm,
            "sha256": self.sha256,
            "is_ca": self.is_ca,
        }


def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    """The operator-facing facts of ``cert``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type = f"EC {key.curve.name}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type = "Ed25519"
    elif isinstance(key, ed448.Ed448PublicKey):
        key_type = "Ed448"
    elif isinstance(key, dsa.DSAPublicKey):
        key_type = f"DSA {key.key_size}"
    else:
        key_type = type(key).__name__
    oid = cert.signature_algorithm_oid
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        common_name=common_name(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=common_name(cert.issuer),
        dns_names=dns,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial_number=format(cert.serial_number, "x"),
        key_type=key_type,
        signature_algorithm=str(getattr(oid, "_name", oid.dotted_string)),
        sha256=sha256_fingerprint(cert),
        is_ca=is_ca(cert),
        der=cert.public_bytes(serialization.Encoding.DER),
    )


def name_matches(server_name: str, certificate: CertificateInfo) -> bool:
    """Whether libpq's verify-full accepts ``certificate`` for ``server_name``.

    libpq's rules: if the certificate has SAN entries, only they count (dNSName for names,
    iPAddress for addresses); a ``*`` matches one whole left-most label; the CN is used only
    when there is no SAN at all. Comparison ignores case.
    """
    name = server_name.strip().rstrip(".").lower()
    if is_ip(name):
        wanted = ipaddress.ip_address(name.strip("[]"))
        candidates = list(certificate.ip_addresses)
        if not certificate.dns_names and not candidates and certificate.common_name:
            candidates = [certificate.common_name]
        for candidate in candidates:
            try:
                if ipaddress.ip_address(candidate) == wanted:
                    return True
            except ValueError:
                continue
        return False
    patterns = certificate.dns_names
    if not patterns and not certificate.ip_addresses and certificate.common_name:
        patterns = (certificate.common_name,)
    return any(_dns_match(pattern, name) for pattern in patterns)


def _dns_match(pattern: str, name: str) -> bool:
    pattern = pattern.strip().rstrip(".").lower()
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:] and "." in rest
    return False


def ca_identifier(root_common_name: str | None) -> str | None:
    """The RDS CA identifier (as in ``--ca-certificate-identifier``) of a root's CN.

    ``"Amazon RDS us-east-1 Root CA RSA2048 G1"`` -> ``"rds-ca-rsa2048-g1"``;
    ``"Amazon RDS Root 2019 CA"`` -> ``"rds-ca-2019"``; Amazon Trust Services roots (RDS
    Proxy) -> ``"amazon-trust-services"``; anything else -> ``None``.
    """
    if not root_common_name:
        return None
    match = _RDS_CA_ALGORITHM.search(root_common_name)
    if match and root_common_name.startswith("Amazon RDS "):
        return f"rds-ca-{match[1].lower()}-g{match[2]}"
    if LEGACY_2019.match(root_common_name):
        return "rds-ca-2019"
    if root_common_name in AMAZON_TRUST_SERVICES_ROOTS:
        return "amazon-trust-services"
    return None
