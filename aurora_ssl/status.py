"""TLS facts of a live connection: the client's view (free) and the server's view (one query).

The client view is read from the driver's own connection state (libpq's ``PQsslInUse`` and
``PQsslAttribute`` through psycopg2/psycopg, the transport's ``SSLObject`` for asyncpg), so
asserting TLS on every new connection costs no round trip. The server view answers a
security reviewer's question "does the *server* agree this session is encrypted?" and needs
one query, so it is used by checks and reports only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aurora_ssl.errors import InsecureConfigurationError, TLSNotInUseError

__all__ = [
    "SERVER_TLS_QUERY",
    "ClientTLS",
    "ServerTLS",
    "client_tls",
    "require_tls",
    "server_tls",
]


@dataclasses.dataclass(frozen=True)
class ClientTLS:
    """What the client library says about its connection."""

    in_use: bool
    protocol: str | None = None
    cipher: str | None = None
    bits: int | None = None
    driver: str = "unknown"
    #: The sslmode the connection was actually made with, as libpq records it (for asyncpg:
    #: "verify-full" when its SSLContext checks the chain and the host name). Read back so a
    #: hook that changed the parameters after aurora-ssl's cannot go unnoticed.
    sslmode: str | None = None


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
    driver_connection = getattr(connection, "driver_connection", None)
    if driver_connection is not None and driver_connection is not connection:
        return client_tls(driver_connection)
    pgconn = getattr(connection, "pgconn", None)
    if pgconn is not None:  # psycopg 3
        # psycopg 3 (up to 3.3 at least) exposes PQsslInUse but not PQsslAttribute; the
        # attributes are read only where a version offers them.
        attribute = getattr(pgconn, "ssl_attribute", None)
        in_use = bool(pgconn.ssl_in_use)

        def attr(name: bytes) -> str | None:
            return _text(attribute(name)) if attribute is not None and in_use else None

        bits = attr(b"key_bits")
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
            sslmode=info.dsn_parameters.get("sslmode"),
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


def require_tls(connection: Any, *, close: bool = True) -> ClientTLS:
    """Return the client TLS view, or close the connection and raise if TLS is not in use.

    Raises:
        TLSNotInUseError: the connection is not encrypted; it was closed first (when
            ``close``), so no query can run on it.
        InsecureConfigurationError: it is encrypted but was made with a weaker sslmode than
            verify-full (something changed the parameters after aurora-ssl set them);
            closed first as well.
    """
    status = client_tls(connection)
    if status.in_use and status.sslmode is not None and status.sslmode != "verify-full":
        if close:
            _close_quietly(connection)
        raise InsecureConfigurationError(
            f"The connection was made with sslmode={status.sslmode}, not verify-full, so the "
            "server's identity was not checked; it was closed before any query. Something "
            "changed the connection parameters after aurora-ssl set them (another do_connect "
            "hook, a connection factory): find it and remove the sslmode it sets."
        )
    if not status.in_use:
        if close:
            _close_quietly(connection)
        raise TLSNotInUseError(
            "The connection is not using TLS, so it was closed before any query. The server "
            "may have TLS off, or something in the path downgraded the connection; check "
            "`aurora-ssl inspect HOST` and the server's rds.force_ssl setting."
        )
    return status


def _close_quietly(connection: Any) -> None:
    target = getattr(connection, "driver_connection", None) or connection
    try:
        result = target.close()
    except Exception:  # noqa: BLE001 - closing a broken connection must not mask the reason
        return
    if hasattr(result, "close"):  # an un-awaited coroutine (asyncpg): close it, then terminate
        result.close()
        terminate = getattr(target, "terminate", None)
        if terminate is not None:
            terminate()


@dataclasses.dataclass(frozen=True)
class ServerTLS:
    """What the server says about this session (sslinfo where installed, else pg_stat_ssl)."""

    ssl: bool
    version: str | None
    cipher: str | None
    bits: int | None
    sslinfo_installed: bool
    rds_force_ssl: str | None
    source: str  # "sslinfo" or "pg_stat_ssl"


# One round trip for everything: pg_stat_ssl for this backend, whether sslinfo is installed
# (and in which schema), and its answers via query_to_xml so the call is only evaluated when
# the extension exists (a plain call would fail at parse time without it).
SERVER_TLS_QUERY = """
WITH ext AS (
    SELECT n.nspname AS schema
    FROM pg_catalog.pg_extension e
    JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'sslinfo'
)
SELECT s.ssl, s.version, s.cipher, s.bits,
       pg_catalog.current_setting('rds.force_ssl', true),
       (SELECT schema FROM ext) IS NOT NULL,
       (SELECT (pg_catalog.xpath('/row/v/text()', pg_catalog.query_to_xml(
            pg_catalog.format(
                'SELECT %1$I.ssl_is_used()::text || chr(124) || '
                'coalesce(%1$I.ssl_version(), chr(32)) || chr(124) || '
                'coalesce(%1$I.ssl_cipher(), chr(32)) AS v', schema),
            false, true, '')))[1]::text
        FROM ext)
FROM pg_catalog.pg_stat_ssl s
WHERE s.pid = pg_catalog.pg_backend_pid()
"""


def server_tls(connection: Any) -> ServerTLS:
    """Ask the server about this session's TLS, in exactly one query.

    Args:
        connection: a DB-API connection (psycopg2 or psycopg 3) or anything with
            ``cursor()`` returning a DB-API cursor (a Django connection works too).
    """
    cursor = connection.cursor()
    try:
        cursor.execute(SERVER_TLS_QUERY)
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:  # pg_stat_ssl always has our own backend; be explicit anyway
        return ServerTLS(False, None, None, None, False, None, "pg_stat_ssl")
    ssl, version, cipher, bits, force_ssl, has_sslinfo, sslinfo = row
    if has_sslinfo and sslinfo:
        used, info_version, info_cipher = (part.strip() or None for part in sslinfo.split("|"))
        return ServerTLS(
            ssl=used == "true",
            version=info_version,
            cipher=info_cipher,
            bits=bits,
            sslinfo_installed=True,
            rds_force_ssl=force_ssl,
            source="sslinfo",
        )
    return ServerTLS(
        ssl=bool(ssl),
        version=version,
        cipher=cipher,
        bits=bits,
        sslinfo_installed=bool(has_sslinfo),
        rds_force_ssl=force_ssl,
        source="pg_stat_ssl",
    )
