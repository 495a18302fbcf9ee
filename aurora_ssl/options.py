"""aurora-ssl's own options: the one list every face reads, and how their values are parsed.

Why one list: the same ``DATABASE_URL`` reaches the SQLAlchemy plugin (the app),
``aurora-ssl check`` (the operator's test of that app) and Django's URL reader. When each kept
its own list they drifted: a key the plugin accepted but ``check`` refused or ignored meant the
check did not test what the app runs. So the keys common to every face, what each means and
how its value is read live here (:data:`OPTIONS`, :func:`read_option`), and the three readers
derive their lists from it (``tests/test_option_keys.py`` holds them to it). Django adds keys
only Django has (``SERVER_CHECK_AT_STARTUP``, ``EXPLAIN_POOL_TIMEOUT``) on purpose.

Why strict: options reach us from INI files (``engine_from_config``, Alembic, Airflow), URL
query strings and environment variables, where every value is a string. Python's truthiness
would read ``"false"`` as true, which turned verification *off* for
``aurora_ssl_insecure_local_dev="false"``. So a boolean option accepts only the usual
spellings, and anything else is an error that names the option, never a guess.

Core and on the connect path: no typing or dataclasses at run time (see aurora_ssl.policy).
"""

from __future__ import annotations

from aurora_ssl._frozen import Frozen
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.redaction import shorten

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BY_KEY",
    "FALSE_WORDS",
    "KEYS",
    "LOG_LEVELS",
    "OPTIONS",
    "PREFIX",
    "TRUE_WORDS",
    "Option",
    "is_ours",
    "parse_bool",
    "password_conflict",
    "read_option",
    "repeated_option",
    "unknown_option",
]

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: What every key of ours starts with in a URL query or as a keyword argument.
PREFIX = "aurora_ssl_"

# The kinds of value: how :func:`read_option` reads one.
BOOL = "bool"  # parse_bool; written back as "true"/"false"
TEXT = "text"  # a non-empty string
PATH = "path"  # a non-empty string or os.PathLike (a file)
HOST = "host"  # one host name (the faces also check its DNS syntax: aurora_ssl.hostnames)
LEVEL = "level"  # a logging level name, any case; written back in upper case

# What ``aurora-ssl check`` does with each: it must test what the app runs, so it applies
# every option that changes the connection or the login, and says why for the rest.
APPLIED = "applied"  # a policy setting or the login: check connects with it
REFUSED_WHEN_TRUE = "refused when true"  # the insecure opt-out: a check exists to verify
NOTED = "noted"  # read and validated; does not change the connection (a log level)


class Option(Frozen):
    """One option every face accepts.

    Attributes:
        key: the URL query / keyword spelling (``aurora_ssl_bundle``); lower case only.
        setting: the Django ``AURORA_SSL`` spelling (``BUNDLE``).
        kind: how the value is read (:data:`BOOL`, :data:`TEXT`, :data:`PATH`, :data:`HOST`,
            :data:`LEVEL`).
        check: what ``aurora-ssl check`` does with it (:data:`APPLIED`,
            :data:`REFUSED_WHEN_TRUE`, :data:`NOTED`).
        meaning: one line for messages and docs.
    """

    __slots__ = ("check", "key", "kind", "meaning", "setting")
    _fields = ("key", "kind", "check")

    key: str
    setting: str
    kind: str
    check: str
    meaning: str

    def __init__(self, key: str, kind: str, check: str, meaning: str) -> None:
        self._set(
            key=key, setting=key[len(PREFIX) :].upper(), kind=kind, check=check, meaning=meaning
        )


#: The options common to the SQLAlchemy plugin, ``aurora-ssl check`` and Django.
OPTIONS = (
    Option("aurora_ssl_bundle", PATH, APPLIED, "an RDS bundle file to trim the trust set from"),
    Option(
        "aurora_ssl_tls_server_name",
        HOST,
        APPLIED,
        "the RDS endpoint name to verify when the host is another name (CNAME, tunnel)",
    ),
    Option(
        "aurora_ssl_insecure_local_dev",
        BOOL,
        REFUSED_WHEN_TRUE,
        "turn verification off, for a local server without TLS only",
    ),
    Option("aurora_ssl_iam", BOOL, APPLIED, "log in with RDS IAM tokens (botocore)"),
    Option("aurora_ssl_iam_profile", TEXT, APPLIED, "the AWS profile for the IAM tokens"),
    Option(
        "aurora_ssl_password_provider",
        TEXT,
        APPLIED,
        "a password per new connection from 'module:attribute'",
    ),
    Option(
        "aurora_ssl_log_level",
        LEVEL,
        NOTED,
        "the level of the per-connection line on the aurora_ssl.connections logger",
    ),
)
BY_KEY = {option.key: option for option in OPTIONS}
KEYS = tuple(BY_KEY)


def is_ours(key: object) -> bool:
    """Whether ``key`` claims to be one of our options (any case: a misspelling is refused)."""
    return isinstance(key, str) and key.lower().startswith(PREFIX)


def unknown_option(key: str, where: str, known: tuple[str, ...] = KEYS) -> str:
    """The one message for an ``aurora_ssl_*`` key nobody knows (a typo must not be dropped)."""
    return (
        f"Unknown aurora-ssl option {shorten(key)} in {where}; the options are "
        f"{', '.join(sorted(known))}. Fix the spelling (keys are lower case)."
    )


def repeated_option(key: str, where: str) -> str:
    """The one message for a key of ours given twice in one place (which would win?)."""
    return f"{shorten(key)} is given more than once in {where}; give it once."


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


def read_option(key: str, value: Any, where: str) -> str:
    """One option's value as the text it has in a URL: the same reading in every face.

    Booleans become ``"true"``/``"false"`` (through :func:`parse_bool`), log levels upper
    case, paths ``str``; text must be a non-empty string without NUL.

    Args:
        key: one of :data:`KEYS`.
        value: the value as given (a string from a URL or INI file, or a keyword value).
        where: where it was given, for the message (``"the URL query"``).

    Raises:
        InsecureConfigurationError: ``key`` is not ours, or its value does not read.
    """
    option = BY_KEY.get(key)
    if option is None:
        raise InsecureConfigurationError(unknown_option(key, where))
    if option.kind == BOOL:
        return "true" if parse_bool(value, key) else "false"
    if option.kind == PATH and not isinstance(value, (str, bytes)) and hasattr(value, "__fspath__"):
        value = value.__fspath__()
    if not isinstance(value, str):
        raise InsecureConfigurationError(
            f"{key} in {where} must be a string, not {type(value).__name__}."
        )
    if not value.strip():
        raise InsecureConfigurationError(f"{key} is empty in {where}; remove it or give a value.")
    if "\x00" in value:
        raise InsecureConfigurationError(f"{key} in {where} contains a NUL character.")
    if option.kind == LEVEL:
        if value.strip().upper() not in LOG_LEVELS:
            raise InsecureConfigurationError(
                f"{key}={value[:40]!r} in {where} is not a logging level; use one of "
                f"{', '.join(LOG_LEVELS)}."
            )
        return value.strip().upper()
    return value


def password_conflict(password_where: str, provider: str) -> str:
    """The one message for a password given next to a password provider (never the password).

    Both cannot be used, and using one silently would hide a misconfiguration (a stale secret
    left in a URL, a provider that is never asked).

    Args:
        password_where: where the password is (``"the URL"``, ``"connect_args"``,
            ``"DATABASES['default']['PASSWORD']"``).
        provider: the option that chooses the provider (``"aurora_ssl_iam=true"``).
    """
    return (
        f"{password_where} has a password, and {provider} gives the password of every new "
        f"connection: only one may choose it. Remove the password from {password_where} (or "
        f"remove {provider} to log in with that password)."
    )
