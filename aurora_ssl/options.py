"""Strict parsing of aurora-ssl's own options, which often arrive as strings.

INI files (``engine_from_config``, Alembic), URL query strings and environment variables turn
every value into text, and Python's ``bool("false")`` is ``True``: an opt-out written as
``false`` would silently switch verification *off*. So booleans are parsed against a closed
list of spellings, and anything else is an error rather than a guess.
"""

from __future__ import annotations

from aurora_ssl.errors import InsecureConfigurationError

__all__ = ["parse_bool"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def parse_bool(value: object, name: str) -> bool:
    """Read a boolean option strictly.

    Args:
        value: ``True``/``False``, the integers 0 and 1, or one of the strings
            true/false/1/0/yes/no/on/off (any case, surrounding spaces ignored).
        name: the option's name, for the error message.

    Raises:
        InsecureConfigurationError: any other value; the message names the option and the
            accepted spellings (and never echoes a long value whole).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    raise InsecureConfigurationError(
        f"{name}={shown} is not a boolean; use one of true/false, 1/0, yes/no, on/off."
    )
