"""libpq connection service files (``pg_service.conf``), read the way libpq reads them.

Why we read them at all: a service named by ``service=`` or ``PGSERVICE`` fills every
parameter the application did not set, and it ranks *above* the environment, so a service
with ``sslmode=disable``, a Unix-socket ``host`` or ``sslkeylogfile`` would reach libpq
without passing the policy. Reading the definition ourselves lets the policy judge it like any
other input and pass every value explicitly, so libpq has nothing left to take from the file.

libpq's rules (``parseServiceInfo`` / ``parseServiceFile`` in fe-connect.c), mirrored here:

* the service name comes from the ``service`` parameter, else ``PGSERVICE``;
* the user file (``PGSERVICEFILE``, else ``~/.pg_service.conf``) is searched first; only if
  it lacks the service is ``$PGSYSCONFDIR/pg_service.conf`` searched;
* lines are stripped of surrounding white space; empty lines and ``#`` comments are skipped;
  ``[name]`` opens a section; inside the wanted one each line is ``key=value`` split at the
  first ``=`` with neither side trimmed; an unknown key or a nested ``service`` is an error;
  the first occurrence of a key wins, and explicit parameters win over the file.

libpq's compiled-in system directory cannot be known from Python (each driver wheel has its
own), so a service found in no file we can read is refused rather than guessed at.
"""

from __future__ import annotations

import os

from aurora_ssl.errors import InsecureConfigurationError

# pathlib only when a service is used: with what it imports it costs a fresh process ~2.5 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

__all__ = ["ServiceDefinition", "read_service", "service_name"]

_BLANKS = " \t\n\r\f\v"  # C isspace(), which libpq uses


class ServiceDefinition(dict[str, str]):
    """The parameters of one service section, with the file they came from (for messages)."""

    def __init__(self, name: str, path: Path, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.name = name
        self.path = path

    @property
    def origin(self) -> str:
        return f"the service {self.name!r} in {self.path}"


def service_name(params: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str | None:
    """The service libpq would use for these parameters (``service=`` beats ``PGSERVICE``)."""
    name = params.get("service")
    if name is None:
        name = environ.get("PGSERVICE")
    return None if name is None else str(name)


def _candidate_files(params: Mapping[str, Any], environ: Mapping[str, str]) -> list[Path]:
    from pathlib import Path

    files: list[Path] = []
    user_file = params.get("servicefile") or environ.get("PGSERVICEFILE")
    if user_file:
        files.append(Path(str(user_file)))
    else:
        home = environ.get("HOME") or os.path.expanduser("~")
        if home and home != "~":
            files.append(Path(home) / ".pg_service.conf")
    sysconfdir = environ.get("PGSYSCONFDIR")
    if sysconfdir:
        files.append(Path(sysconfdir) / "pg_service.conf")
    return files


def read_service(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    known_keys: frozenset[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ServiceDefinition:
    """The definition of service ``name``, from the first file that has it.

    Args:
        name: the service name.
        params: the explicit parameters (a ``servicefile`` key there names the user file).
        known_keys: the keywords the driver's libpq accepts; others are a syntax error as in
            libpq. ``None`` accepts any key.
        environ: the environment (tests pass their own).

    Raises:
        InsecureConfigurationError: the service is defined in no readable file, or its
            definition is malformed; says which file and line, never a value.
    """
    searched = _candidate_files(params or {}, environ)
    for path in searched:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InsecureConfigurationError(
                f"Cannot read the connection service file {path} ({exc.strerror}); the service "
                f"{name!r} must be readable for aurora-ssl to judge it."
            ) from exc
        values = _parse_section(text, name, path, known_keys)
        if values is not None:
            return ServiceDefinition(name, path, values)
    where = ", ".join(str(p) for p in searched) or "no service file (HOME is unset)"
    raise InsecureConfigurationError(
        f"The connection service {name!r} (from service= or PGSERVICE) is not defined in "
        f"{where}. aurora-ssl must read a service to judge it: set PGSERVICEFILE or "
        "PGSYSCONFDIR to the file that defines it, or remove the service and give the "
        "parameters directly."
    )


def _parse_section(
    text: str, name: str, path: Path, known_keys: frozenset[str] | None
) -> dict[str, str] | None:
    values: dict[str, str] = {}
    found = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip(_BLANKS)
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if found:
                break  # the wanted section has ended
            found = line[1 : len(name) + 1] == name and line[len(name) + 1 : len(name) + 2] == "]"
            continue
        if not found:
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise InsecureConfigurationError(f"Syntax error in service file {path}, line {number}.")
        if key == "service":
            raise InsecureConfigurationError(
                f"Nested service specifications are not supported (service file {path}, line "
                f"{number})."
            )
        if known_keys is not None and key not in known_keys:
            raise InsecureConfigurationError(
                f"Syntax error in service file {path}, line {number}: unknown keyword."
            )
        values.setdefault(key, value)
    return values if found else None
