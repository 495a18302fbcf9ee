"""Django integration of aurora-ssl: database backends, system checks, ``check_aurora_ssl``.

Public helpers: :func:`database_url` (a ``DATABASES`` entry from a ``DATABASE_URL``),
:func:`secure_entry` (an entry from dj-database-url or django-environ, made ours) and
:func:`is_protected`. Importing this package is light (``settings.py`` imports it, and
Django loads it for its backends): no database module, no driver.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from aurora_ssl.errors import AuroraSSLError
from django_aurora_ssl._conf import database_url, secure_entry

__all__ = ["database_url", "is_protected", "secure_entry"]


def is_protected(alias: str = "default") -> bool:
    """Whether Django's connections of ``alias`` are verified by aurora-ssl.

    True when the alias's backend is ours (by class: subclasses count), its settings are
    valid, ``INSECURE_LOCAL_DEV`` is off and, if the alias is connected now,
    that connection uses TLS (read from the client library: no round trip). Raises Django's
    ``ConnectionDoesNotExist`` for an unknown alias: a typo must not read as "unprotected".
    """
    # Not at import: settings.py imports this package, before Django is set up.
    from django.db import connections

    from aurora_ssl._readback import client_tls

    wrapper = connections[alias]
    try:
        if not getattr(wrapper, "aurora_ssl_backend", False):
            return False
        if wrapper.aurora_ssl_options.insecure_local_dev:
            return False
    except (ImproperlyConfigured, AuroraSSLError):  # malformed settings: never connects
        return False
    return wrapper.connection is None or client_tls(wrapper.connection).in_use
