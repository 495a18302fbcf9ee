"""The installed version, from the package metadata (one source of truth: pyproject.toml).

A module of its own so the CLI and ``bundle update`` (its User-Agent) need not reach up to the
package root, and ``import aurora_ssl`` does not pay for ``importlib.metadata``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("aurora-ssl")
except PackageNotFoundError:  # a source checkout on sys.path without installing
    __version__ = "0+unknown"
