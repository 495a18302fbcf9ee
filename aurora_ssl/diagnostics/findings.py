"""What the diagnostics can say: one finding type, one verdict, and every remediation text.

An inspection (``aurora-ssl inspect``), a translated driver error and a connection report
(``aurora-ssl check``, ``manage.py check_aurora_ssl``) explain the same failures; the texts
that say what to do live here, once, so the three always give the same advice.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aurora_ssl._endpoint import parse_endpoint

if TYPE_CHECKING:
    from aurora_ssl._trust import TrustSelection

__all__ = [
    "ROTATE",
    "UNTRUSTED_CAUSES",
    "Finding",
    "Verdict",
    "WarningCode",
    "chain_incomplete",
    "expires_soon",
    "legacy_2019",
    "lookalike_ca",
    "name_hint",
    "profile_advice",
    "proxy_ca",
    "trust_warnings",
]


class Verdict(str, enum.Enum):
    """The one-word outcome of an inspection or a check (stable JSON values).

    An inspection ends ``verified``, ``expired``, ``untrusted`` or ``hostname-mismatch``
    (checked in that order: expiry is what the operator must fix first); a connection check
    ends ``verified``, ``insecure``, ``refused`` or ``error``.
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
    #: Failed for another reason (authentication, network, timeout, a query error).
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


def lookalike_ca() -> str:
    """A CA of the trusted name, but another key: interception."""
    return (
        "A CA with exactly that name is trusted, but its key did not sign this certificate: "
        "something between you and the database presents its own certificate (TLS "
        "interception by a proxy or an attacker), or the server is not the RDS server. Do not "
        "connect through this path; compare the certificate fingerprint with `aurora-ssl "
        "inspect` from inside the VPC."
    )


def proxy_ca() -> str:
    """An Amazon Trust Services issuer: RDS Proxy reached by another name."""
    return (
        "That is an Amazon Trust Services CA, as used by RDS Proxy: connect with the proxy "
        "endpoint name (*.proxy-*.REGION.rds.amazonaws.com), for which aurora-ssl trusts the "
        "Amazon Trust Services roots."
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


def expires_soon(host: str, not_after: str, days_left: int) -> Finding:
    return Finding(
        "expires-soon",
        f"The certificate of {host} expires on {not_after}, in {days_left} day(s); RDS rotates "
        "it automatically only when the CA is current. Schedule the certificate rotation now.",
    )


def legacy_2019(host: str) -> Finding:
    return Finding(
        "legacy-rds-ca-2019",
        f"{host} presents a certificate from the legacy rds-ca-2019 CA, which expired in "
        "August 2024. Modify the DB instance to use rds-ca-rsa2048-g1 (or rds-ca-rsa4096-g1 / "
        "rds-ca-ecc384-g1) and apply the change.",
    )


def profile_advice(host: str, detail: str | None) -> Finding:
    """libpq (OpenSSL) accepts the chain, the stricter RFC 5280 profile does not: advice."""
    return Finding(
        "profile",
        f"{host}: libpq (OpenSSL) accepts this chain, but it does not meet the stricter RFC "
        f"5280 profile that cryptography enforces ({detail or 'no reason given'}). Clients "
        "with strict verification may refuse it; reissue the certificate with key "
        "identifiers (Subject/Authority Key Identifier) when you can.",
    )


def chain_incomplete() -> Finding:
    return Finding(
        "chain-incomplete",
        "This Python could read only the leaf certificate, not the intermediate CAs the "
        "server sent, so 'untrusted' may only mean a missing intermediate; run `aurora-ssl "
        "inspect` with Python 3.10 or newer to be sure.",
    )


def trust_warnings(trust: TrustSelection) -> list[Finding]:
    """The trust selection's own warnings (a non-RDS name, a region missing)."""
    return [Finding(WarningCode.TRUST.value, w) for w in trust.warnings]
