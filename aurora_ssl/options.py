"""Our options arrive as strings from INI files and environment variables: parse them strictly.

Why strict: ``bool("false")`` is True, so a truthiness test turns ``INSECURE_LOCAL_DEV=false``
into "verification off". Only the usual spellings are accepted; anything else is an error that
names the option, never a guess.
"""

from __future__ import annotations

from aurora_ssl.errors import InsecureConfigurationError

__all__ = ["BOOL_SPELLINGS", "parse_bool"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

#: The accepted spellings, for messages.
BOOL_SPELLINGS = "true/false, 1/0, yes/no, on/off (case-insensitive)"


def parse_bool(value: object, name: str) -> bool:
    """``value`` as a bool: a bool, the int 0 or 1, or one of :data:`BOOL_SPELLINGS`.

    Args:
        value: the option's value as given (settings, URL query, INI file, environment).
        name: the option's name, for the message.

    Raises:
        InsecureConfigurationError: anything else; names ``name``, the value (cut at 20
            characters) and the accepted spellings.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        shown = repr(value) if len(value) <= 20 else f"{value[:20]!r}..."
    else:
        shown = f"a {type(value).__name__}"
    raise InsecureConfigurationError(
        f"{name} must be a boolean; got {shown}. Use one of {BOOL_SPELLINGS}."
    )
