"""Error translation: turn driver TLS failures into errors that say what happened and what to do.

libpq reports TLS failures in a few terse phrases; the same phrase can mean different things
("SSL error: certificate verify failed" is said for an unknown CA, a look-alike CA in the
middle *and* an expired certificate). :func:`translate_error` recognises them in psycopg2,
psycopg 3 and Django-wrapped exceptions, and returns the matching
:class:`~aurora_ssl.errors.AuroraSSLError` with a plain explanation and the fix:

==========================================================  ===================================
libpq says                                                  translated to
==========================================================  ===================================
``root certificate file "..." does not exist``              :class:`BundleError`
``could not read root certificate file "...": ...``         :class:`BundleError`
``SSL error: certificate verify failed``                    :class:`UntrustedCertificateError`,
(also ``invalid padding``, ``unable to get local issuer``,  or :class:`CertificateExpiredError`
``data too large for modulus``: a look-alike CA)            when inspection finds it expired
``certificate has expired`` / ``is not yet valid``          :class:`CertificateExpiredError`
``server certificate for "..." does not match host name``   :class:`HostnameMismatchError`
``server does not support SSL, but SSL was required``       :class:`ServerTLSUnavailableError`
``pg_hba.conf rejects connection ... no encryption``        :class:`InsecureConfigurationError`
(also ``no pg_hba.conf entry``, ``SSL off``)
``unsupported protocol`` / ``alert protocol version``       :class:`TLSError`
``SSL SYSCALL error: EOF detected``                         :class:`TLSError`; with
(also ``unexpected eof while reading``)                     ``sslnegotiation=direct`` it says
                                                            the server is older than 17
==========================================================  ===================================

When the certificate is the question (verify failed, name mismatch), the server is inspected
once (:func:`~aurora_ssl.diagnostics.inspection.inspect_server`, short timeouts, cached
briefly) to say *when* it expired, *which* names it covers, and whether a look-alike CA
signed it. The target comes from the ``params`` argument, from psycopg 3's ``exc.pgconn``, or
from libpq's message.

The translated error's message never contains a password or a connection string: it is
built from libpq's message (which has neither) after scrubbing anything shaped like one, and
the driver's exception is kept as ``__cause__``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl.diagnostics import findings
from aurora_ssl.diagnostics.driver import (
    Target,
    driver_text,
    negotiation,
    redact_driver_secrets,
    target_of,
)
from aurora_ssl.errors import (
    AuroraSSLError,
    BundleError,
    CertificateExpiredError,
    HostnameMismatchError,
    InsecureConfigurationError,
    ServerTLSUnavailableError,
    TLSError,
    UntrustedCertificateError,
)
from aurora_ssl._redaction import mask_text

if TYPE_CHECKING:
    import datetime

    from aurora_ssl.diagnostics.inspection import Inspection

__all__ = ["Target", "scrub", "target_of", "translate_error"]

#: Seconds per network step when a failure is enriched by inspecting the server.
INSPECTION_TIMEOUT = 3.0
#: How long an inspection result is reused for the same target (connection storms).
_CACHE_SECONDS = 30.0

_MISSING_ROOT = re.compile(r'root certificate file "(?P<path>[^"]*)" does not exist')
_UNREADABLE_ROOT = re.compile(
    r'could not read root certificate file "(?P<path>[^"]*)": (?P<reason>[^\n]*)'
)
_EXPIRED = re.compile(r"certificate has expired|certificate is not yet valid", re.IGNORECASE)
_UNTRUSTED = re.compile(
    r"certificate verify failed|invalid padding|unable to get local issuer certificate|"
    r"self[- ]signed certificate in certificate chain|certificate signature failure|"
    r"unable to get issuer certificate|bad signature|data too large for modulus",
    re.IGNORECASE,
)
_MISMATCH = re.compile(r'does not match host name "(?P<wanted>[^"]*)"')
_MISMATCH_NAMES = re.compile(
    r'server certificate for "(?P<first>[^"]*)"(?: \(and (?P<more>\d+) other names?\))?'
)
_NO_SERVER_TLS = re.compile(r"server does not support SSL, but SSL was required")
_NO_CLIENT_TLS = re.compile(
    r"(?:no pg_hba\.conf entry|pg_hba\.conf rejects connection) for host [^\n]*"
    r"(?:SSL off|no encryption)"
)
_TLS_EOF = re.compile(
    r"SSL SYSCALL error: EOF detected|SSL error: unexpected eof while reading", re.IGNORECASE
)
_OLD_PROTOCOL = re.compile(
    r"unsupported protocol|alert protocol version|no protocols available", re.IGNORECASE
)


def scrub(text: str) -> str:
    """``text`` with anything shaped like a secret masked (see :func:`redaction.mask_text`)."""
    return mask_text(text)


def translate_error(
    exc: BaseException,
    *,
    params: Mapping[str, Any] | None = None,
    inspect: bool = True,
) -> AuroraSSLError | None:
    """Return our error for a driver's connection failure, or ``None`` to keep the original.

    Args:
        exc: a psycopg2 or psycopg 3 exception, or one wrapping it (Django's
            ``OperationalError`` has the driver's as ``__cause__``).
        params: the libpq parameters of the attempt, if the caller has them (host,
            hostaddr, port, sslrootcert); passwords in them are never used.
        inspect: allow one short inspection of the server to say why a certificate was
            refused (expired since when, which names it covers, look-alike CA).

    Returns:
        The translated error, with ``exc`` as ``__cause__``, or ``None`` when ``exc`` is not a
        TLS set-up failure (wrong password, database missing, network down ...).
    """
    if isinstance(exc, AuroraSSLError):
        return None
    if params is None:  # read the target from psycopg 3's pgconn before it is blanked
        found = target_of(exc)
        params = {
            "host": found.host,
            "hostaddr": found.hostaddr,
            "port": found.port,
            "sslrootcert": found.sslrootcert,
        }
    redact_driver_secrets(exc)
    text = driver_text(exc)
    if text is None:
        return None
    error = _translate(text, exc, params, inspect)
    if error is not None:
        error.__cause__ = exc
    return error


def _libpq_said(text: str) -> str:
    return f'(libpq: "{scrub(" ".join(text.split()))}")'


def _translate(
    text: str, exc: BaseException, params: Mapping[str, Any] | None, inspect: bool
) -> AuroraSSLError | None:
    said = _libpq_said(text)
    match = _MISSING_ROOT.search(text)
    if match:
        return BundleError(
            f"The trust file {match['path']} does not exist, so libpq cannot verify the "
            "server. Pass an existing CA bundle as sslrootcert, or remove sslrootcert and let "
            "aurora-ssl choose the RDS roots; do not follow libpq's suggestion to weaken "
            f"sslmode or trust the system roots. {said}"
        )
    match = _UNREADABLE_ROOT.search(text)
    if match:
        reason = match["reason"].strip()
        if "no certificate" in reason:
            why = "it holds no PEM certificate (or is a directory)"
        else:
            why = f"it cannot be read ({reason})"
        return BundleError(
            f"The trust file {match['path']} is unusable: {why}. Point sslrootcert at a PEM "
            "file of CA certificates ('-----BEGIN CERTIFICATE-----' blocks), such as "
            "`aurora-ssl bundle path HOST`, or remove it to let aurora-ssl choose. "
            f"{said}"
        )
    if _NO_SERVER_TLS.search(text):
        target = target_of(exc, params)
        return ServerTLSUnavailableError(
            f"{target.where} does not offer TLS, so the connection was refused rather than "
            "sent in clear text. RDS and Aurora always offer TLS: check that the host is the "
            "RDS endpoint and not a proxy, tunnel or other server; for a self-managed server, "
            f"set ssl=on. {said}"
        )
    if _NO_CLIENT_TLS.search(text):
        return InsecureConfigurationError(
            "The server accepts only TLS connections (like RDS with rds.force_ssl=1) and this "
            "connection did not use TLS: sslmode=disable or the insecure_local_dev opt-out was "
            f"in effect. Remove it; aurora-ssl connects with sslmode=verify-full. {said}"
        )
    if _MISMATCH.search(text):
        return _mismatch(text, exc, params, inspect, said)
    if _EXPIRED.search(text):
        return _expired_or_untrusted(text, exc, params, inspect, said, hint_expired=True)
    if _UNTRUSTED.search(text):
        return _expired_or_untrusted(text, exc, params, inspect, said, hint_expired=False)
    if _TLS_EOF.search(text):
        return _closed_during_handshake(exc, params, said)
    if _OLD_PROTOCOL.search(text) and ("SSL" in text or "TLS" in text):
        target = target_of(exc, params)
        return TLSError(
            f"{target.where} and this client share no TLS version: aurora-ssl requires TLS "
            "1.2 or newer (ssl_min_protocol_version=TLSv1.2). Upgrade the server's TLS "
            f"configuration (every RDS and Aurora version supports TLS 1.2). {said}"
        )
    return None


def _closed_during_handshake(
    exc: BaseException, params: Mapping[str, Any] | None, said: str
) -> TLSError:
    target = target_of(exc, params)
    mode, source = negotiation(exc, params)
    if mode == "direct":
        return TLSError(
            f"{target.where} closed the connection as the TLS handshake began: "
            f"sslnegotiation=direct (from {source}) starts TLS without PostgreSQL's "
            "SSLRequest, which only PostgreSQL 17 and newer servers accept (older ones log "
            "'invalid length of startup packet'). Remove sslnegotiation=direct (and "
            "PGSSLNEGOTIATION) to use the standard negotiation every server supports, or "
            f"upgrade the server to PostgreSQL 17. {said}"
        )
    return TLSError(
        f"{target.where} closed the connection during the TLS handshake. Check the server's "
        "log; a proxy or load balancer in between may not speak PostgreSQL's TLS "
        "negotiation; and if sslnegotiation=direct is set anywhere (PGSSLNEGOTIATION, a "
        f"service file), the server must be PostgreSQL 17 or newer. {said}"
    )


def _mismatch(
    text: str,
    exc: BaseException,
    params: Mapping[str, Any] | None,
    inspect: bool,
    said: str,
) -> HostnameMismatchError:
    wanted = _MISMATCH.search(text)
    assert wanted is not None
    target = target_of(exc, params)
    host = wanted["wanted"] or target.host or "the host"
    names_match = _MISMATCH_NAMES.search(text)
    names: list[str] = []
    if names_match:
        names.append(names_match["first"])
    inspection = _inspect(Target(host, target.hostaddr, target.port, target.sslrootcert), inspect)
    if inspection is not None and inspection.certificates:
        names = list(inspection.leaf.names)
    elif names_match and names_match["more"]:
        names.append(f"{names_match['more']} other name(s)")
    shown = ", ".join(names) if names else "other names"
    message = (
        f"The server's certificate is for {shown}, not for {host}, so verify-full refused it. "
        "Connect with a name the certificate covers (the cluster, reader or instance "
        "endpoint), keeping the address in hostaddr if you need a specific IP."
    )
    hint = findings.name_hint(host, names)
    if hint:
        message += f" {hint}"
    return HostnameMismatchError(f"{message} {said}")


def _expired_or_untrusted(
    text: str,
    exc: BaseException,
    params: Mapping[str, Any] | None,
    inspect: bool,
    said: str,
    *,
    hint_expired: bool,
) -> TLSError:
    target = target_of(exc, params)
    inspection = _inspect(target, inspect)
    if inspection is not None and not inspection.check.time_valid:
        leaf = inspection.leaf
        return CertificateExpiredError(
            f"The certificate of {target.where} is outside its validity period "
            f"({_day(leaf.not_before)} to {_day(leaf.not_after)}; "
            f"{_ago(inspection.days_left)}), so verify-full refused it. {findings.ROTATE} "
            f"{said}"
        )
    if hint_expired and inspection is None:
        return CertificateExpiredError(
            f"The certificate of {target.where} has expired (or is not yet valid), so "
            f"verify-full refused it. Run `aurora-ssl inspect HOST` to see its dates. "
            f"{findings.ROTATE} {said}"
        )
    if inspection is not None and not inspection.check.trusted:
        from aurora_ssl.diagnostics.local_test_server import missing_test_bundle_hint

        issuers = [c.issuer_common_name for c in inspection.certificates]
        test_hint = missing_test_bundle_hint(issuers, inspection.trust.subjects)
        if test_hint is not None:  # the local test server, without its bundle
            return UntrustedCertificateError(f"{test_hint} {said}")
        detail = next(
            (f.message for f in inspection.errors if f.code == UntrustedCertificateError.__name__),
            "",
        )
        hints = " ".join(
            f.message for f in inspection.warnings if f.code != "trust" and f.code != "profile"
        )
        return UntrustedCertificateError(" ".join(p for p in (detail, hints, said) if p))
    return UntrustedCertificateError(
        f"The certificate of {target.where} is not signed by a CA this connection trusts, so "
        f"verify-full refused it. {findings.UNTRUSTED_CAUSES} An expired certificate is "
        "refused with the same words: run `aurora-ssl inspect HOST` to see what the server "
        f"presents. {said}"
    )


def _day(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _ago(days_left: int) -> str:
    if days_left < 0:
        return f"expired {-days_left} day(s) ago"
    return "not valid yet"


_cache: dict[Target, tuple[float, Inspection | None]] = {}
_cache_lock = threading.Lock()


def _inspect(target: Target, allowed: bool) -> Inspection | None:
    """One short inspection of ``target`` (memoised briefly); ``None`` when not possible."""
    if not allowed or not (target.host or target.hostaddr) or target.port is None:
        return None
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(target)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
    result = _inspect_now(target)
    with _cache_lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[target] = (now, result)
    return result


def _is_our_trust_file(path: str) -> bool:
    from pathlib import Path

    from aurora_ssl._trust import cache_dir

    try:
        return Path(path).name.startswith("trust-") and Path(path).parent == cache_dir()
    except (AuroraSSLError, OSError):
        return False


def _inspect_now(target: Target) -> Inspection | None:
    from aurora_ssl.diagnostics.inspection import inspect_server
    from aurora_ssl._trust import select_trust

    host = target.host or target.hostaddr
    assert host is not None
    assert target.port is not None
    try:
        root = target.sslrootcert
        use_root = root is not None and root.lower() != "system"
        trust = select_trust(host, sslrootcert=root if use_root else None)
        if use_root and _is_our_trust_file(str(root)):
            # The file libpq used is one aurora-ssl materialised: not "the user's own".
            trust = trust.replace(scope="selected by aurora-ssl")
        return inspect_server(
            host,
            target.port,
            hostaddr=target.hostaddr,
            trust=trust,
            timeout=INSPECTION_TIMEOUT,
        )
    except (AuroraSSLError, OSError, ValueError):
        return None
