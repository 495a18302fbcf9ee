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

Python gives the presented chain through ``SSLSocket.get_unverified_chain()`` from 3.13, and
through the socket's own SSL object's method of that name before (3.10+).
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import struct

from aurora_ssl._redaction import shorten
from aurora_ssl.errors import InspectionError, ServerTLSUnavailableError

DEFAULT_TIMEOUT = 10.0
#: PostgreSQL's SSLRequest packet: length 8, code 80877103 (1234 << 16 | 5679).
SSL_REQUEST = struct.pack("!II", 8, 80877103)


@dataclasses.dataclass(frozen=True)
class Handshake:
    """What the TLS handshake produced.

    Attributes:
        address: the peer's IP address.
        tls_version: e.g. ``TLSv1.3``.
        cipher: the negotiated cipher suite.
        chain: DER, leaf first, as presented.
        openssl_verified: OpenSSL's verdict with the trust file and host name (libpq's
            verify-full), or ``None`` when no trust file was given.
        openssl_reason: OpenSSL's reason when it refused (``"certificate has expired"``).
    """

    address: str
    tls_version: str | None
    cipher: str | None
    chain: tuple[bytes, ...]
    openssl_verified: bool | None = None
    openssl_reason: str | None = None


def split_host_port(target: str) -> tuple[str, int]:
    """Split ``HOST``, ``HOST:PORT``, ``[IPV6]:PORT`` or a bare IPv6 address (port: 5432 unless
    given).

    Raises:
        ValueError: an empty host or a port that is not a number in 1..65535.
    """
    text = target.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"No host in {target!r}.")
    port_text = port_text or "5432"
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
        cafile: the trust file to verify with (libpq's ``sslrootcert``), a bundle the caller
            has loaded (:func:`~aurora_ssl._bundles.load_bundle`); ``None``: read the chain
            without verifying.

    Raises:
        InspectionError: the name does not resolve, the connection is refused or times out,
            the peer is not a PostgreSQL server, or the TLS handshake fails.
        ServerTLSUnavailableError: the server answered ``N`` (TLS is off).
    """
    if not 0 < timeout <= 86400:  # also NaN; the socket module would raise obscurely
        raise ValueError(f"timeout must be more than 0 and at most 86400 seconds, not {timeout}")
    where = shorten(f"{host}:{port}" + (f" ({hostaddr})" if hostaddr else ""))
    address = (hostaddr or host, port)
    try:
        return _handshake(host, address, timeout, where, cafile)
    except ssl.SSLCertVerificationError as exc:  # read the chain again, verifying nothing
        reason = exc.verify_message or str(exc)
    handshake = _handshake(host, address, timeout, where, None)
    return dataclasses.replace(handshake, openssl_verified=False, openssl_reason=reason)


def _handshake(
    host: str, address: tuple[str, int], timeout: float, where: str, cafile: str | None
) -> Handshake:
    context = _context(cafile)
    with _connect(address, timeout, where) as sock:
        peer = str(sock.getpeername()[0])
        _ssl_request(sock, where)
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
        with tls:
            chain, cipher = _presented_chain(tls), tls.cipher()
            if not chain:
                raise InspectionError(f"Cannot inspect {where}: the server sent no certificate.")
            return Handshake(
                address=peer,
                tls_version=tls.version(),
                cipher=cipher[0] if cipher else None,
                chain=tuple(chain),
                openssl_verified=True if cafile is not None else None,
            )


def _connect(address: tuple[str, int], timeout: float, where: str) -> socket.socket:
    target = shorten(address[0])
    try:
        return socket.create_connection(address, timeout=timeout)
    except (UnicodeError, socket.gaierror) as exc:  # UnicodeError: a label IDNA refuses
        raise InspectionError(
            f"Cannot inspect {where}: the name {target} does not resolve ({exc}). Check the "
            "spelling of the endpoint, and that this machine's DNS (VPC resolver, VPN) can see it."
        ) from exc
    except ConnectionRefusedError as exc:
        raise InspectionError(
            f"Cannot inspect {where}: connection refused. Nothing listens on port "
            f"{address[1]} there; check the port and that the server is running."
        ) from exc
    except TimeoutError as exc:
        raise InspectionError(
            f"Cannot inspect {where}: no answer within {timeout:g} s. A security group, "
            "network ACL or firewall probably drops the traffic, or the address is wrong."
        ) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InspectionError(f"Cannot inspect {where}: cannot connect ({reason}).") from exc


def _ssl_request(sock: socket.socket, where: str) -> None:
    try:
        sock.sendall(SSL_REQUEST)
        reply = sock.recv(1)
    except OSError as exc:  # TimeoutError too
        said = "in time" if isinstance(exc, TimeoutError) else f"({exc.strerror or exc})"
        raise InspectionError(
            f"Cannot inspect {where}: no reply to PostgreSQL's SSLRequest {said}; the peer is "
            "probably not a PostgreSQL server (or a proxy that waits for something else)."
        ) from exc
    if reply == b"N":
        raise ServerTLSUnavailableError(
            f"{where} answered PostgreSQL's SSLRequest with 'N': the server does not offer "
            "TLS, so no connection to it can be verified. Turn ssl on in the server's "
            "configuration (on RDS it always is: check that this is really the RDS endpoint "
            "and not a proxy or tunnel that terminates TLS)."
        )
    if reply != b"S":
        said = "closed the connection" if not reply else f"answered {reply!r} instead of 'S' or 'N'"
        raise InspectionError(
            f"Cannot inspect {where}: the peer {said} after the SSLRequest; it is not a "
            "PostgreSQL server (or a proxy that does not speak the PostgreSQL protocol)."
        )


def _context(cafile: str | None) -> ssl.SSLContext:
    """libpq's client context for verify-full (``cafile``), or one that verifies nothing.

    ``SSLContext`` itself, not ``create_default_context()``: from Python 3.13 the latter adds
    ``VERIFY_X509_STRICT``, a stricter profile than libpq's, and would check differently.
    Host names are OpenSSL's check with libpq's rules: SAN entries, else the CN.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is None:  # the chain is read even when it would be refused, checked afterwards
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context.verify_flags = ssl.VERIFY_X509_TRUSTED_FIRST
    context.hostname_checks_common_name = True
    context.load_verify_locations(cafile=cafile)  # a bundle its caller loaded: it is usable
    return context


def _presented_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """The chain as sent by the server, DER, leaf first: public from Python 3.13 (DER), the
    SSL object's own before (certificate objects, whose ``public_bytes()`` give PEM)."""
    chain = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain  # type: ignore[attr-defined]
    return [
        c if isinstance(c, bytes) else ssl.PEM_cert_to_DER_cert(c.public_bytes())
        for c in chain() or []
    ]
