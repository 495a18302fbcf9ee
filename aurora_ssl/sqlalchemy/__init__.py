"""SQLAlchemy integration: ``create_engine``, ``create_async_engine`` and the URL plugin.

All three paths end in :func:`attach`, which listens on two pool events:

* ``do_connect`` (first in line): pops our own keys (``plugin``, ``aurora_ssl_*``: they stay
  in ``engine.url`` so derived engines keep the protection), refuses weaker settings in the
  final connect parameters and replaces them with the policy's complete explicit set; for
  asyncpg and pg8000 it builds an ``SSLContext`` trusting the selected roots only and routes
  the connect through a checking wrapper. What was set is stashed in the pool entry's ``info``.
* ``connect`` (first in line, before the dialect's own first queries): reads back what the new
  DB-API connection really uses (TLS in use, and every security-relevant libpq value, or the
  asyncpg SSLContext's identity) and compares it with the stash; on any difference the
  connection is closed and an error raised before any statement. Then it logs it on
  ``aurora_ssl.connections`` and calls the :func:`on_verified` callbacks.

``creator=``, ``pool=`` and ``async_creator=`` are refused: SQLAlchemy fires no do_connect for
them. Options (keyword arguments, or URL query keys; strings are parsed strictly, unknown
``aurora_ssl_*`` keys are errors):

==================================  =========================================================
``aurora_ssl_bundle``               RDS bundle file to trim from
``aurora_ssl_tls_server_name``      name to verify when connecting through another (CNAME)
``aurora_ssl_insecure_local_dev``   turn verification off (loud; refused for AWS names)
``aurora_ssl_password_provider``    password for each new connection: a provider, a function,
                                    or ``module:attribute`` (only the text form fits a URL)
``aurora_ssl_iam``                  ``true``: RDS IAM tokens (region from the endpoint name)
``aurora_ssl_iam_profile``          AWS profile for the IAM tokens (default: standard chain)
``aurora_ssl_log_level``            level of the ``aurora_ssl.connections`` line (DEBUG)
==================================  =========================================================

With a provider, the password is asked for on every new physical connection, for the endpoint
name that is verified; a refused login is retried once with a fresh password. A provider
given as an object cannot be written into ``engine.url``: a derived engine
(``create_engine(engine.url)``) then refuses to start until it is given one again (or use the
``module:attribute`` form). :func:`on_verified` and :func:`is_protected` expose what was
verified.
"""

from __future__ import annotations

from sqlalchemy.dialects import plugins as _plugin_registry

from aurora_ssl.sqlalchemy._observe import (
    LOGGER_NAME,
    VerifiedConnection,
    is_protected,
    on_verified,
)
from aurora_ssl.sqlalchemy._options import PLUGIN_NAME
from aurora_ssl.sqlalchemy._plugin import (
    AuroraSSLPlugin,
    attach,
    create_async_engine,
    create_engine,
    preflight,
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
    "preflight",
]

# The entry point makes ``?plugin=aurora_ssl`` work for installed packages; registering here
# too covers a source checkout on sys.path (no metadata) once this module is imported.
_plugin_registry.register(PLUGIN_NAME, __name__, "AuroraSSLPlugin")
