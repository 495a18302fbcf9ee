"""Trust selection: which roots a connection trusts, as a file libpq (or an SSLContext) reads.

libpq parses the whole ``sslrootcert`` file on every connection, so the smallest correct set
is both safer and faster. The shipped bundle is split per region at build time
(``aurora_ssl/data/roots/<region>.pem``, plus ``proxy.pem`` for RDS Proxy), so choosing trust
for an RDS name is reading its labels and a path: nothing is read, hashed or written.

A bundle of the user's (``bundle=``, ``AURORA_SSL_BUNDLE``) or one installed by
``aurora-ssl bundle update`` is split the same way once per content, into the guarded cache
directory (``<cache>/bundles/<crc32>-<length>/``), the first time a process uses it; later
processes read it and find the split made (its ``full.pem`` equal to the bundle byte for byte).

Every file we trust that someone else could write is refused: a user bundle, a user
``sslrootcert`` and the cache directory must, with every directory above them (symbolic links
resolved), belong to root or to us and be closed to others (sticky directories excepted), as
OpenSSH's StrictModes demands of ``authorized_keys``. Kubernetes secret mounts pass.
"""

from __future__ import annotations

import binascii
import functools
import os
import stat

from aurora_ssl._endpoint import Endpoint, EndpointKind, is_ip, parse_endpoint
from aurora_ssl.errors import BundleError, UnsupportedPartitionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

BUNDLE_ENV = "AURORA_SSL_BUNDLE"
CACHE_DIR_ENV = "AURORA_SSL_CACHE_DIR"
_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
#: The RDS global bundle shipped with this version (AWS's, see shared data/README).
SHIPPED_BUNDLE = os.path.join(_DATA, "rds-global-bundle.pem")
#: The shipped bundle split per region (``<region>.pem``), plus ``proxy.pem``.
SHIPPED_ROOTS = os.path.join(_DATA, "roots")
#: Where AWS publishes the bundles the global one does not cover, by partition.
PARTITION_BUNDLE_URLS = {
    "aws-cn": "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem",
    "aws-us-gov": "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem",
}


class TrustSelection:
    """The roots one connection target trusts.

    Attributes:
        path: the file to pass as libpq ``sslrootcert`` (or to load into an SSLContext).
        scope: why these roots: ``region:<name>``, ``proxy``, ``full-bundle`` or ``user-file``.
        source: the bundle they were taken from (or the user's file).
        warnings: what an operator should know (a region missing from the bundle, a CNAME).
    """

    __slots__ = ("path", "scope", "source", "warnings")

    def __init__(self, path: str, scope: str, source: str, warnings: tuple[str, ...] = ()) -> None:
        self.path, self.scope, self.source, self.warnings = path, scope, source, warnings

    def __repr__(self) -> str:
        return f"TrustSelection(path={self.path!r}, scope={self.scope!r})"

    @property
    def subjects(self) -> tuple[str, ...]:
        """The CNs of the trusted roots, for reports (parses the file: not for connecting)."""
        from aurora_ssl._bundles import load_bundle

        return tuple(c.subject for c in load_bundle(self.path).certificates)

    def ensure(self) -> str:
        """:attr:`path`, split again first if a temp cleaner removed it from the cache."""
        if (
            not os.path.exists(self.path)
            and os.path.basename(os.path.dirname(self.path)) != "roots"
        ):
            _split_dir.cache_clear()
            _split_dir(self.source, repair=True)
        return self.path


def select_trust(
    hosts: str | Sequence[str],
    *,
    bundle: str | os.PathLike[str] | None = None,
    sslrootcert: str | os.PathLike[str] | None = None,
) -> TrustSelection:
    """Choose the smallest correct set of roots for the host name(s) libpq will verify.

    Args:
        hosts: the name(s) the certificate must match (libpq's ``host``, a list or a
            comma-separated string: every host gets the same file, so their sets must agree).
        bundle: an RDS bundle to use instead of ``AURORA_SSL_BUNDLE``, an update or the
            shipped bundle.
        sslrootcert: the user's own trust file: checked, then used untouched.

    Raises:
        BundleError: a bundle or the user's file is unusable, or open to other users.
        UnsupportedPartitionError: a China/GovCloud endpoint and no bundle for it.
    """
    names = tuple(h for h in (hosts.split(",") if isinstance(hosts, str) else hosts) if h.strip())
    if sslrootcert is not None:
        return _user_file(os.fspath(sslrootcert))
    return _select(names, *bundle_source(bundle))


@functools.lru_cache(maxsize=256)
def _user_file(path: str) -> TrustSelection:
    if b"-----BEGIN CERTIFICATE-----" not in _read(path, "The trust file (sslrootcert)"):
        raise BundleError(f"The trust file {path} (sslrootcert) holds no PEM certificate.")
    return TrustSelection(path, "user-file", path)


def _read(path: str, what: str) -> bytes:
    """The content of a file we are to trust, once :func:`check_private` passed it."""
    check_private(path, what)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:  # a directory, no permission, an empty path
        raise BundleError(f"{what} {path} cannot be read: {exc.strerror}.") from None


@functools.lru_cache(maxsize=256)
def _select(names: tuple[str, ...], source: str, origin: str) -> TrustSelection:
    directory = SHIPPED_ROOTS if origin == "shipped" else _split_dir(source)
    full = SHIPPED_BUNDLE if origin == "shipped" else os.path.join(directory, "full.pem")
    picks = [_pick(parse_endpoint(name), directory, origin) for name in names or ("",)]
    scopes = {scope for scope, _ in picks}
    warnings = tuple(dict.fromkeys(w for _, w in picks if w))
    if scopes == {"proxy"}:
        selection = TrustSelection(os.path.join(SHIPPED_ROOTS, "proxy.pem"), "proxy", source)
    elif len(scopes) == 1 and "full-bundle" not in scopes:
        scope = scopes.pop()
        path = os.path.join(directory, f"{scope.partition(':')[2]}.pem")
        selection = TrustSelection(path, scope, source, warnings)
    elif "proxy" in scopes:
        raise BundleError(
            f"The host list {', '.join(names)} mixes RDS Proxy endpoints (Amazon Trust Services "
            "roots) with other endpoints (RDS roots): one connection has one trust file. Use "
            "one engine (or Django alias) per kind of endpoint."
        )
    else:
        regions = sorted(s.partition(":")[2] for s in scopes if s.startswith("region:"))
        if len(regions) > 1:
            warnings += (
                f"The hosts {', '.join(names)} are in different regions ({', '.join(regions)}): "
                "one connection has one trust file, so every RDS root is trusted. List hosts "
                "of one region per engine to keep the trust file small.",
            )
        selection = TrustSelection(full, "full-bundle", source, warnings)
    if warnings:
        import logging

        for warning in warnings:
            logging.getLogger("aurora_ssl").warning("aurora-ssl: %s", warning)
    return selection


def _pick(endpoint: Endpoint, directory: str, origin: str) -> tuple[str, str]:
    """(scope, warning) for one host."""
    if endpoint.kind.is_proxy:
        return "proxy", ""
    if endpoint.partition in PARTITION_BUNDLE_URLS and origin in ("shipped", "updated"):
        raise UnsupportedPartitionError(
            f"{endpoint.host} is in the {endpoint.partition} partition, whose CAs are not in "
            f"the global RDS bundle. Download {PARTITION_BUNDLE_URLS[str(endpoint.partition)]} "
            f"and pass it as bundle= (or set {BUNDLE_ENV}, or Django AURORA_SSL['BUNDLE'])."
        )
    if endpoint.kind is EndpointKind.GLOBAL:
        return "full-bundle", (
            f"{endpoint.host} is an Aurora Global Database endpoint, which can point at any "
            "region after a switchover, so the roots of every region are trusted."
        )
    if endpoint.kind is EndpointKind.OTHER:
        what = "an IP address" if is_ip(endpoint.host) else "not an RDS endpoint name"
        return "full-bundle", (
            f"{endpoint.host or 'the host'} is {what}, so every RDS root is trusted; verify-full "
            "checks this exact name, so a CNAME or tunnel to an RDS endpoint fails by design: "
            "connect with tls_server_name=<the RDS endpoint name>."
        )
    if not os.path.exists(os.path.join(directory, f"{endpoint.region}.pem")):
        return "full-bundle", (
            f"The RDS bundle has no roots for region {endpoint.region}; the whole bundle is "
            "trusted. Run `aurora-ssl bundle update` to get AWS's current bundle."
        )
    return f"region:{endpoint.region}", ""


def bundle_source(explicit: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """Which RDS bundle is in use, and why: ``(path, origin)``.

    First match wins: ``explicit`` (origin ``argument``), ``AURORA_SSL_BUNDLE``, a bundle
    installed by ``aurora-ssl bundle update`` (``updated``), the shipped one (``shipped``).
    """
    if explicit:
        return os.path.abspath(os.fspath(explicit)), "argument"
    if os.environ.get(BUNDLE_ENV):
        return os.path.abspath(os.environ[BUNDLE_ENV]), BUNDLE_ENV
    updated = updated_bundle_path()
    if os.path.lexists(updated):
        return updated, "updated"
    return SHIPPED_BUNDLE, "shipped"


def updated_bundle_path() -> str:
    """Where ``aurora-ssl bundle update`` installs a bundle (used while it exists)."""
    return os.path.join(cache_path(), "updated", "rds-global-bundle.pem")


@functools.lru_cache(maxsize=32)
def _split_dir(source: str, repair: bool = False) -> str:
    """The cache directory holding ``source`` split per region (made on first use, or again
    with ``repair`` when a file of it was removed).

    ``cryptography`` is imported only here, when a bundle other than the shipped one is used
    for the first time with this content. The directory is named by the content's CRC-32 and
    length (``binascii`` is loaded by every driver; ``hashlib`` would cost a fresh process a
    millisecond), and used only when its ``full.pem`` is the bundle byte for byte.
    """
    updated = source == updated_bundle_path()
    data = _read(source, "The updated RDS bundle" if updated else "The RDS bundle")
    directory = os.path.join(cache_dir(), "bundles", split_name(data))
    try:
        with open(os.path.join(directory, "full.pem"), "rb") as handle:
            same: bool | None = handle.read() == data
    except OSError:  # not split yet (or not readable: written again below)
        same = None
    if same is False:  # another bundle with the same CRC-32 and length, or an edited copy
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
    if repair or not same:
        _write_split(data, source, directory, updated)
    return directory


def split_name(data: bytes) -> str:
    """The name of the cache directory that holds the bundle ``data`` split per region."""
    return f"{binascii.crc32(data):08x}-{len(data)}"


def _write_split(data: bytes, source: str, directory: str, updated: bool) -> None:
    from aurora_ssl._bundles import read_certificates, split, strangers  # parses: cryptography

    certificates = read_certificates(data, source)
    for cert in certificates:
        problem = "is not a CA certificate" if not cert.is_ca else ""
        if updated and not (cert.self_signed and cert.subject.startswith("Amazon RDS ")):
            problem = "is not a self-signed Amazon RDS root"
        if problem:
            raise BundleError(
                f"The bundle {source} is refused: {cert.subject} {problem}; a trust bundle holds "
                "only root CAs. Use AWS's bundle (`aurora-ssl bundle update`)."
            )
    unknown = [] if updated else strangers(certificates, SHIPPED_ROOTS)
    if unknown:
        import logging

        logging.getLogger("aurora_ssl").warning(
            "aurora-ssl: the bundle %s holds %d root(s) named like Amazon RDS roots that are not "
            "AWS's (unknown SHA-256): %s. Trust it only if you made these CAs yourself.",
            source,
            len(unknown),
            ", ".join(c.subject for c in unknown),
        )
    files = {f"{region}.pem": pem for region, pem in split(certificates).items()}
    files["full.pem"] = data
    staging = f"{directory}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    os.makedirs(staging, mode=0o700)
    for name, content in files.items():
        with open(os.path.join(staging, name), "xb") as handle:
            handle.write(content)
    try:
        os.rename(staging, directory)  # all or nothing; a concurrent process may have won
    except OSError:  # it exists: complete (a concurrent process won) or a file was removed
        import shutil

        for name in os.listdir(staging):
            if not os.path.isfile(os.path.join(directory, name)):
                os.replace(os.path.join(staging, name), os.path.join(directory, name))
        shutil.rmtree(staging, ignore_errors=True)


def _places() -> Iterator[str]:
    """Where the cache directory may be, in order: ``AURORA_SSL_CACHE_DIR`` alone, else
    ``$XDG_CACHE_HOME/aurora-ssl`` or ``~/.cache/aurora-ssl``, then (when home cannot hold
    it, as on AWS Lambda) ``aurora-ssl-<uid>`` in the system's temp directory."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        yield os.path.abspath(configured)
        return
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    yield os.path.abspath(os.path.join(xdg, "aurora-ssl"))
    import tempfile  # only when home cannot hold it: it costs a fresh process milliseconds

    uid = os.getuid() if hasattr(os, "getuid") else "user"
    yield os.path.join(tempfile.gettempdir(), f"aurora-ssl-{uid}")


def cache_path() -> str:
    """Where the cache directory is (not created here): the first of :func:`_places` that
    exists, else the first."""
    return next((path for path in _places() if os.path.isdir(path)), next(_places()))


def cache_dir() -> str:
    """aurora-ssl's private cache directory (see :func:`_places`), created on first use
    (mode 0700).

    Raises:
        BundleError: it cannot be created, or it (or a directory above it) is open to others.
    """
    reason = ""
    for path in _places():
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            reason = reason or f" ({exc.strerror})"
            continue
        check_private(path, "The cache directory")
        return path
    raise BundleError(
        f"Cannot create the cache directory {next(_places())}{reason}; set {CACHE_DIR_ENV} to a "
        "directory you own."
    )


def check_private(path: str, what: str) -> None:
    """Refuse ``path`` unless it and every directory above it (as given and with symbolic
    links resolved) belong to root or to us and are closed to others; a sticky directory
    (``/tmp``) may be open. POSIX only: Windows guards files with ACLs, not modes.

    Raises:
        BundleError: naming the file or directory at fault and the command that fixes it.
    """
    if not hasattr(os, "getuid"):
        return
    uid = os.getuid()
    seen: set[str] = set()
    for start in (os.path.abspath(path), os.path.realpath(path)):
        current = start
        while current not in seen:
            seen.add(current)
            try:
                info = os.stat(current)
            except FileNotFoundError:
                if current == start:
                    raise BundleError(f"{what} {path} does not exist.") from None
                current = os.path.dirname(current)
                continue
            if info.st_uid not in (0, uid):
                raise BundleError(
                    f"{what} {path} is refused: {current} belongs to another user (uid "
                    f"{info.st_uid}), who could change which CAs are trusted. Keep it in a "
                    "directory owned by you or root."
                )
            open_to_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            if open_to_others and not (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
                raise BundleError(
                    f"{what} {path} is refused: {current} is writable by other users, who could "
                    f"change which CAs are trusted; run `chmod go-w {current}`."
                )
            current = os.path.dirname(current)


def write_atomically(path: str | os.PathLike[str], content: bytes) -> None:
    """Replace ``path`` with ``content``: readers see the old file or the new one, never a
    part (a temp file in the same directory, ``fsync``, then ``os.replace``)."""
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.urandom(8).hex()}")
    try:
        with open(tmp, "xb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def clear_caches() -> None:
    """Forget the per-process memos of trust selection and endpoint parsing."""
    _user_file.cache_clear()
    _select.cache_clear()
    _split_dir.cache_clear()
    parse_endpoint.cache_clear()
