"""The wire: PostgreSQL's SSLRequest, a TLS handshake, and the chain the server presents.

PostgreSQL starts TLS in-band: the client sends ``SSLRequest`` (8 bytes: length 8, code
80877103) and the server answers ``S`` (go ahead) or ``N`` (no TLS). :func:`fetch_chain`
does that, then a TLS handshake, and returns what the server presented. With a trust file
it first lets OpenSSL verify the chain and the host name exactly as libpq's verify-full does
(the verdict of ``aurora-ssl inspect``); a refused chain is then read again over a handshake
that verifies nothing, so that even a certificate libpq would reject can be described.

Every network step has a timeout. Failures to get a certificate at all raise
:class:`~aurora_ssl.errors.InspectionError` (name does not resolve, refused, timeout, not a
PostgreSQL server, handshake failure) or :class:`~aurora_ssl.errors.ServerTLSUnavailableError`
(the server answered ``N``). Nothing here sends credentials: the connection ends right after
the handshake, before any startup message.

Python gives the presented chain through ``SSLSocket.get_unverified_chain()`` from 3.13; on
older versions the same data is read from the socket's internal object where available
(3.10+), and otherwise only the leaf is known (``chain_complete`` is then ``False``).
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import struct

from aurora_ssl._redaction import shorten
from aurora_ssl.errors import InspectionError, ServerTLSUnavailableError

DEFAULT_TIMEOUT = 10.0
#: PostgreSQL's SSLRequest packet: length 8, code 80877103 (1234 << 16 | 5679). The one copy;
#: aurora_ssl.testing should import it too.
SSL_REQUEST = struct.pack("!II", 8, 80877103)


@dataclasses.dataclass(frozen=True)
class Handshake:
    """What the TLS handshake produced.

    Attributes:
        address: the peer's IP address.
        tls_version: e.g. ``TLSv1.3``.
        cipher: the negotiated cipher suite.
        chain: DER, leaf first, as presented.
        chain_complete: ``False`` when only the leaf could be read.
        openssl_verified: OpenSSL's verdict with the trust file and host name (libpq's
            verify-full), or ``None`` when no trust file was given.
        openssl_reason: OpenSSL's reason when it refused (``"certificate has expired"``).
    """

    address: str
    tls_version: str | None
    cipher: str | None
    chain: tuple[bytes, ...]
    chain_complete: bool
    openssl_verified: bool | None = None
    openssl_reason: str | None = None


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
    cafile: str | None = None,
) -> Handshake:
    """SSLRequest + a TLS handshake; returns the presented chain (DER) and, given a trust
    file, whether OpenSSL accepts it for ``host`` as libpq's verify-full would.

    Args:
        host: the name sent as SNI and verified (libpq sends the host name, not ``hostaddr``).
        port: the server port.
        hostaddr: the IP address to connect to instead of resolving ``host``.
        timeout: seconds allowed for each step (resolve/connect, SSLRequest reply, handshake).
        cafile: the trust file to verify with (libpq's ``sslrootcert``); ``None``: read the
            chain without verifying.

    Raises:
        InspectionError: the name does not resolve, the connection is refused or times out,
            the peer is not a PostgreSQL server, or the TLS handshake fails.
        ServerTLSUnavailableError: the server answered ``N`` (TLS is off).
    """
    if not 0 < timeout <= 86400:  # also NaN; the socket module would raise obscurely
        raise ValueError(f"timeout must be more than 0 and at most 86400 seconds, not {timeout}")
    where = shorten(f"{host}:{port}" + (f" ({hostaddr})" if hostaddr else ""))
    reason: str | None = None
    if cafile is not None:
        try:
            return _one(host, port, hostaddr, timeout, where, cafile)
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or str(exc)
    handshake = _one(host, port, hostaddr, timeout, where, None)
    if cafile is None:
        return handshake
    return dataclasses.replace(handshake, openssl_verified=False, openssl_reason=reason)


def _one(
    host: str, port: int, hostaddr: str | None, timeout: float, where: str, cafile: str | None
) -> Handshake:
    sock = _connect(host, port, hostaddr, timeout, where)
    try:
        address = str(sock.getpeername()[0])
        _ssl_request(sock, where)
        return _handshake(sock, host, address, where, cafile)
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


def _context(cafile: str | None) -> ssl.SSLContext:
    """libpq's client context for verify-full (``cafile``), or one that verifies nothing.

    ``SSLContext`` itself, not ``create_default_context()``: from Python 3.13 the latter adds
    ``VERIFY_X509_STRICT``, a stricter profile than libpq's, and would check differently.
    Host names are OpenSSL's check with libpq's rules: SAN entries, else the CN.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is None:
        # Nothing verified *in this handshake*: the chain is read even when it would be
        # refused, and checked afterwards.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context.verify_flags = ssl.VERIFY_X509_TRUSTED_FIRST
    context.hostname_checks_common_name = True
    try:
        context.load_verify_locations(cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise InspectionError(f"Cannot use the trust file {cafile} for inspection: {exc}.") from exc
    return context


def _handshake(
    sock: socket.socket, host: str, address: str, where: str, cafile: str | None
) -> Handshake:
    context = _context(cafile)
    try:
        tls = context.wrap_socket(sock, server_hostname=host.strip("[]"))
    except ssl.SSLCertVerificationError:
        raise  # OpenSSL's refusal: fetch_chain reads the chain again, unverified
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
        cipher = tls.cipher()
        return Handshake(
            address=address,
            tls_version=tls.version(),
            cipher=cipher[0] if cipher else None,
            chain=tuple(chain) if chain else (leaf,),
            chain_complete=bool(chain),
            openssl_verified=True if cafile is not None else None,
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
    try:  # public_bytes() gives PEM by default; no need for the private _ssl module
        return [ssl.PEM_cert_to_DER_cert(cert.public_bytes()) for cert in internal() or []]
    except (AttributeError, ValueError, TypeError):  # an internal API: never fail because of it
        return []
