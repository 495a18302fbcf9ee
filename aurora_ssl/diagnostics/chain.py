"""Chain judgement, property by property: is it trusted, valid now, and for this name?

The verdict of an inspection is OpenSSL's (what libpq decides); this module says *why* a
chain fails, one property at a time, and what cryptography's stricter RFC 5280 profile thinks
(reported as advice):

* trusted: does the chain lead to a root in the trust set, by names and signatures (as
  OpenSSL builds the path), so an expired or misnamed certificate is still recognised as
  genuinely RDS-signed;
* time: is every certificate of that path valid now;
* name: does the leaf cover the host name (libpq's rules, :func:`describe.name_matches`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aurora_ssl.certificates import is_ca, label, sha256_fingerprint, signed_by
from aurora_ssl.diagnostics.describe import describe_certificate, name_matches
from aurora_ssl._endpoint import is_ip

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["ChainCheck", "check_chain"]


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
        verified: all of the above under cryptography's strict RFC 5280 profile. Advice
            only: the verdict of an inspection is OpenSSL's (libpq's), see
            :mod:`aurora_ssl.diagnostics.inspection`.
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
    """Judge a presented chain against ``roots`` for ``server_name``, property by property.

    Args:
        chain: the presented certificates, leaf first (intermediates may follow).
        server_name: the name verify-full checks (libpq's ``host``).
        roots: the trust set.
        now: the time to judge validity at (default: now).
    """
    from cryptography import x509
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
        if is_ip(name):
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
