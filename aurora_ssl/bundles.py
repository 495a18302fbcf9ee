"""RDS bundles: their certificates' facts, read cheaply.

Which bundle file is in use (an argument, ``AURORA_SSL_BUNDLE``, the updated or the shipped
bundle) is decided in :mod:`aurora_ssl.bundle_paths`; its names are re-exported here.

No X.509 parsing on the connect path: the shipped bundle is read through an index generated
at build time, and a user's (or updated) bundle is parsed with ``cryptography`` only the
first time its content is seen; the facts are then kept as an index in the cache directory
(see :mod:`aurora_ssl.bundle_index`). An updated bundle must hold only self-signed Amazon RDS
roots (:mod:`aurora_ssl.bundle_validation`); any other file only CA certificates. Reading is
cached per process (:func:`aurora_ssl.trust.clear_caches` forgets it).
"""

from __future__ import annotations

import functools
import os

from aurora_ssl._digest import sha256_hex
from aurora_ssl._frozen import Frozen
from aurora_ssl._log import logger
from aurora_ssl.bundle_index import IndexRow, format_index, parse_index, region_of
from aurora_ssl.bundle_paths import (
    _SHIPPED_INDEX,
    BUNDLE_ENV,
    GLOBAL_BUNDLE_URL,
    _as_pathlib_shows,
    _shipped_bundle_file,
    _updated_bundle_file,
    bundle_source,
    shipped_bundle_path,
    shipped_index_path,
    updated_bundle_path,
)
from aurora_ssl.certificates import pem_blocks
from aurora_ssl.errors import BundleError
from aurora_ssl.trust_cache import (
    _cache_dir,
    _check_updated_file,
    _path,
    _remove_hint,
    write_atomically,
)

# No typing, dataclasses or logging at run time (issue 12): see aurora_ssl.trust.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from cryptography import x509

__all__ = [
    "BUNDLE_ENV",
    "GLOBAL_BUNDLE_URL",
    "Bundle",
    "BundleCertificate",
    "bundle_certificate",
    "bundle_source",
    "load_bundle",
    "shipped_bundle_path",
    "shipped_index_path",
    "updated_bundle_path",
]


class BundleCertificate(Frozen):
    """One CA certificate of a bundle, with the facts selection and reports need.

    The expiry is kept as text (``YYYY-MM-DDTHH:MM:SSZ``, as in the bundle indexes) so that
    the connect path never imports :mod:`datetime`; :attr:`not_after` converts on demand.
    """

    __slots__ = ("is_ca", "not_after_text", "pem", "self_signed", "sha256", "subject")
    _fields = ("pem", "subject", "sha256", "not_after_text", "is_ca", "self_signed")

    pem: bytes
    subject: str
    sha256: str
    not_after_text: str
    is_ca: bool
    self_signed: bool

    def __init__(
        self,
        pem: bytes,
        subject: str,
        sha256: str,
        not_after_text: str,
        is_ca: bool,
        self_signed: bool,
    ) -> None:
        self._set(
            pem=pem,
            subject=subject,
            sha256=sha256,
            not_after_text=not_after_text,
            is_ca=is_ca,
            self_signed=self_signed,
        )

    @property
    def not_after(self) -> datetime.datetime:
        """The end of the validity period (UTC)."""
        import datetime

        return datetime.datetime.fromisoformat(self.not_after_text.replace("Z", "+00:00"))

    @property
    def region(self) -> str | None:
        """The region word of an RDS root's CN ('Amazon RDS us-east-1 Root CA ...')."""
        return region_of(self.subject)

    def index_row(self) -> IndexRow:
        return IndexRow(
            sha256=self.sha256,
            not_after=self.not_after_text,
            is_ca=self.is_ca,
            self_signed=self.self_signed,
            region=self.region,
            subject=self.subject,
        )


class Bundle(Frozen):
    """A parsed PEM bundle: its source file, raw bytes and certificates in file order."""

    __slots__ = ("_file", "certificates", "sha256")
    _fields = ("path", "sha256", "certificates")

    _file: str
    sha256: str
    certificates: tuple[BundleCertificate, ...]

    def __init__(
        self,
        path: str | os.PathLike[str],
        sha256: str,
        certificates: tuple[BundleCertificate, ...],
    ) -> None:
        self._set(_file=os.fspath(path), sha256=sha256, certificates=certificates)

    @property
    def path(self) -> Path:
        """The bundle file (a ``Path`` made on demand: connecting never needs one)."""
        return _path(self._file)

    def for_region(self, region: str) -> tuple[BundleCertificate, ...]:
        return tuple(c for c in self.certificates if c.region == region)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({c.region for c in self.certificates if c.region}))


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read a PEM bundle of CA certificates, validated once per content (cached per process).

    How much is checked depends on the file:

    - the shipped bundle: its facts come from the index generated at build time, used only
      if the file's SHA-256 is the one the index was made from;
    - the bundle installed by ``aurora-ssl bundle update`` (``updated/``): it must belong to
      us (or root) and be closed to others, and it gets the validation ``bundle update``
      applies (only self-signed Amazon RDS roots). This X.509 parsing runs only when an
      updated bundle exists, once per content: the result is kept as an index in the cache;
    - any other file (``bundle=``, ``AURORA_SSL_BUNDLE``, ``sslrootcert``): every certificate
      must parse and be a CA. Also parsed once per content, then indexed in the cache.

    Raises:
        BundleError: the file is missing or unreadable, holds no PEM certificate, holds a
            certificate that does not parse, or one that is not a CA certificate; or the
            updated bundle is not ours, is open to others, or is not a set of RDS roots.
    """
    file = _as_pathlib_shows(os.fspath(path))
    validated = _validation_for(file)
    if validated == "update":
        _check_updated_file(_path(file))
    try:
        info = os.stat(file)
    except FileNotFoundError:
        raise BundleError(f"CA bundle {file} does not exist.") from None
    except OSError as exc:
        raise BundleError(f"CA bundle {file} cannot be read: {exc.strerror}.") from exc
    return _load_bundle_cached(file, info.st_size, info.st_mtime_ns, validated)


def _validation_for(file: str) -> str:
    absolute = os.path.abspath(file)
    if absolute == os.path.abspath(_shipped_bundle_file()):
        return "shipped"
    try:
        if absolute == os.path.abspath(_updated_bundle_file()):
            return "update"
    except (OSError, BundleError):
        pass
    return "user"


@functools.lru_cache(maxsize=32)
def _load_bundle_cached(path: str, size: int, mtime_ns: int, validated: str) -> Bundle:
    del size, mtime_ns  # part of the cache key only: a changed file is read again
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise BundleError(f"CA bundle {path} cannot be read: {exc.strerror}.") from exc
    blocks = pem_blocks(data)
    if not blocks:
        raise BundleError(
            f"CA bundle {path} contains no PEM certificate (expected '-----BEGIN CERTIFICATE-----' "
            f"blocks). Download the RDS bundle from {GLOBAL_BUNDLE_URL}."
        )
    digest = sha256_hex(data)
    rows: tuple[IndexRow, ...] | None = None
    if validated == "shipped":
        rows = _read_index(_SHIPPED_INDEX, digest, "shipped", len(blocks))
        if rows is None:  # an edited copy: trusted no more than a user's file
            logger().warning("aurora-ssl: %s does not match its index; parsing it", path)
            validated = "user"
    if rows is None:
        rows = _read_index(_cached_index_path(digest, validated), digest, validated, len(blocks))
    if rows is None:
        rows = _validate(data, blocks, path, validated)
        _store_index(digest, validated, rows)
    certificates = tuple(
        BundleCertificate(
            pem=block + b"\n",
            subject=row.subject,
            sha256=row.sha256,
            not_after_text=row.not_after,
            is_ca=row.is_ca,
            self_signed=row.self_signed,
        )
        for block, row in zip(blocks, rows, strict=True)
    )
    return Bundle(path=path, sha256=digest, certificates=certificates)


def _cached_index_path(digest: str, validated: str) -> str | None:
    try:
        return os.path.join(_cache_dir(), "index", f"{digest}.{validated}.idx")
    except (OSError, BundleError):
        return None


def _read_index(
    path: str | None, digest: str, validated: str, count: int
) -> tuple[IndexRow, ...] | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    return parse_index(text, file_sha256=digest, validated=validated, count=count)


def _store_index(digest: str, validated: str, rows: Iterable[IndexRow]) -> None:
    """Keep the facts for the next process; a failure only costs it a parse."""
    text = format_index(digest, validated, rows)
    path = _cached_index_path(digest, validated)
    if text is None or path is None:
        return
    try:
        write_atomically(path, text, durable=False)  # checked by every reader
    except OSError as exc:
        logger().debug("aurora-ssl: could not write the bundle index %s: %s", path, exc)


def _validate(
    data: bytes, blocks: Sequence[bytes], path: str, validated: str
) -> tuple[IndexRow, ...]:
    """Parse every certificate (this is where ``cryptography`` is imported) and check it."""
    if validated == "update":
        from aurora_ssl.bundle_validation import validate_bundle
        from aurora_ssl.errors import BundleUpdateError

        try:
            validate_bundle(data, source=path, check_expiry=False)
        except BundleUpdateError as exc:
            reason = (
                str(exc).replace(" Nothing was changed.", "").replace("; nothing was changed.", ".")
            )
            raise BundleError(
                f"The updated RDS bundle {path} is refused: {reason} {_remove_hint(path)}"
            ) from exc
    certificates = tuple(_describe(block, path, index) for index, block in enumerate(blocks, 1))
    not_ca = [c.subject for c in certificates if not c.is_ca]
    if not_ca:
        raise BundleError(
            f"CA bundle {path} contains certificates that are not CA certificates "
            f"({', '.join(not_ca)}); a trust file must hold only root/intermediate CAs."
        )
    return tuple(c.index_row() for c in certificates)


def _describe(block: bytes, path: str, index: int) -> BundleCertificate:
    from cryptography import x509

    try:
        return bundle_certificate(x509.load_pem_x509_certificate(block), block)
    except ValueError as exc:  # does not parse, or a malformed extension
        raise BundleError(f"Certificate #{index} in {path} does not parse: {exc}.") from exc


def bundle_certificate(cert: x509.Certificate, pem: bytes) -> BundleCertificate:
    """The facts selection and reports need of one parsed certificate (``pem`` as read).

    Shared by bundle loading, the index generator and ``bundle update``, which adds its own
    stricter checks.

    Raises:
        ValueError: the certificate's BasicConstraints extension is malformed.
    """
    from aurora_ssl import certificates

    return BundleCertificate(
        pem=pem + b"\n",
        subject=certificates.label(cert),
        sha256=certificates.sha256_fingerprint(cert),
        not_after_text=certificates.timestamp(cert.not_valid_after_utc),
        is_ca=certificates.is_ca(cert),
        self_signed=cert.issuer == cert.subject,
    )
