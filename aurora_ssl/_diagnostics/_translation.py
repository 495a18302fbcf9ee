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
(also ``invalid padding``, ``unable to get local issuer``,  or what a given inspection finds
``data too large for modulus``: a look-alike CA)            (expired, another name)
``certificate has expired`` / ``is not yet valid``          :class:`CertificateExpiredError`
``server certificate for "..." does not match host name``   :class:`HostnameMismatchError`
``server does not support SSL, but SSL was required``       :class:`ServerTLSUnavailableError`
``pg_hba.conf rejects connection ... no encryption``        :class:`InsecureConfigurationError`
(also ``no pg_hba.conf entry``, ``SSL off``)
``unsupported protocol`` / ``alert protocol version``       :class:`TLSError`
``SSL SYSCALL error: EOF detected``                         :class:`TLSError`; with
(also ``unexpected eof while reading``)                     ``sslnegotiation=direct`` it says
                                                            the server is older than 17
``bad record mac`` on a connection in use                   :class:`TLSError`: it crossed a
(``decryption failed or bad record mac``)                   ``fork`` (a pool opened before it)
==========================================================  ===================================

Translation explains; it never probes. It runs inside Django's and SQLAlchemy's error paths,
so it reads only what the failure carries: libpq's message, the ``params`` of the attempt,
psycopg 3's ``exc.pgconn`` (the target and the trust file libpq used). libpq says "certificate
verify failed" alike for an unknown CA, a look-alike CA and an expired certificate, and names
one of the certificate's names: a caller that wants to know which, and every name, inspects
the server on purpose (:func:`~aurora_ssl._diagnostics._inspection.inspect_server`, as
``aurora-ssl check`` and ``manage.py check_aurora_ssl`` do) and passes the result as
``inspection``: its findings then explain the refusal.

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
import ssl
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import aurora_ssl.errors as errors
from aurora_ssl._bundles import common_name, pem_blocks, pem_der
from aurora_ssl._diagnostics._inspection import (
    ROTATE,
    UNTRUSTED_CAUSES,
    Inspection,
    Verdict,
    mismatch_message,
)
from aurora_ssl._endpoint import parse_endpoint
from aurora_ssl._libpq import libpq_of
from aurora_ssl._redaction import is_secret_key, mask_text

#: The fictitious region of aurora_ssl.testing's PKI: it exists in no AWS bundle, so a CA
#: named in it can only be the test server's. :mod:`aurora_ssl.testing._pki` issues its
#: certificates under these names.
TEST_REGION = "test-region-1"
TEST_CA_PREFIX = f"Amazon RDS {TEST_REGION} "
TEST_ROOT_CN = f"Amazon RDS {TEST_REGION} Root CA RSA2048 G1"

_LOCATION = re.compile(
    r'connection to server at "(?P<host>[^"]*)"(?: \((?P<addr>[^)]*)\))?, port (?P<port>\d+)'
)
_UNTRUSTED = re.compile(
    r"certificate verify failed|invalid padding|unable to get local issuer certificate|"
    r"self[- ]signed certificate in certificate chain|certificate signature failure|"
    r"unable to get issuer certificate|bad signature|data too large for modulus",
    re.IGNORECASE,
)
_MISMATCH = re.compile(
    r'(?:server certificate for "(?P<first>[^"]*)"(?: \(and (?P<more>\d+) other names?\))? )?'
    r'does not match host name "(?P<wanted>[^"]*)"'
)
_TLS_EOF = re.compile(
    r"(?i)SSL SYSCALL error: EOF detected|SSL error: unexpected eof while reading"
)
_PEM_FILE = (
    "Point sslrootcert at a PEM file of CA certificates ('-----BEGIN CERTIFICATE-----' blocks), "
    "such as `aurora-ssl bundle path HOST`, or remove it to let aurora-ssl choose. {said}"
)
#: libpq's words (a regular expression) -> our error and its message ({where}: the target;
#: {said}: libpq's words; other fields: the pattern's named groups). The first match wins.
_WORDS: dict[str, tuple[type[errors.AuroraSSLError], str]] = {
    r'root certificate file "(?P<path>[^"]*)" does not exist': (
        errors.BundleError,
        "The trust file {path} does not exist, so libpq cannot verify the server. Pass an "
        "existing CA bundle as sslrootcert, or remove sslrootcert and let aurora-ssl choose "
        "the RDS roots; do not follow libpq's suggestion to weaken sslmode or trust the "
        "system roots. {said}",
    ),
    r'could not read root certificate file "(?P<path>[^"]*)": [^\n]*no certificate': (
        errors.BundleError,
        "The trust file {path} is unusable: it holds no PEM certificate (or is a directory). "
        + _PEM_FILE,
    ),
    r'could not read root certificate file "(?P<path>[^"]*)": (?P<reason>[^\n]*)': (
        errors.BundleError,
        "The trust file {path} is unusable: it cannot be read ({reason}). " + _PEM_FILE,
    ),
    r"server does not support SSL, but SSL was required": (
        errors.ServerTLSUnavailableError,
        "{where} does not offer TLS, so the connection was refused rather than sent in clear "
        "text. RDS and Aurora always offer TLS: check that the host is the RDS endpoint and "
        "not a proxy, tunnel or other server; for a self-managed server, set ssl=on. {said}",
    ),
    (
        r"(?:no pg_hba\.conf entry|pg_hba\.conf rejects connection) for host [^\n]*"
        r"(?:SSL off|no encryption)"
    ): (
        errors.InsecureConfigurationError,
        "The server accepts only TLS connections (like RDS with rds.force_ssl=1) and this "
        "connection did not use TLS: sslmode=disable or the insecure_local_dev opt-out was in "
        "effect. Remove it; aurora-ssl connects with sslmode=verify-full. {said}",
    ),
    r"(?i)certificate has expired|certificate is not yet valid": (
        errors.CertificateExpiredError,
        "The certificate of {where} has expired (or is not yet valid), so verify-full refused "
        "it. Run `aurora-ssl inspect HOST` to see its dates. " + ROTATE + " {said}",
    ),
    r"(?i)(?:SSL|TLS).*(?:unsupported protocol|alert protocol version|no protocols available)": (
        errors.TLSError,
        "{where} and this client share no TLS version: aurora-ssl requires TLS 1.2 or newer "
        "(ssl_min_protocol_version=TLSv1.2). Upgrade the server's TLS configuration (every RDS "
        "and Aurora version supports TLS 1.2). {said}",
    ),
    # on a connection in use (not while connecting): two processes used one TLS session
    r"(?is)^(?!.*connection to server at).*bad record mac": (
        errors.TLSError,
        "This connection's TLS session was broken by another process using it too: it was "
        "opened before a fork (gunicorn --preload, Celery prefork, multiprocessing), so parent "
        "and child share one socket. Connections must not cross a fork: open them (and pools) "
        "after it, in each process: SQLAlchemy's engine.dispose(close=False) in the child "
        "(gunicorn's post_fork hook, Celery's worker_process_init signal); Django: "
        "django.db.close_old_connections() there, and no query in the master. {said}",
    ),
}
#: Inspection verdicts -> the error that explains them (any other: untrusted).
_INSPECTED = {
    Verdict.EXPIRED: errors.CertificateExpiredError,
    Verdict.HOSTNAME_MISMATCH: errors.HostnameMismatchError,
}
CERTIFICATE_REFUSALS = (errors.UntrustedCertificateError, *_INSPECTED.values())


# -- what the driver's exception tells -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a failed connection was going, as far as can be told (all fields optional).

    Attributes:
        host: the name libpq verifies (``host``), if known.
        hostaddr: the address connected to, if known.
        port: the port.
        sslrootcert: the trust file libpq used, if known.
        sslnegotiation: how TLS was to start (``direct``: without the SSLRequest), if known.
    """

    host: str | None = None
    hostaddr: str | None = None
    port: int | None = None
    sslrootcert: str | None = None
    sslnegotiation: str | None = None

    @property
    def where(self) -> str:
        port = f":{self.port}" if self.port else ""
        via = f" ({self.hostaddr})" if self.host and self.hostaddr else ""
        return f"{self.host or self.hostaddr or 'the server'}{port}{via}"


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its cause or context, and so on (at most 8, no cycles)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def driver_text(exc: BaseException) -> str:
    """The first message in the chain that came from libpq (or any text, failing that)."""
    texts = [str(e) for e in exception_chain(exc) if str(e).strip()]
    libpq = (t for t in texts if _LOCATION.search(t) or "SSL" in t or "certificate" in t)
    return next(libpq, texts[0] if texts else "")


def _text_of(value: Any) -> str | None:
    """A parameter value as stripped text (bytes decoded), or ``None`` when empty."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
    return text.strip() or None


def _pgconn_option(exc: BaseException, keyword: bytes) -> str | None:
    """A libpq option of psycopg 3's finished connection attached to the chain, if any."""
    for link in exception_chain(exc):
        with contextlib.suppress(Exception):  # a finished PGconn: attributes may be gone
            for option in getattr(link, "pgconn", None).info or ():  # type: ignore[union-attr]
                if option.keyword == keyword:
                    return _text_of(option.val)
    return None


def target_of(exc: BaseException, params: Mapping[str, Any] | None = None) -> Target:
    """Best knowledge of the target: ``params``, then psycopg 3's ``pgconn``, then the message."""
    host, hostaddr, port, root, negotiation = (
        _text_of((params or {}).get(key)) or _pgconn_option(exc, key.encode())
        for key in ("host", "hostaddr", "port", "sslrootcert", "sslnegotiation")
    )
    location = _LOCATION.search(driver_text(exc))
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
    return Target(host, hostaddr, int(first) if first.isdigit() else None, root, negotiation)


def redact_driver_secrets(exc: BaseException) -> None:
    """Blank the password that psycopg 3 keeps in a failed connection's ``exc.pgconn``.

    psycopg 3 attaches the finished connection, whose repr includes the password in clear,
    to its exceptions; error trackers that record exception attributes or locals would
    store it. Everything we need from it (host, port, trust file) was read before this runs.
    """
    for link in exception_chain(exc):
        pgconn: Any = getattr(link, "_pgconn", None)
        # Only psycopg 3's FinishedPGconn (a dataclass) is replaced; never let redaction hide
        # the real error.
        with contextlib.suppress(Exception):
            info = [  # ConninfoOption is a NamedTuple
                o._replace(val=None) if is_secret_key(bytes(o.keyword or b"").decode()) else o
                for o in pgconn.info
            ]
            link._pgconn = dataclasses.replace(pgconn, password=None, info=info)  # type: ignore[attr-defined]


# -- the translation -------------------------------------------------------------------------


def translate_error(
    exc: BaseException,
    *,
    params: Mapping[str, Any] | None = None,
    inspection: Inspection | None = None,
) -> errors.AuroraSSLError | None:
    """Return our error for a driver's connection failure, or ``None`` to keep the original.

    Pure: it reads the exception, ``params`` and at most the trust file libpq used; it never
    connects anywhere, so it is safe in an application's error path.

    Args:
        exc: a psycopg2 or psycopg 3 exception, or one wrapping it (Django's
            ``OperationalError`` has the driver's as ``__cause__``).
        params: the libpq parameters of the attempt, if the caller has them (host,
            hostaddr, port, sslrootcert); passwords in them are never used.
        inspection: what the caller found by inspecting the server on purpose; with it, a
            refused certificate is explained by its findings (expired since when, which
            names it covers, look-alike CA).

    Returns:
        The translated error, with ``exc`` as ``__cause__``, or ``None`` when ``exc`` is not a
        TLS failure (wrong password, database missing, network down ...).
    """
    if isinstance(exc, errors.AuroraSSLError):
        return None
    target = target_of(exc, params)  # read psycopg 3's pgconn before it is blanked
    redact_driver_secrets(exc)
    text = driver_text(exc)
    said = f'(libpq: "{mask_text(" ".join(text.split()))}")'
    error = _translate(text, target, said)
    if inspection is not None and isinstance(error, CERTIFICATE_REFUSALS):
        error = _explained(inspection, said) or error
    if error is not None:
        error.__cause__ = exc
    return error


def translate_socket_error(exc: BaseException, target: Any) -> errors.AuroraSSLError | None:
    """asyncpg's and pg8000's failures explained as libpq's are, or ``None``.

    Their raw failures (``ssl`` errors, asyncpg's ``rejected SSL upgrade``, pg8000's ``Server
    refuses SSL``, a connection reset during the set-up) are restated in libpq's words, so
    their users get the errors psycopg users get; the driver's own words end the message.
    ``target`` is the :class:`~aurora_ssl._policy.SocketTarget` the attempt was made with.
    Pure, like :func:`translate_error`.
    """
    text, kwargs, name = str(exc), target.kwargs, target.server_name
    driver = "pg8000" if "ssl_context" in kwargs else "asyncpg"
    said = f'({driver}: "{mask_text(" ".join(text.split()))[:300]}")'
    if isinstance(exc, ssl.SSLCertVerificationError) and (
        exc.verify_code == 62 or "hostname mismatch" in text.lower()
    ):
        libpq = f'server certificate does not match host name "{name}"'
    elif isinstance(exc, ssl.SSLError):  # with OpenSSL's reason: "certificate has expired" ...
        libpq = f"SSL error: {text}"
    elif "rejected SSL upgrade" in text or "Server refuses SSL" in text:
        libpq = "server does not support SSL, but SSL was required"
    elif isinstance(exc, ConnectionResetError) or "unexpected connection_lost" in text:
        libpq = "SSL SYSCALL error: EOF detected"
    else:
        return None
    address = kwargs.get("host")
    hostaddr = address if address != name else None
    negotiation = "direct" if kwargs.get("direct_tls") else "postgres"
    where = Target(name, hostaddr, kwargs.get("port"), target.trust.path, negotiation)
    return _translate(libpq, where, said)


def _translate(text: str, target: Target, said: str) -> errors.AuroraSSLError | None:
    """libpq's words as our error: the table first, then the cases whose message is computed
    (the names of a mismatch, the test server, how TLS was to start); ``None``: not TLS."""
    for pattern, (kind, message) in _WORDS.items():
        match = re.search(pattern, text)
        if match:
            return kind(message.format(where=target.where, said=said, **match.groupdict()))
    mismatch = _MISMATCH.search(text)
    if mismatch:
        host = mismatch["wanted"] or target.host or "the host"
        names = [mismatch["first"]] if mismatch["first"] else []
        message = mismatch_message(host, names, mismatch["more"])
        return errors.HostnameMismatchError(f"{message} {said}")
    if _UNTRUSTED.search(text):
        hint = _test_server_hint(target) or (
            f"The certificate of {target.where} is not signed by a CA this connection trusts, "
            f"so verify-full refused it. {UNTRUSTED_CAUSES} An expired certificate is refused "
            "with the same words: run `aurora-ssl inspect HOST` to see what the server presents."
        )
        return errors.UntrustedCertificateError(f"{hint} {said}")
    if not _TLS_EOF.search(text):
        return None
    # Closed during the handshake: with sslnegotiation=direct, a server older than 17.
    mode = target.sslnegotiation or _text_of(os.environ.get("PGSSLNEGOTIATION")) or ""
    source = "the connection's settings" if target.sslnegotiation else "PGSSLNEGOTIATION"
    if mode.lower() == "direct":
        return errors.TLSError(
            f"{target.where} closed the connection as the TLS handshake began: "
            f"sslnegotiation=direct (from {source}) starts TLS without PostgreSQL's "
            "SSLRequest, which only PostgreSQL 17 and newer servers accept (older ones log "
            "'invalid length of startup packet'). Remove sslnegotiation=direct (and "
            "PGSSLNEGOTIATION) to use the standard negotiation every server supports, or "
            f"upgrade the server to PostgreSQL 17. {said}"
        )
    return errors.TLSError(
        f"{target.where} closed the connection during the TLS handshake. Check the server's "
        "log; a proxy or load balancer in between may not speak PostgreSQL's TLS "
        "negotiation; and if sslnegotiation=direct is set anywhere (PGSSLNEGOTIATION, a "
        f"service file), the server must be PostgreSQL 17 or newer. {said}"
    )


def _explained(inspection: Inspection, said: str) -> errors.TLSError | None:
    """The refusal as an inspection of the server explains it, if it found one."""
    if not inspection.errors:  # verified: OpenSSL accepts it, whatever else it found
        return None
    issuers = [common_name(c.issuer) for c in inspection.certificates]
    hint = missing_test_bundle_hint(issuers, inspection.trust.subjects)
    if hint is not None and not inspection.trusted:
        return errors.UntrustedCertificateError(f"{hint} {said}")
    kind = _INSPECTED.get(inspection.verdict, errors.UntrustedCertificateError)
    found = sorted(inspection.errors, key=lambda f: f.code != kind.__name__)  # the verdict's first
    # Its warnings but the trust selection's own notes and advice explain the refusal too.
    hints = [f.message for f in inspection.warnings if f.code not in ("trust", "profile")]
    return kind(" ".join([*(f.message for f in found), *hints, said]))


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
        tls_verified: whether the refusal came over the TLS session verify-full verified:
            only a libpq with the fix for CVE-2024-10977 shows a server's error no earlier.
        message: what happened and what to do, with the TLS state as far as it is known.
    """

    reason: str
    tls_verified: bool
    message: str


def login_refusal(exc: BaseException, *, libpq_version: int | None = None) -> LoginRefusal | None:
    """The refused login behind a driver's connection failure, or ``None`` if it is not one.

    Pure, like :func:`translate_error`: the server's reason is read from libpq's message.

    Args:
        exc: a psycopg2 or psycopg 3 exception, or one wrapping it.
        libpq_version: the libpq that made the attempt (e.g. 170011); default: the raising
            driver's.
    """
    match = _LOGIN_REFUSED.search(driver_text(exc))
    if match is None:
        return None
    if libpq_version is None:  # the libpq of the driver whose exception is in the chain
        drivers = (type(link).__module__.partition(".")[0] for link in exception_chain(exc))
        driver = next((d for d in drivers if d in ("psycopg", "psycopg2")), None)
        libpq_version = libpq_of(driver).version if driver else None
    reason = match["server"] or match["client"]
    major, minor = divmod(libpq_version or 0, 10000)
    libpq = f"libpq {major}.{minor}" if libpq_version else "this driver's libpq"
    verified = major > 17 or minor >= _CVE_2024_10977_FIXED.get(major, 10000)
    if verified:
        what = (
            f"TLS was verified first ({libpq} shows a server's error only over the TLS session "
            "it verified), so fix the login itself: the user name, the password or IAM token, "
            "the server's pg_hba.conf rules. Changing sslmode would not help."
        )
    else:
        what = (
            f"Whether TLS was verified is unknown: {libpq} predates the fix for CVE-2024-10977 "
            "(libpq 17.1, 16.5, 15.9, 14.14, 13.17), so it may show an error sent before TLS by "
            "anyone on the path. Upgrade the driver (its binary wheel bundles a current libpq); "
            "`aurora-ssl inspect HOST` shows whether the server's certificate verifies."
        )
    return LoginRefusal(reason, verified, f"Login refused: {reason}. {what}")


# -- the local test server -------------------------------------------------------------------


def _test_server_hint(target: Target) -> str | None:
    """The forgotten-test-bundle advice, if the refused server is aurora_ssl.testing's: the
    host is in the test PKI's region, and the trust file libpq used (when known) holds no test
    CA. When the trust file is not known (psycopg2 does not tell it), the hint is given: it
    says what else the refusal means if the test root was trusted. The file's DER carries the
    CN as plain bytes, so no X.509 parser is needed."""
    if not target.host or parse_endpoint(target.host).region != TEST_REGION:
        return None
    with contextlib.suppress(OSError, ValueError), open(target.sslrootcert or "", "rb") as file:
        if any(TEST_CA_PREFIX.encode() in pem_der(b) for b in pem_blocks(file.read(4 << 20))):
            return None  # the test root was trusted: the refusal is something else
    return missing_test_bundle_hint([TEST_ROOT_CN], [])


def is_test_ca(name: str | None) -> bool:
    """Whether a CA common name is one of aurora_ssl.testing's PKI (trusted or look-alike):
    ``test-region-1`` exists in no AWS bundle, so a name in it can only come from there."""
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
    if not any(is_test_ca(issuer) for issuer in issuers) or any(map(is_test_ca, trusted)):
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
