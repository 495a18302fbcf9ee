"""libpq connection strings and host lists, read the way libpq reads them.

Why this matters: a ``dsn``/``conninfo`` string can carry ``sslmode=disable``, a Unix-socket
``host`` or ``sslkeylogfile``; if we read it differently from libpq, the policy judges one
set of parameters while the driver uses another. So the rule is *libpq's parser decides*:
when a libpq driver is installed, its ``PQconninfoParse`` (psycopg 3's ``conninfo_to_dict``
or psycopg2's ``parse_dsn``) reads the string, and our own parser reads it too; if they
disagree (libpq 17 and 18 differ too: 18 trims blanks in URIs), the string is refused.

Our parser follows libpq's grammar ("Connection Strings" in the PostgreSQL manual, and
``conninfo_uri_parse`` for URIs, as of libpq 18). It is used alone only where no driver is
installed (the core never imports a driver at import time), and a differential property test
(tests/test_fuzz_parsers.py) holds it to libpq's answers.

The ``host`` value is libpq text too: :func:`split_hosts` and :func:`is_unix_socket` live here
rather than in :mod:`aurora_ssl.endpoint` (which classifies RDS names with a regular
expression and two enums) because every connection asks them, and a fresh process that reuses a
remembered trust selection never needs to classify a name (issue 12).
"""

from __future__ import annotations

from aurora_ssl.errors import InsecureConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "SECRET_KEYS",
    "is_conninfo",
    "is_unix_socket",
    "libpq_parsers",
    "parse_conninfo",
    "split_hosts",
]

#: Parameter names whose values never appear in messages, logs or reports.
SECRET_KEYS = frozenset({"password", "sslpassword", "passfile", "oauth_client_secret"})

_URI_SCHEMES = ("postgresql://", "postgres://")
_MALFORMED = (
    "Malformed connection string ({why}); see 'Connection Strings' in the PostgreSQL manual."
)


def split_hosts(hosts: str) -> list[str]:
    """libpq's comma-separated ``host`` list, blank entries dropped: the one splitter.

    Names are kept as written (libpq does not strip them either):
    ``"a.example.com,,b.example.com"`` -> ``["a.example.com", "b.example.com"]``.
    """
    return [name for name in hosts.split(",") if name.strip()]


def is_unix_socket(host: str) -> bool:
    """Whether libpq would read ``host`` (one name, as given) as a Unix-socket directory.

    A path ('/'), an abstract-namespace socket ('@') or nothing at all (libpq's default
    socket).
    """
    normalized = host.strip().lower().rstrip(".")
    return normalized.startswith(("/", "@")) or normalized == ""


def is_conninfo(value: str) -> bool:
    """Whether libpq would expand this ``dbname`` value as a whole connection string."""
    return "=" in value or value.startswith(_URI_SCHEMES)


def parse_conninfo(dsn: str, *, driver: str | None = None) -> dict[str, str]:
    """Parse a libpq connection string (``key=value ...`` or URI) into keywords.

    Args:
        dsn: the string.
        driver: ``"psycopg2"`` or ``"psycopg"`` when the string goes to that driver: its libpq
            decides. ``None``: every installed libpq driver, and all must agree.

    Raises:
        InsecureConfigurationError: the string is malformed (for libpq or for us), or the
            parsers read it differently; the message quotes no values.
    """
    try:
        ours: dict[str, str] | None = _parse(dsn)
    except InsecureConfigurationError:
        ours = None
    parsers = libpq_parsers(driver)
    if not parsers:
        return ours if ours is not None else _parse(dsn)  # _parse raises with its reason
    for name, parser in parsers:
        try:
            theirs: dict[str, str] | None = parser(dsn)
        except Exception:  # noqa: BLE001 - the drivers' ProgrammingError: libpq refuses it
            theirs = None
        if theirs is None:
            # Raised outside the handler: libpq's message quotes the string (and so any
            # password in it), and must not ride along as __context__.
            raise InsecureConfigurationError(
                _MALFORMED.format(why=f"the libpq of {name} cannot parse it")
            )
        if ours != theirs:
            differing = sorted(
                k for k in {*(ours or {}), *theirs} if (ours or {}).get(k) != theirs.get(k)
            )
            raise InsecureConfigurationError(
                f"aurora-ssl and the libpq of {name} read this connection string differently "
                f"(keys: {', '.join(differing) or 'all'}), so it cannot be judged safely; write "
                "it as plain key=value pairs with simple quoting, or pass keyword parameters."
            )
    assert ours is not None
    return ours


def libpq_parsers(driver: str | None = None) -> list[tuple[str, Callable[[str], dict[str, str]]]]:
    """libpq's ``PQconninfoParse`` through the named driver, or through every installed one.

    Importing a driver here costs nothing extra: the application is about to use it.
    """
    names = [driver] if driver in ("psycopg2", "psycopg") else ["psycopg2", "psycopg"]
    found = []
    for name in names:
        parser = _parser_of(str(name))
        if parser is not None:
            found.append((str(name), parser))
    return found


def _parser_of(name: str) -> Callable[[str], dict[str, str]] | None:
    try:
        if name == "psycopg":
            from psycopg.conninfo import conninfo_to_dict

            def parse3(dsn: str) -> dict[str, str]:
                return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}

            return parse3
        from psycopg2.extensions import parse_dsn

        def parse2(dsn: str) -> dict[str, str]:
            return dict(parse_dsn(dsn))

        return parse2
    except ImportError:
        return None


def _parse(dsn: str) -> dict[str, str]:
    dsn = dsn.split("\x00", 1)[0]  # a C string: libpq reads up to the first NUL
    if dsn.startswith(_URI_SCHEMES):  # libpq: case-sensitive, no leading blanks
        return _parse_uri(dsn)
    return _parse_pairs(dsn)


# --- key=value form (libpq conninfo_parse) ------------------------------------------------


def _parse_pairs(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    pos, end = 0, len(text)
    while pos < end:
        if text[pos].isspace():
            pos += 1
            continue
        start = pos
        while pos < end and text[pos] != "=" and not text[pos].isspace():
            pos += 1
        key = text[start:pos]
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end or text[pos] != "=":
            raise InsecureConfigurationError(
                _MALFORMED.format(why=f"missing '=' after a key at character {start + 1}")
            )
        pos += 1
        while pos < end and text[pos].isspace():
            pos += 1
        value, pos = _read_value(text, pos)
        result[key] = value
    return result


def _read_value(text: str, pos: int) -> tuple[str, int]:
    chars: list[str] = []
    end = len(text)
    if pos < end and text[pos] == "'":
        pos += 1
        while pos < end:
            char = text[pos]
            if char == "\\":
                pos += 1
                if pos < end:
                    chars.append(text[pos])
                    pos += 1
                continue
            if char == "'":
                return "".join(chars), pos + 1
            chars.append(char)
            pos += 1
        raise InsecureConfigurationError(_MALFORMED.format(why="unterminated quoted value"))
    while pos < end and not text[pos].isspace():
        if text[pos] == "\\":
            pos += 1  # libpq drops a trailing lone backslash
            if pos < end:
                chars.append(text[pos])
                pos += 1
            continue
        chars.append(text[pos])
        pos += 1
    return "".join(chars), pos


# --- URI form (libpq conninfo_uri_parse_options) ------------------------------------------


def _decode(value: str) -> str:
    """libpq's percent-decoding: strict '%XX', no NUL, bytes taken as they are."""
    index = value.find("%")
    while index != -1:
        digits = value[index + 1 : index + 3]
        if len(digits) != 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise InsecureConfigurationError(_MALFORMED.format(why="invalid percent-encoding"))
        if digits == "00":
            raise InsecureConfigurationError(_MALFORMED.format(why="%00 in a URI"))
        index = value.find("%", index + 3)
    from urllib.parse import unquote_to_bytes  # URIs only: it costs a fresh process ~2 ms

    raw = unquote_to_bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_uri(text: str) -> dict[str, str]:
    prefix = next(s for s in _URI_SCHEMES if text.startswith(s))
    rest = text[len(prefix) :]
    result: dict[str, str] = {}
    # User credentials end at the FIRST '@' before any '/' (libpq), not the last.
    cut = len(rest)
    for index, char in enumerate(rest):
        if char in "@/":
            cut = index
            break
    if cut < len(rest) and rest[cut] == "@":
        userinfo, rest = rest[:cut], rest[cut + 1 :]
        user, colon, password = userinfo.partition(":")
        if user:  # libpq tests the raw text, then stores it without surrounding blanks
            result["user"] = _decode(user.strip(" "))
        if colon and password:
            result["password"] = _decode(password.strip(" "))
    hosts: list[str] = []
    ports: list[str] = []
    pos = 0
    while True:
        if rest[pos : pos + 1] == "[":
            close = rest.find("]", pos)
            if close == -1:
                raise InsecureConfigurationError(_MALFORMED.format(why="unmatched '[' in host"))
            host = rest[pos + 1 : close]
            if not host:
                raise InsecureConfigurationError(_MALFORMED.format(why="empty IPv6 host"))
            pos = close + 1
            if pos < len(rest) and rest[pos] not in ":/?,":
                raise InsecureConfigurationError(_MALFORMED.format(why="text after ']'"))
        else:
            start = pos
            while pos < len(rest) and rest[pos] not in ":/?,":
                pos += 1
            host = rest[start:pos]
        port = ""
        if rest[pos : pos + 1] == ":":
            start = pos = pos + 1
            while pos < len(rest) and rest[pos] not in "/?,":
                pos += 1
            port = rest[start:pos]
        hosts.append(host)
        ports.append(port)
        if rest[pos : pos + 1] != ",":
            break
        pos += 1
    # A list of several hosts is kept whole, even when every entry is empty (as libpq does).
    if any(hosts) or len(hosts) > 1:
        result["host"] = ",".join(_decode(h.strip(" ")) for h in hosts)
    if any(ports) or len(ports) > 1:
        result["port"] = ",".join(_decode(p.strip(" ")) for p in ports)
    rest = rest[pos:]
    if rest.startswith("/"):
        dbname, _, query = rest[1:].partition("?")
        if dbname:
            result["dbname"] = _decode(dbname.strip(" "))
    elif rest.startswith("?"):
        query = rest[1:]
    else:
        query = ""
    if query:
        _parse_query(query, result)
    return result


def _parse_query(query: str, result: dict[str, Any]) -> None:
    for item in query.split("&"):
        key, equals, value = item.partition("=")
        if not equals or "=" in value:
            raise InsecureConfigurationError(
                _MALFORMED.format(why="a URI query parameter without exactly one '='")
            )
        key, value = _decode(key.strip(" ")), _decode(value.strip(" "))
        if key == "ssl" and value == "true":  # libpq's JDBC-compatible spelling
            key, value = "sslmode", "require"
        result[key] = value
