"""The RDS-like test PKI: a root named like an RDS regional root, a subordinate, server leaves.

Why RDS-shaped: name-based code (region detection, "is this an RDS CA?", the hints in error
messages) must see the same layout it sees in production. The region ``test-region-1`` is
fictitious, which is also how the error translation recognises this PKI's certificates.

RDS issues under three CA families, and so does this PKI (:data:`CAFamily`): ``rsa2048``
(RSA 2048, SHA-256; the default), ``rsa4096`` (RSA 4096, SHA-384) and ``ecc384`` (ECDSA P-384,
SHA-384), each for the root, the subordinate and the server key alike.
"""

from __future__ import annotations

import datetime
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from aurora_ssl._diagnostics._translation import TEST_REGION  # the test PKI's names: one source
from aurora_ssl._trust import SHIPPED_BUNDLE

_Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

CLUSTER_HOST = "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com"
READER_HOST = "demo.cluster-ro-abc123xyz.test-region-1.rds.amazonaws.com"
INSTANCE_HOST = "demo-instance-1.abc123xyz.test-region-1.rds.amazonaws.com"
OTHER_HOST = "other.cluster-zzz999xyz.test-region-1.rds.amazonaws.com"
"""The only name on the wrong-host certificate: valid, trusted, but for another cluster."""

_GOOD_NAMES = (CLUSTER_HOST, READER_HOST, INSTANCE_HOST)

CAFamily = Literal["rsa2048", "rsa4096", "ecc384"]
"""An RDS CA family: ``rds-ca-rsa2048-g1``, ``rds-ca-rsa4096-g1`` or ``rds-ca-ecc384-g1``
(all of them: ``typing.get_args(CAFamily)``)."""


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: _Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (PostgreSQL refuses group/world readable keys);
    atomically, so that a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _kept_key(path: Path, family: CAFamily) -> _Key:
    """The key kept in ``path``, made and kept there if missing.

    Keys are all a PKI needs to outlive a run: certificates issued anew from the same keys and
    names chain to the root file a client loaded before (a server whose data is kept).
    """
    if path.is_file():
        return cast("_Key", serialization.load_pem_private_key(path.read_bytes(), None))
    key: _Key = (
        ec.generate_private_key(ec.SECP384R1())
        if family == "ecc384"
        else rsa.generate_private_key(65537, 4096 if family == "rsa4096" else 2048)
    )
    _write_private(path, _key_pem(key))
    return key


def _certificate(
    key: _Key,
    issuer: tuple[x509.Certificate, _Key] | None,
    name: str,
    days: tuple[int, int],
    *,
    names: Sequence[str] = (),
) -> x509.Certificate:
    """A CA certificate named like RDS's (``issuer`` ``None``: self-signed), or with ``names``
    a server's; valid from ``days[0]`` to ``days[1]`` days from now. A subordinate CA issues
    server certificates only (path length 0)."""
    ca, now = not names, datetime.datetime.now(datetime.timezone.utc)
    rds = f"L=Seattle,CN={name},ST=WA,OU=Amazon RDS,O=Amazon.com,C=US"
    subject = x509.Name.from_rfc4514_string(rds if ca else f"CN={name}")
    # A CA signs certificates; a server signs handshakes (and, with RSA, decrypts key exchange).
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca and isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None), True)
        .add_extension(usage, True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key())
        builder = builder.add_extension(aki, False)
    if names:
        server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(server_auth, False).add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False
        )
    signer = issuer[1] if issuer else key
    # as RDS signs: SHA-256 with an RSA 2048 key, SHA-384 with RSA 4096 and ECDSA P-384 keys
    return builder.sign(signer, hashes.SHA256() if signer.key_size == 2048 else hashes.SHA384())


class _Authority:
    """One root -> subordinate chain, and the key of every server certificate it issues; the
    keys kept in ``{directory}/{who}-{family}-{root,subordinate,server}.key``."""

    def __init__(self, family: CAFamily, directory: Path, who: str) -> None:
        self.root_key, self.subordinate_key, self.leaf_key = (
            _kept_key(directory / f"{who}-{family}-{role}.key", family)
            for role in ("root", "subordinate", "server")
        )
        root = f"Amazon RDS {TEST_REGION} Root CA {family.upper()} G1"
        self.root = _certificate(self.root_key, None, root, (-30, 365 * 20))
        self.subordinate = _certificate(
            self.subordinate_key,
            (self.root, self.root_key),
            f"Amazon RDS {TEST_REGION} Subordinate CA {family.upper()} G1.A.1",
            (-30, 365 * 5),
        )


class TestPKI:
    """RDS-like PKI: root 'Amazon RDS test-region-1 Root CA RSA2048 G1' -> subordinate -> server.

    Of one CA family (:attr:`family`; the root's CN names it: ``... Root CA ECC384 G1``).

    Two authorities with identical subject names: the trusted one (its root is in
    :attr:`root_path` and :attr:`bundle_path`) and a foreign one (:attr:`foreign_root_path`)
    whose certificates look the same to a human but are signed with other keys, the way an
    intercepting proxy's would be. Build with :meth:`generate`.

    Attributes:
        root_path: PEM of the trusted test root alone: the smallest correct ``sslrootcert``.
        bundle_path: the shipped RDS bundle with the test root appended: what AWS's global
            bundle would be if ``test-region-1`` existed.
        foreign_root_path: PEM of the interception root (same subject names, other key).
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path, family: CAFamily) -> None:
        """Use :meth:`generate`; this makes both authorities and writes the root, foreign root
        and bundle files."""
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.family = directory, family
        self._trusted = _Authority(family, directory, "trusted")
        self._foreign = _Authority(family, directory, "foreign")
        self.root_path = directory / "root.pem"
        self.bundle_path = directory / "bundle.pem"
        self.foreign_root_path = directory / "foreign-root.pem"
        self.root_path.write_bytes(_pem(self._trusted.root))
        self.foreign_root_path.write_bytes(_pem(self._foreign.root))
        shipped = Path(SHIPPED_BUNDLE).read_bytes().rstrip(b"\n") + b"\n"
        self.bundle_path.write_bytes(shipped + _pem(self._trusted.root))

    @classmethod
    def generate(cls, directory: Path, family: CAFamily = "rsa2048") -> TestPKI:
        """Create both authorities and write the root, bundle and foreign root files.

        The keys are kept in ``directory`` too (owner-only), and a PKI generated again in the
        same directory reuses them: a client that loaded the root file on an earlier run still
        trusts the server (for servers whose data outlives a run).

        Args:
            directory: where the PEM files go (created if missing). The server never reads
                from it: it copies what it needs into its own directory.
            family: the CA family of every key and signature (:data:`CAFamily`); RSA 4096
                keys take about half a second each to make.

        Returns:
            The PKI; issue server certificates with :meth:`issue_server`.
        """
        if family not in get_args(CAFamily):
            choices = ", ".join(get_args(CAFamily))
            raise ValueError(f"unknown CA family {family!r}; choose one of {choices}")
        return cls(Path(directory), family)

    def issue_server(
        self, names: Sequence[str], *, expired: bool = False, foreign: bool = False
    ) -> tuple[Path, Path]:
        """Issue a server certificate and write it with its chain and key.

        Args:
            names: host names for the SANs; the first is also the CN.
            expired: make it expire ten days ago (valid for a year before that).
            foreign: sign it with the interception authority instead of the trusted one.

        Returns:
            ``(chain, key)``: the PEM chain file (leaf, then subordinate, as a server sends
            it) and the PEM private key file (mode 0600).

        Raises:
            ValueError: no name.
        """
        if not names:
            raise ValueError("issue_server() needs at least one name")
        ca = self._foreign if foreign else self._trusted
        issuer, days = (ca.subordinate, ca.subordinate_key), (-375, -10) if expired else (-1, 365)
        leaf = _certificate(ca.leaf_key, issuer, names[0], days, names=list(names))
        # random, not a counter: a forked copy of this PKI must not overwrite our files
        stem = self.directory / f"server-{secrets.token_hex(6)}{'-foreign' if foreign else ''}"
        stem.with_suffix(".crt").write_bytes(_pem(leaf) + _pem(ca.subordinate))  # as sent
        _write_private(stem.with_suffix(".key"), _key_pem(ca.leaf_key))
        return stem.with_suffix(".crt"), stem.with_suffix(".key")
