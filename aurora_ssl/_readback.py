"""The read-back: what a new connection really uses, asked of the driver at no round trip.

A second net, never the one that matters: by the time it runs the password has been sent.
The decision before connecting (:mod:`aurora_ssl._policy`) is what keeps a password from a
wrong destination; this catches what slipped past it anyway (a driver that changed a value, a
service file edited meanwhile) before the first query, and closes the connection.

Connections are recognised by type (psycopg2, psycopg 3, asyncpg, pg8000, or SQLAlchemy's
adapted ones); anything else, a test's mock included, is refused with a clear error rather
than probed for attributes.
"""

from __future__ import annotations

import functools
import ssl  # loaded with _policy already
import sys

from aurora_ssl._policy import PINNED_KEYS
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError, TLSNotInUseError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


class ClientTLS:
    """What the driver says about its connection.

    Attributes:
        in_use: whether TLS is in use.
        protocol: the TLS version (``TLSv1.3``), where the driver exposes it.
        cipher: the cipher suite, where exposed.
        bits: the key size, where exposed.
        driver: ``psycopg2``, ``psycopg``, ``asyncpg`` or ``pg8000``.
        sslmode: the sslmode libpq used (``verify-full`` for our SSLContext drivers).

    psycopg 3 has no ``PQsslAttribute``: the protocol, cipher and bits are read through ctypes
    from the libpq psycopg loaded, on first access only (a log line or a signal receiver that
    asks), never on a connection nobody looks at.
    """

    __slots__ = ("_read", "bits", "cipher", "driver", "in_use", "protocol", "sslmode")

    protocol: str | None
    cipher: str | None
    bits: int | None

    def __init__(
        self,
        in_use: bool,
        protocol: str | None = None,
        cipher: str | None = None,
        bits: int | None = None,
        driver: str = "unknown",
        sslmode: str | None = None,
        read: Callable[[], tuple[str | None, str | None, int | None]] | None = None,
    ) -> None:
        self.in_use, self.driver, self.sslmode, self._read = in_use, driver, sslmode, read
        if read is None:
            self.protocol, self.cipher, self.bits = protocol, cipher, bits

    def __getattr__(self, name: str) -> Any:
        """``protocol``, ``cipher`` and ``bits`` when ``read`` gives them: on first access."""
        if name not in ("protocol", "cipher", "bits") or self._read is None:
            raise AttributeError(name)
        self.protocol, self.cipher, self.bits = self._read()
        return getattr(self, name)

    def __repr__(self) -> str:
        fields = ("in_use", "protocol", "cipher", "bits", "driver", "sslmode")
        return f"ClientTLS({', '.join(f'{f}={getattr(self, f)!r}' for f in fields)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClientTLS) and repr(self) == repr(other)


def driver_of(connection: Any) -> tuple[str, Any]:
    """``(driver name, the driver's own connection)``, recognised by type.

    Raises:
        InsecureConfigurationError: not a connection of a driver aurora-ssl can read.
    """
    connection = _unadapted(connection)
    for name, module, attribute in _TYPES:
        loaded = sys.modules.get(module)
        kind = getattr(loaded, attribute, None) if loaded is not None else None
        if kind is not None and isinstance(connection, kind):
            return name, connection
    raise InsecureConfigurationError(
        f"Cannot verify a {type(connection).__module__}.{type(connection).__qualname__} "
        "connection: aurora-ssl reads the TLS state of psycopg2, psycopg 3, asyncpg and pg8000 "
        "connections only, so it refuses this one (a mock of the driver, or a connection made "
        "by your own code in a do_connect listener). Let the driver make the connection."
    )


def _unadapted(connection: Any) -> Any:
    """The driver's connection inside SQLAlchemy's adapter (async drivers), by type."""
    sqlalchemy = sys.modules.get("sqlalchemy.engine.interfaces")
    adapted = getattr(sqlalchemy, "AdaptedConnection", None)
    if adapted is not None and isinstance(connection, adapted):
        return connection.driver_connection
    return connection


_TYPES = (
    ("psycopg2", "psycopg2.extensions", "connection"),
    ("psycopg", "psycopg", "BaseConnection"),
    ("asyncpg", "asyncpg.connection", "Connection"),
    ("pg8000", "pg8000.core", "CoreConnection"),  # its legacy, dbapi and native connections
)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def client_tls(connection: Any) -> ClientTLS:
    """The TLS state of a psycopg2, psycopg 3, asyncpg or pg8000 connection, without I/O.

    Raises:
        InsecureConfigurationError: an unknown connection type (we refuse to guess "secure").
    """
    name, conn = driver_of(connection)
    if name == "psycopg2":
        in_use = bool(conn.info.ssl_in_use)
        found = _attributes(conn.info.ssl_attribute) if in_use else (None, None, None)
        return ClientTLS(in_use, *found, name, conn.info.dsn_parameters.get("sslmode"))
    if name == "psycopg":
        pgconn = conn.pgconn
        in_use = bool(pgconn.ssl_in_use)
        sslmode = next((_text(o.val) for o in pgconn.info if o.keyword == b"sslmode"), None)
        attribute = functools.partial(_psycopg_attribute, pgconn)
        read = functools.partial(_attributes, attribute) if in_use else None
        return ClientTLS(in_use, driver=name, sslmode=sslmode, read=read)
    ssl_object = ssl_object_of(name, conn)
    if ssl_object is None:
        return ClientTLS(False, driver=name)
    cipher = ssl_object.cipher() or (None, None, None)
    context = ssl_object.context
    strict = context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    mode = "verify-full" if strict else "unverified"
    return ClientTLS(True, ssl_object.version(), cipher[0], cipher[2], name, mode)


def ssl_object_of(name: str, conn: Any) -> Any:
    """The ``ssl.SSLObject``/``SSLSocket`` of an asyncpg or pg8000 connection (``None``: no
    TLS): asyncpg's transport holds it, pg8000's socket is it."""
    if name == "asyncpg":
        return conn._transport.get_extra_info("ssl_object")
    sock = getattr(conn, "_usock", None)
    return sock if hasattr(sock, "cipher") else None


def _attributes(attribute: Callable[[str], Any]) -> tuple[str | None, str | None, int | None]:
    protocol, cipher, bits = (attribute(key) for key in ("protocol", "cipher", "key_bits"))
    bits = _text(bits)
    return _text(protocol), _text(cipher), int(bits) if bits and bits.isdigit() else None


def _psycopg_attribute(pgconn: Any, key: str) -> bytes | None:
    """``PQsslAttribute`` through ctypes, on the libpq psycopg loaded (``None`` if not found)."""
    library, pointer = _psycopg_libpq(), getattr(pgconn, "pgconn_ptr", None)
    if library is None or not pointer:
        return None
    import ctypes

    function = library.PQsslAttribute
    function.restype, function.argtypes = ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_char_p]
    return function(pointer, key.encode())  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1)
def _psycopg_libpq() -> Any:
    """The libpq psycopg uses, as a ctypes library: the pure-Python implementation's own, or
    the one psycopg's compiled ``pq`` module links (the binary wheel's, or the system's for
    ``psycopg[c]``), whose symbols ``dlsym`` finds through that module; ``None`` where it
    cannot be found (then "not exposed")."""
    import ctypes

    from psycopg import pq

    if pq.__impl__ == "python":
        from psycopg.pq import _pq_ctypes

        return _pq_ctypes.pq  # type: ignore[attr-defined]
    try:
        return ctypes.CDLL(sys.modules[f"psycopg_{pq.__impl__}.pq"].__file__)
    except (KeyError, OSError):
        return None


def server_version(connection: Any) -> int | None:
    """The server's version number a libpq connection learned at login (no round trip)."""
    name, conn = driver_of(connection)
    return int(conn.info.server_version) if name in ("psycopg2", "psycopg") else None


def effective_params(connection: Any) -> dict[str, str]:
    """The pinned parameters a libpq connection really uses (``PQconninfo``, no I/O).

    libpq reports what it took from every source: our string, a service file, the
    environment. Empty values (and, for psycopg2, keys its libpq lacks) are ``""``. Never the
    password. asyncpg and pg8000 have no libpq: an empty dict.
    """
    name, conn = driver_of(connection)
    if name == "psycopg":
        keys = {key.encode() for key in PINNED_KEYS}
        return {
            o.keyword.decode(): _text(o.val) or "" for o in conn.pgconn.info if o.keyword in keys
        }
    if name == "psycopg2":
        known = conn.info.dsn_parameters
        return {key: str(known.get(key, "")) for key in PINNED_KEYS}
    return {}


def differences(connection: Any, expected: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Each pinned key whose effective value differs from ``expected``: ``(set, used)``.

    psycopg 3 tries a host list one entry at a time and resolves host names itself (filling an
    empty ``hostaddr``), which still connects to a name whose certificate is verified.
    """
    effective = effective_params(connection)
    psycopg = driver_of(connection)[0] == "psycopg"
    found: dict[str, tuple[str, str]] = {}
    for key in PINNED_KEYS:
        if key not in expected or not effective:
            continue
        want, got = str(expected[key] or ""), effective.get(key, "")
        if got == want or (key in ("host", "hostaddr", "port") and got in want.split(",")):
            continue
        if not (key == "hostaddr" and psycopg and not want):
            found[key] = (want, got)
    return found


def require_tls(
    connection: Any, *, expected: Mapping[str, Any] | None = None, close: bool = True
) -> ClientTLS:
    """The client's TLS view; or close the connection and raise if it is not what was set.

    Args:
        connection: a psycopg2, psycopg 3, asyncpg or pg8000 connection (or SQLAlchemy's).
        expected: the parameters the policy checked; every pinned one is read back.
        close: close a refused connection (False when a pool does it).

    Raises:
        TLSNotInUseError: not encrypted; closed first, so no query can run on it.
        InsecureConfigurationError: encrypted, but with a weaker sslmode or other pinned
            values than the policy's (something changed them after aurora-ssl); closed first.
    """
    try:
        status = client_tls(connection)
        if not status.in_use:
            raise TLSNotInUseError(
                "The connection is not using TLS, so it was closed before any query. The server "
                "may have TLS off, or something in the path downgraded the connection; check "
                "`aurora-ssl inspect HOST` and the server's rds.force_ssl setting."
            )
        found = {}
        if status.sslmode not in (None, "verify-full"):
            found["sslmode"] = ("verify-full", str(status.sslmode))
        elif expected is not None:
            found = differences(connection, expected)
        if found:
            from aurora_ssl._redaction import shorten  # costs a fresh process milliseconds

            shown = "; ".join(
                f"{k}: set {shorten(a, long=120, keep=120) or 'nothing'}, used "
                f"{shorten(b, long=120, keep=120) or 'nothing'}"
                for k, (a, b) in found.items()
            )
            raise InsecureConfigurationError(
                f"The connection used other parameters than aurora-ssl set ({shown}); it was "
                "closed before any query. Something changed them after aurora-ssl (a connection "
                "factory, a service file edited meanwhile): find it and remove it."
            )
    except AuroraSSLError:
        if close:
            close_quietly(connection)
        raise
    return status


def close_quietly(connection: Any) -> None:
    """Close a refused connection; a failure to close must not hide why it was refused.

    asyncpg's ``close()`` is a coroutine: it is closed unawaited and the connection terminated.
    """
    target = _unadapted(connection)
    try:
        result = target.close()
        if hasattr(result, "close"):
            result.close()
            target.terminate()
    except Exception:  # noqa: BLE001, S110 - already refusing; the refusal says why
        pass
