"""What every ``aurora-ssl`` command shares: exit codes, the usage error, output, value checks.

Results go to stdout (``--format json``: one JSON document), warnings to stderr, masked
(:func:`aurora_ssl._redaction.mask_text`) so that no password is ever printed. A value check
says what is wrong with one value in the same words wherever it came from: an option (refused
while parsing), the DSN or a ``PG*`` variable (refused before libpq blames name resolution).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from aurora_ssl._bundle_update import colons
from aurora_ssl._endpoint import host_problem, is_ip
from aurora_ssl._redaction import mask_text, shorten
from aurora_ssl.errors import InsecureConfigurationError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(InsecureConfigurationError):
    """Input that cannot work (a bad port, host name or URL key): exit status 2, one line (an
    :class:`~aurora_ssl.errors.InsecureConfigurationError` where Python code calls, as in
    :func:`aurora_ssl.audit`)."""


def emit(args: argparse.Namespace, data: Mapping[str, Any], text: str | None = None) -> None:
    """The result on stdout: with ``--format json`` the document ``data``, else ``text`` (by
    default the document as text, :func:`as_text`); its ``warnings`` (text) on stderr."""
    for warning in data.get("warnings", ()):
        if isinstance(warning, str):  # an inspection's are objects, and its text shows them
            warn(warning)
    print(json.dumps(data, indent=2) if args.format == "json" else text or as_text(data))


def as_text(data: Mapping[str, Any]) -> str:
    """A JSON document as ``key: value`` lines, but ``ok`` (the exit status says it) and
    ``warnings`` (stderr's); a list of certificates gives one line per certificate."""
    width = max(map(len, data)) + 2
    lines = []
    for key, value in data.items():
        if key in ("ok", "warnings"):
            continue
        listed = isinstance(value, list) and value and isinstance(value[0], dict)
        lines += [f"{key + ':':{width}}{_shown(item)}" for item in (value if listed else [value])]
    return "\n".join(lines)


def _shown(value: Any) -> str:
    """A certificate as its expiry, name and SHA-256 (as ``openssl x509 -fingerprint`` prints
    it, to compare with); a list joined; any other value as JSON has it."""
    if isinstance(value, dict) and "subject" in value:
        return f"{value['not_after'][:10]}  {value['subject']}  SHA-256 {colons(value['sha256'])}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return value if isinstance(value, str) else json.dumps(value)


def warn(message: str) -> None:
    print(f"aurora-ssl: warning: {mask_text(message)}", file=sys.stderr)


def port_problem(text: str, what: str) -> str | None:
    if text.strip().isascii() and text.strip().isdigit() and 0 < int(text) < 65536:
        return None
    return f"{what} {shorten(text)!r} is not a port number (1-65535)."


def address_problem(text: str, what: str) -> str | None:
    if is_ip(text):
        return None
    return f"{what} {shorten(text)!r} is not an IP address (put names in the host)."


def count_problem(text: str, what: str) -> str | None:
    if text.isascii() and text.strip().isdigit() and int(text) <= 1_000_000:
        return None
    return f"{what} {shorten(text)!r} is not a whole number from 0 to 1000000, e.g. 30."


#: What is wrong with a value of these libpq keywords, refused before libpq blames name
#: resolution (a socket directory as the host is the policy's to judge).
_PROBLEMS: dict[str, Callable[[str, str], str | None]] = {
    "host": lambda host, where: None if host[0] in "/@" else host_problem(host, where),
    "hostaddr": address_problem,
    "port": port_problem,
    "connect_timeout": count_problem,
}


def _variable(key: str) -> str:
    """The ``PG*`` variable libpq reads for ``key`` when the DSN does not give it."""
    return "PGDATABASE" if key == "dbname" else f"PG{key.upper()}"


def given(params: Mapping[str, str], key: str) -> str:
    """The value libpq will use for ``key``: the DSN's (also when empty), else its ``PG*``
    variable's."""
    value = params.get(key)
    return str(value if value is not None else os.environ.get(_variable(key), ""))


def check_dsn(params: Mapping[str, str]) -> None:
    """Say which value is wrong before libpq blames name resolution (``port=abc``): the
    DSN's, else the ``PG*`` variable libpq would read."""
    for key, problem in _PROBLEMS.items():
        where = f"the DSN's {key}" if params.get(key) is not None else _variable(key)
        for item in given(params, key).split(","):
            found = item.strip() and problem(item.strip(), where)
            if found:
                raise UsageError(found)
