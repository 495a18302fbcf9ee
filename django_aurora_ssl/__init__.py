"""Django integration of aurora-ssl: database backends, system checks, ``check_aurora_ssl``.

Public helpers (imported lazily: Django loads this package for its backends):
:func:`database_url` (a ``DATABASES`` entry from a ``DATABASE_URL``) and :func:`is_protected`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["adopt", "database_url", "is_protected"]


def database_url(
    url: str | None = None,
    *,
    env: str = "DATABASE_URL",
    default: str | None = None,
    **overrides: Any,
) -> Any:
    """See :func:`django_aurora_ssl._url_settings.database_url`."""
    from django_aurora_ssl._url_settings import database_url as read

    return read(url, env=env, default=default, **overrides)


def is_protected(alias: str = "default") -> bool:
    """Whether Django's connections of ``alias`` are verified by aurora-ssl.

    True when the alias's backend is ours (by class: subclasses count), its ``AURORA_SSL``
    options are valid, ``INSECURE_LOCAL_DEV`` is off and, if the alias is connected now,
    that connection uses TLS (read from the client library: no round trip). Raises Django's
    ``ConnectionDoesNotExist`` for an unknown alias: a typo must not read as "unprotected".
    """
    from django.db import connections

    from aurora_ssl._readback import client_tls
    from django_aurora_ssl._conf import OptionsError, database_options, uses_backend

    wrapper = connections[alias]
    if not uses_backend(wrapper.settings_dict):
        return False
    try:
        if database_options(wrapper.settings_dict, alias).insecure_local_dev:
            return False
    except OptionsError:
        return False
    raw = getattr(wrapper, "connection", None)
    return raw is None or client_tls(raw).in_use


def adopt(entry: Any, *, engine: str | None = None) -> Any:
    """See :func:`django_aurora_ssl._url_settings.adopt` (dj-database-url, django-environ)."""
    from django_aurora_ssl._url_settings import adopt as make_ours

    return make_ours(entry, engine=engine)
