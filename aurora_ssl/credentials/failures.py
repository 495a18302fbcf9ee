"""Recognise "the server refused these credentials", whichever driver and wrapper raised it.

This decides whether an integration drops the cached password and retries once, so it must
be narrow: a TLS failure, a timeout or a full server are not cured by a new token, and
retrying them would only double the wait.

Where the SQLSTATE is available it decides (asyncpg's ``sqlstate``, psycopg 3 and psycopg2
once a session exists). libpq reports a failed *login* without one: psycopg2 and psycopg 3
only carry the server's text, ``FATAL:  password authentication failed for user "app"``. For
those the server's (English) message is matched; a server with a translated
``lc_messages`` is only recognised through drivers that expose the SQLSTATE (asyncpg).
"""

from __future__ import annotations

import re

__all__ = ["AUTH_FAILURE_SQLSTATES", "is_auth_failure"]

AUTH_FAILURE_SQLSTATES = frozenset({"28P01", "28000"})
"""invalid_password and invalid_authorization_specification."""

# The server's texts for 28P01 / 28000 at login (src/backend/libpq/auth.c, postinit.c).
# "PAM authentication failed" is what RDS answers to a wrong or expired IAM token.
_FATAL_AUTH = re.compile(
    r"FATAL:\s+(?:"
    r"(?:password|PAM|md5|SCRAM) authentication failed for user"
    r"|role \".*\" does not exist"
    r"|role \".*\" is not permitted to log in"
    r"|no pg_hba\.conf entry for"
    r"|pg_hba\.conf rejects connection"
    r")",
)
_MAX_CHAIN = 16


def is_auth_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it wraps) is the server refusing the login.

    Looks through SQLAlchemy's ``.orig``, Django's and asyncpg adapters' ``__cause__`` and
    implicit ``__context__`` chains.

    Args:
        exc: what connecting raised.

    Returns:
        ``True`` for SQLSTATE 28P01 (invalid_password) or 28000
        (invalid_authorization_specification), including libpq's message-only form.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for attribute in ("sqlstate", "pgcode"):
            if getattr(current, attribute, None) in AUTH_FAILURE_SQLSTATES:
                return True
        # pg8000 carries the server's error fields as a dict: {"C": "28P01", "M": ...}.
        fields = current.args[0] if current.args else None
        if isinstance(fields, dict) and fields.get("C") in AUTH_FAILURE_SQLSTATES:
            return True
        if _FATAL_AUTH.search(str(current)):
            return True
        for attribute in ("orig", "__cause__", "__context__"):
            inner = getattr(current, attribute, None)
            if isinstance(inner, BaseException):
                pending.append(inner)
    return False
