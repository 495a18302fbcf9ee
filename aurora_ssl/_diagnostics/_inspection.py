"""Inspection: read the server's certificate and check it as libpq's verify-full would.

:func:`inspect_server` asks the server for its chain (:mod:`._wire`), and the verdict is
OpenSSL's with the trust file and host name libpq would use. :func:`assess` then says *why* a
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
costs tens of milliseconds that an error path importing the diagnostics need not pay.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import ipaddress
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aurora_ssl.errors as errors
from aurora_ssl._bundles import (
    AMAZON_TRUST_SERVICES_ROOTS,
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
    SHIPPED_BUNDLE,
    SHIPPED_ROOTS,
    TrustSelection,
    bundle_source,
    select_trust,
    updated_bundle_path,
)

if TYPE_CHECKING:
    from cryptography import x509

DEFAULT_EXPIRY_WARNING_DAYS = 30


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
_UNTRUSTED = errors.UntrustedCertificateError.__name__
_RDS_CA_ALGORITHM = re.compile(r"\bRoot CA (RSA2048|RSA4096|ECC384) G(\d+)\b")
#: The CN of the legacy rds-ca-2019 CAs (expired in August 2024).
LEGACY_2019 = re.compile(r"^Amazon RDS (?:\S+ )?(?:Root )?2019 CA$")


def mismatch_message(host: str, names: Sequence[str], others: str | None = None) -> str:
    """Why verify-full refused a certificate for other ``names`` (and ``others`` more that
    libpq did not name), and what to do; the names tell a CNAME or another cluster apart."""
    listed = ", ".join([*names, *([f"{others} other name(s)"] if others else [])])
    rds_names = [n for n in names if parse_endpoint(n).kind.is_rds]
    hint = ""
    if rds_names and not parse_endpoint(host).kind.is_rds:
        hint = (
            f"{host} is not an RDS endpoint name: you are probably connecting through a CNAME "
            f"or tunnel to {rds_names[0]}; connect with host={rds_names[0]}, or set "
            f"tls_server_name={rds_names[0]} so aurora-ssl verifies that name while "
            f"connecting to {host}."
        )
    elif rds_names:
        hint = (
            f"Both are RDS endpoint names: {host} reaches the server of another cluster or "
            "instance (a stale DNS record, or a wrong hostaddr)."
        )
    return (
        f"The server's certificate is for {listed or 'other names'}, not for {host}, so "
        "verify-full refused it. Connect with a name the certificate covers (the cluster, reader "
        f"or instance endpoint), keeping the address in hostaddr if you need a specific IP. {hint}"
    ).strip()


def attributes(item: Any, *names: str, **renamed: str) -> dict[str, Any] | None:
    """A JSON object of ``item``'s attributes (``renamed``: key=attribute), or ``None``."""
    if item is None:
        return None
    keys = {**renamed, **{name: name for name in names}}
    return {key: getattr(item, name) for key, name in keys.items()}


def trust_block(trust: TrustSelection | None) -> dict[str, Any] | None:
    """The JSON ``"trust"`` object of inspections and reports (stable keys)."""
    return attributes(trust, "scope", "source", file="path", cas="subjects")


def trust_warnings(trust: TrustSelection) -> tuple[str, ...]:
    """The selection's warnings, and for a bundle of the user's the roots named like AWS's
    RDS roots that are not AWS's (the connect path logs them once, when it splits the bundle;
    reports parse the bundle to say so every time)."""
    found, updated = [], updated_bundle_path()
    if trust.scope != "user-file" and trust.source not in (SHIPPED_BUNDLE, updated):
        with contextlib.suppress(errors.AuroraSSLError):
            found = strangers(load_bundle(trust.source).certificates, SHIPPED_ROOTS)
            if found and os.path.isfile(updated):  # a verified update's roots are known
                known = {c.sha256 for c in load_bundle(updated).certificates}
                found = [c for c in found if c.sha256 not in known]
    if not found:
        return trust.warnings
    return (
        *trust.warnings,
        f"The bundle {trust.source} holds {len(found)} root(s) named like Amazon RDS roots that "
        f"are not AWS's (unknown SHA-256): {', '.join(c.subject for c in found)}. Trust it only "
        "if you made these CAs yourself.",
    )


# -- a certificate's facts -----------------------------------------------------------------


def certificate_facts(cert: x509.Certificate) -> dict[str, Any]:
    """The facts of one presented certificate that operators ask about (the JSON form)."""
    key: Any = cert.public_key()
    kind = type(key).__name__.removesuffix("PublicKey").lstrip("_")  # RSA, Ed25519 ...
    if hasattr(key, "curve"):  # elliptic curves, by name; RSA and DSA by size
        kind = f"EC {key.curve.name}"
    elif hasattr(key, "key_size"):
        kind = f"{kind} {key.key_size}"
    dns, ips = _sans(cert)
    oid = cert.signature_algorithm_oid
    return {
        "subject": cert.subject.rfc4514_string(),
        "common_name": common_name(cert.subject),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_common_name": common_name(cert.issuer),
        "dns_names": dns,
        "ip_addresses": ips,
        "not_before": timestamp(cert.not_valid_before_utc),
        "not_after": timestamp(cert.not_valid_after_utc),
        "serial_number": format(cert.serial_number, "x"),
        "key_type": kind,
        "signature_algorithm": str(getattr(oid, "_name", oid.dotted_string)),
        "sha256": sha256_fingerprint(cert),
        "is_ca": is_ca(cert),
    }


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The certificate's dNSName and iPAddress entries."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return san.get_values_for_type(x509.DNSName), ips


def names_of(cert: x509.Certificate) -> list[str]:
    """The names a client may verify: SAN entries, or the CN if there are none."""
    dns, ips = _sans(cert)
    cn = common_name(cert.subject)
    return dns + ips or ([cn] if cn else [])


def name_matches(server_name: str, cert: x509.Certificate) -> bool:
    """Whether libpq's verify-full accepts ``cert`` for ``server_name``.

    libpq's rules: if the certificate has SAN entries, only they count (dNSName for names,
    iPAddress for addresses); a ``*`` matches one whole left-most label; the CN is used only
    when there is no SAN at all. Comparison ignores case.
    """
    name = server_name.strip().rstrip(".").lower()
    dns, ips = _sans(cert)
    address = is_ip(name)
    candidates = (ips if address else dns) if dns or ips else names_of(cert)
    if address:  # cryptography writes iPAddress entries canonically, as str() does
        return str(ipaddress.ip_address(name.strip("[]"))) in candidates
    head, _, rest = name.partition(".")
    wildcard = f"*.{rest}" if head and "." in rest else None  # the one pattern that could match
    return any(c.strip().rstrip(".").lower() in (name, wildcard) for c in candidates)


def ca_identifier(root_common_name: str | None) -> str | None:
    """The RDS CA identifier (as in ``--ca-certificate-identifier``) of a root's CN.

    ``"Amazon RDS us-east-1 Root CA RSA2048 G1"`` -> ``"rds-ca-rsa2048-g1"``;
    ``"Amazon RDS Root 2019 CA"`` -> ``"rds-ca-2019"``; Amazon Trust Services roots (RDS
    Proxy) -> ``"amazon-trust-services"``; anything else -> ``None``.
    """
    name = root_common_name or ""
    match = _RDS_CA_ALGORITHM.search(name)
    if match and name.startswith("Amazon RDS "):
        return f"rds-ca-{match[1].lower()}-g{match[2]}"
    if LEGACY_2019.match(name):
        return "rds-ca-2019"
    return "amazon-trust-services" if name in AMAZON_TRUST_SERVICES_ROOTS else None


def _signature_path(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]
) -> list[x509.Certificate] | None:
    """Leaf -> presented intermediates -> trusted root by names and signatures only (no time,
    no profile): how OpenSSL builds the path. ``None`` when no root signs the chain."""
    path, pool = [chain[0]], list(chain[1:])
    while len(path) < 10:
        current = path[-1]  # a trusted root first (OpenSSL's trusted-first), else a presented CA
        for root in roots:
            if root.subject == current.issuer and signed_by(current, root):
                return [*path, root]
        parent = next(  # is_ca only for a candidate: a malformed extension raises ValueError
            (c for c in pool if c.subject == current.issuer and is_ca(c) and signed_by(current, c)),
            None,
        )
        if parent is None:
            return None
        pool.remove(parent)
        path.append(parent)
    return None


def _profile_advice(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    name: str,
    at: datetime.datetime,
) -> list[Finding]:
    """Why cryptography's RFC 5280 verifier refuses a chain OpenSSL accepted for ``name``, if
    it does. Advice only: libpq (OpenSSL) is less strict, about key identifiers say."""
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    try:
        subject: x509.verification.Subject = x509.DNSName(name)
        if is_ip(name):
            subject = x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
        verifier = PolicyBuilder().store(Store(list(roots))).time(at).build_server_verifier(subject)
        verifier.verify(chain[0], list(chain[1:]))
    except (VerificationError, ValueError) as exc:  # ValueError: a name DNSName refuses
        message = (
            f"{name}: libpq (OpenSSL) accepts this chain, but it does not meet the stricter RFC "
            f"5280 profile that cryptography enforces ({exc}). Clients with strict verification "
            "may refuse it; reissue the certificate with key identifiers (Subject/Authority Key "
            "Identifier) when you can."
        )
        return [Finding("profile", message)]
    return []


# -- the inspection --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Inspection:
    """Everything :func:`inspect_server` found out; the fields are the JSON keys
    (``aurora-ssl inspect --format json``, :meth:`to_dict`), with ``ok`` added."""

    host: str
    port: int
    address: str
    tls_version: str | None
    cipher: str | None
    #: the root that anchors the chain by names and signatures (its CN), if any.
    trusted_by: str | None
    ca_id: str | None
    hostname_matches: bool
    #: CNs of the certificates of that path (or the leaf) outside their validity period.
    outside_validity: tuple[str, ...]
    days_left: int
    #: the presented chain, leaf first.
    certificates: tuple[x509.Certificate, ...]
    trust: TrustSelection
    verdict: Verdict = Verdict.VERIFIED
    errors: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def ok(self) -> bool:
        """True when libpq's verify-full would accept the certificate for ``host``."""
        return self.verdict is Verdict.VERIFIED

    @property
    def trusted(self) -> bool:
        return self.trusted_by is not None

    @property
    def time_valid(self) -> bool:
        return not self.outside_validity

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; the keys are public (``aurora-ssl inspect --format json``)."""
        data = dataclasses.asdict(self).items()
        return {
            **{key: value for key, value in data if key != "outside_validity"},
            "server_name": self.host,  # the name checked: the host's (inspection has no other)
            "verdict": self.verdict.value,
            "ok": self.ok,
            "trusted": self.trusted,
            "time_valid": self.time_valid,
            "names": names_of(self.leaf),
            "certificates": [certificate_facts(c) for c in self.certificates],
            "trust": trust_block(self.trust),
        }

    def to_text(self) -> str:
        """A human-readable block: headline, the leaf, the chain, the checks, the findings."""
        leaf, days = certificate_facts(self.leaf), self.days_left
        via = f" ({self.address})" if self.address and self.address != self.host else ""
        left = f"expired {-days} day(s) ago" if days < 0 else f"{days} day(s) left"
        chain = " <- ".join(label(c) for c in self.certificates)
        trusted = f"yes, by {self.trusted_by}" if self.trusted else "NO"
        trusted += f" ({self.ca_id})" if self.ca_id else ""
        return "\n".join(
            [
                f"{self.host}:{self.port}{via}: {self.verdict.value.upper()}",
                f"  tls:           {self.tls_version or '?'}, {self.cipher or '?'}",
                f"  subject:       {leaf['subject']}",
                f"  names:         {', '.join(names_of(self.leaf)) or '(none)'}",
                f"  issuer:        {leaf['issuer']}",
                f"  valid:         {leaf['not_before']} .. {leaf['not_after']} ({left})",
                f"  key:           {leaf['key_type']}, signed with {leaf['signature_algorithm']}",
                f"  sha256:        {leaf['sha256']}",
                f"  presented:     {chain}",
                f"  trusted:       {trusted}",
                f"  name matches:  {'yes' if self.hostname_matches else 'NO'} ({self.host})",
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
    trust = trust or select_trust(host, bundle=bundle, sslrootcert=sslrootcert)
    load_bundle(trust.ensure())  # an unusable trust set: BundleError, before any connection
    handshake = fetch_chain(host, port, hostaddr=hostaddr, timeout=timeout, cafile=trust.path)
    return assess(host, port, handshake, trust, now=now, expiry_warning_days=expiry_warning_days)


def assess(
    host: str,
    port: int,
    handshake: Handshake,
    trust: TrustSelection,
    *,
    now: datetime.datetime | None = None,
    expiry_warning_days: int = DEFAULT_EXPIRY_WARNING_DAYS,
) -> Inspection:
    """The inspection of what a handshake presented: OpenSSL's answer is the verdict, and
    the chain is checked against ``trust`` property by property to name the reason."""
    from cryptography import x509

    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        chain = [x509.load_der_x509_certificate(der) for der in handshake.chain]
    except ValueError as exc:
        raise errors.InspectionError(
            f"Cannot inspect {host}:{port}: the server's certificate does not parse ({exc})."
        ) from exc
    roots = [x509.load_pem_x509_certificate(c.pem) for c in load_bundle(trust.path).certificates]
    path = _signature_path(chain, roots)
    root = label(path[-1]) if path else None
    facts = Inspection(
        host=host,
        port=port,
        address=handshake.address,
        tls_version=handshake.tls_version,
        cipher=handshake.cipher,
        trusted_by=root,
        ca_id=ca_identifier(root),
        hostname_matches=name_matches(host, chain[0]),
        outside_validity=tuple(
            label(c)
            for c in (path or chain[:1])
            if not c.not_valid_before_utc <= now <= c.not_valid_after_utc
        ),
        days_left=_days_left(chain[0].not_valid_after_utc, now),
        certificates=tuple(chain),
        trust=trust,
    )
    found, warnings = _errors(facts, now), _warnings(facts, expiry_warning_days)
    if handshake.openssl_verified:
        # A property checked otherwise (``now`` in the future, say) is worth knowing, not a
        # refusal; nor is the stricter profile of cryptography.
        advice = _profile_advice(chain, roots, host, now)
        return dataclasses.replace(facts, warnings=(*found, *warnings, *advice))
    verdict = Verdict.UNTRUSTED
    if not facts.time_valid:
        verdict = Verdict.EXPIRED
    elif facts.trusted and not facts.hostname_matches:
        verdict = Verdict.HOSTNAME_MISMATCH
    elif not found:  # each property looks right, yet OpenSSL refuses: its reason decides
        reason = handshake.openssl_reason or "no reason given"
        message = f"OpenSSL (as libpq) refuses the certificate of {host}: {reason}."
        found.append(Finding(_UNTRUSTED, f"{message} {UNTRUSTED_CAUSES}"))
    return dataclasses.replace(
        facts, verdict=verdict, errors=tuple(found), warnings=tuple(warnings)
    )


def _days_left(not_after: datetime.datetime, now: datetime.datetime) -> int:
    """Whole days left; negative once expired (at least -1, so it never reads as valid)."""
    seconds = (not_after - now).total_seconds()
    return int(seconds // 86400) if seconds >= 0 else -max(1, int(-seconds // 86400))


def _errors(facts: Inspection, now: datetime.datetime) -> list[Finding]:
    host, leaf, names = facts.host, facts.leaf, names_of(facts.leaf)
    found: list[Finding] = []
    if not facts.trusted:
        found.append(Finding(_UNTRUSTED, _untrusted_message(facts)))
    if not facts.time_valid:
        if now < leaf.not_valid_before_utc:
            when = f"is not valid before {timestamp(leaf.not_valid_before_utc)}"
        elif leaf.not_valid_after_utc < now:
            when = (
                f"expired {-facts.days_left} day(s) ago, on {timestamp(leaf.not_valid_after_utc)}"
            )
        else:
            outside = ", ".join(facts.outside_validity)
            when = f"is signed by a CA certificate that is expired or not yet valid ({outside})"
        message = (
            f"The certificate of {host} is outside its validity period: it {when}, so "
            f"verify-full refuses it. {ROTATE}"
        )
        found.append(Finding(errors.CertificateExpiredError.__name__, message))
    if not facts.hostname_matches:
        found.append(Finding(errors.HostnameMismatchError.__name__, mismatch_message(host, names)))
    return found


def _issuer(facts: Inspection) -> str:
    """The issuer named by the top of the presented chain."""
    top = facts.certificates[-1].issuer
    return common_name(top) or top.rfc4514_string()


def _untrusted_message(facts: Inspection) -> str:
    issuer, trust = _issuer(facts), facts.trust
    base = (
        f"The certificate of {facts.host} is not signed by a CA in the trust set "
        f"({trust.scope}: {len(trust.subjects)} CA(s) from {trust.source}); it names "
        f"'{issuer}' as its issuer."
    )
    if issuer in trust.subjects:
        return (
            f"{base} A CA with exactly that name is trusted, but its key did not sign this "
            "certificate: something between you and the database presents its own certificate "
            "(TLS interception by a proxy or an attacker), or the server is not the RDS "
            "server. Do not connect through this path; compare the certificate fingerprint "
            "with `aurora-ssl inspect` from inside the VPC."
        )
    if issuer in AMAZON_TRUST_SERVICES_ROOTS or issuer.startswith(("Amazon RSA ", "Amazon ECDSA ")):
        return (
            f"{base} That is an Amazon Trust Services CA, as used by RDS Proxy: connect with "
            "the proxy endpoint name (*.proxy-*.REGION.rds.amazonaws.com), for which "
            "aurora-ssl trusts the Amazon Trust Services roots."
        )
    if LEGACY_2019.match(issuer):
        return (
            f"{base} That is the legacy rds-ca-2019 CA, which expired in August 2024 and is in "
            "no current bundle: modify the DB instance to a current CA (rds-ca-rsa2048-g1)."
        )
    return f"{base} {UNTRUSTED_CAUSES}"


def _warnings(facts: Inspection, expiry_warning_days: int) -> list[Finding]:
    """What an inspection warns of, by stable code (docs/guides/cli.md lists them).

    An RDS-named issuer that neither the trust set nor the bundle holds means the bundle is
    older than the CA. (Another region's CA, which the bundle holds, certifies another
    region's names: the hostname mismatch says why.)
    """
    found = [Finding(WarningCode.TRUST.value, w) for w in trust_warnings(facts.trust)]
    issuer = _issuer(facts)
    rds = issuer.startswith("Amazon RDS ") and not LEGACY_2019.match(issuer)
    if rds and not facts.trusted and issuer not in facts.trust.subjects:
        with contextlib.suppress(Exception):  # advice only; the verdict stands without it
            source = bundle_source()[0]
            if all(c.subject != issuer for c in load_bundle(source).certificates):
                message = (
                    f"The issuer '{issuer}' looks like an Amazon RDS CA but is not in the bundle "
                    f"{source}: the bundle is probably outdated. Run `aurora-ssl bundle update`."
                )
                found.append(Finding("bundle-outdated", message))
    if facts.time_valid and facts.days_left < expiry_warning_days:
        expires = timestamp(facts.leaf.not_valid_after_utc)
        message = (
            f"The certificate of {facts.host} expires on {expires}, in {facts.days_left} day(s); "
            "RDS rotates it automatically only when the CA is current. Schedule the certificate "
            "rotation now."
        )
        found.append(Finding("expires-soon", message))
    return found
