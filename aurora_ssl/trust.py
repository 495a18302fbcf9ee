"""Trust selection: which root certificates a connection trusts, and the file libpq reads them from.

Why trimming matters: libpq reads and parses the whole ``sslrootcert`` file on every
connection, so trusting a region's three roots instead of all 102 makes each verify-full
connect measurably cheaper (see benchmarks/connect.py). Trimming never widens trust: the
chosen set is always a subset of the bundle the user would otherwise have used (see
:mod:`aurora_ssl.bundles` for where it comes from), or of certifi's Amazon Trust Services
roots for RDS Proxy.

Selected sets are written once per content into the cache directory
(:mod:`aurora_ssl.trust_cache`, guarded like OpenSSH guards ``authorized_keys``) under a
content-hash name, atomically, so concurrent threads and processes only ever see complete
files. Everything here is cached per process (:func:`clear_caches` forgets it); nothing runs
at import time. A user bundle whose "Amazon RDS" roots are not AWS's is named in a warning.

No ``pathlib`` on the connect path (with ``urllib.parse`` and ``ipaddress``, which it
imports, about 2.5 ms of a fresh process): the work is done on ``str`` paths, and only the
public functions that return a :class:`~pathlib.Path` import it. No X.509 parsing either:
bundles are read through their index.

The public names of :mod:`aurora_ssl.bundles` and :mod:`aurora_ssl.trust_cache`
(:func:`load_bundle`, :func:`cache_dir`, ...) are re-exported here, where callers have always
imported them from.
"""

from __future__ import annotations

import _thread
import functools
import os

from aurora_ssl import selection_record
from aurora_ssl._frozen import Frozen
from aurora_ssl.bundle_paths import (
    _SHIPPED_INDEX,
    BUNDLE_ENV,
    GLOBAL_BUNDLE_URL,
    _bundle_source,
    _shipped_bundle_file,
    _updated_bundle_file,
    bundle_source,
    shipped_bundle_path,
    shipped_index_path,
    updated_bundle_path,
)
from aurora_ssl.conninfo import split_hosts
from aurora_ssl.errors import BundleError, UnsupportedPartitionError
from aurora_ssl.trust_cache import CACHE_DIR_ENV, _cache_dir, cache_dir, write_atomically

# No typing, dataclasses, logging, contextlib or threading at run time: each would cost a
# fresh process more than issue 12 allows the whole connect path (5 % over plain psycopg2).
# Nor the modules that read bundles and names (bundles, bundle_index, certificates, endpoint,
# with their regular expressions and enums): a remembered selection needs none of them, so
# they are imported when a selection is actually made, and re-exported lazily (__getattr__).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from aurora_ssl.bundles import Bundle as Bundle
    from aurora_ssl.bundles import BundleCertificate as BundleCertificate
    from aurora_ssl.bundles import bundle_certificate as bundle_certificate
    from aurora_ssl.bundles import load_bundle as load_bundle
    from aurora_ssl.endpoint import Endpoint

_FROM_BUNDLES = ("Bundle", "BundleCertificate", "bundle_certificate", "load_bundle")


def __getattr__(name: str) -> Any:
    if name not in _FROM_BUNDLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from aurora_ssl import bundles

    value = getattr(bundles, name)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "AMAZON_TRUST_SERVICES_ROOTS",
    "BUNDLE_ENV",
    "CACHE_DIR_ENV",
    "GLOBAL_BUNDLE_URL",
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
    "shipped_index_path",
    "updated_bundle_path",
    "write_atomically",
]


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
PARTITION_BUNDLE_URLS = {  # by Partition value
    "aws-cn": "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem",
    "aws-us-gov": "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem",
}

_USER_ORIGINS = ("argument", BUNDLE_ENV)


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
            write_atomically(self.path, self._content, durable=False)
        return self.path


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
    names = tuple(hosts)
    if sslrootcert is not None:  # validated (once per content) before any connection uses it
        return _remembered(names, str(sslrootcert), _USER_FILE)
    source, origin = _bundle_source(bundle)
    return _select_cached(names, source, origin)


@functools.lru_cache(maxsize=128)
def _select_cached(names: tuple[str, ...], source: str, origin: str) -> TrustSelection:
    # A bundle update is seen by new selections (the record and the bundle reader both key
    # on the file's signature); an existing selection keeps its (still valid) file.
    return _remembered(names, source, origin)


_USER_FILE = "sslrootcert"
# The modules whose logic decides a selection: a record made by other code is not reused.
_HERE = os.path.dirname(os.path.abspath(__file__))
_SELECTING_CODE = tuple(
    os.path.join(_HERE, module)
    for module in ("trust.py", "bundles.py", "bundle_index.py", "endpoint.py")
)


def _remembered(names: tuple[str, ...], source: str, origin: str) -> TrustSelection:
    """A previous process's selection for these inputs if still valid, else a new one."""
    recalled = selection_record.recall(names, source, origin, user_file=origin == _USER_FILE)
    if recalled is not None:
        for warning in recalled["warnings"]:
            from aurora_ssl._log import logger  # only to warn: logging is not loaded otherwise

            logger().warning("aurora-ssl: %s", warning)
        content = recalled.pop("content")
        return TrustSelection(**recalled, _content=content)
    import time

    started_ns = time.time_ns()
    depends = [source, _SHIPPED_INDEX, *_SELECTING_CODE]
    if origin == _USER_FILE:
        selection = _select_user_file(source)
    else:
        from aurora_ssl.endpoint import parse_endpoint

        selection = _select(tuple(parse_endpoint(h) for h in names), source, origin, depends)
    outcome = selection.__getstate__()
    outcome["content"] = outcome.pop("_content")
    selection_record.remember(names, source, origin, outcome, depends, started_ns)
    return selection


def _select_user_file(path: str) -> TrustSelection:
    from aurora_ssl.bundles import load_bundle

    validated = load_bundle(path)
    return TrustSelection(
        path=path,
        scope="user-file",
        subjects=tuple(c.subject for c in validated.certificates),
        source=path,
    )


def _select(
    endpoints: tuple[Endpoint, ...], source: str, origin: str, depends: list[str]
) -> TrustSelection:
    """Choose and materialise; ``depends`` gets every further file the choice read."""
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
    if "proxy" in scopes:
        import certifi

        depends.append(certifi.where())
    if origin == "updated":  # its directory's owner and mode are checked too
        depends.append(os.path.dirname(source))
    trimmed = sorted({s for s in scopes if s.startswith("region:")})
    if trimmed and full_for:
        warnings.append(
            f"The host list mixes {', '.join(full_for)} (which needs the whole bundle) with "
            f"RDS endpoints ({', '.join(trimmed)}), so every host trusts all {len(chosen)} "
            "roots and each connection pays for parsing them; list the RDS endpoints alone "
            "to keep the region trimming."
        )
    if origin in _USER_ORIGINS and set(scopes) - {"proxy"}:  # the user's bundle is in use
        warnings.extend(_unknown_rds_roots(source, depends))
    from aurora_ssl._log import logger

    for warning in warnings:
        logger().warning("aurora-ssl: %s", warning)
    scope = scopes[0] if len(set(scopes)) == 1 else "+".join(sorted(set(scopes)))
    import re

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


def _unknown_rds_roots(source: str, depends: list[str]) -> list[str]:
    """A warning naming the roots of a user's bundle that pose as AWS's RDS roots.

    Posing means: named "Amazon RDS <region> ..." for a region AWS's bundles serve (the
    shipped one, or one installed and validated by ``aurora-ssl bundle update``), with a
    SHA-256 that is none of AWS's roots. Such a root is chosen for that region's real
    endpoints. A root named for a region AWS has no roots for (a local test PKI's
    ``test-region-1``) is only ever chosen for names in that made-up region, so it is not
    reported.
    """
    shipped_known, shipped_regions = _shipped_roots()
    known, regions = set(shipped_known), set(shipped_regions)
    from aurora_ssl.bundles import load_bundle

    try:
        updated: str | None = _updated_bundle_file()
    except (OSError, BundleError):
        updated = None
    if updated is not None:
        depends += [updated, os.path.dirname(updated)]
    if updated is not None and os.path.isfile(updated):
        try:
            update = load_bundle(updated).certificates
        except BundleError:  # a refused update vouches for nothing
            update = ()
        known.update(c.sha256 for c in update)
        regions.update(c.region for c in update if c.region)
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


@functools.lru_cache(maxsize=1)
def _shipped_roots() -> tuple[frozenset[str], frozenset[str]]:
    """AWS's roots (fingerprints, regions) as the index generated at build time records them.

    Read from the index alone: it is made from AWS's bundle when the package is built (a test
    holds the two together), so an edited copy of the shipped bundle vouches for nothing, and
    a fresh process need not read and hash the 160 kB bundle to know AWS's roots.
    """
    from aurora_ssl.bundle_index import parse_index
    from aurora_ssl.bundles import load_bundle

    with open(_SHIPPED_INDEX, "rb") as handle:
        text = handle.read()
    header = text.split(b"\n", 3)
    rows = parse_index(
        text,
        file_sha256=header[1].decode("ascii", "replace").rsplit(" ", 1)[-1],
        validated="shipped",
        count=text.count(b"\n") - 3 + (0 if text.endswith(b"\n") else 1),
    )
    if rows is None:  # a damaged index: read the bundle itself (the slow, certain way)
        certificates = load_bundle(_shipped_bundle_file()).certificates
        return (
            frozenset(c.sha256 for c in certificates),
            frozenset(c.region for c in certificates if c.region),
        )
    return frozenset(r.sha256 for r in rows), frozenset(r.region for r in rows if r.region)


def _select_one(
    endpoint: Endpoint, source: str, origin: str, warnings: list[str]
) -> tuple[Iterable[BundleCertificate], str, str]:
    if endpoint.kind.is_proxy:
        return _amazon_trust_services_roots(), "proxy", "certifi (Amazon Trust Services)"
    from aurora_ssl.endpoint import EndpointKind

    partition = endpoint.partition.value if endpoint.partition else None
    if partition in PARTITION_BUNDLE_URLS and origin in ("shipped", "updated"):
        raise UnsupportedPartitionError(
            f"{endpoint.host} is in the {partition} partition, whose CAs are not "
            f"in the global RDS bundle. Download {PARTITION_BUNDLE_URLS[partition]} "
            f"and pass it as bundle= (or set {BUNDLE_ENV}, or Django AURORA_SSL['BUNDLE'])."
        )
    from aurora_ssl.bundles import load_bundle

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

    from aurora_ssl._log import logger
    from aurora_ssl.bundle_index import der_sha256
    from aurora_ssl.bundles import BundleCertificate
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
    from aurora_ssl._digest import sha256_hex

    digest = sha256_hex(content)[:24]
    path = os.path.join(_cache_dir(), f"trust-{label}-{digest}.pem")
    with _write_lock:
        try:
            with open(path, "rb") as handle:
                if handle.read() == content:
                    return path
        except OSError:
            pass
        write_atomically(path, content, durable=False)  # compared above, before any reuse
    return path


def clear_caches() -> None:
    """Forget every per-process memo of trust selection, bundle reading and endpoint parsing.

    For tests and for long-running processes that changed the environment (bundle source,
    cache directory) and want selection to run again; files on disk are left alone.
    """
    from aurora_ssl.bundles import _load_bundle_cached
    from aurora_ssl.endpoint import parse_endpoint

    _select_cached.cache_clear()
    _shipped_roots.cache_clear()
    _load_bundle_cached.cache_clear()
    _amazon_trust_services_roots.cache_clear()
    parse_endpoint.cache_clear()
