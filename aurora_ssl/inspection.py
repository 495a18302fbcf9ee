"""Certificate inspection: what a PostgreSQL server presents, and whether verify-full accepts it.

:func:`inspect_server` opens a TCP connection, sends PostgreSQL's ``SSLRequest`` (8 bytes:
length 8, code 80877103), and on the server's ``S`` runs a TLS handshake that *does not*
verify anything, so that even a certificate libpq would reject can be read. The presented
chain is then checked with ``cryptography``'s X.509 verification (the RFC 5280 profile)
against the trust set aurora-ssl selects for the host, and each property is judged on its
own, so the report can say *why* a connection fails:

* trusted: does the chain lead to a root in the trust set (judged at a time inside the
  certificate's validity and for a name it covers, so an expired or misnamed certificate is
  still recognised as genuinely RDS-signed);
* time: is the leaf valid now, and how many days are left;
* name: does the leaf cover the host name (libpq's rules: SAN dNSName/iPAddress entries,
  a wildcard only as the whole left-most label, the CN only when there is no SAN).

Every network step has a timeout. Failures to get a certificate at all raise
:class:`~aurora_ssl.errors.InspectionError` (name does not resolve, refused, timeout, not a
PostgreSQL server, handshake failure) or :class:`~aurora_ssl.errors.ServerTLSUnavailableError`
(the server answered ``N``: TLS is off). Nothing here sends credentials: the connection ends
right after the handshake, before any startup message.

Python gives the presented chain through ``SSLSocket.get_unverified_chain()`` from 3.13; on
older versions the same data is read from the socket's internal object where available (3.10+),
and otherwise only the leaf is known (``chain_complete`` is then ``False``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import ipaddress
import re
import socket
import ssl
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aurora_ssl.endpoint import parse_endpoint
from aurora_ssl.errors import (
    CertificateExpiredError,
    HostnameMismatchError,
    InspectionError,
    ServerTLSUnavailableError,
    TLSError,
    UntrustedCertificateError,
)
from aurora_ssl.redaction import shorten
from aurora_ssl.trust import (
    AMAZON_TRUST_SERVICES_ROOTS,
    TrustSelection,
    bundle_source,
    load_bundle,
    select_trust,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "DEFAULT_EXPIRY_WARNING_DAYS",
    "DEFAULT_TIMEOUT",
    "CertificateInfo",
    "ChainCheck",
    "Finding",
    "Handshake",
    "Inspection",
    "InspectionVerdict",
    "ca_identifier",
    "check_chain",
    "describe_certificate",
    "fetch_chain",
    "inspect_server",
    "name_matches",
    "split_host_port",
]

DEFAULT_TIMEOUT = 10.0
DEFAULT_EXPIRY_WARNING_DAYS = 30
SSL_REQUEST = struct.pack("!II", 8, 80877103)
_RDS_CA_ALGORITHM = re.compile(r"\bRoot CA (RSA2048|RSA4096|ECC384) G(\d+)\b")
_LEGACY_2019 = re.compile(r"^Amazon RDS (?:\S+ )?(?:Root )?2019 CA$")


class InspectionVerdict(str, enum.Enum):
    """The one-word outcome of an inspection.

    Checks fail in this order of precedence: expired, untrusted, host name. Expiry comes
    first because it is what the operator must fix first (an RDS certificate of a retired CA
    is both expired and untrusted); every failed check is listed in ``errors`` regardless.
    """

    VERIFIED = "verified"  # libpq's verify-full would accept this certificate for this name
    EXPIRED = "expired"  # the leaf or its CA is outside its validity period
    UNTRUSTED = "untrusted"  # the chain does not lead to a root in the trust set
    HOSTNAME_MISMATCH = "hostname-mismatch"  # valid and trusted, but for other names


@dataclasses.dataclass(frozen=True)
class Finding:
    """An error or warning of an inspection: a stable ``code`` and a message with the fix."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


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
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "serial_number": self.serial_number,
            "key_type": self.key_type,
            "signature_algorithm": self.signature_algorithm,
            "sha256": self.sha256,
            "is_ca": self.is_ca,
        }


@dataclasses.dataclass(frozen=True)
class Handshake:
    """What the TLS handshake produced (nothing verified yet)."""

    address: str
    tls_version: str | None
    cipher: str | None
    chain: tuple[bytes, ...]  # DER, leaf first, as presented
    chain_complete: bool  # False when only the leaf could be read


@dataclasses.dataclass(frozen=True)
class ChainCheck:
    """The verdict of :func:`check_chain`, property by property.

    Attributes:
        trusted: the chain leads to a root of the trust set (judged for a name and a time the
            leaf is valid for, so expiry and names are judged separately).
        root: the CN of the trusted root that anchors the chain, if trusted.
        root_sha256: its fingerprint, to find it in the bundle.
        name_matches: the leaf covers the name (libpq's rules).
        time_valid: the leaf (and every certificate of its path) is valid at ``now``.
        verified: all of the above, according to cryptography's verifier.
        outside_validity: CNs of the certificates that are expired or not yet valid.
        detail: cryptography's reason when the chain is not trusted.
        profile_note: set when only a plain signature check (not cryptography's RFC 5280
            profile) accepted the chain; libpq (OpenSSL) would still accept it.
    """

    trusted: bool
    root: str | None
    root_sha256: str | None
    name_matches: bool
    time_valid: bool
    verified: bool
    outside_validity: tuple[str, ...] = ()
    detail: str | None = None
    profile_note: str | None = None


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
    verdict: InspectionVerdict
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]

    @property
    def leaf(self) -> CertificateInfo:
        return self.certificates[0]

    @property
    def ok(self) -> bool:
        """True when libpq's verify-full would accept the certificate for ``server_name``."""
        return self.verdict is InspectionVerdict.VERIFIED

    def error(self) -> TLSError | None:
        """The aurora-ssl error matching the verdict, with that check's message, if any."""
        if self.ok or not self.errors:
            return None
        kind: type[TLSError] = {
            InspectionVerdict.EXPIRED: CertificateExpiredError,
            InspectionVerdict.UNTRUSTED: UntrustedCertificateError,
            InspectionVerdict.HOSTNAME_MISMATCH: HostnameMismatchError,
        }.get(self.verdict, TLSError)
        message = next((f.message for f in self.errors if f.code == kind.__name__), None)
        return kind(message or self.errors[0].message)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; the keys are documented in docs/cli.md and stay stable."""
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
            "trust": {
                "file": self.trust.path,
                "scope": self.trust.scope,
                "source": self.trust.source,
                "cas": list(self.trust.subjects),
            },
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }

    def to_text(self) -> str:
        """A human-readable block: headline, the leaf, the chain, the checks, the findings."""
        leaf = self.leaf
        where = f"{self.host}:{self.port}"
        if self.address and self.address != self.host:
            where += f" ({self.address})"
        lines = [f"{where}: {self.verdict.value.upper()}"]
        lines.append(f"  tls:           {self.tls_version or '?'}, {self.cipher or '?'}")
        lines.append(f"  subject:       {leaf.subject}")
        lines.append(f"  names:         {', '.join(leaf.names) or '(none)'}")
        lines.append(f"  issuer:        {leaf.issuer}")
        lines.append(
            f"  valid:         {_iso(leaf.not_before)} .. {_iso(leaf.not_after)} "
            f"({_days_phrase(self.days_left)})"
        )
        lines.append(f"  key:           {leaf.key_type}, signed with {leaf.signature_algorithm}")
        lines.append(f"  sha256:        {leaf.sha256}")
        chain = " <- ".join(c.common_name or c.subject for c in self.certificates)
        complete = "" if self.chain_complete else " (leaf only: this Python cannot read the chain)"
        lines.append(f"  presented:     {chain}{complete}")
        trusted = f"yes, by {self.check.root}" if self.check.trusted else "NO"
        if self.ca_id:
            trusted += f" ({self.ca_id})"
        lines.append(f"  trusted:       {trusted}")
        lines.append(
            f"  name matches:  {'yes' if self.check.name_matches else 'NO'} ({self.server_name})"
        )
        lines.append(f"  trust:         {self.trust.scope}, {len(self.trust.subjects)} CA(s)")
        lines.append(f"  trust file:    {self.trust.path}")
        lines.extend(f"  error:         {f.message}" for f in self.errors)
        lines.extend(f"  warning:       {f.message}" for f in self.warnings)
        return "\n".join(lines)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _days_phrase(days: int) -> str:
    if days < 0:
        return f"expired {-days} day(s) ago"
    return f"{days} day(s) left"


# --------------------------------------------------------------------------- the handshake


def split_host_port(target: str, default_port: int = 5432) -> tuple[str, int]:
    """Split ``HOST``, ``HOST:PORT``, ``[IPV6]:PORT`` or a bare IPv6 address.

    Raises:
        ValueError: an empty host or a port that is not a number in 1..65535.
    """
    text = target.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"No host in {target!r}.")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"Port {port_text!r} in {target!r} is not a number in 1..65535.")
    return host, int(port_text)


def fetch_chain(
    host: str,
    port: int = 5432,
    *,
    hostaddr: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Handshake:
    """SSLRequest + an unverified TLS handshake; returns the presented chain (DER).

    Args:
        host: the name sent as SNI (libpq sends the host name, not ``hostaddr``).
        port: the server port.
        hostaddr: the IP address to connect to instead of resolving ``host``.
        timeout: seconds allowed for each step (resolve/connect, SSLRequest reply, handshake).

    Raises:
        InspectionError: the name does not resolve, the connection is refused or times out,
            the peer is not a PostgreSQL server, or the TLS handshake fails.
        ServerTLSUnavailableError: the server answered ``N`` (TLS is off).
    """
    if not 0 < timeout <= 86400:  # also NaN; the socket module would raise obscurely
        raise ValueError(f"timeout must be more than 0 and at most 86400 seconds, not {timeout}")
    where = shorten(f"{host}:{port}" + (f" ({hostaddr})" if hostaddr else ""))
    sock = _connect(host, port, hostaddr, timeout, where)
    try:
        address = str(sock.getpeername()[0])
        _ssl_request(sock, where)
        return _handshake(sock, host, address, where)
    finally:
        sock.close()


def _connect(
    host: str, port: int, hostaddr: str | None, timeout: float, where: str
) -> socket.socket:
    target = hostaddr or host
    try:
        infos = socket.getaddrinfo(target, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # the IDNA codec: an empty label or one over 63 characters
        raise InspectionError(
            f"Cannot inspect {where}: {shorten(target)} is not a valid host name (a label "
            "between dots is empty or longer than 63 characters). Check the endpoint name."
        ) from exc
    except socket.gaierror as exc:
        raise InspectionError(
            f"Cannot inspect {where}: the name {shorten(target)} does not resolve "
            f"({exc.strerror}). "
            "Check the spelling of the endpoint, and that this machine's DNS (VPC resolver, "
            "VPN) can see it."
        ) from exc
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    if isinstance(last, ConnectionRefusedError):
        raise InspectionError(
            f"Cannot inspect {where}: connection refused. Nothing listens on port {port} "
            "there; check the port and that the server is running."
        ) from last
    if isinstance(last, (socket.timeout, TimeoutError)):
        raise InspectionError(
            f"Cannot inspect {where}: no answer within {timeout:g} s. A security group, "
            "network ACL or firewall probably drops the traffic, or the address is wrong."
        ) from last
    reason = last.strerror if last is not None and last.strerror else str(last)
    raise InspectionError(f"Cannot inspect {where}: cannot connect ({reason}).") from last


def _ssl_request(sock: socket.socket, where: str) -> None:
    try:
        sock.sendall(SSL_REQUEST)
        reply = sock.recv(1)
    except TimeoutError as exc:
        raise InspectionError(
            f"Cannot inspect {where}: no reply to PostgreSQL's SSLRequest in time; the peer "
            "is probably not a PostgreSQL server (or a proxy that waits for something else)."
        ) from exc
    except OSError as exc:
        raise InspectionError(
            f"Cannot inspect {where}: the connection failed during the SSLRequest "
            f"({exc.strerror or exc}); the peer is probably not a PostgreSQL server."
        ) from exc
    if reply == b"S":
        return
    if reply == b"N":
        raise ServerTLSUnavailableError(
            f"{where} answered PostgreSQL's SSLRequest with 'N': the server does not offer "
            "TLS, so no connection to it can be verified. Turn ssl on in the server's "
            "configuration (on RDS it always is: check that this is really the RDS endpoint "
            "and not a proxy or tunnel that terminates TLS)."
        )
    if reply == b"":
        raise InspectionError(
            f"Cannot inspect {where}: the peer closed the connection after the SSLRequest; it "
            "is not a PostgreSQL server (or a proxy that does not speak the PostgreSQL "
            "protocol)."
        )
    raise InspectionError(
        f"Cannot inspect {where}: the peer answered the SSLRequest with {reply!r} instead of "
        "'S' or 'N'; it is not a PostgreSQL server."
    )


def _handshake(sock: socket.socket, host: str, address: str, where: str) -> Handshake:
    # Verification is deliberately off *in the handshake*: we want to read the certificate
    # even when it would be refused, and judge it afterwards with check_chain().
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    sni = None if _is_ip(host) else host
    try:
        tls = context.wrap_socket(sock, server_hostname=sni)
    except TimeoutError as exc:
        raise InspectionError(f"Cannot inspect {where}: the TLS handshake timed out.") from exc
    except (ssl.SSLError, OSError) as exc:
        raise InspectionError(
            f"Cannot inspect {where}: the TLS handshake failed ({exc}). The server may only "
            "offer TLS versions older than 1.2, which aurora-ssl refuses."
        ) from exc
    try:
        leaf = tls.getpeercert(binary_form=True)
        if not leaf:
            raise InspectionError(f"Cannot inspect {where}: the server sent no certificate.")
        chain = _presented_chain(tls)
        complete = bool(chain)
        cipher = tls.cipher()
        return Handshake(
            address=address,
            tls_version=tls.version(),
            cipher=cipher[0] if cipher else None,
            chain=tuple(chain) if chain else (leaf,),
            chain_complete=complete,
        )
    finally:
        tls.close()


def _presented_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """The chain as sent by the server, DER, leaf first; ``[]`` where Python cannot tell."""
    public = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    if public is not None:
        return [bytes(der) for der in public() or []]
    internal = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # 3.10-3.12
    if internal is None:
        return []
    try:
        import _ssl

        return [bytes(cert.public_bytes(_ssl.ENCODING_DER)) for cert in internal() or []]
    except (AttributeError, ValueError, TypeError):  # an internal API: never fail because of it
        return []


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- the judgement


def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    """The operator-facing facts of ``cert``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
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
        common_name=_common_name(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=_common_name(cert.issuer),
        dns_names=dns,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial_number=format(cert.serial_number, "x"),
        key_type=key_type,
        signature_algorithm=str(getattr(oid, "_name", oid.dotted_string)),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        is_ca=is_ca,
        der=cert.public_bytes(serialization.Encoding.DER),
    )


def _common_name(name: x509.Name) -> str | None:
    from cryptography.x509.oid import NameOID

    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def name_matches(server_name: str, certificate: CertificateInfo) -> bool:
    """Whether libpq's verify-full accepts ``certificate`` for ``server_name``.

    libpq's rules: if the certificate has SAN entries, only they count (dNSName for names,
    iPAddress for addresses); a ``*`` matches one whole left-most label; the CN is used only
    when there is no SAN at all. Comparison ignores case.
    """
    name = server_name.strip().rstrip(".").lower()
    if _is_ip(name):
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


def check_chain(
    chain: Sequence[x509.Certificate],
    server_name: str,
    roots: Sequence[x509.Certificate],
    *,
    now: datetime.datetime | None = None,
) -> ChainCheck:
    """Judge a presented chain against ``roots`` for ``server_name``, property by property.

    Args:
        chain: the presented certificates, leaf first (intermediates may follow).
        server_name: the name verify-full checks (libpq's ``host``).
        roots: the trust set.
        now: the time to judge validity at (default: now).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    now = now or datetime.datetime.now(datetime.timezone.utc)
    leaf, intermediates = chain[0], list(chain[1:])
    info = describe_certificate(leaf)
    matches = name_matches(server_name, info)
    time_valid = info.not_before <= now <= info.not_after
    store = Store(list(roots)) if roots else None

    def verify(name: str, at: datetime.datetime) -> x509.Certificate:
        if store is None:
            raise VerificationError("the trust set is empty")
        builder = PolicyBuilder().store(store).time(at)
        subject: x509.verification.Subject
        if _is_ip(name):
            subject = x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
        else:
            subject = x509.DNSName(name)
        path = builder.build_server_verifier(subject).verify(leaf, intermediates)
        return path[-1]

    verified = False
    detail: str | None = None
    try:
        verify(server_name, now)
        verified = True
    except (VerificationError, ValueError) as exc:  # ValueError: a name DNSName refuses
        detail = str(exc)
    # Trust judged on its own, ignoring time and names: is there a signature path from the
    # leaf through the presented intermediates to a root of the trust set? (So an expired
    # or misnamed certificate is still recognised as genuinely signed by a trusted CA.)
    path = _signature_path(leaf, intermediates, roots)
    root = path[-1] if path else None
    if root is None and time_valid:
        with contextlib.suppress(VerificationError, ValueError):
            root = verify(server_name if matches else next(iter(info.names), server_name), now)
    outside = [c for c in (path or [leaf]) if not _valid_at(c, now)]
    note = None
    if root is not None and not outside and matches and not verified:
        note = (
            "the chain is signed by a trusted root, but does not meet the RFC 5280 profile "
            f"that cryptography enforces ({detail}); libpq (OpenSSL) accepts it"
        )
    return ChainCheck(
        trusted=root is not None,
        root=_label(root) if root is not None else None,
        root_sha256=root.fingerprint(hashes.SHA256()).hex() if root is not None else None,
        name_matches=matches,
        time_valid=not outside,
        verified=verified,
        outside_validity=tuple(
            _common_name(c.subject) or c.subject.rfc4514_string() for c in outside
        ),
        detail=None if root is not None else detail,
        profile_note=note,
    )


def _label(cert: x509.Certificate) -> str:
    return _common_name(cert.subject) or cert.subject.rfc4514_string()


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
            if root.subject == current.issuer and _signed_by(current, root):
                return [*path, root]
        parent = next(
            (
                c
                for c in pool
                if c.subject == current.issuer and _is_ca(c) and _signed_by(current, c)
            ),
            None,
        )
        if parent is None:
            return None
        pool.remove(parent)
        path.append(parent)
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


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
    if _LEGACY_2019.match(root_common_name):
        return "rds-ca-2019"
    if root_common_name in AMAZON_TRUST_SERVICES_ROOTS:
        return "amazon-trust-services"
    return None


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
    """Read the server's certificate and judge it as verify-full would for ``host``.

    Args:
        host: the name to verify (and send as SNI).
        port: the server port.
        hostaddr: connect to this address instead of resolving ``host`` (libpq's
            ``hostaddr``; the name is still what is verified).
        trust: the trust set to judge against; default: what aurora-ssl selects for ``host``.
        bundle: an RDS bundle to select from (as ``Settings.bundle``).
        sslrootcert: the user's own trust file (used as given).
        timeout: seconds per network step.
        expiry_warning_days: warn when the certificate expires within this many days.
        now: judge validity at this time (default: now).

    Returns:
        The :class:`Inspection`, whatever the verdict.

    Raises:
        InspectionError: no certificate could be read (see :func:`fetch_chain`).
        ServerTLSUnavailableError: the server does not offer TLS.
        BundleError: the trust set cannot be built.
    """
    from cryptography import x509

    if trust is None:
        trust = select_trust(host, bundle=bundle, sslrootcert=sslrootcert)
    handshake = fetch_chain(host, port, hostaddr=hostaddr, timeout=timeout)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        chain = [x509.load_der_x509_certificate(der) for der in handshake.chain]
    except ValueError as exc:
        raise InspectionError(
            f"Cannot inspect {host}:{port}: the server's certificate does not parse ({exc})."
        ) from exc
    roots = [c.pem for c in load_bundle(trust.path).certificates]
    root_certs = [x509.load_pem_x509_certificate(pem) for pem in roots]
    check = check_chain(chain, host, root_certs, now=now)
    infos = tuple(describe_certificate(c) for c in chain)
    leaf = infos[0]
    days_left = _days_left(leaf.not_after, now)
    errors, warnings = _findings(
        host, infos, check, trust, days_left, expiry_warning_days, handshake.chain_complete, now
    )
    if not check.time_valid:
        verdict = InspectionVerdict.EXPIRED
    elif not check.trusted:
        verdict = InspectionVerdict.UNTRUSTED
    elif not check.name_matches:
        verdict = InspectionVerdict.HOSTNAME_MISMATCH
    elif not check.verified:
        verdict = InspectionVerdict.UNTRUSTED
    else:
        verdict = InspectionVerdict.VERIFIED
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


def _days_left(not_after: datetime.datetime, now: datetime.datetime) -> int:
    """Whole days left; negative once expired (at least -1, so it never reads as valid)."""
    seconds = (not_after - now).total_seconds()
    if seconds >= 0:
        return int(seconds // 86400)
    return -max(1, int(-seconds // 86400))


def _findings(
    host: str,
    infos: tuple[CertificateInfo, ...],
    check: ChainCheck,
    trust: TrustSelection,
    days_left: int,
    expiry_warning_days: int,
    chain_complete: bool,
    now: datetime.datetime,
) -> tuple[list[Finding], list[Finding]]:
    leaf = infos[0]
    errors: list[Finding] = []
    warnings: list[Finding] = [Finding("trust", w) for w in trust.warnings]
    endpoint = parse_endpoint(host)
    if not check.trusted:
        errors.append(
            Finding(UntrustedCertificateError.__name__, _untrusted_message(host, infos, trust))
        )
        warnings.extend(_untrusted_hints(host, infos, trust))
    if not check.time_valid:
        if now < leaf.not_before:
            when = f"is not valid before {_iso(leaf.not_before)}"
        elif leaf.not_after < now:
            when = f"expired on {_iso(leaf.not_after)} ({-days_left} day(s) ago)"
        else:
            when = (
                f"is signed by a CA certificate that is expired or not yet valid "
                f"({', '.join(check.outside_validity)})"
            )
        errors.append(
            Finding(
                CertificateExpiredError.__name__,
                f"The certificate of {host} {when}, so verify-full refuses it. On RDS, rotate "
                "the server certificate (modify the instance with a current "
                "--ca-certificate-identifier, e.g. rds-ca-rsa2048-g1, and apply it); elsewhere "
                "renew the server certificate. Also check this machine's clock.",
            )
        )
    elif days_left < expiry_warning_days:
        warnings.append(
            Finding(
                "expires-soon",
                f"The certificate of {host} expires on {_iso(leaf.not_after)}, in {days_left} "
                "day(s); RDS rotates it automatically only when the CA is current. Schedule the "
                "certificate rotation now.",
            )
        )
    if not check.name_matches:
        names = ", ".join(leaf.names) or "(no names)"
        message = (
            f"The certificate covers {names}, not {host}, so verify-full refuses it. Connect "
            "with one of those names as host (keep the IP in hostaddr if needed)."
        )
        rds_names = [n for n in leaf.names if parse_endpoint(n).kind.is_rds]
        if not endpoint.kind.is_rds and rds_names:
            message += (
                f" {host} is not an RDS endpoint name: you are probably connecting through a "
                f"CNAME or tunnel to {rds_names[0]}; connect with host={rds_names[0]} or set "
                f"tls_server_name={rds_names[0]} (aurora-ssl resolves {host} for the address)."
            )
        errors.append(Finding(HostnameMismatchError.__name__, message))
    legacy = any(_LEGACY_2019.match(c.issuer_common_name or "") for c in infos)
    if ca_identifier(check.root) == "rds-ca-2019" or (not check.trusted and legacy):
        warnings.append(_legacy_2019_warning(host))
    if check.profile_note:
        warnings.append(Finding("profile", f"{host}: {check.profile_note}."))
    if not chain_complete and not check.trusted:
        warnings.append(
            Finding(
                "chain-incomplete",
                "This Python could read only the leaf certificate, not the intermediate CAs "
                "the server sent, so 'untrusted' may only mean a missing intermediate; run "
                "`aurora-ssl inspect` with Python 3.10 or newer to be sure.",
            )
        )
    return errors, warnings


def _legacy_2019_warning(host: str) -> Finding:
    return Finding(
        "legacy-rds-ca-2019",
        f"{host} presents a certificate from the legacy rds-ca-2019 CA, which expired in "
        "August 2024. Modify the DB instance to use rds-ca-rsa2048-g1 (or rds-ca-rsa4096-g1 / "
        "rds-ca-ecc384-g1) and apply the change.",
    )


def _untrusted_message(host: str, infos: tuple[CertificateInfo, ...], trust: TrustSelection) -> str:
    issuer = infos[-1].issuer_common_name or infos[-1].issuer
    base = (
        f"The certificate of {host} is not signed by a CA in the trust set "
        f"({trust.scope}: {len(trust.subjects)} CA(s) from {trust.source}); it names "
        f"'{issuer}' as its issuer."
    )
    if issuer in trust.subjects:
        return (
            f"{base} A CA with exactly that name is trusted, but its key did not sign this "
            "certificate: something between you and the database presents its own "
            "certificate (TLS interception by a proxy or an attacker), or the server is not "
            "the RDS server. Do not connect through this path; compare the certificate "
            "fingerprint with `aurora-ssl inspect` from inside the VPC."
        )
    if (
        issuer in AMAZON_TRUST_SERVICES_ROOTS
        or issuer.startswith("Amazon RSA ")
        or (issuer.startswith("Amazon ECDSA "))
    ):
        return (
            f"{base} That is an Amazon Trust Services CA, as used by RDS Proxy: connect with "
            "the proxy endpoint name (*.proxy-*.REGION.rds.amazonaws.com), for which aurora-ssl "
            "trusts the Amazon Trust Services roots."
        )
    return (
        f"{base} Possible causes: TLS interception, a wrong or outdated bundle (run "
        "`aurora-ssl bundle update`), or a server that is not RDS."
    )


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
