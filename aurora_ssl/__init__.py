"""aurora-ssl: verified TLS (libpq ``sslmode=verify-full``) to Amazon Aurora / RDS PostgreSQL.

Importing this package is cheap on purpose (cold starts): it loads the modules every
connection runs anyway, and nothing else. SQLAlchemy, the drivers, ``cryptography`` and the
diagnostics are imported when a name that needs them is first used (:func:`__getattr__`).
Everything not listed in ``__all__`` is private (a leading underscore) and may change.
"""

from __future__ import annotations

import sys

from aurora_ssl._endpoint import Endpoint, EndpointKind, parse_endpoint
from aurora_ssl._options import Options
from aurora_ssl._policy import connection_params
from aurora_ssl._trust import TrustSelection, select_trust
from aurora_ssl.errors import (
    AuroraSSLError,
    BundleError,
    BundleUpdateError,
    CertificateExpiredError,
    CredentialsError,
    HostnameMismatchError,
    InsecureConfigurationError,
    InspectionError,
    ServerTLSUnavailableError,
    TLSError,
    TLSNotInUseError,
    UnsupportedPartitionError,
    UntrustedCertificateError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aurora_ssl._bundle_update import update_bundle
    from aurora_ssl._connect import clear_caches
    from aurora_ssl._diagnostics._audit import Audit
    from aurora_ssl._diagnostics._inspection import inspect_server
    from aurora_ssl._diagnostics._translation import translate_error
    from aurora_ssl._readback import ClientTLS, client_tls, effective_params, require_tls
    from aurora_ssl._server_tls import ServerTLS, server_tls
    from aurora_ssl.cli._check import audit
    from aurora_ssl.sqlalchemy import create_async_engine, create_engine

#: Where each name that costs an import lives, imported on first use.
_LAZY = {
    "require_tls": "aurora_ssl._readback",  # after connecting: not a plain driver's cost
    "client_tls": "aurora_ssl._readback",
    "effective_params": "aurora_ssl._readback",
    "ClientTLS": "aurora_ssl._readback",
    "create_engine": "aurora_ssl.sqlalchemy",
    "create_async_engine": "aurora_ssl.sqlalchemy",
    "clear_caches": "aurora_ssl._connect",
    "server_tls": "aurora_ssl._server_tls",
    "ServerTLS": "aurora_ssl._server_tls",
    "translate_error": "aurora_ssl._diagnostics._translation",
    "inspect_server": "aurora_ssl._diagnostics._inspection",
    "update_bundle": "aurora_ssl._bundle_update",
    "audit": "aurora_ssl.cli._check",
    "Audit": "aurora_ssl._diagnostics._audit",
}

__all__ = [
    "Audit",
    "AuroraSSLError",
    "BundleError",
    "BundleUpdateError",
    "CertificateExpiredError",
    "ClientTLS",
    "CredentialsError",
    "Endpoint",
    "EndpointKind",
    "HostnameMismatchError",
    "InsecureConfigurationError",
    "InspectionError",
    "Options",
    "ServerTLS",
    "ServerTLSUnavailableError",
    "TLSError",
    "TLSNotInUseError",
    "TrustSelection",
    "UnsupportedPartitionError",
    "UntrustedCertificateError",
    "audit",
    "clear_caches",
    "client_tls",
    "connection_params",
    "create_async_engine",
    "create_engine",
    "effective_params",
    "inspect_server",
    "parse_endpoint",
    "require_tls",
    "select_trust",
    "server_tls",
    "translate_error",
    "update_bundle",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the installed metadata, only when asked
        from importlib.metadata import version

        return version("aurora-ssl")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aurora_ssl' has no attribute {name!r}")
    __import__(module)
    value = getattr(sys.modules[module], name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
