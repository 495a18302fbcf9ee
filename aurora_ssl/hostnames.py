"""Is this a host name, an IP address or a port that a connection could use? Said in one line.

Why check before connecting: a bad value otherwise surfaces far from its cause. A DNS label
longer than 63 characters makes Python's resolver raise ``UnicodeError`` (a traceback), and
``port=abc`` made libpq blame name resolution. These checks run on user input before any
resolution or connection, and their messages never echo an overlong value whole.
"""

from __future__ import annotations

import re

from aurora_ssl.endpoint import is_ip
from aurora_ssl.redaction import shorten

__all__ = ["address_problem", "host_problem", "port_problem"]

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
MAX_NAME = 253
MAX_LABEL = 63


def host_problem(host: str, what: str = "host") -> str | None:
    """What is wrong with ``host`` as a TCP host name or IP address, or ``None``.

    Args:
        host: one host (not a comma-separated list); a trailing dot is allowed.
        what: how to name the value in the message (``"host"``, ``"--tls-server-name"``).
    """
    if is_ip(host):
        return None
    shown = shorten(host)
    if not host.strip():
        return f"{what} is empty; give the endpoint's host name."
    if host != host.strip() or any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in host):
        return f"{what} {shown!r} contains spaces or control characters; remove them."
    name = host[:-1] if host.endswith(".") else host
    if len(name) > MAX_NAME:
        return (
            f"{what} {shown!r} is {len(name)} characters long; a DNS name has at most "
            f"{MAX_NAME}. Check the value (a pasted file or variable?)."
        )
    for label in name.split("."):
        if len(label) > MAX_LABEL:
            return (
                f"{what} {shown!r} has a label of {len(label)} characters "
                f"({shorten(label, long=40, keep=20)!r}); DNS allows at most {MAX_LABEL} "
                "between dots. Check the endpoint name."
            )
        if not _LABEL.fullmatch(label):
            return (
                f"{what} {shown!r} is not a valid host name: labels are letters, digits "
                "and hyphens between dots, not empty. Check the endpoint name."
            )
    return None


def address_problem(address: str, what: str = "hostaddr") -> str | None:
    """What is wrong with ``address`` as a numeric IP address (libpq ``hostaddr``)."""
    if is_ip(address):
        return None
    return (
        f"{what} {shorten(address)!r} is not an IP address; hostaddr takes a numeric IPv4 or "
        "IPv6 address (put names in host)."
    )


def port_problem(port: str, what: str = "port") -> str | None:
    """What is wrong with ``port`` as a TCP port number (1..65535)."""
    text = port.strip()
    if text.isascii() and text.isdigit() and 0 < int(text) < 65536:
        return None
    return f"{what} {shorten(port)!r} is not a port number; use a number from 1 to 65535."
