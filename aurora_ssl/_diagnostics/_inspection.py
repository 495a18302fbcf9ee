"""Inspection: read the server's certificate and check it as libpq's verify-full would.

:func:`inspect_server` asks the server for its chain (:mod:`._wire`), and the verdict is
OpenSSL's with the trust file and host name libpq would use. This module then says *why* a
chain fails, one property at a time, so the answer can name the fix:

* trusted: does the chain lead to a root in the trust set, by names and signatures (as OpenSSL
  builds the path), so an expired or misnamed certificate is still recognised as genuinely
  RDS-signed, and a look-alike CA (same names, other key) as interception;
* time: is every certificate of that path valid now;
* name: does the leaf cover the host name (libpq's rules, :func:`name_matches`);
* profile: cryptography's stricter RFC 5280 profile, reported as advice only.

The verdicts, the finding type and the remediation texts live here too: an inspection, a
translated driver error and a connection report explain the same failures, so they share one
text for each fix. ``cryptography`` is imported only when a certificate is parsed: its import
costs tens of milliseconds that ``import aurora_ssl._diagnostics`` (on an error path) need not pay.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aurora_ssl._bundles import (
    AMAZON_TRUST_SERVICES_ROOTS,
    SHIPPED_BUNDLE,
    SHIPPED_ROOTS,
    common_name,
    is_ca,
    label,
    load_bundle,
    sha256_fingerprint,
    signed_by,
    strangers,
    timestamp,
)
from aurora_ssl._diagnostics._wire import DEFAULT_TIMEOUT, Handshake, fetch_chain
from aurora_ssl._endpoint import is_ip, parse_endpoint
from aurora_ssl._trust import (
    TrustSelection,
    bundle_source,
    cache_path,
    select_trust,
    updated_bundle_path,
)
from aurora_ssl.errors import (
    AuroraSSLError,
    CertificateExpiredError,
    HostnameMismatchError,
    InspectionError,
    TLSError,
    UntrustedCertificateError,
)

if TYPE_CHECKING:
    from cryptography import x509

DEFAULT_EXPIRY_WARNING_DAYS = 30
#: Seconds per network step when a report inspects the target of a refused connection.
SHORT_TIMEOUT = 3.0


class Verdict(str, enum.Enum):
    """The one-word outcome of an inspection or a check (stable JSON values).

    An inspection ends ``verified``, ``expired``, ``untrusted`` or ``hostname-mismatch``
    (checked in that order: expiry is what the operator must fix first); a connection check
    ends ``verified``, ``insecure``, ``refused``, ``login-refused``, ``no-credentials`` or
    ``error``.
    """

    #: libpq's verify-full accepts the certificate for this name (inspection), or the
    #: connection was made with verify-full and both ends agree on TLS (check).
    VERIFIED = "verified"
    #: The leaf or its CA is outside its validity period.
    EXPIRED = "expired"
    #: The chain does not lead to a root in the trust set.
    UNTRUSTED = "untrusted"
    #: Valid and trusted, but for other names.
    HOSTNAME_MISMATCH = "hostname-mismatch"
    #: Connected, but with the insecure opt-out: nothing was verified.
    INSECURE = "insecure"
    #: No verified TLS connection: aurora-ssl or libpq refused (certificate, name, no TLS,
    #: insecure configuration, unusable trust file).
    REFUSED = "refused"
    #: TLS was verified, then the server refused the login (SQLSTATE class 28: password,
    #: role, IAM token, pg_hba.conf), as told by a libpq with the fix for CVE-2024-10977.
    LOGIN_REFUSED = "login-refused"
    #: No password for the login (a password provider, IAM or Secrets Manager failed, or AWS
    #: credentials or botocore are missing), found before connecting.
    NO_CREDENTIALS = "no-credentials"
    #: Failed for another reason (network, timeout, a query error, a refused login whose TLS
    #: state is unknown).
    ERROR = "error"


class WarningCode(str, enum.Enum):
    """Why a report carries a warning (stable values, used in JSON and by Django checks)."""

    TRUST = "trust"  # from trust selection: a non-RDS name, a region missing from the bundle
    INSECURE_LOCAL_DEV = "insecure-local-dev"
    SSLINFO_MISSING = "sslinfo-missing"
    FORCE_SSL_OFF = "rds-force-ssl-off"


@dataclasses.dataclass(frozen=True)
class Finding:
    """An error or a warning: a stable ``code`` and a message that says what to do.

    Attributes:
        code: for errors the exception class name (``UntrustedCertificateError``,
            ``OperationalError`` ...); for warnings a short stable word (``expires-soon``,
            a :class:`WarningCode` value).
        message: what happened and what to do, without secrets.
        cause: the original driver message behind a translated error, if any.
    """

    code: str
    message: str
    cause: str | None = None

    def to_dict(self, *, with_cause: bool = True) -> dict[str, Any]:
        """JSON-ready; reports carry ``cause`` (maybe ``null``), inspections do not."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if with_cause:
            data["cause"] = self.cause
        return data


# -- what to do: every remediation text, once ---------------------------------------------

#: The fix for an expired (or not yet valid) server certificate.
ROTATE = (
    "On RDS, rotate the certificate: modify the DB instance with a current CA "
    "(--ca-certificate-identifier rds-ca-rsa2048-g1) and apply it; elsewhere renew the server "
    "certificate. Also check this machine's clock."
)
#: What an unknown issuer usually means, when nothing more precise is known.
UNTRUSTED_CAUSES = (
    "Likely causes: TLS interception (a proxy or attacker between you and the database), a "
    "wrong or outdated bundle (run `aurora-ssl bundle update`), an RDS Proxy endpoint reached "
    "by another name (it needs the Amazon Trust Services roots), or a server that is not RDS."
)
#: A CA of the trusted name, but another key: interception.
LOOKALIKE_CA = (
    "A CA with exactly that name is trusted, but its key did not sign this certificate: "
    "something between you and the database presents its own certificate (TLS "
    "interception by a proxy or an attacker), or the server is not the RDS server. Do not "
    "connect through this path; compare the certificate fingerprint with `aurora-ssl "
    "inspect` from inside the VPC."
)
#: An Amazon Trust Services issuer: RDS Proxy reached by another name.
PROXY_CA = (
    "That is an Amazon Trust Services CA, as used by RDS Proxy: connect with the proxy "
    "endpoint name (*.proxy-*.REGION.rds.amazonaws.com), for which aurora-ssl trusts the "
    "Amazon Trust Services roots."
)
CHAIN_INCOMPLETE = Finding(
    "chain-incomplete",
    "This Python could read only the leaf certificate, not the intermediate CAs the "
    "server sent, so 'untrusted' may only mean a missing intermediate; run `aurora-ssl "
    "inspect` with Python 3.10 or newer to be sure.",
)


def name_hint(host: str, names: Sequence[str]) -> str:
    """Why the certificate names another host, when its names tell (CNAME, other cluster)."""
    rds_names = [n for n in names if parse_endpoint(n).kind.is_rds]
    if not rds_names:
        return ""
    if not parse_endpoint(host).kind.is_rds:
        return (
            f"{host} is not an RDS endpoint name: you are probably connecting through a CNAME "
            f"or tunnel to {rds_names[0]}; connect with host={rds_names[0]}, or set "
            f"tls_server_name={rds_names[0]} so aurora-ssl verifies that name while "
            f"connecting to {host}."
        )
    return (
        f"Both are RDS endpoint names: {host} reaches the server of another cluster or "
        "instance (a stale DNS record, or a wrong hostaddr)."
    )


def _expires_soon(host: str, not_after: str, days_left: int) -> Finding:
    return Finding(
        "expires-soon",
        f"The certificate of {host} expires on {not_after}, in {days_left} day(s); RDS rotates "
        "it automatically only when the CA is current. Schedule the certificate rotation now.",
    )


def _legacy_2019(host: str) -> Finding:
    return Finding(
        "legacy-rds-ca-2019",
        f"{host} presents a certificate from the legacy rds-ca-2019 CA, which expired in "
        "August 2024. Modify the DB instance to use rds-ca-rsa2048-g1 (or rds-ca-rsa4096-g1 / "
        "rds-ca-ecc384-g1) and apply the change.",
    )


def _profile_advice(host: str, detail: str | None) -> Finding:
    """libpq (OpenSSL) accepts the chain, the stricter RFC 5280 profile does not: advice."""
    return Finding(
        "profile",
        f"{host}: libpq (OpenSSL) accepts this chain, but it does not meet the stricter RFC "
        f"5280 profile that cryptography enforces ({detail or 'no reason given'}). Clients "
        "with strict verification may refuse it; reissue the certificate with key "
        "identifiers (Subject/Authority Key Identifier) when you can.",
    )


def trust_block(trust: TrustSelection) -> dict[str, Any]:
    """The JSON ``"trust"`` object of inspections and reports (stable keys)."""
    return {
        "file": trust.path,
        "scope": trust.scope,
        "source": trust.source,
        "cas": list(trust.subjects),
    }


# -- a certificate's facts -----------------------------------------------------------------

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
        data = dataclasses.asdict(self)
        del data["der"]
        data.update(
            dns_names=list(self.dns_names),
            ip_addresses=list(self.ip_addresses),
            not_before=timestamp(self.not_before),
            not_after=timestamp(self.not_after),
        )
        return data


def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    """The operator-facing facts of ``cert``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
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
        key_type=_key_type(cert.public_key()),
        signature_algorithm=str(getattr(oid, "_name", oid.dotted_string)),
        sha256=sha256_fingerprint(cert),
        is_ca=is_ca(cert),
        der=cert.public_bytes(serialization.Encoding.DER),
    )


def _key_type(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    return type(key).__name__


def name_matches(server_name: str, certificate: CertificateInfo) -> bool:
    """Whether libpq's verify-full accepts ``certificate`` for ``server_name``.

    libpq's rules: if the certificate has SAN entries, only they count (dNSName for names,
    iPAddress for addresses); a ``*`` matches one whole left-most label; the CN is used only
    when there is no SAN at all. Comparison ignores case.
    """
    name = server_name.strip().rstrip(".").lower()
    no_san = not certificate.dns_names and not certificate.ip_addresses
    if is_ip(name):
        wanted = ipaddress.ip_address(name.strip("[]"))
        candidates = list(certificate.ip_addresses)
        if no_san and certificate.common_name:
            candidates = [certificate.common_name]
        for candidate in candidates:
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(candidate) == wanted:
                    return True
        return False
    patterns = certificate.dns_names
    if no_san and certificate.common_name:
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


# -- the chain, property by property --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChainCheck:
    """The verdict of :func:`check_chain`, property by property.

    Attributes:
        trusted: the chain leads to a root of the trust set (decision for a name and a time the
            leaf is valid for, so expiry and names are checked separately).
        root: the CN of the trusted root that anchors the chain, if trusted.
        root_sha256: its fingerprint, to find it in the bundle.
        name_matches: the leaf covers the name (libpq's rules).
        time_valid: the leaf (and every certificate of its path) is valid at ``now``.
        verified: all of the above under cryptography's strict RFC 5280 profile. Advice
            only: the verdict of an inspection is OpenSSL's (libpq's).
        outside_validity: CNs of the certificates that are expired or not yet valid.
        detail: cryptography's reason when the chain is not trusted.
        profile_detail: cryptography's reason when the chain is trusted, valid and for the
            name, yet fails its strict RFC 5280 profile (e.g. no Authority Key Identifier):
            libpq (OpenSSL) accepts such a chain, so this is advice.
    """

    trusted: bool
    root: str | None
    root_sha256: str | None
    name_matches: bool
    time_valid: bool
    verified: bool
    outside_validity: tuple[str, ...] = ()
    detail: str | None = None
    profile_detail: str | None = None


def check_chain(
    chain: Sequence[x509.Certificate],
    server_name: str,
    roots: Sequence[x509.Certificate],
    *,
    now: datetime.datetime | None = None,
) -> ChainCheck:
    """Check a presented chain against ``roots`` for ``server_name``, property by property.

    Args:
        chain: the presented certificates, leaf first (intermediates may follow).
        server_name: the name verify-full checks (libpq's ``host``).
        roots: the trust set.
        now: the time to check validity at (default: now).
    """
    from cryptography.x509.verification import VerificationError

    now = now or datetime.datetime.now(datetime.timezone.utc)
    leaf, intermediates = chain[0], list(chain[1:])
    info = describe_certificate(leaf)
    matches = name_matches(server_name, info)
    verified = False
    detail: str | None = None
    try:
        _strict_root(leaf, intermediates, roots, server_name, now)
        verified = True
    except (VerificationError, ValueError) as exc:  # ValueError: a name DNSName refuses
        detail = str(exc)
    # Trust checked on its own, ignoring time and names: is there a signature path from the
    # leaf through the presented intermediates to a root of the trust set? (So an expired
    # or misnamed certificate is still recognised as genuinely signed by a trusted CA.)
    path = _signature_path(leaf, intermediates, roots)
    root = path[-1] if path else None
    if root is None and info.not_before <= now <= info.not_after:
        name = server_name if matches else next(iter(info.names), server_name)
        with contextlib.suppress(VerificationError, ValueError):
            root = _strict_root(leaf, intermediates, roots, name, now)
    outside = [c for c in (path or [leaf]) if not _valid_at(c, now)]
    profile = detail if root is not None and not outside and matches and not verified else None
    return ChainCheck(
        trusted=root is not None,
        root=label(root) if root is not None else None,
        root_sha256=sha256_fingerprint(root) if root is not None else None,
        name_matches=matches,
        time_valid=not outside,
        verified=verified,
        outside_validity=tuple(label(c) for c in outside),
        detail=None if root is not None else detail,
        profile_detail=profile,
    )


def _strict_root(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: Sequence[x509.Certificate],
    name: str,
    at: datetime.datetime,
) -> x509.Certificate:
    """The root cryptography's RFC 5280 verifier reaches for ``name`` at ``at``.

    Raises:
        VerificationError: the chain fails the strict profile (or the trust set is empty).
        ValueError: ``name`` is not a name cryptography accepts as a DNS name.
    """
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    if not roots:
        raise VerificationError("the trust set is empty")
    subject: x509.verification.Subject
    if is_ip(name):
        subject = x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    else:
        subject = x509.DNSName(name)
    builder = PolicyBuilder().store(Store(list(roots))).time(at)
    return builder.build_server_verifier(subject).verify(leaf, intermediates)[-1]


def _valid_at(cert: x509.Certificate, moment: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc


def _signature_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
) -> list[x509.Certificate] | None:
    """Leaf -> presented intermediates -> trusted root by names and signatures only (no time,
    no profile): how OpenSSL builds the path. ``None`` when no root signs the chain."""
    path = [leaf]
    pool = list(intermediates)
    while len(path) < 10:
        current = path[-1]
        for root in roots:
            if root.subject == current.issuer and signed_by(current, root):
                return [*path, root]
        parent = next(
            (c for c in pool if c.subject == current.issuer and is_ca(c) and signed_by(current, c)),
            None,
        )
        if parent is None:
            return None
        pool.remove(parent)
        path.append(parent)
    return None


# -- the inspection --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Inspection:
    """Everything :func:`inspect_server` found out; see :meth:`to_dict` for the JSON form."""

    host: str
    port: int
    address: str
    server_name: str
    tls_version: str | None
    cipher: str | None
    certificates: tuple[CertificateInfo, ...]
    chain_complete: bool
    trust: TrustSelection
    check: ChainCheck
    ca_id: str | None
    days_left: int
    verdict: Verdict
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]

    @property
    def leaf(self) -> CertificateInfo:
        return self.certificates[0]

    @property
    def ok(self) -> bool:
        """True when libpq's verify-full would accept the certificate for ``server_name``."""
        return self.verdict is Verdict.VERIFIED

    def error(self) -> TLSError | None:
        """The aurora-ssl error matching the verdict, with that check's message, if any."""
        if self.ok or not self.errors:
            return None
        kind: type[TLSError] = {
            Verdict.EXPIRED: CertificateExpiredError,
            Verdict.UNTRUSTED: UntrustedCertificateError,
            Verdict.HOSTNAME_MISMATCH: HostnameMismatchError,
        }.get(self.verdict, TLSError)
        message = next((f.message for f in self.errors if f.code == kind.__name__), None)
        return kind(message or self.errors[0].message)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; the keys are public (``aurora-ssl inspect --format json``)."""
        return {
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "server_name": self.server_name,
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "verdict": self.verdict.value,
            "ok": self.ok,
            "trusted": self.check.trusted,
            "trusted_by": self.check.root,
            "ca_id": self.ca_id,
            "hostname_matches": self.check.name_matches,
            "time_valid": self.check.time_valid,
            "days_left": self.days_left,
            "names": list(self.leaf.names),
            "chain_complete": self.chain_complete,
            "certificates": [c.to_dict() for c in self.certificates],
            "trust": trust_block(self.trust),
            "errors": [f.to_dict(with_cause=False) for f in self.errors],
            "warnings": [f.to_dict(with_cause=False) for f in self.warnings],
        }

    def to_text(self) -> str:
        """A human-readable block: headline, the leaf, the chain, the checks, the findings."""
        leaf = self.leaf
        where = f"{self.host}:{self.port}"
        if self.address and self.address != self.host:
            where += f" ({self.address})"
        days = self.days_left
        left = f"expired {-days} day(s) ago" if days < 0 else f"{days} day(s) left"
        chain = " <- ".join(c.common_name or c.subject for c in self.certificates)
        complete = "" if self.chain_complete else " (leaf only: this Python cannot read the chain)"
        trusted = f"yes, by {self.check.root}" if self.check.trusted else "NO"
        trusted += f" ({self.ca_id})" if self.ca_id else ""
        matches = "yes" if self.check.name_matches else "NO"
        return "\n".join(
            [
                f"{where}: {self.verdict.value.upper()}",
                f"  tls:           {self.tls_version or '?'}, {self.cipher or '?'}",
                f"  subject:       {leaf.subject}",
                f"  names:         {', '.join(leaf.names) or '(none)'}",
                f"  issuer:        {leaf.issuer}",
                f"  valid:         {timestamp(leaf.not_before)} .. {timestamp(leaf.not_after)} "
                f"({left})",
                f"  key:           {leaf.key_type}, signed with {leaf.signature_algorithm}",
                f"  sha256:        {leaf.sha256}",
                f"  presented:     {chain}{complete}",
                f"  trusted:       {trusted}",
                f"  name matches:  {matches} ({self.server_name})",
                f"  trust:         {self.trust.scope}, {len(self.trust.subjects)} CA(s)",
                f"  trust file:    {self.trust.path}",
                *(f"  error:         {f.message}" for f in self.errors),
                *(f"  warning:       {f.message}" for f in self.warnings),
            ]
        )


def inspect_server(
    host: str,
    port: int = 5432,
    *,
    hostaddr: str | None = None,
    trust: TrustSelection | None = None,
    bundle: str | None = None,
    sslrootcert: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    expiry_warning_days: int = DEFAULT_EXPIRY_WARNING_DAYS,
    now: datetime.datetime | None = None,
) -> Inspection:
    """Read the server's certificate and check it as verify-full would for ``host``.

    The verdict is OpenSSL's, with the trust file and host name libpq would use; each
    property (expiry, trust, name) is then checked on its own at ``now`` to explain it.

    Args:
        host: the name to verify (and send as SNI).
        port: the server port.
        hostaddr: connect to this address instead of resolving ``host`` (libpq's
            ``hostaddr``; the name is still what is verified).
        trust: the trust set to check against; default: what aurora-ssl selects for ``host``.
        bundle: an RDS bundle to select from (as ``Settings.bundle``).
        sslrootcert: the user's own trust file (used as given).
        timeout: seconds per network step.
        expiry_warning_days: warn when the certificate expires within this many days.
        now: check the properties at this time (default: now; OpenSSL checks at now).

    Returns:
        The :class:`Inspection`, whatever the verdict.

    Raises:
        InspectionError: no certificate could be read (see :func:`._wire.fetch_chain`).
        ServerTLSUnavailableError: the server does not offer TLS.
        BundleError: the trust set cannot be built.
    """
    if trust is None:
        trust = select_trust(host, bundle=bundle, sslrootcert=sslrootcert)
    roots = load_bundle(trust.ensure()).certificates  # an unusable trust set: BundleError
    handshake = fetch_chain(host, port, hostaddr=hostaddr, timeout=timeout, cafile=trust.path)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return _assessed(host, port, handshake, trust, [c.pem for c in roots], now, expiry_warning_days)


def _assessed(
    host: str,
    port: int,
    handshake: Handshake,
    trust: TrustSelection,
    roots: list[bytes],
    now: datetime.datetime,
    expiry_warning_days: int,
) -> Inspection:
    """The inspection of what the handshake presented, checked against ``roots`` (PEM)."""
    from cryptography import x509

    try:
        chain = [x509.load_der_x509_certificate(der) for der in handshake.chain]
    except ValueError as exc:
        raise InspectionError(
            f"Cannot inspect {host}:{port}: the server's certificate does not parse ({exc})."
        ) from exc
    check = check_chain(chain, host, [x509.load_pem_x509_certificate(r) for r in roots], now=now)
    infos = tuple(describe_certificate(c) for c in chain)
    days_left = _days_left(infos[0].not_after, now)
    errors = _errors(host, infos, check, trust, days_left, now)
    soon = check.time_valid and days_left < expiry_warning_days
    warnings = _warnings(host, infos, check, trust, handshake.chain_complete, soon, days_left)
    verdict, errors, warnings = _verdict(host, handshake, check, errors, warnings)
    return Inspection(
        host=host,
        port=port,
        address=handshake.address,
        server_name=host,
        tls_version=handshake.tls_version,
        cipher=handshake.cipher,
        certificates=infos,
        chain_complete=handshake.chain_complete,
        trust=trust,
        check=check,
        ca_id=ca_identifier(check.root),
        days_left=days_left,
        verdict=verdict,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def _verdict(
    host: str,
    handshake: Handshake,
    check: ChainCheck,
    errors: list[Finding],
    warnings: list[Finding],
) -> tuple[Verdict, list[Finding], list[Finding]]:
    """OpenSSL's answer is the verdict; the properties name the reason for a refusal."""
    if handshake.openssl_verified:
        # A property checked otherwise (``now`` in the future, say) is worth knowing, not a
        # refusal.
        advice = [] if check.verified else [_profile_advice(host, check.profile_detail)]
        return Verdict.VERIFIED, [], errors + warnings + advice
    if not check.time_valid:
        return Verdict.EXPIRED, errors, warnings
    if not check.trusted:
        return Verdict.UNTRUSTED, errors, warnings
    if not check.name_matches:
        return Verdict.HOSTNAME_MISMATCH, errors, warnings
    refused = Finding(
        UntrustedCertificateError.__name__,
        f"OpenSSL (as libpq) refuses the certificate of {host}: "
        f"{handshake.openssl_reason or 'no reason given'}. {UNTRUSTED_CAUSES}",
    )
    return Verdict.UNTRUSTED, [*errors, refused], warnings


def _days_left(not_after: datetime.datetime, now: datetime.datetime) -> int:
    """Whole days left; negative once expired (at least -1, so it never reads as valid)."""
    seconds = (not_after - now).total_seconds()
    if seconds >= 0:
        return int(seconds // 86400)
    return -max(1, int(-seconds // 86400))


def _errors(
    host: str,
    infos: tuple[CertificateInfo, ...],
    check: ChainCheck,
    trust: TrustSelection,
    days_left: int,
    now: datetime.datetime,
) -> list[Finding]:
    leaf = infos[0]
    errors: list[Finding] = []
    if not check.trusted:
        errors.append(
            Finding(UntrustedCertificateError.__name__, _untrusted_message(host, infos, trust))
        )
    if not check.time_valid:
        if now < leaf.not_before:
            when = f"is not valid before {timestamp(leaf.not_before)}"
        elif leaf.not_after < now:
            when = f"expired on {timestamp(leaf.not_after)} ({-days_left} day(s) ago)"
        else:
            when = (
                f"is signed by a CA certificate that is expired or not yet valid "
                f"({', '.join(check.outside_validity)})"
            )
        message = f"The certificate of {host} {when}, so verify-full refuses it. {ROTATE}"
        errors.append(Finding(CertificateExpiredError.__name__, message))
    if not check.name_matches:
        names = ", ".join(leaf.names) or "(no names)"
        message = (
            f"The certificate covers {names}, not {host}, so verify-full refuses it. Connect "
            "with one of those names as host (keep the IP in hostaddr if needed)."
        )
        hint = name_hint(host, leaf.names)
        errors.append(Finding(HostnameMismatchError.__name__, f"{message} {hint}".strip()))
    return errors


def trust_warnings(trust: TrustSelection) -> tuple[str, ...]:
    """The selection's warnings, and for a bundle of the user's the roots named like AWS's
    RDS roots that are not AWS's (the connect path logs them once, when it splits the bundle;
    reports parse the bundle to say so every time)."""
    if trust.scope == "user-file" or trust.source in (SHIPPED_BUNDLE, updated_bundle_path()):
        return trust.warnings
    try:
        found = strangers(load_bundle(trust.source).certificates)
        if found and os.path.isfile(updated_bundle_path()):  # a verified update's are known
            update = {c.sha256 for c in load_bundle(updated_bundle_path()).certificates}
            found = [c for c in found if c.sha256 not in update]
    except AuroraSSLError:
        return trust.warnings
    if not found:
        return trust.warnings
    return (
        *trust.warnings,
        f"The bundle {trust.source} holds {len(found)} root(s) named like Amazon RDS roots that "
        f"are not AWS's (unknown SHA-256): {', '.join(c.subject for c in found)}. Trust it only "
        "if you made these CAs yourself.",
    )


def _warnings(
    host: str,
    infos: tuple[CertificateInfo, ...],
    check: ChainCheck,
    trust: TrustSelection,
    chain_complete: bool,
    expires_soon: bool,
    days_left: int,
) -> list[Finding]:
    warnings = [Finding(WarningCode.TRUST.value, w) for w in trust_warnings(trust)]
    if not check.trusted:
        warnings.extend(_untrusted_hints(host, infos, trust))
    if expires_soon:
        warnings.append(_expires_soon(host, timestamp(infos[0].not_after), days_left))
    legacy = any(LEGACY_2019.match(c.issuer_common_name or "") for c in infos)
    if ca_identifier(check.root) == "rds-ca-2019" or (not check.trusted and legacy):
        warnings.append(_legacy_2019(host))
    if not chain_complete and not check.trusted:
        warnings.append(CHAIN_INCOMPLETE)
    return warnings


def _untrusted_message(host: str, infos: tuple[CertificateInfo, ...], trust: TrustSelection) -> str:
    issuer = infos[-1].issuer_common_name or infos[-1].issuer
    base = (
        f"The certificate of {host} is not signed by a CA in the trust set "
        f"({trust.scope}: {len(trust.subjects)} CA(s) from {trust.source}); it names "
        f"'{issuer}' as its issuer."
    )
    if issuer in trust.subjects:
        return f"{base} {LOOKALIKE_CA}"
    if issuer in AMAZON_TRUST_SERVICES_ROOTS or issuer.startswith(("Amazon RSA ", "Amazon ECDSA ")):
        return f"{base} {PROXY_CA}"
    return f"{base} {UNTRUSTED_CAUSES}"


def _untrusted_hints(
    host: str, infos: tuple[CertificateInfo, ...], trust: TrustSelection
) -> list[Finding]:
    issuer = infos[-1].issuer_common_name or infos[-1].issuer
    if not issuer.startswith("Amazon RDS ") or issuer in trust.subjects:
        return []
    try:
        source, _ = bundle_source()
        full = load_bundle(source)
    except Exception:  # noqa: BLE001 - hints only; the verdict stands without them
        return []
    in_bundle = [c for c in full.certificates if c.subject == issuer]
    if in_bundle:
        region = in_bundle[0].region
        return [
            Finding(
                "other-region",
                f"The issuer '{issuer}' is an RDS CA of region {region}, but {host} names "
                f"{parse_endpoint(host).region or 'no region'}: the host name and the server "
                "do not belong together (a DNS record pointing at another region's database?).",
            )
        ]
    return [
        Finding(
            "bundle-outdated",
            f"The issuer '{issuer}' looks like an Amazon RDS CA but is not in the bundle "
            f"{source}: the bundle is probably outdated. Run `aurora-ssl bundle update`.",
        )
    ]


def inspect_params(params: Mapping[str, Any], timeout: float = SHORT_TIMEOUT) -> Inspection | None:
    """Inspect the target of a connection attempt, checked with the trust file it used.

    For callers that explain a refusal on purpose (``aurora-ssl check``, ``manage.py
    check_aurora_ssl``), never for an error path: it opens a connection of its own.

    Args:
        params: libpq parameters of the attempt (``host``, ``hostaddr``, ``port``,
            ``sslrootcert``); a password in them is never used.
        timeout: seconds per network step.

    Returns:
        The inspection, or ``None`` when there is no single TCP target or it cannot be read.
    """
    host = _text(params.get("host")) or _text(params.get("hostaddr"))
    port = _text(params.get("port")) or "5432"
    if host is None or "," in host or not port.isdigit():
        return None
    root = _text(params.get("sslrootcert"))
    use_root = root is not None and root.lower() != "system"
    try:
        if use_root and _is_our_trust_file(str(root)):
            # The file libpq used is one aurora-ssl chose: not "the user's own".
            trust = TrustSelection(str(root), "selected by aurora-ssl", str(root))
        else:
            trust = select_trust(host, sslrootcert=root if use_root else None)
        hostaddr = _text(params.get("hostaddr"))
        return inspect_server(host, int(port), hostaddr=hostaddr, trust=trust, timeout=timeout)
    except (AuroraSSLError, OSError, ValueError):
        return None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _is_our_trust_file(path: str) -> bool:
    """A shipped per-region file, the shipped bundle, or a bundle split into the cache."""
    ours = (SHIPPED_ROOTS + os.sep, os.path.join(cache_path(), "bundles") + os.sep)
    return path == SHIPPED_BUNDLE or os.path.abspath(path).startswith(ours)
