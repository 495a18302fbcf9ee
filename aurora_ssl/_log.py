"""The package logger, imported only when something is logged.

Why: ``import logging`` brings ``traceback``, ``string``, ``threading`` and ``weakref`` along,
a few milliseconds of a fresh process's start (issue 12), and the connect path logs only on
unusual events (a warning about the trust set, a cache file that could not be written).
"""

from __future__ import annotations

__all__ = ["logger"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


def logger() -> logging.Logger:
    """The ``aurora_ssl`` logger (every module logs there)."""
    import logging

    return logging.getLogger("aurora_ssl")
