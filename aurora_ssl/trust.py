"""Trust stores: which root certificates a connection trusts, and the file libpq reads them from.

Why trimming matters: libpq reads and parses the whole ``sslrootcert`` file on every
connection, so trusting a region's three roots instead of all 102 makes each verify-full
connect measurably cheaper (see benchmarks/connect.py). Trimming never widens trust: the
chosen set is always a subset of the bundle the user would otherwise have used, or of
certifi's Amazon Trust Services roots for RDS Proxy.

Where the RDS bundle comes from, first match wins:
  1. an explicit ``bundle=`` argument (or Django ``AURORA_SSL["BUNDLE"]``),
  2. the ``AURORA_SSL_BUNDLE`` environment variable,
  3. a bundle installed by ``aurora-ssl bundle update`` in the cache directory,
  4. the copy shipped in this package (``aurora_ssl/data/rds-global-bundle.pem``).

Selected sets are written once per content into the cache directory under a content-hash
name, atomically (temp file + ``os.replace``), so concurrent threads and processes only ever
see complete files. Everything here is cached per process; nothing runs at import time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aurora_ssl.endpoint import Endpoint, EndpointKind, Partition, parse_endpoint
from aurora_ssl.errors import BundleError, UnsupportedPartitionError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "AMAZON_TRUST_SERVICES_ROOTS",
    "BUNDLE_ENV",
    "CACHE_DIR_ENV",
    "Bundle",
    "BundleCertificate",
    "TrustSelection",
    "bundle_certificate",
    "bundle_source",
    "cache_dir",
    "load_bundle",
    "select_trust",
    "shipped_bundle_path",
    "updated_bundle_path",
    "validate_root_file",
    "write_atomically",
]

logger = logging.getLogger("aurora_ssl")

BUNDLE_ENV = "AURORA_SSL_BUNDLE"
CACHE_DIR_ENV = "AURORA_SSL_CACHE_DIR"

#: Subjects (CN) of the roots RDS Proxy's ACM certificates chain to; taken from certifi.
AMAZON_TRUST_SERVICES_ROOTS = (
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
)

#: Where AWS publishes the bundles the shipped (commercial-partition) file does not cover.
PARTITION_BUNDLE_URLS = {
    Partition.AWS_CN: "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem",
    Partition.AWS_US_GOV: "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem",
}
GLOBAL_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
_CERTIFI_ENTRY = re.compile(
    rb'# Label: "([^"]+)"\r?\n.*?(-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----)',
    re.DOTALL,
)
_RDS_ROOT_CN = re.compile(r"^Amazon RDS (?P<region>\S+) ")


@dataclasses.dataclass(frozen=True)
class BundleCertificate:
    """One CA certificate of a bundle, with the facts selection and reports need."""

    pem: bytes
    subject: str
    sha256: str
    not_after: datetime.datetime
    is_ca: bool
    self_signed: bool

    @property
    def region(self) -> str | None:
        """The region word of an RDS root's CN ('Amazon RDS us-east-1 Root CA ...')."""
        match = _RDS_ROOT_CN.match(self.subject)
        return match["region"] if match else None


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A parsed PEM bundle: its source file, raw bytes and certificates in file order."""

    path: Path
    sha256: str
    certificates: tuple[BundleCertificate, ...]

    def for_region(self, region: str) -> tuple[BundleCertificate, ...]:
        return tuple(c for c in self.certificates if c.region == region)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({c.region for c in self.certificates if c.region}))


@dataclasses.dataclass(frozen=True)
class TrustSelection:
    """The outcome of trust selection for one connection target.

    Attributes:
        path: the file to pass as libpq ``sslrootcert`` (or to load into an SSLContext).
        scope: ``region:<name>``, ``proxy``, ``full-bundle`` or ``user-file``: why these roots.
        subjects: the CNs of the trusted roots, for reports.
        source: where the roots were taken from (bundle file, certifi, or the user's file).
        warnings: things an operator should know (region missing from the bundle, CNAMEs).
    """

    path: str
    scope: str
    subjects: tuple[str, ...]
    source: str
    warnings: tuple[str, ...] = ()
    _content: bytes | None = dataclasses.field(default=None, repr=False, compare=False)

    def ensure(self) -> str:
        """Return :attr:`path`, re-creating a materialised file if something deleted it.

        Temp cleaners (systemd-tmpfiles, tmpwatch) remove old files; one ``stat`` per
        connection is the price of never failing with "could not read root certificate".
        """
        if self._content is not None and not os.path.exists(self.path):
            write_atomically(Path(self.path), self._content)
        return self.path


def shipped_bundle_path() -> Path:
    """The RDS global bundle shipped with this version of the package."""
    return Path(__file__).parent / "data" / "rds-global-bundle.pem"


def cache_dir() -> Path:
    """A private directory for materialised trust files, created on first use.

    ``AURORA_SSL_CACHE_DIR`` wins; otherwise ``$XDG_CACHE_HOME/aurora-ssl`` (or
    ``~/.cache/aurora-ssl``). A read-only or missing home falls back to a per-user directory
    in the system temp dir, which must be owned by us and closed to others (another local
    user must not be able to plant a CA there).
    """
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return _private_dir(Path(configured))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        return _private_dir(Path(xdg) / "aurora-ssl")
    except (OSError, BundleError):
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return _private_dir(Path(tempfile.gettempdir()) / f"aurora-ssl-{uid}")


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise BundleError(
            f"Cache directory {path} belongs to another user (uid {info.st_uid}); set "
            f"{CACHE_DIR_ENV} to a directory you own."
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BundleError(
            f"Cache directory {path} is writable by other users, who could plant a CA there; "
            f"run `chmod go-w {path}` or set {CACHE_DIR_ENV} to a private directory."
        )
    if not os.access(path, os.W_OK):
        raise BundleError(f"Cache directory {path} is not writable; set {CACHE_DIR_ENV}.")
    return path


def updated_bundle_path() -> Path:
    """Where ``aurora-ssl bundle update`` installs a newer bundle (used if it exists)."""
    return cache_dir() / "updated" / "rds-global-bundle.pem"


def bundle_source(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Resolve which RDS bundle file to use, and say why (for reports).

    Returns:
        ``(path, origin)`` where origin is ``argument``, ``AURORA_SSL_BUNDLE``, ``updated``
        or ``shipped``.
    """
    if explicit:
        return Path(explicit), "argument"
    from_env = os.environ.get(BUNDLE_ENV)
    if from_env:
        return Path(from_env), BUNDLE_ENV
    try:
        updated = updated_bundle_path()
    except (OSError, BundleError):
        updated = None
    if updated is not None and updated.is_file():
        return updated, "updated"
    return shipped_bundle_path(), "shipped"


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Parse and validate a PEM bundle of CA certificates (cached by path, size and mtime).

    Raises:
        BundleError: the file is missing or unreadable, holds no PEM certificate, holds a
            certificate that does not parse, or one that is not a CA certificate.
    """
    file = Path(path)
    try:
        info = file.stat()
    except FileNotFoundError:
        raise BundleError(f"CA bundle {file} does not exist.") from None
    except OSError as exc:
        raise BundleError(f"CA bundle {file} cannot be read: {exc.strerror}.") from exc
    return _load_bundle_cached(str(file), info.st_size, info.st_mtime_ns)


def validate_root_file(path: str | os.PathLike[str]) -> Bundle:
    """Check a user-supplied ``sslrootcert`` before any connection attempt uses it."""
    return load_bundle(path)


@functools.lru_cache(maxsize=32)
def _load_bundle_cached(path: str, size: int, mtime_ns: int) -> Bundle:
    del size, mtime_ns  # part of the cache key only: a changed file is parsed again
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BundleError(f"CA bundle {path} cannot be read: {exc.strerror}.") from exc
    blocks = _PEM_BLOCK.findall(data)
    if not blocks:
        raise BundleError(
            f"CA bundle {path} contains no PEM certificate (expected '-----BEGIN CERTIFICATE-----' "
            f"blocks). Download the RDS bundle from {GLOBAL_BUNDLE_URL}."
        )
    certificates = tuple(_describe(block, path, index) for index, block in enumerate(blocks, 1))
    not_ca = [c.subject for c in certificates if not c.is_ca]
    if not_ca:
        raise BundleError(
            f"CA bundle {path} contains certificates that are not CA certificates "
            f"({', '.join(not_ca)}); a trust file must hold only root/intermediate CAs."
        )
    return Bundle(
        path=Path(path), sha256=hashlib.sha256(data).hexdigest(), certificates=certificates
    )


def _describe(block: bytes, path: str, index: int) -> BundleCertificate:
    from cryptography import x509

    try:
        return bundle_certificate(x509.load_pem_x509_certificate(block), block)
    except ValueError as exc:  # does not parse, or a malformed extension
        raise BundleError(f"Certificate #{index} in {path} does not parse: {exc}.") from exc


def bundle_certificate(cert: x509.Certificate, pem: bytes) -> BundleCertificate:
    """The facts selection and reports need of one parsed certificate (``pem`` as read).

    Shared by bundle loading and ``bundle update``, which adds its own stricter checks.

    Raises:
        ValueError: the certificate's BasicConstraints extension is malformed.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(names[0].value) if names else cert.subject.rfc4514_string()
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    return BundleCertificate(
        pem=pem + b"\n",
        subject=subject,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_after=cert.not_valid_after_utc,
        is_ca=is_ca,
        self_signed=cert.issuer == cert.subject,
    )


def select_trust(
    hosts: str | Sequence[str],
    *,
    bundle: str | os.PathLike[str] | None = None,
    sslrootcert: str | os.PathLike[str] | None = None,
) -> TrustSelection:
    """Choose the smallest correct set of roots for the host name(s) libpq will verify.

    Args:
        hosts: the name(s) the certificate must match (libpq's ``host``; several for a
            comma-separated multi-host list, whose sets are united).
        bundle: an RDS bundle to trim instead of the default source (see module docstring).
        sslrootcert: the user's own trust file: validated, then used untouched.

    Raises:
        BundleError: a bundle or the user's file is unusable.
        UnsupportedPartitionError: a China/GovCloud endpoint and no bundle was supplied.
    """
    if isinstance(hosts, str):
        hosts = [h for h in hosts.split(",") if h.strip()] or [hosts]
    if sslrootcert is not None:
        validated = validate_root_file(sslrootcert)
        return TrustSelection(
            path=str(sslrootcert),
            scope="user-file",
            subjects=tuple(c.subject for c in validated.certificates),
            source=str(sslrootcert),
        )
    source, origin = bundle_source(bundle)
    return _select_cached(tuple(parse_endpoint(h) for h in hosts), str(source), origin)


@functools.lru_cache(maxsize=128)
def _select_cached(endpoints: tuple[Endpoint, ...], source: str, origin: str) -> TrustSelection:
    # The bundle's own cache key includes mtime, so a bundle update is seen by new
    # selections; an existing selection keeps its (still valid) file.
    chosen: dict[str, BundleCertificate] = {}
    scopes: list[str] = []
    warnings: list[str] = []
    sources: set[str] = set()
    for endpoint in endpoints:
        certs, scope, src = _select_one(endpoint, Path(source), origin, warnings)
        scopes.append(scope)
        sources.add(src)
        chosen.update((c.sha256, c) for c in certs)
    for warning in warnings:
        logger.warning("aurora-ssl: %s", warning)
    scope = scopes[0] if len(set(scopes)) == 1 else "+".join(sorted(set(scopes)))
    label = re.sub(r"[^a-z0-9-]+", "-", scope.lower()).strip("-")
    content = b"".join(c.pem for c in chosen.values())
    path = _materialise(content, label)
    return TrustSelection(
        path=str(path),
        scope=scope,
        subjects=tuple(c.subject for c in chosen.values()),
        source=", ".join(sorted(sources)),
        warnings=tuple(warnings),
        _content=content,
    )


def _select_one(
    endpoint: Endpoint, source: Path, origin: str, warnings: list[str]
) -> tuple[Iterable[BundleCertificate], str, str]:
    if endpoint.kind.is_proxy:
        return _amazon_trust_services_roots(), "proxy", "certifi (Amazon Trust Services)"
    if endpoint.partition in PARTITION_BUNDLE_URLS and origin in ("shipped", "updated"):
        raise UnsupportedPartitionError(
            f"{endpoint.host} is in the {endpoint.partition.value} partition, whose CAs are not "
            f"in the global RDS bundle. Download {PARTITION_BUNDLE_URLS[endpoint.partition]} "
            f"and pass it as bundle= (or set {BUNDLE_ENV}, or Django AURORA_SSL['BUNDLE'])."
        )
    full = load_bundle(source)
    if endpoint.kind is EndpointKind.OTHER:
        if not endpoint.is_ip_address and "rds.amazonaws.com" not in endpoint.host:
            warnings.append(
                f"{endpoint.host} is not an RDS endpoint name, so all {len(full.certificates)} "
                "RDS roots are trusted; verify-full checks this exact name, so a CNAME to an "
                "RDS endpoint fails by design: connect with tls_server_name=<the RDS endpoint>."
            )
        return full.certificates, "full-bundle", str(source)
    assert endpoint.region is not None  # every RDS-shaped name has one
    regional = full.for_region(endpoint.region)
    if not regional:
        warnings.append(
            f"The bundle {source} has no roots for region {endpoint.region}; trusting the whole "
            "bundle. Run `aurora-ssl bundle update` to get AWS's current bundle."
        )
        return full.certificates, "full-bundle", str(source)
    return regional, f"region:{endpoint.region}", str(source)


@functools.lru_cache(maxsize=1)
def _amazon_trust_services_roots() -> tuple[BundleCertificate, ...]:
    # certifi labels each certificate ('# Label: "Amazon Root CA 1"'); picking the five by
    # label avoids parsing ~150 unrelated roots (some of which cryptography warns about).
    # Starfield Services Root G2 has serial number 0, which cryptography warns about; it is
    # a genuine root that RDS Proxy chains to, so that one warning is silenced here.
    import warnings

    import certifi
    from cryptography.utils import CryptographyDeprecationWarning

    text = Path(certifi.where()).read_bytes()
    found: list[BundleCertificate] = []
    for label, block in _CERTIFI_ENTRY.findall(text):
        if label.decode() in AMAZON_TRUST_SERVICES_ROOTS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                cert = _describe(block, certifi.where(), len(found) + 1)
            if cert.subject in AMAZON_TRUST_SERVICES_ROOTS and cert.is_ca:
                found.append(cert)
    if not found:
        raise BundleError(
            f"certifi's bundle {certifi.where()} has none of the Amazon Trust Services roots "
            "that RDS Proxy certificates chain to; upgrade certifi (`pip install -U certifi`)."
        )
    return tuple(found)


_write_lock = threading.Lock()


def _materialise(content: bytes, label: str) -> Path:
    """Write ``content`` once under a content-hash name; reuse an identical existing file."""
    digest = hashlib.sha256(content).hexdigest()[:24]
    directory = cache_dir()
    path = directory / f"trust-{label}-{digest}.pem"
    with _write_lock:
        try:
            if path.read_bytes() == content:
                return path
        except OSError:
            pass
        write_atomically(path, content)
    return path


def write_atomically(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` so readers see the old or the new file, never a part.

    Written via a temp file in the same directory and ``os.replace``: all or nothing."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
