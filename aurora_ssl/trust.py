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
see complete files. Everything here is cached per process (:func:`clear_caches` forgets it);
nothing runs at import time.

No ``pathlib`` on the connect path either (with ``urllib.parse`` and ``ipaddress``, which it
imports, about 2.5 ms of a fresh process): the work is done on ``str`` paths, and only the
public functions that return a :class:`~pathlib.Path` import it.

No X.509 parsing on the connect path: the shipped bundle is read through an index generated
at build time, and a user's (or updated) bundle is parsed with ``cryptography`` only the
first time its content is seen; the facts are then kept as an index in the cache directory
(see :mod:`aurora_ssl.bundle_index`).

The files trust comes from are guarded like OpenSSH guards ``authorized_keys``: the cache
directory and its ancestors must belong to us or root and be closed to others (sticky
directories excepted), and an updated bundle must be ours and hold only self-signed Amazon
RDS roots. A user bundle whose "Amazon RDS" roots are not AWS's is named in a warning.
"""

from __future__ import annotations

import _thread
import functools
import os
import re
import stat

from aurora_ssl._frozen import Frozen
from aurora_ssl._log import logger
from aurora_ssl.bundle_index import (
    IndexRow,
    format_index,
    parse_index,
    region_of,
    sha256_hex,
)
from aurora_ssl.certificates import pem_blocks
from aurora_ssl.endpoint import Endpoint, EndpointKind, Partition, parse_endpoint, split_hosts
from aurora_ssl.errors import BundleError, UnsupportedPartitionError

# No typing, dataclasses, logging, contextlib or threading at run time: each would cost a
# fresh process more than issue 12 allows the whole connect path (5 % over plain psycopg2).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable, Sequence
    from pathlib import Path
    from typing import Any

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
    "clear_caches",
    "load_bundle",
    "select_trust",
    "shipped_bundle_path",
    "updated_bundle_path",
    "write_atomically",
]

BUNDLE_ENV = "AURORA_SSL_BUNDLE"
CACHE_DIR_ENV = "AURORA_SSL_CACHE_DIR"

#: The roots RDS Proxy's ACM certificates chain to, taken from certifi by label and pinned by
#: SHA-256 (of the DER) with their expiry, so picking them needs no X.509 parser.
_AMAZON_TRUST_SERVICES_PINS = {
    "Amazon Root CA 1": (
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
        "2038-01-17T00:00:00Z",
    ),
    "Amazon Root CA 2": (
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
        "2040-05-26T00:00:00Z",
    ),
    "Amazon Root CA 3": (
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
        "2040-05-26T00:00:00Z",
    ),
    "Amazon Root CA 4": (
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
        "2040-05-26T00:00:00Z",
    ),
    "Starfield Services Root Certificate Authority - G2": (
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
        "2037-12-31T23:59:59Z",
    ),
}
#: Subjects (CN) of the roots RDS Proxy's ACM certificates chain to; taken from certifi.
AMAZON_TRUST_SERVICES_ROOTS = tuple(_AMAZON_TRUST_SERVICES_PINS)

#: Where AWS publishes the bundles the shipped (commercial-partition) file does not cover.
PARTITION_BUNDLE_URLS = {
    Partition.AWS_CN: "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem",
    Partition.AWS_US_GOV: "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem",
}
GLOBAL_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

_USER_ORIGINS = ("argument", BUNDLE_ENV)


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


class TrustSelection(Frozen):
    """The outcome of trust selection for one connection target.

    Attributes:
        path: the file to pass as libpq ``sslrootcert`` (or to load into an SSLContext).
        scope: ``region:<name>``, ``proxy``, ``full-bundle`` or ``user-file``: why these roots.
        subjects: the CNs of the trusted roots, for reports.
        source: where the roots were taken from (bundle file, certifi, or the user's file).
        warnings: things an operator should know (region missing from the bundle, CNAMEs).
    """

    # _content (the file's bytes, to re-create it) takes no part in equality or repr.
    __slots__ = ("_content", "path", "scope", "source", "subjects", "warnings")
    _fields = ("path", "scope", "subjects", "source", "warnings")

    path: str
    scope: str
    subjects: tuple[str, ...]
    source: str
    warnings: tuple[str, ...]
    _content: bytes | None

    def __init__(
        self,
        path: str,
        scope: str,
        subjects: tuple[str, ...],
        source: str,
        warnings: tuple[str, ...] = (),
        _content: bytes | None = None,
    ) -> None:
        self._set(
            path=path,
            scope=scope,
            subjects=subjects,
            source=source,
            warnings=warnings,
            _content=_content,
        )

    def replace(self, **changes: Any) -> TrustSelection:
        """A copy with some attributes changed (what ``dataclasses.replace`` gave before)."""
        values = self.__getstate__()
        values.update(changes)
        return TrustSelection(**values)

    def ensure(self) -> str:
        """Return :attr:`path`, re-creating a materialised file if something deleted it.

        Temp cleaners (systemd-tmpfiles, tmpwatch) remove old files; one ``stat`` per
        connection is the price of never failing with "could not read root certificate".
        """
        if self._content is not None and not os.path.exists(self.path):
            write_atomically(self.path, self._content)
        return self.path


def _path(path: str) -> Path:
    from pathlib import Path

    return Path(path)


_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_SHIPPED_BUNDLE = os.path.join(_DATA, "rds-global-bundle.pem")
_SHIPPED_INDEX = os.path.join(_DATA, "rds-global-bundle.index")


def shipped_bundle_path() -> Path:
    """The RDS global bundle shipped with this version of the package."""
    return _path(_SHIPPED_BUNDLE)


def shipped_index_path() -> Path:
    """The index made from the shipped bundle at build time (scripts/generate_bundle_index.py)."""
    return _path(_SHIPPED_INDEX)


_SHIPPED_BUNDLE_PATH = shipped_bundle_path


def _shipped_bundle_file() -> str:
    """:func:`shipped_bundle_path` as text; a replacement of it (tests do) is honoured."""
    if shipped_bundle_path is _SHIPPED_BUNDLE_PATH:
        return _SHIPPED_BUNDLE
    return os.fspath(shipped_bundle_path())


def cache_dir() -> Path:
    """A private directory for materialised trust files, created on first use.

    ``AURORA_SSL_CACHE_DIR`` wins; otherwise ``$XDG_CACHE_HOME/aurora-ssl`` (or
    ``~/.cache/aurora-ssl``). A read-only or missing home falls back to a per-user directory
    in the system temp dir. The directory must be ours and closed to others, and so must every
    directory above it, as OpenSSH's StrictModes demands: another local user who can rename an
    ancestor can swap in a directory holding their own CA.

    Raises:
        BundleError: the directory (or an ancestor) is open to other users, or not writable.
    """
    return _path(_cache_dir())


def _cache_dir() -> str:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return _private_dir(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        return _private_dir(os.path.join(xdg, "aurora-ssl"))
    except (OSError, BundleError):
        import tempfile  # only on this rare path: it costs a fresh process ~3 ms to import

        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return _private_dir(os.path.join(tempfile.gettempdir(), f"aurora-ssl-{uid}"))


def _private_dir(given: str) -> str:
    path = os.path.abspath(given)
    _check_ancestors(os.path.dirname(path))
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.stat(path)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise BundleError(
            f"Cache directory {path} belongs to another user (uid {info.st_uid}); set "
            f"{CACHE_DIR_ENV} to a directory you own."
        )
    # Windows reports every file as 0o777 and guards access with ACLs, which this check
    # cannot read: the mode test would refuse every directory there, so it is POSIX only.
    if hasattr(os, "getuid") and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BundleError(
            f"Cache directory {path} is writable by other users, who could plant a CA there; "
            f"run `chmod go-w {path}` or set {CACHE_DIR_ENV} to a private directory."
        )
    if not os.access(path, os.W_OK):
        raise BundleError(f"Cache directory {path} is not writable; set {CACHE_DIR_ENV}.")
    return path


def _lineage(directory: str) -> list[str]:
    """``directory`` (absolute, normalised) and each directory above it, up to ``/``."""
    lineage = [directory]
    parent = os.path.dirname(directory)
    while parent != lineage[-1]:
        lineage.append(parent)
        parent = os.path.dirname(parent)
    return lineage


def _check_ancestors(directory: str) -> None:
    """OpenSSH StrictModes for every existing directory from ``directory`` up to ``/``.

    Each must be owned by root or by us, and not writable by group or others unless it has
    the sticky bit (like ``/tmp``, where others cannot rename what is ours). Both the path as
    given and its resolved form are checked, so a symbolic link cannot hide a weak parent.
    """
    if not hasattr(os, "getuid"):
        return  # Windows: ACLs, not modes; nothing comparable to check here
    uid = os.getuid()
    seen: set[str] = set()
    for start in (directory, os.path.realpath(directory)):
        for current in _lineage(start):
            if current in seen:
                continue
            seen.add(current)
            try:
                info = os.stat(current)
            except FileNotFoundError:
                continue  # created by us (0700) on first use
            if info.st_uid not in (0, uid):
                raise BundleError(
                    f"Cache directory ancestor {current} belongs to another user (uid "
                    f"{info.st_uid}), who could swap the trust files below it; set "
                    f"{CACHE_DIR_ENV} to a directory whose parents belong to you or root."
                )
            open_to_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            if open_to_others and not info.st_mode & stat.S_ISVTX:
                raise BundleError(
                    f"Cache directory ancestor {current} is writable by other users without "
                    f"the sticky bit, so they could swap the trust files below it; run "
                    f"`chmod go-w {current}` (or `chmod +t {current}` for a shared directory "
                    f"like /tmp), or set {CACHE_DIR_ENV} to a private directory."
                )


def updated_bundle_path() -> Path:
    """Where ``aurora-ssl bundle update`` installs a newer bundle (used if it exists)."""
    return _path(_updated_bundle_file())


def _updated_bundle_file() -> str:
    return os.path.join(_cache_dir(), "updated", "rds-global-bundle.pem")


def bundle_source(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Resolve which RDS bundle file to use, and say why (for reports).

    Returns:
        ``(path, origin)`` where origin is ``argument``, ``AURORA_SSL_BUNDLE``, ``updated``
        or ``shipped``.
    """
    source, origin = _bundle_source(explicit)
    return _path(source), origin


def _bundle_source(explicit: str | os.PathLike[str] | None) -> tuple[str, str]:
    # Spelled as pathlib would show it ('a//b/' is 'a/b'), as messages always did.
    if explicit:
        return _as_pathlib_shows(os.fspath(explicit)), "argument"
    from_env = os.environ.get(BUNDLE_ENV)
    if from_env:
        return _as_pathlib_shows(from_env), BUNDLE_ENV
    try:
        updated: str | None = _updated_bundle_file()
    except (OSError, BundleError):
        updated = None
    if updated is not None and os.path.lexists(updated):
        return updated, "updated"
    return _shipped_bundle_file(), "shipped"


def _as_pathlib_shows(path: str) -> str:
    """``str(Path(path))`` without pathlib: repeated and trailing '/' and '.' parts dropped."""
    if not path:
        return "."
    root = "//" if path.startswith("//") and not path.startswith("///") else "/" * (path[0] == "/")
    parts = [part for part in path.split("/") if part and part != "."]
    return (root + "/".join(parts)) or "."


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


def _remove_hint(path: str | os.PathLike[str]) -> str:
    return (
        f"Remove it (`rm {path}`), then run `aurora-ssl bundle update` to install AWS's "
        "current bundle (or do nothing: the shipped bundle is used when none is installed)."
    )


def _check_updated_file(path: Path) -> None:
    """The updated bundle and its directory must be ours (or root's) and closed to others.

    A file another user planted while the directory was writable stays theirs after the
    ``chmod`` our error advises, so ownership is what exposes it.
    """
    if not hasattr(os, "getuid"):
        return
    uid = os.getuid()
    for current in (path.parent, path):
        try:
            info = current.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            problem = "is a symbolic link, which `aurora-ssl bundle update` never installs"
        elif info.st_uid not in (0, uid):
            problem = f"belongs to another user (uid {info.st_uid}), who could have planted it"
        elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            problem = "is writable by other users, who could have replaced its content"
        else:
            continue
        raise BundleError(
            f"The updated RDS bundle {path} is refused: {current} {problem}. " + _remove_hint(path)
        )


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
        write_atomically(path, text)
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
        hosts = split_hosts(hosts) or [hosts]
    if sslrootcert is not None:
        validated = load_bundle(sslrootcert)  # checked before any connection attempt uses it
        return TrustSelection(
            path=str(sslrootcert),
            scope="user-file",
            subjects=tuple(c.subject for c in validated.certificates),
            source=str(sslrootcert),
        )
    source, origin = _bundle_source(bundle)
    return _select_cached(tuple(parse_endpoint(h) for h in hosts), source, origin)


@functools.lru_cache(maxsize=128)
def _select_cached(endpoints: tuple[Endpoint, ...], source: str, origin: str) -> TrustSelection:
    # The bundle's own cache key includes mtime, so a bundle update is seen by new
    # selections; an existing selection keeps its (still valid) file.
    chosen: dict[str, BundleCertificate] = {}
    scopes: list[str] = []
    warnings: list[str] = []
    sources: set[str] = set()
    full_for: list[str] = []
    for endpoint in endpoints:
        certs, scope, src = _select_one(endpoint, source, origin, warnings)
        scopes.append(scope)
        sources.add(src)
        if scope == "full-bundle":
            full_for.append(endpoint.host)
        chosen.update((c.sha256, c) for c in certs)
    trimmed = sorted({s for s in scopes if s.startswith("region:")})
    if trimmed and full_for:
        warnings.append(
            f"The host list mixes {', '.join(full_for)} (which needs the whole bundle) with "
            f"RDS endpoints ({', '.join(trimmed)}), so every host trusts all {len(chosen)} "
            "roots and each connection pays for parsing them; list the RDS endpoints alone "
            "to keep the region trimming."
        )
    if origin in _USER_ORIGINS and set(scopes) - {"proxy"}:  # the user's bundle is in use
        warnings.extend(_unknown_rds_roots(source))
    for warning in warnings:
        logger().warning("aurora-ssl: %s", warning)
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


def _unknown_rds_roots(source: str) -> list[str]:
    """A warning naming the roots of a user's bundle that pose as AWS's RDS roots.

    Posing means: named "Amazon RDS <region> ..." for a region AWS's bundles serve (the
    shipped one, or one installed and validated by ``aurora-ssl bundle update``), with a
    SHA-256 that is none of AWS's roots. Such a root is chosen for that region's real
    endpoints. A root named for a region AWS has no roots for (a local test PKI's
    ``test-region-1``) is only ever chosen for names in that made-up region, so it is not
    reported.
    """
    aws = list(load_bundle(_shipped_bundle_file()).certificates)
    try:
        updated: str | None = _updated_bundle_file()
    except (OSError, BundleError):
        updated = None
    if updated is not None and os.path.isfile(updated):
        try:  # noqa: SIM105 - no contextlib on the connect path (its import costs ~0.5 ms)
            aws.extend(load_bundle(updated).certificates)
        except BundleError:  # a refused update vouches for nothing
            pass
    known = {c.sha256 for c in aws}
    regions = {c.region for c in aws if c.region}
    strangers = [
        c.subject
        for c in load_bundle(source).certificates
        if c.region in regions and c.sha256 not in known
    ]
    if not strangers:
        return []
    return [
        f"The bundle {source} holds {len(strangers)} root(s) named like Amazon RDS roots that "
        f"are not AWS's (unknown SHA-256 fingerprint): {', '.join(strangers)}. Trust it only "
        "if you made these CAs yourself; otherwise use AWS's bundle (unset "
        f"{BUNDLE_ENV} / bundle=, or run `aurora-ssl bundle update`)."
    ]


def _select_one(
    endpoint: Endpoint, source: str, origin: str, warnings: list[str]
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
        return full.certificates, "full-bundle", source
    assert endpoint.region is not None  # every RDS-shaped name has one
    regional = full.for_region(endpoint.region)
    if not regional:
        warnings.append(
            f"The bundle {source} has no roots for region {endpoint.region}; trusting the whole "
            "bundle. Run `aurora-ssl bundle update` to get AWS's current bundle."
        )
        return full.certificates, "full-bundle", source
    return regional, f"region:{endpoint.region}", source


@functools.lru_cache(maxsize=1)
def _amazon_trust_services_roots() -> tuple[BundleCertificate, ...]:
    # certifi labels each certificate ('# Label: "Amazon Root CA 1"'); the five are picked by
    # label and accepted only with their pinned SHA-256, so no certificate is parsed (and a
    # certifi whose "Amazon Root CA 1" is something else contributes nothing).
    import certifi

    from aurora_ssl.bundle_index import der_sha256
    from aurora_ssl.certificates import labelled_pem_blocks

    where = certifi.where()
    try:
        with open(where, "rb") as handle:
            text = handle.read()
    except OSError as exc:
        raise BundleError(f"certifi's bundle {where} cannot be read: {exc.strerror}.") from exc
    found: dict[str, BundleCertificate] = {}
    for label, block in labelled_pem_blocks(text):
        pin = _AMAZON_TRUST_SERVICES_PINS.get(label)
        if pin is None or label in found:
            continue
        try:
            fingerprint = der_sha256(block)
        except ValueError:
            fingerprint = ""
        if fingerprint != pin[0]:
            logger().warning(
                "aurora-ssl: certifi's %r in %s is not the known root (SHA-256 %s); ignored",
                label,
                where,
                pin[0],
            )
            continue
        found[label] = BundleCertificate(
            pem=block + b"\n",
            subject=label,
            sha256=pin[0],
            not_after_text=pin[1],
            is_ca=True,
            self_signed=True,
        )
    if not found:
        raise BundleError(
            f"certifi's bundle {where} has none of the Amazon Trust Services roots "
            "that RDS Proxy certificates chain to; upgrade certifi (`pip install -U certifi`)."
        )
    return tuple(found.values())


_write_lock = _thread.allocate_lock()  # threading's Lock, without importing threading


def _materialise(content: bytes, label: str) -> str:
    """Write ``content`` once under a content-hash name; reuse an identical existing file."""
    digest = sha256_hex(content)[:24]
    path = os.path.join(_cache_dir(), f"trust-{label}-{digest}.pem")
    with _write_lock:
        try:
            with open(path, "rb") as handle:
                if handle.read() == content:
                    return path
        except OSError:
            pass
        write_atomically(path, content)
    return path


def write_atomically(path: str | os.PathLike[str], content: bytes) -> None:
    """Replace ``path`` with ``content`` so readers see the old or the new file, never a part.

    Written via a fresh temp file in the same directory (``O_EXCL``, so never someone else's)
    and ``os.replace``: all or nothing. No :mod:`tempfile`: it is slow to import and this
    runs in every fresh process's first connection."""
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    suffix = os.path.splitext(os.path.basename(target))[1]
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.urandom(8).hex()}{suffix}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:  # noqa: SIM105 - no contextlib on the connect path (its import costs ~0.5 ms)
            os.unlink(tmp)
        except OSError:
            pass
        raise


def clear_caches() -> None:
    """Forget every per-process memo of trust selection, bundle reading and endpoint parsing.

    For tests and for long-running processes that changed the environment (bundle source,
    cache directory) and want selection to run again; files on disk are left alone.
    """
    _select_cached.cache_clear()
    _load_bundle_cached.cache_clear()
    _amazon_trust_services_roots.cache_clear()
    parse_endpoint.cache_clear()
