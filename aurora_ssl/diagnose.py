"""Diagnostics: translate driver TLS failures into errors that say what happened and what to do.

(Placeholder until the diagnostics work lands: translates nothing.)
"""

from __future__ import annotations

from aurora_ssl.errors import AuroraSSLError

__all__ = ["translate_error"]


def translate_error(exc: BaseException) -> AuroraSSLError | None:
    """Return our error for a driver's connection failure, or ``None`` to keep the original."""
    del exc
    return None
