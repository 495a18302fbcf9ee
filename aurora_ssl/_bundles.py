"""Reading RDS bundles: each certificate's facts, and the split into one file per region.

Off the connect path: this is where ``cryptography`` parses certificates, for ``bundle info``,
``bundle update``, the diagnostics, and the first use of a bundle that is not the shipped one
(split once, into the guarded cache; see :mod:`aurora_ssl._trust`). The shipped bundle was split
at build time (``scripts/split_bundle.py``) with the same :func:`split` and a test holds the
committed files to it.
"""

from __future__ import annotations

import binascii
import datetime
import hashlib
import os
import re
import warnings
from collections.abc import Iterable
from typing import Any

from aurora_ssl._endpoint import is_region_name
from aurora_ssl.errors import BundleError

GLOBAL_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
#: The roots RDS Proxy's ACM certificates chain to (``proxy.pem``), by CN.
AMAZON_TRUST_SERVICES_ROOTS = (
    *(f"Amazon Root CA {number}" for number in range(1, 5)),
    "Starfield Services Root Certificate Authority - G2",
)
PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n(?P<body>.+?)\r?\n-----END CERTIFICATE-----", re.DOTALL
)
_RDS_ROOT = re.compile(r"Amazon RDS (?P<region>\S+) Root CA\b")


class Certificate:
    """One certificate of a bundle, with the facts selection and reports need."""

    __slots__ = ("is_ca", "not_after", "not_before", "pem", "self_signed", "sha256", "subject")

    def __init__(self, pem: bytes, cert: Any) -> None:
        self.pem, self.subject, self.sha256 = pem, label(cert), sha256_fingerprint(cert)
        self.not_before, self.not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        self.self_signed = cert.issuer == cert.subject
        self.is_ca = is_ca(cert)

    @property
    def region(self) -> str | None:
        """The region an RDS root's CN names (``Amazon RDS us-east-1 Root CA RSA2048 G1``);
        ``None`` for other CAs and AWS's Beta/Preview roots."""
        match = _RDS_ROOT.match(self.subject)
        return match["region"] if match and is_region_name(match["region"]) else None

    def __repr__(self) -> str:
        return f"Certificate({self.subject!r}, sha256={self.sha256[:16]}...)"


def common_name(name: Any) -> str | None:
    """The first CN of an ``x509.Name``, if it has one."""
    from cryptography.x509.oid import NameOID

    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def label(cert: Any) -> str:
    """How a certificate is named to people: its CN, else its whole subject."""
    return common_name(cert.subject) or str(cert.subject.rfc4514_string())


def is_ca(cert: Any) -> bool:
    """Whether BasicConstraints says CA (absent: not a CA). Raises ``ValueError`` if the
    extension is malformed (cryptography parses extensions lazily)."""
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def sha256_fingerprint(cert: Any) -> str:
    """SHA-256 of the DER, in hex: the fingerprint operators compare."""
    from cryptography.hazmat.primitives import hashes

    return str(cert.fingerprint(hashes.SHA256()).hex())


def signed_by(cert: Any, issuer: Any) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature (names chaining): the question a
    look-alike CA must fail."""
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def pem_blocks(data: bytes) -> list[bytes]:
    """The complete ``CERTIFICATE`` blocks of ``data``, in file order."""
    return [match[0] for match in PEM_BLOCK.finditer(data)]


def pem_der(block: bytes) -> bytes:
    """The DER inside one PEM block (raises ``ValueError`` if it is not base64)."""
    match = PEM_BLOCK.fullmatch(block.strip())
    if match is None:
        raise ValueError("not a single PEM certificate block")
    return binascii.a2b_base64(match["body"])


def read_certificates(data: bytes, source: str) -> list[Certificate]:
    """Every certificate of a PEM bundle, parsed.

    Raises:
        BundleError: no certificate, or one that does not parse; names which one.
    """
    from cryptography import x509

    blocks = pem_blocks(data)
    if not blocks:
        raise BundleError(
            f"CA bundle {source} contains no PEM certificate (expected '-----BEGIN "
            f"CERTIFICATE-----' blocks). Download the RDS bundle from {GLOBAL_BUNDLE_URL}."
        )
    from cryptography.utils import CryptographyDeprecationWarning

    certificates = []
    for index, block in enumerate(blocks, 1):
        try:
            with warnings.catch_warnings():  # a root of certifi's (RDS Proxy) has a serial < 0
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                parsed = x509.load_pem_x509_certificate(block)
            certificates.append(Certificate(block + b"\n", parsed))
        except ValueError as exc:  # does not parse, or a malformed extension
            raise BundleError(f"Certificate #{index} in {source} does not parse: {exc}.") from exc
    return certificates


class Bundle:
    """A bundle file's certificates, in file order."""

    __slots__ = ("certificates", "path", "sha256")

    def __init__(self, path: str, data: bytes, certificates: list[Certificate]) -> None:
        self.path, self.certificates = path, tuple(certificates)
        self.sha256 = hashlib.sha256(data).hexdigest()

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({c.region for c in self.certificates if c.region}))


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """The certificates of the bundle file ``path``.

    Raises:
        BundleError: missing, unreadable, no certificate, or one that does not parse.
    """
    file = os.fspath(path)
    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise BundleError(f"CA bundle {file} does not exist.") from None
    except OSError as exc:
        raise BundleError(f"CA bundle {file} cannot be read: {exc.strerror}.") from exc
    return Bundle(file, data, read_certificates(data, file))


def split(certificates: Iterable[Certificate]) -> dict[str, bytes]:
    """The roots of each region named in CNs (``{"us-east-1": pem, ...}``), file order kept."""
    regions: dict[str, bytes] = {}
    for cert in certificates:
        if cert.region:
            regions[cert.region] = regions.get(cert.region, b"") + cert.pem
    return regions


def strangers(certificates: Iterable[Certificate], shipped_roots: str) -> list[Certificate]:
    """The roots named like AWS's RDS roots for a region AWS serves that are not AWS's (as
    shipped in the directory ``shipped_roots``, one ``<region>.pem`` per region)."""
    known = {}  # SHA-256 of the DER -> region
    for name in os.listdir(shipped_roots):
        if name != "proxy.pem":
            with open(os.path.join(shipped_roots, name), "rb") as handle:
                for block in pem_blocks(handle.read()):
                    known[hashlib.sha256(pem_der(block)).hexdigest()] = name.removesuffix(".pem")
    regions = set(known.values())
    return [c for c in certificates if c.region in regions and c.sha256 not in known]


def timestamp(moment: datetime.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC: how dates appear in JSON and text."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
