"""libpq's ``host`` value as text: splitting a host list, and telling sockets from TCP names.

Apart from :mod:`aurora_ssl.endpoint` (which classifies RDS names with a regular expression
and two enums) because every connection asks these two questions, while a fresh process that
reuses a remembered trust selection never needs to classify a name (issue 12).
"""

from __future__ import annotations

__all__ = ["is_unix_socket", "split_hosts"]


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
