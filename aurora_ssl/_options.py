"""aurora-ssl's own options: one type, read by one function from every source.

The same ``DATABASE_URL`` reaches the SQLAlchemy plugin, ``aurora-ssl check`` and Django; the
options also come as keyword arguments, from INI files and from Django's ``AURORA_SSL``. When
each source had its own reader they drifted, and the check did not test what the app ran. So
every source is read here, by :func:`read_options`, into one :class:`Options`.

Values often arrive as strings (INI files, URL queries, environment variables), where Python's
truthiness would read ``"false"`` as true. So booleans accept only the usual spellings, and
anything unknown is an error that names the option, never a guess.

On the connect path: no typing or dataclasses at run time (a fresh psycopg2 process would pay
several milliseconds for them; see docs/development.md).
"""

from __future__ import annotations

import os

from aurora_ssl.errors import InsecureConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: What each option is called in a URL query or as a keyword argument: PREFIX + name.
PREFIX = "aurora_ssl_"
#: What a URL carries for a password provider given as an object (a URL holds text only), so
#: whoever reads the URL later knows a provider is needed.
PROVIDER_OBJECT = "passed-as-object"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

# name -> (kind, default); the kinds: bool, path, host, text, provider, level. What each
# option means is in the docstring of Options.
_OPTIONS: Mapping[str, tuple[str, Any]] = {
    "bundle": ("path", None),
    "tls_server_name": ("host", None),
    "insecure_local_dev": ("bool", False),
    "iam": ("bool", False),
    "iam_profile": ("text", None),
    "password_provider": ("provider", None),
    "log_level": ("level", 10),
    "server_check_at_startup": ("bool", True),
    "explain_pool_timeout": ("bool", True),
}
#: Options only Django's backend reads.
DJANGO_ONLY = frozenset({"server_check_at_startup", "explain_pool_timeout"})


class Options:
    """aurora-ssl's options for one engine, Django alias or command (defaults where not given).

    Attributes:
        bundle: an RDS bundle file to take the roots from, instead of ``AURORA_SSL_BUNDLE``,
            an installed update or the shipped bundle.
        tls_server_name: the RDS endpoint name the certificate must match when the application
            connects through another name (a CNAME, a tunnel).
        insecure_local_dev: turn the policy off, for a local server without TLS (refused for
            AWS names, logged loudly).
        iam: log in with RDS IAM tokens; ``iam_profile``: the AWS profile for them.
        password_provider: ``"module:attribute"`` or a provider object: asked for the password
            of every new physical connection.
        log_level: the level of the ``aurora_ssl.connections`` line per verified connection.
        server_check_at_startup, explain_pool_timeout: Django only (see the Django guide).
        given: the options that were given, as text, to write back into a URL.
    """

    __slots__ = (*_OPTIONS, "given")

    bundle: str | None
    tls_server_name: str | None
    insecure_local_dev: bool
    iam: bool
    iam_profile: str | None
    password_provider: object | None
    log_level: int
    server_check_at_startup: bool
    explain_pool_timeout: bool
    given: dict[str, str]

    def __init__(self, **values: Any) -> None:
        for name, (_, default) in _OPTIONS.items():
            setattr(self, name, values.pop(name, default))
        if values:
            raise TypeError(f"unknown options: {', '.join(sorted(values))}")
        self.given = {}

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.given)
        return f"Options({shown})"


def parse_bool(value: object, name: str, where: str = "") -> bool:
    """``value`` as a boolean: a bool, 0/1, or true/false, yes/no, on/off (any case); ``name``
    and ``where`` (the source) are named in the error.

    Raises:
        InsecureConfigurationError: anything else (``"nope"``, ``""``, ``2``, ``None``).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    shown = repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"
    place = f" in {where}" if where else ""
    raise InsecureConfigurationError(
        f"{name}={shown}{place} is not a boolean; use true/false (also 1/0, yes/no, on/off)."
    )


def is_ours(key: object) -> bool:
    """Whether a URL or keyword key claims to be ours (any case: a misspelling is refused)."""
    return isinstance(key, str) and key.lower().startswith(PREFIX)


def read_options(
    given: Mapping[str, Any],
    where: str,
    *,
    django: bool = False,
    django_options: bool | None = None,
) -> Options:
    """Read options from one source: a URL query, keyword arguments or Django's AURORA_SSL.

    Args:
        given: ``{"aurora_ssl_bundle": ...}`` (URL and keyword spelling), or with
            ``django=True`` ``{"BUNDLE": ...}``. ``None`` and ``""`` count as not given.
        where: the source, for messages (``"the URL query"``, ``"DATABASES['default']..."``).
        django: the source is Django's ``AURORA_SSL`` (its spelling).
        django_options: accept the options only Django reads (default: ``django``), as a
            ``DATABASE_URL`` for Django does in URL spelling.

    Raises:
        InsecureConfigurationError: an unknown key, a key given twice (a repeated URL query
            key), a value that does not read, or options that contradict each other.
    """
    options = Options()
    for key, value in given.items():
        name = _name_of(key, where, django, django if django_options is None else django_options)
        if value is None or value == "":
            continue
        if isinstance(value, (tuple, list)):
            raise InsecureConfigurationError(
                f"{key} is given more than once in {where}; give it once."
            )
        value = _value(name, value, f"{key} in {where}")
        setattr(options, name, value)
        if isinstance(value, (str, int)):  # not a provider object: a URL cannot carry it
            options.given[name] = str(value).lower() if isinstance(value, bool) else str(value)
    _check_together(options, where, django)
    return options


def _name_of(key: object, where: str, django: bool, django_options: bool) -> str:
    names = {
        (name.upper() if django else PREFIX + name): name
        for name in _OPTIONS
        if django_options or name not in DJANGO_ONLY
    }
    text = str(key)
    if text not in names:
        shown = text if len(text) <= 60 else f"{text[:60]}..."
        only = text.lower().removeprefix(PREFIX) in DJANGO_ONLY
        raise InsecureConfigurationError(
            f"Unknown aurora-ssl option {shown}{' (a Django-only option)' if only else ''} in "
            f"{where}; the options are {', '.join(sorted(names))}."
        )
    return names[text]


def _value(name: str, value: Any, where: str) -> Any:
    kind = _OPTIONS[name][0]
    if kind == "bool":
        return parse_bool(value, *where.split(" in ", 1))
    if kind == "level":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().upper() in _LEVELS:
            return _LEVELS[value.strip().upper()]
        raise InsecureConfigurationError(
            f"{where} is {str(value)[:40]!r}, not a logging level; use one of {', '.join(_LEVELS)}."
        )
    if kind == "provider" and not isinstance(value, str):
        if not callable(value) and not hasattr(value, "password"):
            raise InsecureConfigurationError(
                f"{where} must be 'module:attribute', a function or a provider, "
                f"not {type(value).__name__}."
            )
        return value
    if kind == "path" and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise InsecureConfigurationError(f"{where} must be a string, not {type(value).__name__}.")
    if "\x00" in value or not value.strip():
        raise InsecureConfigurationError(f"{where} is empty or holds a NUL character; fix it.")
    if kind == "host":
        from aurora_ssl._endpoint import host_problem

        problem = host_problem(value, where)
        if problem:
            raise InsecureConfigurationError(problem)
    return value


def _check_together(options: Options, where: str, django: bool) -> None:
    def spelled(name: str) -> str:
        return name.upper() if django else PREFIX + name

    problem = None
    if options.iam and options.password_provider is not None:
        problem = (
            f"{spelled('iam')} and {spelled('password_provider')} both choose the password; "
            "give one of them, not both"
        )
    elif options.iam_profile and not options.iam:
        problem = f"{spelled('iam_profile')} needs {spelled('iam')}: add it, or remove the profile"
    elif options.iam and options.insecure_local_dev:
        problem = (
            f"{spelled('iam')} needs verified TLS (an IAM token is a password), but "
            f"{spelled('insecure_local_dev')} turns it off; remove one of them"
        )
    if problem:
        raise InsecureConfigurationError(f"In {where}, {problem}.")


def password_conflict(password_where: str, provider: str) -> str:
    """The one message for a password given next to a password provider (never the password).

    Using one of them silently would hide a misconfiguration (a stale secret left in a URL, a
    provider that is never asked).
    """
    return (
        f"{password_where} has a password, and {provider} gives the password of every new "
        f"connection: only one may choose it. Remove the password from {password_where} (or "
        f"remove {provider} to log in with that password)."
    )


def split_url(url: str) -> tuple[str, str, dict[str, Any]]:
    """A ``DATABASE_URL`` for libpq: ``(driver, the rest, our options)``.

    The same URL serves SQLAlchemy (``postgresql+psycopg://...?plugin=aurora_ssl&aurora_ssl_x=``),
    ``aurora-ssl check``/``env`` and psql. libpq refuses a ``+driver`` scheme, ``plugin`` and
    our keys, so they are taken out here; the driver is ``auto`` without a suffix. A key of
    ours given twice comes back as a list (which :func:`read_options` refuses). Our keys and
    values are decoded as SQLAlchemy and Django decode them (``+`` is a blank).
    """
    from urllib.parse import unquote_plus as unquote

    text = url.strip()
    head, sep, rest = text.partition("://")
    driver = "auto"
    if sep and "+" in head and head.split("+", 1)[0].lower() in ("postgresql", "postgres"):
        driver = head.split("+", 1)[1].lower().replace("psycopg_async", "psycopg")
        text = f"postgresql://{rest}"
    if "://" not in text or "?" not in text:
        return driver, text, {}
    base, _, query = text.partition("?")
    kept: list[str] = []
    ours: dict[str, list[str]] = {}
    for item in query.split("&"):
        key = unquote(item.partition("=")[0]).strip()
        if key == "plugin" or is_ours(key):
            ours.setdefault(key, []).append(unquote(item.partition("=")[2]))
        else:
            kept.append(item)
    given = {key: values[0] if len(values) == 1 else values for key, values in ours.items()}
    return driver, (f"{base}?{'&'.join(kept)}" if kept else base), given
