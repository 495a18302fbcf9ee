"""libpq as the driver sees it: its parser, its keywords, and the one string we hand it.

The rule of this package is "check what libpq receives". So libpq itself answers every
question about connection strings: the driver's own ``PQconninfoParse`` (psycopg 3's
``conninfo_to_dict``, psycopg2's ``parse_dsn``, or the system libpq through ctypes for psql)
parses, and a key is a libpq keyword only if that libpq reads it back as itself. We never
keep a grammar of our own, so we can never read a string differently from libpq.

What the policy decided is handed to the driver as one connection string (:func:`render`,
every value quoted), checked by parsing it back with the same libpq: whatever would not
survive the trip (a NUL, a key libpq does not know) is refused before anything is sent.

Service files are read here too, the way libpq reads them: a service fills every parameter
the application did not give, so its values are checked like the application's own.
"""

from __future__ import annotations

import functools
import itertools
import os

from aurora_ssl.errors import InsecureConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

#: Keyword arguments each driver's ``connect`` takes for itself: never written into the
#: connection string (group (b) of the policy).
PYTHON_KEYWORDS: Mapping[str, frozenset[str]] = {
    "psycopg2": frozenset({"connection_factory", "cursor_factory", "async", "async_"}),
    "psycopg": frozenset(
        {"autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory"}
    ),
}
_KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz_")


class Libpq:
    """One libpq: the one a driver links (``psycopg2``, ``psycopg``) or psql's (``system``)."""

    def __init__(
        self, name: str, parse: Callable[[str], dict[str, str]], version: Callable[[], int]
    ) -> None:
        self.name, self._parse, self._version = name, parse, version
        self._known: dict[str, bool] = {}

    @property
    def version(self) -> int:
        """libpq's ``PQlibVersion()``, e.g. 180001 (reports say what a fix needs)."""
        return self._version()

    def parse(self, conninfo: str) -> dict[str, str]:
        """libpq's reading of ``conninfo`` (``key=value ...`` or a URI).

        Raises:
            InsecureConfigurationError: libpq refuses it; the message quotes no value (the
                string may hold a password).
        """
        try:
            return self._parse(conninfo)
        except Exception:  # noqa: BLE001, S110 - each driver raises its own type
            pass  # raised outside the handler: libpq's message may quote the password
        raise InsecureConfigurationError(
            f"The libpq of {self.name} cannot parse a connection string given here (see "
            "'Connection Strings' in the PostgreSQL manual); fix its syntax or pass keywords."
        )

    def knows(self, key: str) -> bool:
        """Whether ``key`` is one of this libpq's keywords, spelled exactly so."""
        if key not in self._known:
            try:
                parsed = self._parse(f"{key}=''") if set(key) <= _KEY_CHARACTERS else None
            except Exception:  # noqa: BLE001 - "invalid connection option"
                parsed = None
            self._known[key] = bool(key) and parsed == {key: ""}
        return self._known[key]


@functools.lru_cache(maxsize=4)
def libpq_of(driver: str) -> Libpq:
    """The libpq of ``driver``: ``psycopg2``, ``psycopg`` (also for ``psycopg_async``), or
    ``system`` (the libpq psql and pg_dump load).

    Raises:
        InsecureConfigurationError: that driver (or a system libpq) is not installed.
    """
    try:
        if driver == "psycopg2":
            from psycopg2.extensions import libpq_version, parse_dsn

            return Libpq("psycopg2", lambda text: dict(parse_dsn(text)), libpq_version)
        if driver in ("psycopg", "psycopg_async"):
            from psycopg import pq
            from psycopg.conninfo import conninfo_to_dict

            def parse(text: str) -> dict[str, str]:
                return {k: str(v) for k, v in conninfo_to_dict(text).items()}

            return Libpq("psycopg", parse, pq.version)
    except ImportError:
        raise InsecureConfigurationError(f"The {driver} driver is not installed.") from None
    if driver == "system":
        library = system_library()
        return Libpq(
            "the system (psql)", _system_parser(library), lambda: int(library.PQlibVersion())
        )
    raise InsecureConfigurationError(f"{driver} is not a libpq driver.")


def render(params: Mapping[str, str]) -> str:
    """One connection string for ``params``: every value quoted, so libpq reads it back as is."""
    return " ".join(
        f"{key}='{value.replace(chr(92), chr(92) * 2).replace(chr(39), chr(92) + chr(39))}'"
        for key, value in params.items()
    )


# --- the system libpq, through ctypes (psql's own: dbshell, `aurora-ssl env`) ----------------


def system_library() -> Any:
    """The libpq shared library psql loads, opened with ctypes (``None`` if none is found)."""
    import ctypes
    import ctypes.util

    found = ctypes.util.find_library("pq")
    for name in ("libpq.so.5", "libpq.5.dylib", "libpq.dll", *([found] if found else [])):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def system_options(
    library: Any, conninfo: str | None = None
) -> list[tuple[str, str | None, str | None, str]]:
    """``(keyword, envvar, value, dispchar)`` from ``PQconninfoParse(conninfo)``, or from
    ``PQconndefaults()`` when ``conninfo`` is None (libpq's own table of keywords).

    Raises:
        ValueError: libpq refuses the string.
    """
    import ctypes

    texts = ("keyword", "envvar", "compiled", "val", "label", "dispchar")

    class Option(ctypes.Structure):
        _fields_ = [*((name, ctypes.c_char_p) for name in texts), ("dispsize", ctypes.c_int)]

    library.PQconninfoParse.restype = ctypes.POINTER(Option)
    library.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    library.PQconndefaults.restype = ctypes.POINTER(Option)
    library.PQconninfoFree.argtypes = [ctypes.POINTER(Option)]
    library.PQfreemem.argtypes = [ctypes.c_void_p]
    if conninfo is None:
        options = library.PQconndefaults()
    else:
        error = ctypes.c_void_p()
        options = library.PQconninfoParse(conninfo.encode(), ctypes.byref(error))
        if error.value:
            library.PQfreemem(error)
    if not options:
        raise ValueError("libpq refused the connection string")
    rows = [
        (o.keyword.decode(), _text(o.envvar), _text(o.val), (o.dispchar or b"").decode())
        for o in itertools.takewhile(lambda o: o.keyword is not None, options)
    ]
    library.PQconninfoFree(options)
    return rows


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "surrogateescape")


def _system_parser(library: Any) -> Callable[[str], dict[str, str]]:
    if library is None:
        raise InsecureConfigurationError(
            "No libpq found on this machine (psql and pg_dump need one); install the "
            "PostgreSQL client (e.g. apt-get install postgresql-client)."
        )

    def parse(text: str) -> dict[str, str]:
        if "\x00" in text:
            raise ValueError("NUL in a connection string")
        rows = system_options(library, text)
        return {key: value for key, _, value, _ in rows if value is not None}

    return parse


# --- service files (pg_service.conf), read as libpq reads them (fe-connect.c) ----------------


def service_name(params: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The service libpq would use: ``service=``, else ``PGSERVICE``."""
    name = params.get("service") or environ.get("PGSERVICE")
    return str(name) if name else None


def read_service(
    name: str, params: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, str], str]:
    """The parameters of service ``name`` and where they were found (for messages).

    libpq's rules: the user file (``servicefile=``, ``PGSERVICEFILE``, else
    ``~/.pg_service.conf``) first, then ``$PGSYSCONFDIR/pg_service.conf``; ``[name]`` opens a
    section, each line is ``key=value`` (split at the first ``=``, nothing trimmed), ``#``
    comments; the first occurrence of a key wins; a nested ``service`` is an error. libpq's
    compiled-in system directory cannot be known from Python, so a service found in no file
    we can read is refused rather than guessed at.

    Raises:
        InsecureConfigurationError: not found, unreadable or malformed; never quotes a value.
    """
    files = []
    user_file = params.get("servicefile") or environ.get("PGSERVICEFILE")
    home = environ.get("HOME") or os.path.expanduser("~")
    if user_file:
        files.append(str(user_file))
    elif home and home != "~":
        files.append(os.path.join(home, ".pg_service.conf"))
    if environ.get("PGSYSCONFDIR"):
        files.append(os.path.join(environ["PGSYSCONFDIR"], "pg_service.conf"))
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InsecureConfigurationError(
                f"Cannot read the service file {path} ({exc.strerror}); aurora-ssl must read "
                f"the service {name!r} to check it."
            ) from exc
        values = _service_section(text, name, path)
        if values is not None:
            return values, f"the service {name!r} in {path}"
    raise InsecureConfigurationError(
        f"The connection service {name!r} is not defined in "
        f"{', '.join(files) or 'any service file (HOME is unset)'}; aurora-ssl must read a "
        "service to check it: set PGSERVICEFILE or PGSYSCONFDIR to the file that defines it, "
        "or give the parameters directly."
    )


def _service_section(text: str, name: str, path: str) -> dict[str, str] | None:
    values: dict[str, str] | None = None
    for number, raw in enumerate(text.split("\n"), 1):  # libpq reads up to each newline
        line = raw.strip(" \t\n\r\f\v")
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if values is not None:
                break
            values = {} if line.startswith(f"[{name}]") else None
            continue
        if values is None:
            continue
        key, equals, value = line.partition("=")
        if not equals or key == "service":
            what = "a nested service" if equals else "a line without '='"
            raise InsecureConfigurationError(f"Service file {path}, line {number}: {what}.")
        values.setdefault(key, value)
    return values
