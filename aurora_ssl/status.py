"""TLS facts of a live connection: the client's view (free) and the server's view (one query).

The client view is read from the driver's own connection state (libpq's ``PQsslInUse`` and
``PQsslAttribute`` through psycopg2/psycopg, the transport's ``SSLObject`` for asyncpg), so
asserting TLS on every new connection costs no round trip. The server view answers a
security reviewer's question "does the *server* agree this session is encrypted?" and needs
one query, so it is used by checks and reports only.
"""

from __future__ import annotations

from aurora_ssl._frozen import Frozen
from aurora_ssl.errors import InsecureConfigurationError, TLSNotInUseError
from aurora_ssl.policy import PINNED_KEYS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    # The server's view is for checks and reports: it lives in its own module, loaded on
    # first use (see __getattr__), so that connecting does not import dataclasses.
    from aurora_ssl._server_tls import SERVER_TLS_QUERY, ServerTLS, server_tls

__all__ = [
    "READ_BACK_KEYS",
    "SERVER_TLS_QUERY",
    "ClientTLS",
    "ServerTLS",
    "client_tls",
    "close_quietly",
    "effective_params",
    "parameter_differences",
    "require_tls",
    "server_tls",
]

#: The parameters read back from libpq after connecting: every one the policy pins.
READ_BACK_KEYS = PINNED_KEYS
_READ_BACK_BYTES = frozenset(key.encode() for key in READ_BACK_KEYS)


class ClientTLS(Frozen):
    """What the client library says about its connection.

    ``sslmode`` is the sslmode the connection was actually made with, as libpq records it
    (for asyncpg: "verify-full" when its SSLContext checks the chain and the host name). Read
    back so a hook that changed the parameters after aurora-ssl's cannot go unnoticed.
    """

    __slots__ = ("bits", "cipher", "driver", "in_use", "protocol", "sslmode")
    _fields = ("in_use", "protocol", "cipher", "bits", "driver", "sslmode")

    in_use: bool
    protocol: str | None
    cipher: str | None
    bits: int | None
    driver: str
    sslmode: str | None

    def __init__(
        self,
        in_use: bool,
        protocol: str | None = None,
        cipher: str | None = None,
        bits: int | None = None,
        driver: str = "unknown",
        sslmode: str | None = None,
    ) -> None:
        self._set(
            in_use=in_use,
            protocol=protocol,
            cipher=cipher,
            bits=bits,
            driver=driver,
            sslmode=sslmode,
        )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def client_tls(connection: Any) -> ClientTLS:
    """Read the TLS state of a psycopg2, psycopg 3 or asyncpg connection, without I/O.

    Also accepts wrappers that expose the driver connection as ``driver_connection``
    (SQLAlchemy's adapted connections).

    Raises:
        TypeError: an unknown connection type (we refuse to guess "secure").
    """
    return _client_tls(connection, None)


def _client_tls(connection: Any, effective: Mapping[str, str] | None) -> ClientTLS:
    """:func:`client_tls`, taking ``sslmode`` from ``effective`` (:func:`effective_params`)
    when the caller read it back already: libpq's option list is built anew on every call
    (about 25 us on psycopg 3), and :func:`require_tls` runs on every new connection."""
    driver_connection = getattr(connection, "driver_connection", None)
    if driver_connection is not None and driver_connection is not connection:
        return _client_tls(driver_connection, effective)
    pgconn = getattr(connection, "pgconn", None)
    if pgconn is not None:  # psycopg 3
        # psycopg 3 (up to 3.3 at least) exposes PQsslInUse but not PQsslAttribute; the
        # attributes are read only where a version offers them.
        attribute = getattr(pgconn, "ssl_attribute", None)
        in_use = bool(pgconn.ssl_in_use)

        def attr(name: bytes) -> str | None:
            return _text(attribute(name)) if attribute is not None and in_use else None

        bits = attr(b"key_bits")
        if effective is not None:
            sslmode = effective.get("sslmode") or None
        else:
            sslmode = next((_text(o.val) for o in pgconn.info if o.keyword == b"sslmode"), None)
        return ClientTLS(
            in_use=in_use,
            protocol=attr(b"protocol"),
            cipher=attr(b"cipher"),
            bits=int(bits) if bits and bits.isdigit() else None,
            driver="psycopg",
            sslmode=sslmode,
        )
    info = getattr(connection, "info", None)
    if info is not None and hasattr(info, "ssl_in_use"):  # psycopg2 >= 2.8
        in_use = bool(info.ssl_in_use)
        bits = info.ssl_attribute("key_bits") if in_use else None
        return ClientTLS(
            in_use=in_use,
            protocol=info.ssl_attribute("protocol") if in_use else None,
            cipher=info.ssl_attribute("cipher") if in_use else None,
            bits=int(bits) if bits and bits.isdigit() else None,
            driver="psycopg2",
            sslmode=(
                effective.get("sslmode") or None
                if effective is not None
                else info.dsn_parameters.get("sslmode")
            ),
        )
    transport = getattr(connection, "_transport", None)
    if transport is not None and type(connection).__module__.startswith("asyncpg"):
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return ClientTLS(in_use=False, driver="asyncpg")
        import ssl

        cipher = ssl_object.cipher()
        context = ssl_object.context
        strict = context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        return ClientTLS(
            in_use=True,
            protocol=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
            bits=cipher[2] if cipher else None,
            driver="asyncpg",
            sslmode="verify-full" if strict else "unverified",
        )
    raise TypeError(
        f"Cannot read the TLS state of a {type(connection).__module__}."
        f"{type(connection).__qualname__}; aurora-ssl supports psycopg2, psycopg 3 and asyncpg."
    )


def effective_params(connection: Any) -> dict[str, str]:
    """The security-relevant parameters a libpq connection really uses, read back at no I/O.

    libpq's ``PQconninfo`` (psycopg2's ``info.dsn_parameters``, psycopg 3's ``pgconn.info``)
    reports what libpq took from every source: our keywords, a service file, the environment.
    An empty value (or, for psycopg2, a key its libpq does not have) is reported as ``""``.
    Never includes the password. asyncpg has no libpq: it gives an empty dict.
    """
    driver_connection = getattr(connection, "driver_connection", None)
    if driver_connection is not None and driver_connection is not connection:
        return effective_params(driver_connection)
    pgconn = getattr(connection, "pgconn", None)
    if pgconn is not None:  # psycopg 3
        return {
            option.keyword.decode(): _text(option.val) or ""
            for option in pgconn.info
            if option.keyword in _READ_BACK_BYTES
        }
    info = getattr(connection, "info", None)
    if info is not None and hasattr(info, "dsn_parameters"):  # psycopg2: empty values omitted
        known = info.dsn_parameters
        return {key: str(known.get(key, "")) for key in READ_BACK_KEYS}
    return {}


def parameter_differences(
    connection: Any, expected: Mapping[str, Any]
) -> dict[str, tuple[str, str]]:
    """Each read-back key whose effective value differs from ``expected``: ``(want, got)``.

    Only keys present in ``expected`` are compared (the policy sets a key only where the
    driver's libpq has it). A host list is tried one entry at a time by psycopg 3, so the
    effective ``host``/``hostaddr``/``port`` may be any one entry of ours; psycopg 3 also
    resolves the host itself and fills ``hostaddr`` when we left it empty, which still
    connects to the name whose certificate is verified.
    """
    return _differences(connection, expected, effective_params(connection))


def _differences(
    connection: Any, expected: Mapping[str, Any], effective: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    if not effective:
        return {}
    psycopg3 = getattr(_driver(connection), "pgconn", None) is not None
    differences: dict[str, tuple[str, str]] = {}
    for key in READ_BACK_KEYS:
        if key not in expected:
            continue
        want, got = str(expected[key] if expected[key] is not None else ""), effective.get(key, "")
        if got == want:
            continue
        if key in ("host", "hostaddr", "port") and got in want.split(","):
            continue
        if key == "hostaddr" and psycopg3 and not want:
            continue
        differences[key] = (want, got)
    return differences


def _driver(connection: Any) -> Any:
    driver_connection = getattr(connection, "driver_connection", None)
    return connection if driver_connection is None else driver_connection


def require_tls(
    connection: Any, *, expected: Mapping[str, Any] | None = None, close: bool = True
) -> ClientTLS:
    """Return the client TLS view, or close the connection and raise if TLS is not in use.

    Args:
        connection: a psycopg2, psycopg 3 or asyncpg connection (or SQLAlchemy's wrapper).
        expected: the parameters the policy produced for this connection; every
            security-relevant one is read back from libpq and must match.
        close: close a refused connection (False when a pool does it).

    Raises:
        TLSNotInUseError: the connection is not encrypted; it was closed first (when
            ``close``), so no query can run on it.
        InsecureConfigurationError: it is encrypted but was made with a weaker sslmode than
            verify-full, or with any pinned parameter other than the policy's (something
            changed the parameters after aurora-ssl set them); closed first as well.
    """
    # Read back once: the sslmode check and the comparison with ``expected`` share it.
    effective = effective_params(connection) if expected is not None else None
    status = _client_tls(connection, effective)
    if status.in_use and status.sslmode is not None and status.sslmode != "verify-full":
        if close:
            close_quietly(connection)
        raise InsecureConfigurationError(
            f"The connection was made with sslmode={status.sslmode}, not verify-full, so the "
            "server's identity was not checked; it was closed before any query. Something "
            "changed the connection parameters after aurora-ssl set them (another do_connect "
            "hook, a connection factory): find it and remove the sslmode it sets."
        )
    if not status.in_use:
        if close:
            close_quietly(connection)
        raise TLSNotInUseError(
            "The connection is not using TLS, so it was closed before any query. The server "
            "may have TLS off, or something in the path downgraded the connection; check "
            "`aurora-ssl inspect HOST` and the server's rds.force_ssl setting."
        )
    if expected is not None:
        assert effective is not None
        differences = _differences(connection, expected, effective)
        if differences:
            if close:
                close_quietly(connection)
            shown = "; ".join(
                f"{key}: set {_shown(want)}, used {_shown(got)}"
                for key, (want, got) in differences.items()
            )
            raise InsecureConfigurationError(
                f"The connection used other parameters than aurora-ssl set ({shown}); it was "
                "closed before any query. Something changed them after aurora-ssl (another "
                "do_connect hook, a connection factory, a service file edited meanwhile): "
                "find it and remove it."
            )
    return status


def _shown(value: str, limit: int = 120) -> str:
    if not value:
        return "nothing"
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


def close_quietly(connection: Any) -> None:
    """Close a refused or broken connection without letting a failure to close hide why.

    Works for psycopg2, psycopg 3, asyncpg (whose ``close()`` is a coroutine: it is closed
    and the connection terminated) and SQLAlchemy's wrappers; the one way the package closes
    what it refuses.
    """
    target = getattr(connection, "driver_connection", None) or connection
    try:
        result = target.close()
    except Exception:  # noqa: BLE001 - closing a broken connection must not mask the reason
        from aurora_ssl._log import logger

        logger().debug("aurora-ssl: closing a refused connection failed", exc_info=True)
        return
    if hasattr(result, "close"):  # an un-awaited coroutine (asyncpg): close it, then terminate
        result.close()
        terminate = getattr(target, "terminate", None)
        if terminate is not None:
            terminate()


_SERVER_VIEW = frozenset({"SERVER_TLS_QUERY", "ServerTLS", "server_tls"})


def __getattr__(name: str) -> object:
    if name in _SERVER_VIEW:
        from aurora_ssl import _server_tls

        value = getattr(_server_tls, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'aurora_ssl.status' has no attribute {name!r}")
