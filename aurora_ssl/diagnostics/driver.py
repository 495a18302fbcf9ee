"""What a driver's exception tells: libpq's message, where the connection was going, and
the password it must forget.

psycopg2, psycopg 3 and Django wrap libpq's failure in their own exceptions; psycopg 3 also
attaches the finished connection (``exc.pgconn``), which knows the target and, until
:func:`redact_driver_secrets` runs, the password. :mod:`.translate` reads everything through
these functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aurora_ssl._redaction import is_secret_key

__all__ = [
    "Target",
    "driver_text",
    "exception_chain",
    "negotiation",
    "redact_driver_secrets",
    "target_of",
    "text_of",
]

LOCATION = re.compile(
    r'connection to server at "(?P<host>[^"]*)"(?: \((?P<addr>[^)]*)\))?, port (?P<port>\d+)'
)


@dataclass(frozen=True)
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
        if LOCATION.search(text) or "SSL" in text or "certificate" in text:
            return text
    return texts[0] if texts else None


def text_of(value: Any) -> str | None:
    """A parameter value as stripped text (bytes decoded), or ``None`` when empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    return text or None


def target_of(exc: BaseException, params: Mapping[str, Any] | None = None) -> Target:
    """Best knowledge of the target: ``params``, then psycopg 3's ``pgconn``, then the message."""
    host = hostaddr = port = root = None
    if params:
        host = text_of(params.get("host"))
        hostaddr = text_of(params.get("hostaddr"))
        port = text_of(params.get("port"))
        root = text_of(params.get("sslrootcert"))
    for link in exception_chain(exc):
        pgconn = getattr(link, "pgconn", None)
        if pgconn is None:
            continue
        with contextlib.suppress(Exception):  # a finished PGconn: attributes may be gone
            host = host or text_of(pgconn.host)
            hostaddr = hostaddr or text_of(getattr(pgconn, "hostaddr", None))
            port = port or text_of(pgconn.port)
            for option in getattr(pgconn, "info", None) or ():
                if option.keyword == b"sslrootcert":
                    root = root or text_of(option.val)
        break
    text = driver_text(exc) or ""
    location = LOCATION.search(text)
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
    number = int(port.split(",")[0]) if port and port.split(",")[0].isdigit() else None
    return Target(host=host, hostaddr=hostaddr, port=number, sslrootcert=root)


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


def negotiation(exc: BaseException, params: Mapping[str, Any] | None) -> tuple[str, str]:
    """libpq's ``sslnegotiation`` for the attempt and where it came from, as far as known."""
    value = text_of((params or {}).get("sslnegotiation"))
    if value:
        return value.lower(), "the connection parameters"
    for link in exception_chain(exc):
        pgconn = getattr(link, "pgconn", None)
        with contextlib.suppress(Exception):  # a finished PGconn: attributes may be gone
            for option in getattr(pgconn, "info", None) or ():
                if option.keyword == b"sslnegotiation" and option.val:
                    return option.val.decode("utf-8", "replace").lower(), "libpq's settings"
    value = text_of(os.environ.get("PGSSLNEGOTIATION"))
    if value:
        return value.lower(), "PGSSLNEGOTIATION"
    return "", ""
