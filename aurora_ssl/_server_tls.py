"""The server's view of a session's TLS: one query, for checks and reports.

Kept apart from the client's view (:mod:`aurora_ssl._readback`), which is on every
connection's path, while this is not: :class:`ServerTLS` is a dataclass (callers
use ``dataclasses.asdict``), and ``dataclasses`` costs a fresh process several milliseconds.
"""

from __future__ import annotations

import dataclasses
from typing import Any


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
    ssl, version, cipher, bits, force_ssl, has_sslinfo, sslinfo = row
    source = "pg_stat_ssl"
    if has_sslinfo and sslinfo:  # the extension's own answers, where it is installed
        used, version, cipher = (part.strip() or None for part in sslinfo.split("|"))
        ssl, source = used == "true", "sslinfo"
    return ServerTLS(bool(ssl), version, cipher, bits, bool(has_sslinfo), force_ssl, source)
