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
``data too large for modulus``: a look-alike CA)            when a given inspection finds it
                                                            expired
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

Translation explains; it never probes. It runs inside Django's and SQLAlchemy's error paths,
so it reads only what the failure carries: libpq's message, the ``params`` of the attempt,
psycopg 3's ``exc.pgconn`` (the target and the trust file libpq used). libpq says "certificate
verify failed" alike for an unknown CA, a look-alike CA and an expired certificate, and names
one of the certificate's names: a caller that wants to know which, and every name, inspects
the server on purpose (:func:`~aurora_ssl._diagnostics.inspect_server`, as ``aurora-ssl
check`` and ``manage.py check_aurora_ssl`` do) and passes the result as ``inspection``.

The translated error's message never contains a password or a connection string: it is
built from libpq's message (which has neither) after scrubbing anything shaped like one, and
the driver's exception is kept as ``__cause__``. psycopg 3 attaches the finished connection,
password included, to its exceptions: :func:`translate_error` blanks it.

The names of :mod:`aurora_ssl.testing`'s PKI are defined here, so that a forgotten *test*
bundle is not blamed on an outdated AWS bundle without the diagnostics importing the harness:
the test server's name is in a region no AWS bundle has, and the trust file libpq used (read
locally, when known) shows whether the test root was trusted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aurora_ssl._bundles import pem_blocks, pem_der
from aurora_ssl._diagnostics._inspection import ROTATE, UNTRUSTED_CAUSES, Inspection, name_hint
from aurora_ssl._endpoint import parse_endpoint
from aurora_ssl._libpq import libpq_of
from aurora_ssl._redaction import is_secret_key, mask_text
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

if TYPE_CHECKING:
    import datetime

#: The fictitious region of aurora_ssl.testing's PKI: it exists in no AWS bundle, so a CA
#: named in it can only be the test server's. :mod:`aurora_ssl.testing._pki` issues its
#: certificates under these names.
TEST_REGION = "test-region-1"
TEST_CA_PREFIX = f"Amazon RDS {TEST_REGION} "
TEST_ROOT_CN = f"Amazon RDS {TEST_REGION} Root CA RSA2048 G1"

_LOCATION = re.compile(
    r'connection to server at "(?P<host>[^"]*)"(?: \((?P<addr>[^)]*)\))?, port (?P<port>\d+)'
)
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


# -- what the driver's exception tells -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a failed connection was going, as far as can be told (all fields optional).

    Attributes:
        host: the name libpq verifies (``host``), if known.
        hostaddr: the address connected to, if known.
        port: the port.
        sslrootcert: the trust file libpq used, if known.
    """

    host: str | None = None
    hostaddr: str | None = None
    port: int | None = None
    sslrootcert: str | None = None

    @property
    def where(self) -> str:
        name = self.host or self.hostaddr or "the server"
        port = f":{self.port}" if self.port else ""
        via = f" ({self.hostaddr})" if self.host and self.hostaddr else ""
        return f"{name}{port}{via}"


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its cause or context, and so on (at most 8, no cycles)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def driver_text(exc: BaseException) -> str | None:
    """The first message in the chain that came from libpq (or any text, failing that)."""
    texts = [str(e) for e in exception_chain(exc) if str(e).strip()]
    for text in texts:
        if _LOCATION.search(text) or "SSL" in text or "certificate" in text:
            return text
    return texts[0] if texts else None


def _text_of(value: Any) -> str | None:
    """A parameter value as stripped text (bytes decoded), or ``None`` when empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    return text or None


def _pgconn_of(exc: BaseException) -> Any:
    """psycopg 3's finished connection attached to the exception chain, if any."""
    links = (getattr(link, "pgconn", None) for link in exception_chain(exc))
    return next((pgconn for pgconn in links if pgconn is not None), None)


def _pgconn_option(pgconn: Any, keyword: bytes) -> str | None:
    with contextlib.suppress(Exception):  # a finished PGconn: attributes may be gone
        for option in getattr(pgconn, "info", None) or ():
            if option.keyword == keyword:
                return _text_of(option.val)
    return None


def target_of(exc: BaseException, params: Mapping[str, Any] | None = None) -> Target:
    """Best knowledge of the target: ``params``, then psycopg 3's ``pgconn``, then the message."""
    given = params or {}
    host, hostaddr = _text_of(given.get("host")), _text_of(given.get("hostaddr"))
    port, root = _text_of(given.get("port")), _text_of(given.get("sslrootcert"))
    pgconn = _pgconn_of(exc)
    if pgconn is not None:
        with contextlib.suppress(Exception):  # a finished PGconn: attributes may be gone
            host = host or _text_of(pgconn.host)
            hostaddr = hostaddr or _text_of(getattr(pgconn, "hostaddr", None))
            port = port or _text_of(pgconn.port)
        root = root or _pgconn_option(pgconn, b"sslrootcert")
    location = _LOCATION.search(driver_text(exc) or "")
    if location:
        # libpq names the host as given, or only the address when hostaddr was given.
        named, addr = location["host"], location["addr"]
        if addr:
            host, hostaddr = host or named, hostaddr or addr
        elif host is None and hostaddr is None:
            hostaddr = named
        port = port or location["port"]
    if host and "," in host:
        host = None  # a multi-host list: which one failed is only in the message
    first = port.split(",")[0] if port else ""
    return Target(host, hostaddr, int(first) if first.isdigit() else None, root)


def redact_driver_secrets(exc: BaseException) -> None:
    """Blank the password that psycopg 3 keeps in a failed connection's ``exc.pgconn``.

    psycopg 3 attaches the finished connection, whose repr includes the password in clear,
    to its exceptions; error trackers that record exception attributes or locals would
    store it. Everything we need from it (host, port, trust file) was read before this runs.
    """
    for link in exception_chain(exc):
        pgconn: Any = getattr(link, "_pgconn", None)
        if (
            pgconn is None
            or isinstance(pgconn, type)
            or not hasattr(pgconn, "__dataclass_fields__")
        ):
            continue
        changes: dict[str, Any] = {}
        names = {f.name for f in dataclasses.fields(pgconn)}
        if "password" in names:
            changes["password"] = None
        if "info" in names and getattr(pgconn, "info", None):
            changes["info"] = [
                o._replace(val=None)  # ConninfoOption is a NamedTuple
                if is_secret_key(
                    bytes(getattr(o, "keyword", b"") or b"").decode("ascii", "replace")
                )
                else o
                for o in pgconn.info
            ]
        with contextlib.suppress(Exception):  # never let redaction hide the real error
            link._pgconn = dataclasses.replace(pgconn, **changes)  # type: ignore[attr-defined]


def _negotiation(exc: BaseException, params: Mapping[str, Any] | None) -> tuple[str, str]:
    """libpq's ``sslnegotiation`` for the attempt and where it came from, as far as known."""
    value = _text_of((params or {}).get("sslnegotiation"))
    if value:
        return value.lower(), "the connection parameters"
    value = _pgconn_option(_pgconn_of(exc), b"sslnegotiation")
    if value:
        return value.lower(), "libpq's settings"
    value = _text_of(os.environ.get("PGSSLNEGOTIATION"))
    if value:
        return value.lower(), "PGSSLNEGOTIATION"
    return "", ""


# -- the translation -------------------------------------------------------------------------


def scrub(text: str) -> str:
    """``text`` with anything shaped like a secret masked (see :func:`redaction.mask_text`)."""
    return mask_text(text)


def translate_error(
    exc: BaseException,
    *,
    params: Mapping[str, Any] | None = None,
    inspection: Inspection | None = None,
) -> AuroraSSLError | None:
    """Return our error for a driver's connection failure, or ``None`` to keep the original.

    Pure: it reads the exception, ``params`` and at most the trust file libpq used; it never
    connects anywhere, so it is safe in an application's error path.

    Args:
        exc: a psycopg2 or psycopg 3 exception, or one wrapping it (Django's
            ``OperationalError`` has the driver's as ``__cause__``).
        params: the libpq parameters of the attempt, if the caller has them (host,
            hostaddr, port, sslrootcert); passwords in them are never used.
        inspection: what the caller found by inspecting the server on purpose; with it, a
            refused certificate is explained (expired since when, which names it covers,
            look-alike CA).

    Returns:
        The translated error, with ``exc`` as ``__cause__``, or ``None`` when ``exc`` is not a
        TLS set-up failure (wrong password, database missing, network down ...).
    """
    if isinstance(exc, AuroraSSLError):
        return None
    target = target_of(exc, params)  # read psycopg 3's pgconn before it is blanked
    redact_driver_secrets(exc)
    text = driver_text(exc)
    if text is None:
        return None
    error = _translate(text, exc, params, target, inspection)
    if error is not None:
        error.__cause__ = exc
    return error


def _libpq_said(text: str) -> str:
    return f'(libpq: "{scrub(" ".join(text.split()))}")'


def _translate(
    text: str,
    exc: BaseException,
    params: Mapping[str, Any] | None,
    target: Target,
    inspection: Inspection | None,
) -> AuroraSSLError | None:
    said = _libpq_said(text)
    trust_file = _trust_file_error(text, said)
    if trust_file is not None:
        return trust_file
    if _NO_SERVER_TLS.search(text):
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
    wanted = _MISMATCH.search(text)
    if wanted:
        host = wanted["wanted"] or target.host or "the host"
        return _mismatch(text, host, inspection, said)
    if _EXPIRED.search(text) or _UNTRUSTED.search(text):
        expired = bool(_EXPIRED.search(text))
        return _expired_or_untrusted(target, inspection, said, expired)
    if _TLS_EOF.search(text):
        return _closed_during_handshake(exc, params, target, said)
    if _OLD_PROTOCOL.search(text) and ("SSL" in text or "TLS" in text):
        return TLSError(
            f"{target.where} and this client share no TLS version: aurora-ssl requires TLS "
            "1.2 or newer (ssl_min_protocol_version=TLSv1.2). Upgrade the server's TLS "
            f"configuration (every RDS and Aurora version supports TLS 1.2). {said}"
        )
    return None


def _trust_file_error(text: str, said: str) -> BundleError | None:
    match = _MISSING_ROOT.search(text)
    if match:
        return BundleError(
            f"The trust file {match['path']} does not exist, so libpq cannot verify the "
            "server. Pass an existing CA bundle as sslrootcert, or remove sslrootcert and let "
            "aurora-ssl choose the RDS roots; do not follow libpq's suggestion to weaken "
            f"sslmode or trust the system roots. {said}"
        )
    match = _UNREADABLE_ROOT.search(text)
    if match is None:
        return None
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


def _closed_during_handshake(
    exc: BaseException, params: Mapping[str, Any] | None, target: Target, said: str
) -> TLSError:
    mode, source = _negotiation(exc, params)
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
    text: str, host: str, inspection: Inspection | None, said: str
) -> HostnameMismatchError:
    names_match = _MISMATCH_NAMES.search(text)
    names: list[str] = [names_match["first"]] if names_match else []
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
    hint = name_hint(host, names)
    if hint:
        message += f" {hint}"
    return HostnameMismatchError(f"{message} {said}")


def _expired_or_untrusted(
    target: Target, inspection: Inspection | None, said: str, expired: bool
) -> TLSError:
    if inspection is not None and not inspection.check.time_valid:
        leaf = inspection.leaf
        return CertificateExpiredError(
            f"The certificate of {target.where} is outside its validity period "
            f"({_day(leaf.not_before)} to {_day(leaf.not_after)}; "
            f"{_ago(inspection.days_left)}), so verify-full refused it. {ROTATE} {said}"
        )
    if expired and inspection is None:
        return CertificateExpiredError(
            f"The certificate of {target.where} has expired (or is not yet valid), so "
            f"verify-full refused it. Run `aurora-ssl inspect HOST` to see its dates. "
            f"{ROTATE} {said}"
        )
    test_hint = _test_server_hint(target, inspection)
    if test_hint is not None:  # the local test server, without its bundle
        return UntrustedCertificateError(f"{test_hint} {said}")
    if inspection is not None and not inspection.check.trusted:
        detail = next(
            (f.message for f in inspection.errors if f.code == UntrustedCertificateError.__name__),
            "",
        )
        hints = " ".join(f.message for f in inspection.warnings if f.code not in IGNORED_HINTS)
        return UntrustedCertificateError(" ".join(p for p in (detail, hints, said) if p))
    return UntrustedCertificateError(
        f"The certificate of {target.where} is not signed by a CA this connection trusts, so "
        f"verify-full refused it. {UNTRUSTED_CAUSES} An expired certificate is "
        "refused with the same words: run `aurora-ssl inspect HOST` to see what the server "
        f"presents. {said}"
    )


#: Inspection warnings that do not explain a refusal (the trust selection's own notes, advice).
IGNORED_HINTS = frozenset({"trust", "profile"})


def _day(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _ago(days_left: int) -> str:
    if days_left < 0:
        return f"expired {-days_left} day(s) ago"
    return "not valid yet"


# -- a refused login -------------------------------------------------------------------------

#: What PostgreSQL says when it refuses a login (SQLSTATE class 28: 28000 invalid authorization
#: specification, 28P01 invalid password), or libpq when the server asks for a password it
#: does not have. The server speaks English unless its lc_messages says otherwise (RDS does).
_LOGIN_REFUSED = re.compile(
    r"(?:(?:FATAL|ERROR):\s+(?P<server>(?:\S+ )?authentication failed for user \"[^\"]*\"|"
    r"role \"[^\"]*\" (?:does not exist|is not permitted to log in)|"
    r"(?:no pg_hba\.conf entry|pg_hba\.conf rejects connection) for host [^\n]*|"
    r"connection requires a valid client certificate|"
    r"provided user name \([^)]*\) and authenticated user name \([^)]*\) do not match))|"
    r"(?P<client>fe_sendauth: no password supplied)"
)
#: The first release of each libpq major version with the fix for CVE-2024-10977: before it,
#: libpq showed an error that the server (or anyone on the path) sent before TLS was set up.
_CVE_2024_10977_FIXED = {13: 17, 14: 14, 15: 9, 16: 5, 17: 1}


@dataclasses.dataclass(frozen=True)
class LoginRefusal:
    """The server refused the login: not a TLS failure, whatever the driver's class says.

    Attributes:
        reason: the server's words (libpq's, when it had no password to give).
        libpq_version: the driver's libpq, e.g. 170011 (``None``: unknown).
    """

    reason: str
    libpq_version: int | None

    @property
    def tls_verified(self) -> bool:
        """Whether the refusal came over the TLS session verify-full verified: only a libpq
        with the fix for CVE-2024-10977 shows a server's error no earlier than that."""
        if self.libpq_version is None:
            return False
        major, minor = divmod(self.libpq_version, 10000)
        return major > 17 or minor >= _CVE_2024_10977_FIXED.get(major, 10000)

    @property
    def message(self) -> str:
        """What happened and what to do, with the TLS state as far as it is known."""
        major, minor = divmod(self.libpq_version or 0, 10000)
        libpq = f"libpq {major}.{minor}" if self.libpq_version else "this driver's libpq"
        if self.tls_verified:
            return (
                f"Login refused: {self.reason}. TLS was verified first ({libpq} shows a "
                "server's error only over the TLS session it verified), so fix the login "
                "itself: the user name, the password or IAM token, the server's pg_hba.conf "
                "rules. Changing sslmode would not help."
            )
        return (
            f"Login refused: {self.reason}. Whether TLS was verified is unknown: {libpq} "
            "predates the fix for CVE-2024-10977 (libpq 17.1, 16.5, 15.9, 14.14, 13.17), so it "
            "may show an error sent before TLS by anyone on the path. Upgrade the driver (its "
            "binary wheel bundles a current libpq); `aurora-ssl inspect HOST` shows whether "
            "the server's certificate verifies."
        )


def login_refusal(exc: BaseException, *, libpq_version: int | None = None) -> LoginRefusal | None:
    """The refused login behind a driver's connection failure, or ``None`` if it is not one.

    Pure, like :func:`translate_error`: the server's reason is read from libpq's message.

    Args:
        exc: a psycopg2 or psycopg 3 exception, or one wrapping it.
        libpq_version: the libpq that made the attempt; default: the raising driver's.
    """
    match = _LOGIN_REFUSED.search(driver_text(exc) or "")
    if match is None:
        return None
    version = libpq_version if libpq_version is not None else _libpq_of(exc)
    return LoginRefusal(match["server"] or match["client"], version)


def _libpq_of(exc: BaseException) -> int | None:
    """The libpq version of the driver whose exception is in the chain."""
    for link in exception_chain(exc):
        driver = type(link).__module__.partition(".")[0]
        if driver in ("psycopg", "psycopg2"):
            return libpq_of(driver).version
    return None


# -- the local test server -------------------------------------------------------------------


def _test_server_hint(target: Target, inspection: Inspection | None) -> str | None:
    """The forgotten-test-bundle advice, if the refused server is aurora_ssl.testing's.

    With an inspection, its issuers and trust set tell; without one, the names do: the host is
    in the test PKI's region, and the trust file libpq used (when known) holds no test CA. When
    the trust file is not known (psycopg2 does not tell it), the hint is given: it says what
    else the refusal means if the test root was trusted.
    """
    if inspection is not None:
        if inspection.check.trusted:
            return None
        issuers = [c.issuer_common_name for c in inspection.certificates]
        return missing_test_bundle_hint(issuers, inspection.trust.subjects)
    if not target.host or parse_endpoint(target.host).region != TEST_REGION:
        return None
    trusted = [TEST_ROOT_CN] if _holds_test_ca(target.sslrootcert) else []
    return missing_test_bundle_hint([TEST_ROOT_CN], trusted)


def _holds_test_ca(path: str | None) -> bool:
    """Whether a PEM file holds a certificate naming the test PKI (its DER carries the CN as
    plain bytes, so no X.509 parser is needed); ``False`` when unknown or unreadable."""
    if not path:
        return False
    try:
        with open(path, "rb") as file:
            blocks = pem_blocks(file.read(4 * 1024 * 1024))
        return any(TEST_CA_PREFIX.encode() in pem_der(block) for block in blocks)
    except (OSError, ValueError):
        return False


def is_test_ca(name: str | None) -> bool:
    """Whether a CA common name is one of aurora_ssl.testing's PKI (trusted or look-alike).

    ``test-region-1`` exists in no AWS bundle, so a name in it can only come from there.

    Args:
        name: a certificate's subject or issuer common name (``None`` allowed: no CN).
    """
    return bool(name) and str(name).startswith(TEST_CA_PREFIX)


def missing_test_bundle_hint(issuers: Iterable[str | None], trusted: Iterable[str]) -> str | None:
    """The advice for a client that reached the test server without the test bundle.

    Used by error translation so that a forgotten test bundle is not blamed on an outdated
    AWS bundle (``aurora-ssl bundle update`` cannot help: no AWS bundle has this root).

    Args:
        issuers: issuer common names of the certificates the server presented.
        trusted: common names of the roots the connection trusted.

    Returns:
        The message, or ``None`` when the server is not the test server or the test root was
        trusted (then the failure is something else, e.g. the interception scenario).
    """
    if not any(is_test_ca(issuer) for issuer in issuers):
        return None
    if any(is_test_ca(name) for name in trusted):
        return None
    return (
        "This looks like aurora_ssl.testing's server (its certificate comes from the test "
        f"PKI, '{TEST_ROOT_CN}'): unless this connection trusts the test root, pass the test "
        "bundle, e.g. bundle=server.pki.bundle_path (aurora_ssl_bundle= in a URL, "
        'AURORA_SSL["BUNDLE"] in Django) or set AURORA_SSL_BUNDLE to that file. Running '
        "`aurora-ssl bundle update` will not help: no AWS bundle holds the test root. (If "
        "the test bundle was in use, the certificate is expired, the 'expired' scenario, or "
        "a look-alike CA signed it, the 'interception' scenario or real TLS interception: "
        "`aurora-ssl check` tells which.)"
    )
