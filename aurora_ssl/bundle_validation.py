"""Validating an RDS bundle: a clean PEM sequence of valid, self-signed Amazon RDS roots.

In the core because both sides need the same decision: ``aurora-ssl bundle update`` before it
installs AWS's new bundle, and trust selection before it uses an installed one (a bundle
planted while the directory was open must not become a trust anchor). ``cryptography`` is
imported only when a certificate is checked, which happens only when an updated bundle exists,
never on the default connect path.
"""

from __future__ import annotations

import datetime

from aurora_ssl._bundles import PEM_BLOCK, pem_blocks, signed_by
from aurora_ssl._bundles import Certificate as BundleCertificate
from aurora_ssl.errors import BundleUpdateError

__all__ = ["validate_bundle"]

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"


def validate_bundle(
    data: bytes,
    *,
    source: str,
    now: datetime.datetime | None = None,
    check_expiry: bool = True,
) -> tuple[BundleCertificate, ...]:
    """Check that ``data`` is a clean PEM sequence of valid, self-signed Amazon RDS roots.

    Args:
        data: the candidate bundle.
        source: where it came from, for messages.
        now: the time certificates must be valid at (default: now).
        check_expiry: refuse expired roots. Off when re-checking an installed bundle: a
            root that expired since the update must not break the other regions' connections.

    Returns:
        The certificates, in file order.

    Raises:
        BundleUpdateError: naming the first certificate (by position and subject) that fails,
            and why.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not data.strip():
        raise BundleUpdateError(f"{source} is empty; nothing was changed.")
    begins, ends = data.count(_BEGIN), data.count(_END)
    blocks = pem_blocks(data)
    if begins != ends or begins != len(blocks):
        raise BundleUpdateError(
            f"{source} is not a clean PEM bundle ({begins} BEGIN and {ends} END markers, "
            f"{len(blocks)} complete certificate(s)): the download is probably truncated or "
            "altered. Nothing was changed."
        )
    if not blocks:
        raise BundleUpdateError(f"{source} holds no PEM certificate; nothing was changed.")
    leftover = PEM_BLOCK.sub(b"", data).strip()
    if leftover:
        raise BundleUpdateError(
            f"{source} has {len(leftover)} byte(s) of content outside its certificates; the "
            "RDS bundle holds only certificates. Nothing was changed."
        )
    certificates: list[BundleCertificate] = []
    seen: set[str] = set()
    for index, block in enumerate(blocks, 1):
        cert = _validate_one(block, index, source, now if check_expiry else None)
        if cert.sha256 not in seen:
            seen.add(cert.sha256)
            certificates.append(cert)
    return tuple(certificates)


def _validate_one(
    block: bytes, index: int, source: str, now: datetime.datetime | None
) -> BundleCertificate:
    from cryptography import x509

    where = f"certificate #{index} of {source}"
    try:
        cert = x509.load_pem_x509_certificate(block)
    except ValueError as exc:
        raise BundleUpdateError(
            f"The {where} does not parse ({exc}); nothing was changed."
        ) from exc
    try:
        facts = BundleCertificate(block + b"\n", cert)
    except ValueError as exc:  # a malformed extension
        raise BundleUpdateError(f"The {where} has malformed extensions: {exc}.") from exc
    subject = facts.subject
    where = f"{where} ({subject})"
    if not facts.is_ca:
        raise BundleUpdateError(
            f"The {where} is not a CA certificate; a trust bundle must hold only CAs. The "
            "content was tampered with or is not the RDS bundle. Nothing was changed."
        )
    if not subject.startswith("Amazon RDS "):
        raise BundleUpdateError(
            f"The {where} is not an Amazon RDS root (its name does not start with "
            "'Amazon RDS '); the RDS bundle holds nothing else. Nothing was changed."
        )
    if not facts.self_signed or not signed_by(cert, cert):
        raise BundleUpdateError(
            f"The {where} is not self-signed; the RDS bundle holds only root certificates. "
            "Nothing was changed."
        )
    if now is not None and cert.not_valid_after_utc <= now:
        raise BundleUpdateError(
            f"The {where} expired on {cert.not_valid_after_utc:%Y-%m-%d}; AWS's current "
            "bundle holds no expired roots, so this content is stale or not AWS's. Nothing "
            "was changed."
        )
    return facts
