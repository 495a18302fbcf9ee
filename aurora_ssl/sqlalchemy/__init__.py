"""SQLAlchemy integration: ``create_engine``, ``create_async_engine`` and the URL plugin.

All three end in :func:`attach`, which wraps the engine's ``dialect.connect``: every new
connection is checked there, after every ``do_connect`` listener, made with exactly what was
decision, read back and logged on ``aurora_ssl.connections`` (see the SQLAlchemy guide).
Options, as keyword arguments or URL query keys (strings parsed strictly; an unknown
``aurora_ssl_*`` key is an error):

==================================  =========================================================
``aurora_ssl_bundle``               RDS bundle file to take the roots from
``aurora_ssl_tls_server_name``      name to verify when connecting through another (CNAME)
``aurora_ssl_insecure_local_dev``   turn verification off (loud; refused for AWS names)
``aurora_ssl_password_provider``    password for each new connection: a provider, a function,
                                    or ``module:attribute`` (only the text form fits a URL)
``aurora_ssl_iam``                  ``true``: RDS IAM tokens (region from the endpoint name)
``aurora_ssl_iam_profile``          AWS profile for the IAM tokens (default: standard chain)
``aurora_ssl_log_level``            level of the ``aurora_ssl.connections`` line (DEBUG)
==================================  =========================================================
"""

from __future__ import annotations

from sqlalchemy.dialects import plugins as _plugin_registry

from aurora_ssl.sqlalchemy._plugin import (
    LOGGER_NAME,
    PLUGIN_NAME,
    AuroraSSLPlugin,
    VerifiedConnection,
    attach,
    create_async_engine,
    create_engine,
    is_protected,
    on_verified,
)

__all__ = [
    "LOGGER_NAME",
    "AuroraSSLPlugin",
    "VerifiedConnection",
    "attach",
    "create_async_engine",
    "create_engine",
    "is_protected",
    "on_verified",
]

# The entry point makes ``?plugin=aurora_ssl`` work for installed packages; registering here
# too covers a source checkout on sys.path (no metadata) once this module is imported.
_plugin_registry.register(PLUGIN_NAME, __name__, "AuroraSSLPlugin")
