"""SHA-256 in hex without ``hashlib``: bundle files, DER certificates, trust files, records.

``import hashlib`` initialises OpenSSL's digest table, about 2 ms of a fresh process's start:
as much as the whole cold-start budget of issue 12. CPython's builtin module computes the same
digest; its name changed in 3.12 (``_sha2``, ``_sha256`` before), hence the lookup.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["sha256_hex"]


def _builtin_sha256() -> Callable[[bytes], Any]:
    # The right name first: a failed import searches every sys.path entry (~50 us).
    name = "_sha2" if sys.version_info >= (3, 12) else "_sha256"
    try:
        factory: Callable[[bytes], Any] = __import__(name).sha256
    except (ImportError, AttributeError):  # a Python built without it
        pass
    else:
        return factory
    import hashlib

    return hashlib.sha256


_SHA256 = _builtin_sha256()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex."""
    return str(_SHA256(data).hexdigest())
