"""The cache directory that trust files are written to and read from, guarded like OpenSSH.

Why it is guarded: every materialised trust file (and an updated bundle) is read from here
by libpq as a trust anchor, so whoever can write or rename in it chooses which CAs we trust.
The directory and each of its ancestors must belong to us or root and be closed to others
(sticky directories excepted), as OpenSSH's StrictModes demands of ``authorized_keys``; the
bundle installed by ``aurora-ssl bundle update`` must be ours and closed to others too.

Files are written atomically (temp file + ``os.replace``), so concurrent threads and
processes only ever see complete files. On the connect path: ``str`` paths only (no
``pathlib``, no ``tempfile``), see :mod:`aurora_ssl.trust`.
"""

from __future__ import annotations

import os
import stat

from aurora_ssl.errors import BundleError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_dir", "write_atomically"]

CACHE_DIR_ENV = "AURORA_SSL_CACHE_DIR"


def _path(path: str) -> Path:
    from pathlib import Path

    return Path(path)


def cache_dir() -> Path:
    """A private directory for materialised trust files, created on first use.

    ``AURORA_SSL_CACHE_DIR`` wins; otherwise ``$XDG_CACHE_HOME/aurora-ssl`` (or
    ``~/.cache/aurora-ssl``). A read-only or missing home falls back to a per-user directory
    in the system temp dir. The directory must be ours and closed to others, and so must every
    directory above it, as OpenSSH's StrictModes demands: another local user who can rename an
    ancestor can swap in a directory holding their own CA.

    Raises:
        BundleError: the directory (or an ancestor) is open to other users, or not writable.
    """
    return _path(_cache_dir())


def _cache_dir() -> str:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return _private_dir(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        return _private_dir(os.path.join(xdg, "aurora-ssl"))
    except (OSError, BundleError):
        import tempfile  # only on this rare path: it costs a fresh process ~3 ms to import

        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return _private_dir(os.path.join(tempfile.gettempdir(), f"aurora-ssl-{uid}"))


def _private_dir(given: str) -> str:
    path = os.path.abspath(given)
    _check_ancestors(os.path.dirname(path))
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.stat(path)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise BundleError(
            f"Cache directory {path} belongs to another user (uid {info.st_uid}); set "
            f"{CACHE_DIR_ENV} to a directory you own."
        )
    # Windows reports every file as 0o777 and guards access with ACLs, which this check
    # cannot read: the mode test would refuse every directory there, so it is POSIX only.
    if hasattr(os, "getuid") and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BundleError(
            f"Cache directory {path} is writable by other users, who could plant a CA there; "
            f"run `chmod go-w {path}` or set {CACHE_DIR_ENV} to a private directory."
        )
    if not os.access(path, os.W_OK):
        raise BundleError(f"Cache directory {path} is not writable; set {CACHE_DIR_ENV}.")
    return path


def _lineage(directory: str) -> list[str]:
    """``directory`` (absolute, normalised) and each directory above it, up to ``/``."""
    lineage = [directory]
    parent = os.path.dirname(directory)
    while parent != lineage[-1]:
        lineage.append(parent)
        parent = os.path.dirname(parent)
    return lineage


def _check_ancestors(directory: str) -> None:
    """OpenSSH StrictModes for every existing directory from ``directory`` up to ``/``.

    Each must be owned by root or by us, and not writable by group or others unless it has
    the sticky bit (like ``/tmp``, where others cannot rename what is ours). Both the path as
    given and its resolved form are checked, so a symbolic link cannot hide a weak parent.
    """
    if not hasattr(os, "getuid"):
        return  # Windows: ACLs, not modes; nothing comparable to check here
    uid = os.getuid()
    seen: set[str] = set()
    for start in (directory, os.path.realpath(directory)):
        for current in _lineage(start):
            if current in seen:
                continue
            seen.add(current)
            try:
                info = os.stat(current)
            except FileNotFoundError:
                continue  # created by us (0700) on first use
            if info.st_uid not in (0, uid):
                raise BundleError(
                    f"Cache directory ancestor {current} belongs to another user (uid "
                    f"{info.st_uid}), who could swap the trust files below it; set "
                    f"{CACHE_DIR_ENV} to a directory whose parents belong to you or root."
                )
            open_to_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            if open_to_others and not info.st_mode & stat.S_ISVTX:
                raise BundleError(
                    f"Cache directory ancestor {current} is writable by other users without "
                    f"the sticky bit, so they could swap the trust files below it; run "
                    f"`chmod go-w {current}` (or `chmod +t {current}` for a shared directory "
                    f"like /tmp), or set {CACHE_DIR_ENV} to a private directory."
                )


def _remove_hint(path: str | os.PathLike[str]) -> str:
    return (
        f"Remove it (`rm {path}`), then run `aurora-ssl bundle update` to install AWS's "
        "current bundle (or do nothing: the shipped bundle is used when none is installed)."
    )


def _check_updated_file(path: Path) -> None:
    """The updated bundle and its directory must be ours (or root's) and closed to others.

    A file another user planted while the directory was writable stays theirs after the
    ``chmod`` our error advises, so ownership is what exposes it.
    """
    if not hasattr(os, "getuid"):
        return
    uid = os.getuid()
    for current in (path.parent, path):
        try:
            info = current.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            problem = "is a symbolic link, which `aurora-ssl bundle update` never installs"
        elif info.st_uid not in (0, uid):
            problem = f"belongs to another user (uid {info.st_uid}), who could have planted it"
        elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            problem = "is writable by other users, who could have replaced its content"
        else:
            continue
        raise BundleError(
            f"The updated RDS bundle {path} is refused: {current} {problem}. " + _remove_hint(path)
        )


def write_atomically(path: str | os.PathLike[str], content: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``content`` so readers see the old or the new file, never a part.

    Written via a fresh temp file in the same directory (``O_EXCL``, so never someone else's)
    and ``os.replace``: all or nothing. No :mod:`tempfile`: it is slow to import and this
    runs in every fresh process's first connection.

    Args:
        durable: ``fsync`` before the rename, so a crash cannot leave an empty file behind.
            Caches whose every reader checks the content (trust files, bundle indexes,
            selection records) pass ``False``: an ``fsync`` costs a first process about 4 ms
            each (a Lambda cold start writes three), and a damaged file is only made again.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    suffix = os.path.splitext(os.path.basename(target))[1]
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.urandom(8).hex()}{suffix}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:  # noqa: SIM105 - no contextlib on the connect path (its import costs ~0.5 ms)
            os.unlink(tmp)
        except OSError:
            pass
        raise
