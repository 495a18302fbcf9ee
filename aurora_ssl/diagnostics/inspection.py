"""Inspect a server: what it presents, and whether libpq's verify-full accepts it, and why.

:func:`inspect_server` reads the presented chain (:mod:`.wire`) and takes its verdict from
OpenSSL verifying that chain with the same trust file and host name, the way libpq does. It
then judges each property on its own (:mod:`.chain`) so the report can say *why* a connection
fails (expired, untrusted, misnamed), and reports cryptography's stricter RFC 5280 profile
only as advice: a diagnostic whose verdict disagrees with the connection it diagnoses would
mislead the operator.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from aurora_ssl._bundles import timestamp
from aurora_ssl.diagnostics import findings
from aurora_ssl.diagnostics.chain import ChainCheck, check_chain
from aurora_ssl.diagnostics.describe import (
    LEGACY_2019,
    CertificateInfo,
    ca_identifier,
    describe_certificate,
)
from aurora_ssl.diagnostics.findings import Finding, Verdict
from aurora_ssl.diagnostics.render import inspection_text, trust_block
from aurora_ssl.diagnostics.wire import DEFAULT_TIMEOUT, fetch_chain
from aurora_ssl.errors import (
    CertificateExpiredError,
    HostnameMismatchError,
    InspectionError,
    TLSError,
    UntrustedCertificateError,
)
from aurora_ssl._bundles import AMAZON_TRUST_SERVICES_ROOTS, load_bundle
from aurora_ssl._trust import TrustSelection, bundle_source, select_trust

__all__ = ["DEFAULT_EXPIRY_WARNING_DAYS", "Inspection", "inspect_server"]

DEFAULT_EXPIRY_WARNING_DAYS = 30


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
        return inspection_text(self)


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

    The verdict is OpenSSL's, with the trust file and host name libpq would use; each
    property (expiry, trust, name) is then judged on its own at ``now`` to explain it.

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
        now: judge the properties at this time (default: now; OpenSSL judges at now).

    Returns:
        The :class:`Inspection`, whatever the verdict.

    Raises:
        InspectionError: no certificate could be read (see :func:`.wire.fetch_chain`).
        ServerTLSUnavailableError: the server does not offer TLS.
        BundleError: the trust set cannot be built.
    """
    from cryptography import x509

    if trust is None:
        trust = select_trust(host, bundle=bundle, sslrootcert=sslrootcert)
    roots = load_bundle(trust.ensure()).certificates  # an unusable trust set: BundleError
    handshake = fetch_chain(host, port, hostaddr=hostaddr, timeout=timeout, cafile=trust.path)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        chain = [x509.load_der_x509_certificate(der) for der in handshake.chain]
    except ValueError as exc:
        raise InspectionError(
            f"Cannot inspect {host}:{port}: the server's certificate does not parse ({exc})."
        ) from exc
    root_certs = [x509.load_pem_x509_certificate(c.pem) for c in roots]
    check = check_chain(chain, host, root_certs, now=now)
    infos = tuple(describe_certificate(c) for c in chain)
    days_left = _days_left(infos[0].not_after, now)
    errors, warnings = _findings(
        host, infos, check, trust, days_left, expiry_warning_days, handshake.chain_complete, now
    )
    accepted = bool(handshake.openssl_verified)
    if accepted:
        verdict = Verdict.VERIFIED
        # OpenSSL's answer is the verdict; a property judged otherwise (``now`` in the
        # future, say) is worth knowing, not a refusal.
        warnings = errors + warnings
        errors = []
        if not check.verified:
            warnings.append(findings.profile_advice(host, check.profile_detail))
    elif not check.time_valid:
        verdict = Verdict.EXPIRED
    elif not check.trusted:
        verdict = Verdict.UNTRUSTED
    elif not check.name_matches:
        verdict = Verdict.HOSTNAME_MISMATCH
    else:
        verdict = Verdict.UNTRUSTED
        errors.append(
            Finding(
                UntrustedCertificateError.__name__,
                f"OpenSSL (as libpq) refuses the certificate of {host}: "
                f"{handshake.openssl_reason or 'no reason given'}. {findings.UNTRUSTED_CAUSES}",
            )
        )
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
    warnings = findings.trust_warnings(trust)
    if not check.trusted:
        errors.append(
            Finding(UntrustedCertificateError.__name__, _untrusted_message(host, infos, trust))
        )
        warnings.extend(_untrusted_hints(host, infos, trust))
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
        errors.append(
            Finding(
                CertificateExpiredError.__name__,
                f"The certificate of {host} {when}, so verify-full refuses it. {findings.ROTATE}",
            )
        )
    elif days_left < expiry_warning_days:
        warnings.append(findings.expires_soon(host, timestamp(leaf.not_after), days_left))
    if not check.name_matches:
        names = ", ".join(leaf.names) or "(no names)"
        message = (
            f"The certificate covers {names}, not {host}, so verify-full refuses it. Connect "
            "with one of those names as host (keep the IP in hostaddr if needed)."
        )
        hint = findings.name_hint(host, leaf.names)
        errors.append(Finding(HostnameMismatchError.__name__, f"{message} {hint}".strip()))
    legacy = any(LEGACY_2019.match(c.issuer_common_name or "") for c in infos)
    if ca_identifier(check.root) == "rds-ca-2019" or (not check.trusted and legacy):
        warnings.append(findings.legacy_2019(host))
    if not chain_complete and not check.trusted:
        warnings.append(findings.chain_incomplete())
    return errors, warnings


def _untrusted_message(host: str, infos: tuple[CertificateInfo, ...], trust: TrustSelection) -> str:
    issuer = infos[-1].issuer_common_name or infos[-1].issuer
    base = (
        f"The certificate of {host} is not signed by a CA in the trust set "
        f"({trust.scope}: {len(trust.subjects)} CA(s) from {trust.source}); it names "
        f"'{issuer}' as its issuer."
    )
    if issuer in trust.subjects:
        return f"{base} {findings.lookalike_ca()}"
    if issuer in AMAZON_TRUST_SERVICES_ROOTS or issuer.startswith(("Amazon RSA ", "Amazon ECDSA ")):
        return f"{base} {findings.proxy_ca()}"
    return f"{base} {findings.UNTRUSTED_CAUSES}"


def _untrusted_hints(
    host: str, infos: tuple[CertificateInfo, ...], trust: TrustSelection
) -> list[Finding]:
    from aurora_ssl._endpoint import parse_endpoint

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
