"""libpq connection strings: parse both forms, and describe them without the password.

Why our own parser: the core must not import a driver, yet a ``dsn``/``conninfo`` string can
hide ``sslmode=disable`` from a check that only looks at keyword arguments. The grammar is
libpq's ("Connection Strings" in the PostgreSQL manual): ``key=value`` pairs with optional
single quotes and backslash escapes, or a ``postgresql://`` URI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aurora_ssl.errors import InsecureConfigurationError

__all__ = ["SECRET_KEYS", "parse_conninfo", "redact"]

#: Parameter names whose values never appear in messages, logs or reports.
SECRET_KEYS = frozenset({"password", "sslpassword", "passfile"})

_URI_SCHEMES = ("postgresql://", "postgres://")
_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")


def parse_conninfo(dsn: str) -> dict[str, str]:
    """Parse a libpq connection string (``key=value ...`` or URI) into keywords.

    Raises:
        InsecureConfigurationError: the string is malformed; the message quotes no values.
    """
    text = dsn.strip()
    if text.lower().startswith(_URI_SCHEMES):
        return _parse_uri(text)
    return _parse_pairs(text)


def _parse_uri(text: str) -> dict[str, str]:
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. "Invalid IPv6 URL" for an unclosed "["
        raise InsecureConfigurationError(
            "Malformed connection URI; see 'Connection URIs' in the PostgreSQL manual."
        ) from None
    result: dict[str, str] = {}
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        if user:
            result["user"] = unquote(user)
        if password:
            result["password"] = unquote(password)
    hosts, ports = [], []
    for item in netloc.split(","):
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = item.partition(":")
        hosts.append(unquote(host))
        ports.append(port)
    if any(hosts):
        result["host"] = ",".join(hosts)
    if any(ports):
        result["port"] = ",".join(ports)
    if parts.path.strip("/"):
        result["dbname"] = unquote(parts.path.lstrip("/"))
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        result[key] = value
    return result


def _parse_pairs(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _KEY.match(text, pos)
        if match is None:
            raise InsecureConfigurationError(
                "Malformed connection string: expected key=value at character "
                f"{pos + 1}; see 'Connection Strings' in the PostgreSQL manual."
            )
        key, pos = match.group(1), match.end()
        value, pos = _read_value(text, pos, key)
        result[key] = value
    return result


def _read_value(text: str, pos: int, key: str) -> tuple[str, int]:
    chars: list[str] = []
    if pos < len(text) and text[pos] == "'":
        pos += 1
        while pos < len(text):
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                chars.append(text[pos + 1])
                pos += 2
                continue
            if char == "'":
                return "".join(chars), pos + 1
            chars.append(char)
            pos += 1
        raise InsecureConfigurationError(
            f"Malformed connection string: unterminated quoted value for {key}."
        )
    while pos < len(text) and not text[pos].isspace():
        if text[pos] == "\\" and pos + 1 < len(text):
            pos += 1
        chars.append(text[pos])
        pos += 1
    return "".join(chars), pos


def redact(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` safe to show: secrets masked, DSN strings reduced to keywords."""
    shown: dict[str, Any] = {}
    for key, value in params.items():
        if key in SECRET_KEYS:
            shown[key] = "********"
        elif key in ("dsn", "conninfo") and isinstance(value, str):
            try:
                shown[key] = redact(parse_conninfo(value))
            except InsecureConfigurationError:
                shown[key] = "<unparsable connection string>"
        else:
            shown[key] = value
    return shown
