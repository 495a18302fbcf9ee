"""Reading aurora-ssl's own options when they arrive as strings.

Why strict: options reach us from INI files (``engine_from_config``, Alembic, Airflow), URL
query strings and environment variables, where every value is a string. Python's truthiness
would read ``"false"`` as true, which turned verification *off* for
``aurora_ssl_insecure_local_dev="false"``. So a boolean option accepts only the usual
spellings, and anything else is an error that names the option, never a guess.
"""

from __future__ import annotations

from aurora_ssl.errors import InsecureConfigurationError

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "parse_bool"]

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def parse_bool(value: object, name: str) -> bool:
    """``value`` as a boolean: a bool, 0/1, or one of the words (any case, blanks ignored).

    Args:
        value: what the configuration holds.
        name: the option, for the message (``aurora_ssl_insecure_local_dev``).

    Raises:
        InsecureConfigurationError: anything else (``"nope"``, ``""``, ``2``, ``None``).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    shown = repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"
    raise InsecureConfigurationError(
        f"{name}={shown} is not a boolean; use true/false (also 1/0, yes/no, on/off)."
    )
