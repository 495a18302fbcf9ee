"""The RDS-like test PKI: a root named like an RDS regional root, a subordinate, server leaves.

Why RDS-shaped: name-based code (region detection, "is this an RDS CA?", the hints in error
messages) must see the same layout it sees in production. The region ``test-region-1`` is
fictitious, which is also how :func:`is_test_ca` recognises this PKI's certificates.

RDS issues under three CA families, and so does this PKI (:data:`CA_FAMILIES`): ``rsa2048``
(RSA 2048, SHA-256; the default), ``rsa4096`` (RSA 4096, SHA-384) and ``ecc384`` (ECDSA P-384,
SHA-384), each for the root, the subordinate and the server key alike.

``cryptography`` is imported inside functions: ``import aurora_ssl.testing`` stays light.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from aurora_ssl._diagnostics import (  # one source of the test PKI's names
    TEST_REGION,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    _Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


CLUSTER_HOST = "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com"
READER_HOST = "demo.cluster-ro-abc123xyz.test-region-1.rds.amazonaws.com"
INSTANCE_HOST = "demo-instance-1.abc123xyz.test-region-1.rds.amazonaws.com"
OTHER_HOST = "other.cluster-zzz999xyz.test-region-1.rds.amazonaws.com"
"""The only name on the wrong-host certificate: valid, trusted, but for another cluster."""

_GOOD_NAMES = (CLUSTER_HOST, READER_HOST, INSTANCE_HOST)

CAFamily = Literal["rsa2048", "rsa4096", "ecc384"]
"""An RDS CA family: ``rds-ca-rsa2048-g1``, ``rds-ca-rsa4096-g1`` or ``rds-ca-ecc384-g1``."""
CA_FAMILIES: tuple[CAFamily, ...] = get_args(CAFamily)


def _check_family(family: str) -> CAFamily:
    if family not in CA_FAMILIES:
        raise ValueError(f"unknown CA family {family!r}; choose one of {', '.join(CA_FAMILIES)}")
    return family


def _ca_names(family: CAFamily) -> tuple[str, str]:
    """The root and subordinate CNs, as AWS names them (root: ``TEST_ROOT_CN`` for rsa2048)."""
    label = family.upper()
    return (
        f"Amazon RDS {TEST_REGION} Root CA {label} G1",
        f"Amazon RDS {TEST_REGION} Subordinate CA {label} G1.A.1",
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key(family: CAFamily) -> _Key:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if family == "ecc384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(65537, 4096 if family == "rsa4096" else 2048)


def _digest(family: CAFamily) -> hashes.SHA256 | hashes.SHA384:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256() if family == "rsa2048" else hashes.SHA384()


def _rds_name(common_name: str) -> x509.Name:
    """A subject laid out like the real RDS CAs', so name-based code sees the familiar shape."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon.com"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon RDS"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (PostgreSQL refuses group/world readable keys)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class _Authority:
    """One root -> subordinate chain; keys are made once because RSA generation is the slow part."""

    def __init__(self, family: CAFamily) -> None:
        from cryptography import x509

        now = _now()
        self.family = family
        root_cn, subordinate_cn = _ca_names(family)
        self.root_key = _new_key(family)
        root_name = _rds_name(root_cn)
        root_ski = x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key())
        self.root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=365 * 20))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(self.root_key, _digest(family))
        )
        self.subordinate_key = _new_key(family)
        self.subordinate = (
            x509.CertificateBuilder()
            .subject_name(_rds_name(subordinate_cn))
            .issuer_name(root_name)
            .public_key(self.subordinate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=365 * 5))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.subordinate_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .sign(self.root_key, _digest(family))
        )
        self._leaf_key: _Key | None = None
        self._lock = threading.Lock()

    def dump(self) -> tuple[bytes, bytes]:
        """``(certificates, keys)`` as PEM: root and subordinate; root, subordinate, leaf key."""
        from cryptography.hazmat.primitives import serialization

        keys = (self.root_key, self.subordinate_key, self.leaf_key)
        return _pem(self.root) + _pem(self.subordinate), b"".join(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            for key in keys
        )

    @classmethod
    def load(cls, certificates: bytes, keys: bytes) -> _Authority:
        """The inverse of :meth:`dump` (a kept PKI: same root across runs)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import NameOID

        root, subordinate = x509.load_pem_x509_certificates(certificates)
        blocks = [
            f"{block}-----END PRIVATE KEY-----\n"
            for block in keys.decode().split("-----END PRIVATE KEY-----")[:3]
        ]
        loaded = [serialization.load_pem_private_key(b.strip().encode(), None) for b in blocks]
        key_types = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)
        if len(loaded) != 3 or not all(isinstance(k, key_types) for k in loaded):
            raise ValueError("not a kept aurora_ssl.testing authority")
        authority = cls.__new__(cls)
        root_cn = str(root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        authority.family = _check_family(root_cn.split()[-2].lower())
        authority.root, authority.subordinate = root, subordinate
        authority.root_key, authority.subordinate_key, leaf_key = loaded  # type: ignore[assignment]
        authority._leaf_key = leaf_key  # type: ignore[assignment]
        authority._lock = threading.Lock()
        return authority

    @property
    def leaf_key(self) -> _Key:
        """The server key, shared by every certificate this authority issues."""
        with self._lock:
            if self._leaf_key is None:
                self._leaf_key = _new_key(self.family)
            return self._leaf_key

    def issue(self, names: Sequence[str], *, expired: bool) -> x509.Certificate:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = _now()
        if expired:
            start, end = now - datetime.timedelta(days=375), now - datetime.timedelta(days=10)
        else:
            start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
        alt_names: list[x509.GeneralName] = []
        for name in names:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt_names.append(x509.DNSName(name))
        key = self.leaf_key
        subordinate_ski = self.subordinate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.subordinate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=isinstance(key, rsa.RSAPrivateKey),  # RSA key exchange
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(subordinate_ski),
                critical=False,
            )
            .sign(self.subordinate_key, _digest(self.family))
        )


def _ca_key_usage() -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _shipped_bundle() -> bytes:
    return resources.files("aurora_ssl").joinpath("data/rds-global-bundle.pem").read_bytes()


class TestPKI:
    """RDS-like PKI: root 'Amazon RDS test-region-1 Root CA RSA2048 G1' -> subordinate -> server.

    Of one CA family (:attr:`family`; the root's CN names it: ``... Root CA ECC384 G1``).

    Two authorities with identical subject names: the trusted one (its root is in
    :attr:`root_path` and :attr:`bundle_path`) and a foreign one (:attr:`foreign_root_path`)
    whose certificates look the same to a human but are signed with other keys, the way an
    intercepting proxy's would be. Build with :meth:`generate`.
    """

    __test__ = False  # not a pytest test class despite the name

    root_path: Path
    """PEM of the trusted test root alone: the smallest correct ``sslrootcert``."""
    bundle_path: Path
    """The shipped RDS bundle with the test root appended: what AWS's global bundle would be
    if ``test-region-1`` existed."""
    foreign_root_path: Path
    """PEM of the interception root (same subject names as the trusted root, other key)."""

    def __init__(self, directory: Path, trusted: _Authority, foreign: _Authority) -> None:
        """Use :meth:`generate`; this only stores what it made."""
        self.directory = directory
        self.family: CAFamily = trusted.family
        self._trusted = trusted
        self._foreign = foreign
        self.root_path = directory / "root.pem"
        self.bundle_path = directory / "bundle.pem"
        self.foreign_root_path = directory / "foreign-root.pem"

    @classmethod
    def generate(cls, directory: Path, family: CAFamily = "rsa2048") -> TestPKI:
        """Create both authorities and write the root, bundle and foreign root files.

        Args:
            directory: where the PEM files go (created if missing). The server never reads
                from it: it copies what it needs into its own directory.
            family: the CA family of every key and signature (:data:`CA_FAMILIES`); RSA 4096
                keys take about half a second each to make.

        Returns:
            The PKI; issue server certificates with :meth:`issue_server`.
        """
        family = _check_family(family)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return cls._write(cls(directory, _Authority(family), _Authority(family)))

    @classmethod
    def load_or_generate(cls, directory: Path, family: CAFamily = "rsa2048") -> TestPKI:
        """The PKI kept in ``directory`` (its keys included), or a new one kept there.

        For servers whose data outlives a run: the root, and so every trust file and cached
        trust selection made from it, stays valid across runs. A kept PKI of another family
        is replaced.
        """
        family = _check_family(family)
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        parts = [directory / f"{who}-authority.{kind}" for who in ("trusted", "foreign")
                 for kind in ("pem", "key")]  # fmt: skip
        if all(part.is_file() for part in parts):
            trusted = _Authority.load(parts[0].read_bytes(), parts[1].read_bytes())
            foreign = _Authority.load(parts[2].read_bytes(), parts[3].read_bytes())
            if trusted.family == family:
                return cls._write(cls(directory, trusted, foreign))
        pki = cls._write(cls(directory, _Authority(family), _Authority(family)))
        for authority, (certs, keys) in ((pki._trusted, parts[:2]), (pki._foreign, parts[2:])):
            certs_pem, keys_pem = authority.dump()
            certs.write_bytes(certs_pem)
            _write_private(keys, keys_pem)
        return pki

    @classmethod
    def _write(cls, pki: TestPKI) -> TestPKI:
        """Write the root, foreign root and bundle files (same content for the same keys)."""
        root_pem = _pem(pki._trusted.root)
        pki.root_path.write_bytes(root_pem)
        pki.foreign_root_path.write_bytes(_pem(pki._foreign.root))
        shipped = _shipped_bundle()
        if shipped and not shipped.endswith(b"\n"):
            shipped += b"\n"
        if not pki.bundle_path.is_file() or pki.bundle_path.read_bytes() != shipped + root_pem:
            pki.bundle_path.write_bytes(shipped + root_pem)
        return pki

    def issue_server(
        self, names: Sequence[str], *, expired: bool = False, foreign: bool = False
    ) -> tuple[Path, Path]:
        """Issue a server certificate and write it with its chain and key.

        Args:
            names: host names (or IP addresses) for the SANs; the first is also the CN.
            expired: make it expire ten days ago (valid for a year before that).
            foreign: sign it with the interception authority instead of the trusted one.

        Returns:
            ``(chain, key)``: the PEM chain file (leaf, then subordinate, as a server sends
            it) and the PEM private key file (mode 0600).
        """
        if not names:
            raise ValueError("issue_server() needs at least one name")
        authority = self._foreign if foreign else self._trusted
        from cryptography.hazmat.primitives import serialization

        leaf = authority.issue(list(names), expired=expired)
        # random, not a counter: a forked copy of this PKI must not overwrite our files
        stem = f"server-{secrets.token_hex(6)}{'-foreign' if foreign else ''}"
        chain_path = self.directory / f"{stem}.crt"
        key_path = self.directory / f"{stem}.key"
        chain_path.write_bytes(_pem(leaf) + _pem(authority.subordinate))
        _write_private(
            key_path,
            authority.leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
        return chain_path, key_path
