"""Which RDS bundle file is in use, and where the shipped and updated bundles live.

Where the RDS bundle comes from, first match wins:
  1. an explicit ``bundle=`` argument (or Django ``AURORA_SSL["BUNDLE"]``),
  2. the ``AURORA_SSL_BUNDLE`` environment variable,
  3. a bundle installed by ``aurora-ssl bundle update`` in the cache directory,
  4. the copy shipped in this package (``aurora_ssl/data/rds-global-bundle.pem``).

Apart from :mod:`aurora_ssl.bundles` (which reads bundles) because a fresh process that reuses
a remembered trust selection (:mod:`aurora_ssl.selection_record`) needs only these answers:
resolving them costs a ``stat``, and importing this module costs almost nothing.
"""

from __future__ import annotations

import os

from aurora_ssl.errors import BundleError
from aurora_ssl.trust_cache import _cache_dir, _path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "BUNDLE_ENV",
    "GLOBAL_BUNDLE_URL",
    "bundle_source",
    "shipped_bundle_path",
    "shipped_index_path",
    "updated_bundle_path",
]

BUNDLE_ENV = "AURORA_SSL_BUNDLE"
GLOBAL_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_SHIPPED_BUNDLE = os.path.join(_DATA, "rds-global-bundle.pem")
_SHIPPED_INDEX = os.path.join(_DATA, "rds-global-bundle.index")


def shipped_bundle_path() -> Path:
    """The RDS global bundle shipped with this version of the package."""
    return _path(_SHIPPED_BUNDLE)


def shipped_index_path() -> Path:
    """The index made from the shipped bundle at build time (scripts/generate_bundle_index.py)."""
    return _path(_SHIPPED_INDEX)


_SHIPPED_BUNDLE_PATH = shipped_bundle_path


def _shipped_bundle_file() -> str:
    """:func:`shipped_bundle_path` as text; a replacement of it (tests do) is honoured."""
    if shipped_bundle_path is _SHIPPED_BUNDLE_PATH:
        return _SHIPPED_BUNDLE
    return os.fspath(shipped_bundle_path())


def updated_bundle_path() -> Path:
    """Where ``aurora-ssl bundle update`` installs a newer bundle (used if it exists)."""
    return _path(_updated_bundle_file())


def _updated_bundle_file() -> str:
    return os.path.join(_cache_dir(), "updated", "rds-global-bundle.pem")


def bundle_source(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Resolve which RDS bundle file to use, and say why (for reports).

    Returns:
        ``(path, origin)`` where origin is ``argument``, ``AURORA_SSL_BUNDLE``, ``updated``
        or ``shipped``.
    """
    source, origin = _bundle_source(explicit)
    return _path(source), origin


def _bundle_source(explicit: str | os.PathLike[str] | None) -> tuple[str, str]:
    # Spelled as pathlib would show it ('a//b/' is 'a/b'), as messages always did.
    if explicit:
        return _as_pathlib_shows(os.fspath(explicit)), "argument"
    from_env = os.environ.get(BUNDLE_ENV)
    if from_env:
        return _as_pathlib_shows(from_env), BUNDLE_ENV
    try:
        updated: str | None = _updated_bundle_file()
    except (OSError, BundleError):
        updated = None
    if updated is not None and os.path.lexists(updated):
        return updated, "updated"
    return _shipped_bundle_file(), "shipped"


def _as_pathlib_shows(path: str) -> str:
    """``str(Path(path))`` without pathlib: repeated and trailing '/' and '.' parts dropped."""
    if not path:
        return "."
    root = "//" if path.startswith("//") and not path.startswith("///") else "/" * (path[0] == "/")
    parts = [part for part in path.split("/") if part and part != "."]
    return (root + "/".join(parts)) or "."
