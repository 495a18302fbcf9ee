"""Trust selections remembered across processes: a fresh process need not read the bundle.

Why: choosing a region's roots means reading and hashing the 160 kB bundle, reading its index
and importing the modules that do it, about 3 ms of every fresh process (a ``manage.py``
command, a cron job, a Lambda cold start, each gunicorn or Celery child), while issue 12
allows the whole connect path 5 % of plain psycopg2's ~45 ms. The outcome depends only on a
few files, so the first process writes it down, and later ones reuse it after checking that
none of those files changed: a few ``stat`` calls and one small read.

Why this is as safe as selecting again:

- A record lives in the guarded cache directory (:mod:`aurora_ssl.trust_cache`), next to the
  trust files libpq reads from there. Whoever could forge a record could replace those files
  just as well, so records give nobody new power.
- A record names every file the selection read (the bundle, the updated bundle or its absence,
  certifi's bundle for RDS Proxy, the shipped index and the selecting code) with its ``stat``
  signature: device, inode, size, mtime, ctime, mode and owner. Writing, replacing, ``chmod``
  or ``chown`` all change the ctime, which (unlike the mtime) cannot be set back, so any change
  to any of them makes the record unusable and the next process selects again.
- A change within one tick of the file system's clock could keep the ctime, so a record is
  written only when every file was last changed at least :data:`_SETTLED_NS` before selection
  began (git's "racy" rule). A file changed since is noticed by the next process.
- The trust file it names must be in the cache directory and hold exactly the roots the
  record keeps a copy of; otherwise selection runs again (and re-creates it). The record
  itself ends with a CRC-32 of its content, so a damaged or cut-short one is never read.
- Only on POSIX: elsewhere the ctime is the creation time, which a rewrite keeps.

Nothing here parses certificates or even names; a miss simply costs the full selection.
"""

from __future__ import annotations

import binascii
import os

from aurora_ssl.errors import BundleError
from aurora_ssl.trust_cache import _cache_dir, write_atomically

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

__all__ = ["ABSENT", "recall", "remember", "signature"]

_MAGIC = "# aurora-ssl trust selection 3"
#: A file must have been unchanged this long before selection began for its outcome to be
#: recorded: longer than the coarsest file-system timestamp tick (FAT's 2 s).
_SETTLED_NS = 2_000_000_000
#: The signature of a file that does not exist (its appearing is a change too).
ABSENT = "absent"
_ENABLED = os.name == "posix"
_UNWRITABLE = ("\t", "\n", "\r", "\x00")
_END = b"\nend\t"


def signature(path: str) -> str:
    """What a file looks like from outside: any change to its content, mode or owner changes it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return ABSENT
    except OSError:
        return "unreadable"
    return (
        f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:"
        f"{info.st_mode:o}:{info.st_uid}"
    )


def _record_path(directory: str, names: Sequence[str], source: str, origin: str) -> str:
    # CRC-32, not SHA-256: only names a file (the record holds its whole key, compared on
    # reading), and binascii is loaded anyway where importing _sha256 would cost ~0.2 ms.
    key = "\x00".join((_MAGIC, origin, source, *names)).encode("utf-8", "surrogateescape")
    return os.path.join(directory, f"selection-{binascii.crc32(key):08x}.rec")


def recall(
    names: Sequence[str], source: str, origin: str, *, user_file: bool = False
) -> dict[str, Any] | None:
    """The selection a previous process recorded for these inputs, if nothing it read changed.

    Args:
        user_file: ``source`` is the user's own ``sslrootcert``, which is used as it is;
            otherwise the record must name a trust file in the cache directory, holding
            exactly the roots the record keeps.

    Returns:
        ``path``, ``scope``, ``subjects``, ``source``, ``warnings`` and ``content`` (the trust
        file's bytes, or ``None`` for the user's own file), or ``None``: select again.
    """
    if not _ENABLED:
        return None
    try:
        directory = _cache_dir()
        with open(_record_path(directory, names, source, origin), "rb") as handle:
            data = handle.read()
    except (OSError, BundleError):
        return None
    blob, _, check = data.rpartition(_END)
    if check != b"%08x" % binascii.crc32(blob):
        return None  # damaged, cut short or not a record at all
    header, _, content = blob.partition(b"\n\n")
    try:
        lines = header.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    if lines[0] != _MAGIC:
        return None
    fields: dict[str, list[str]] = {}
    for line in lines[1:]:
        tag, _, value = line.partition("\t")
        fields.setdefault(tag, []).append(value)
    if (
        fields.get("origin") != [origin]
        or fields.get("source") != [source]
        or fields.get("host") != list(names)
        or len(fields.get("path", ())) != 1
        or len(fields.get("scope", ())) != 1
        or len(fields.get("sources", ())) != 1
    ):
        return None
    checked = set()
    for dependency in fields.get("depends", ()):
        path, _, recorded = dependency.rpartition("\t")
        if not path or signature(path) != recorded:
            return None
        checked.add(path)
    if source not in checked:  # every record we write depends on its source at least
        return None
    path = fields["path"][0]
    if user_file:  # the user's own file, used untouched: it is one of the dependencies
        if path != source or content:
            return None
    else:  # a file we materialised: in the cache directory, with exactly the recorded roots
        try:
            with open(path, "rb") as handle:
                if os.path.dirname(path) != directory or handle.read() != content:
                    return None
        except OSError:
            return None
    return {
        "path": path,
        "scope": fields["scope"][0],
        "subjects": tuple(fields.get("subject", ())),
        "source": fields["sources"][0],
        "warnings": tuple(fields.get("warning", ())),
        "content": None if user_file else content,
    }


def remember(
    names: Sequence[str],
    source: str,
    origin: str,
    outcome: dict[str, Any],
    depends: Iterable[str],
    started_ns: int,
) -> None:
    """Write down ``outcome`` (the fields :func:`recall` returns) for the next process.

    Args:
        depends: every file the selection read; its signature now is recorded.
        started_ns: ``time.time_ns()`` before selection read anything: a file changed after
            ``started_ns - _SETTLED_NS`` makes the outcome unrecordable (the module docstring).

    Best effort: an outcome that cannot be written unambiguously, or a cache directory that
    refuses the file, only costs the next process a full selection.
    """
    if not _ENABLED:
        return
    rows: list[tuple[str, ...]] = [("origin", origin), ("source", source)]
    rows += [("host", name) for name in names]
    for path in sorted(set(depends)):
        recorded = signature(path)
        if recorded == "unreadable":
            return
        if recorded != ABSENT and int(recorded.split(":")[4]) > started_ns - _SETTLED_NS:
            return  # changed too recently to be sure its signature shows every change
        rows.append(("depends", path, recorded))
    rows += [
        ("path", outcome["path"]),
        ("scope", outcome["scope"]),
        ("sources", outcome["source"]),
    ]
    rows += [("subject", subject) for subject in outcome["subjects"]]
    rows += [("warning", warning) for warning in outcome["warnings"]]
    if any(ch in value for row in rows for value in row for ch in _UNWRITABLE):
        return  # a value that would read back as something else: not worth a format
    try:
        header = "\n".join([_MAGIC, *("\t".join(row) for row in rows)]).encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not text (surrogate escapes)
        return
    blob = header + b"\n\n" + (outcome["content"] or b"")
    try:
        record = _record_path(_cache_dir(), names, source, origin)
        write_atomically(record, blob + _END + b"%08x" % binascii.crc32(blob), durable=False)
    except (OSError, BundleError):
        return
