"""aurora-ssl's own options in SQLAlchemy: where they come from and where they go.

They arrive as keyword arguments (``create_engine(url, aurora_ssl_bundle=...)``, or as strings
from ``engine_from_config`` and Alembic's INI file) and as URL query keys. They are parsed
strictly (a misspelt key or ``insecure_local_dev=nope`` is an error, never ignored) and then
written back into the URL the engine exposes, next to ``plugin=aurora_ssl``, so that
``sqlalchemy.create_engine(engine.url)`` builds an engine with the same protection.
Our do_connect listener pops them before the driver sees them.

This module also gathers every host source the insecure opt-out's "never for AWS names"
guard must see.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from sqlalchemy.engine.url import URL

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.database_url import read_url_option
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.options import KEYS, is_ours, parse_bool, repeated_option, unknown_option
from aurora_ssl.policy import Settings

PLUGIN_NAME = "aurora_ssl"
BUNDLE = "aurora_ssl_bundle"
TLS_SERVER_NAME = "aurora_ssl_tls_server_name"
INSECURE = "aurora_ssl_insecure_local_dev"
PASSWORD_PROVIDER = "aurora_ssl_password_provider"  # noqa: S105 - an option name
IAM = "aurora_ssl_iam"
IAM_PROFILE = "aurora_ssl_iam_profile"
LOG_LEVEL = "aurora_ssl_log_level"
#: The plugin's options: the core list (aurora_ssl.options), nothing of its own.
OPTION_KEYS = KEYS
#: What ``engine.url`` carries for a provider given as an object (a URL holds text only): a
#: derived engine reading it fails at creation instead of connecting without the provider.
PROVIDER_OBJECT = "passed-as-object"

_PORT_SUFFIX = re.compile(r":\d*$")


def _text(key: str, value: Any, where: str) -> str:
    """One option value as the text it has in a URL (the core reading, for every face)."""
    if isinstance(value, (tuple, list)):  # a repeated query key
        raise InsecureConfigurationError(repeated_option(key, where))
    return read_url_option(key, value, where)


def pop_provider_object(kwargs: MutableMapping[str, Any]) -> object | None:
    """Take a password provider given as an object (not text) out of ``kwargs``.

    Text goes through :func:`read_options` like every option; an object (a provider or a
    function) cannot be written into a URL, so it travels separately.
    """
    value = kwargs.get(PASSWORD_PROVIDER)
    if value is None or isinstance(value, (str, os.PathLike)):
        return None
    given: object = kwargs.pop(PASSWORD_PROVIDER)
    return given


def read_options(url: URL, kwargs: MutableMapping[str, Any]) -> dict[str, str]:
    """Collect our options from ``url``'s query and ``kwargs`` (popping them from ``kwargs``).

    Returns:
        ``{key: text}`` for every option given (``None`` keyword values count as not given).

    Raises:
        InsecureConfigurationError: an unknown ``aurora_ssl_*`` key, a value that does not
            parse, a key repeated with different values, or URL and keyword disagreeing.
    """
    found: dict[str, str] = {}
    for key, value in url.query.items():
        if is_ours(key):
            if key not in OPTION_KEYS:
                raise InsecureConfigurationError(unknown_option(key, "the URL query"))
            found[key] = _text(key, value, "the URL query")
    for key in [k for k in kwargs if is_ours(k)]:
        if key not in OPTION_KEYS:
            raise InsecureConfigurationError(unknown_option(key, "the keyword arguments"))
        value = kwargs.pop(key)
        if value is None:
            continue
        text = _text(key, value, "the keyword arguments")
        if key in found and found[key] != text:
            raise InsecureConfigurationError(
                f"{key} is {found[key]!r} in the URL but {text!r} as a keyword argument; "
                "give it in one place."
            )
        found[key] = text
    return found


def settings_from(options: Mapping[str, str]) -> Settings:
    """The policy settings for parsed options (see :func:`read_options`)."""
    insecure = options.get(INSECURE)
    return Settings(
        bundle=options.get(BUNDLE),
        tls_server_name=options.get(TLS_SERVER_NAME),
        insecure_local_dev=parse_bool(insecure, INSECURE) if insecure is not None else False,
    )


def engine_url(url: URL, plugins: Iterable[str], options: Mapping[str, str]) -> URL:
    """The URL the engine exposes: ``url`` plus ``plugin=...`` and our options, as strings.

    ``url`` is what SQLAlchemy hands the plugin (it has removed ``plugin`` already); the
    original URL's plugin list is restored with ours in it, so a derived engine loads the same
    plugins. ``insecure_local_dev=false`` and ``iam=false`` are dropped: the defaults.
    """
    names = list(dict.fromkeys([*plugins, PLUGIN_NAME]))
    query: dict[str, str | list[str]] = {"plugin": names if len(names) > 1 else names[0]}
    for key in OPTION_KEYS:
        if key in options and not (key in (INSECURE, IAM) and options[key] == "false"):
            query[key] = options[key]
    return url.difference_update_query(OPTION_KEYS).update_query_dict(query)


def strip_ours(cparams: MutableMapping[str, Any]) -> None:
    """Pop ``plugin`` and every ``aurora_ssl_*`` key: they reach cparams from ``engine.url``."""
    for key in [k for k in cparams if k == "plugin" or is_ours(str(k))]:
        del cparams[key]


def _names(value: Any) -> list[str]:
    """Host names in one host source: a comma list, a multi-valued query key, a list."""
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    names: list[str] = []
    for item in values:
        for part in str(item).split(","):
            part = part.strip()
            if part:
                names.append(part)
                bare = _PORT_SUFFIX.sub("", part)
                if bare and bare != part:
                    names.append(bare)
    return names


def host_sources(url: URL | None, params: Mapping[str, Any], settings: Settings) -> list[str]:
    """Every name or address the connection could go to or verify, from every source.

    URL host, ``?host=`` (comma list or repeated key), ``?hostaddr=``, the same keys in the
    connect parameters, ``host``/``hostaddr`` inside a ``dsn``/``conninfo`` string, the
    ``PGHOST``/``PGHOSTADDR`` environment variables (libpq falls back to them), and
    ``tls_server_name``.
    """
    hosts: list[str] = []
    addrs: list[str] = []
    if url is not None:
        hosts += _names(url.host) + _names(url.query.get("host"))
        addrs += _names(url.query.get("hostaddr"))
    hosts += _names(params.get("host"))
    addrs += _names(params.get("hostaddr"))
    for key in ("dsn", "conninfo"):
        dsn = params.get(key)
        if isinstance(dsn, str) and dsn.strip():
            parsed = parse_conninfo(dsn)  # unreadable: refused, the guard cannot judge it
            hosts += _names(parsed.get("host"))
            addrs += _names(parsed.get("hostaddr"))
    # libpq falls back to the environment only for what was not given.
    if not hosts:
        hosts += _names(os.environ.get("PGHOST"))
    if not addrs:
        addrs += _names(os.environ.get("PGHOSTADDR"))
    return list(dict.fromkeys([*hosts, *addrs, *_names(settings.tls_server_name)]))
