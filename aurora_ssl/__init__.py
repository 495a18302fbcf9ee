"""aurora-ssl: verified TLS (libpq ``sslmode=verify-full``) to Amazon Aurora / RDS PostgreSQL.

Importing this package is cheap on purpose (Lambda cold starts): SQLAlchemy, the drivers and
``cryptography`` are imported only when a function that needs them is first used. The public
names below are resolved lazily through :func:`__getattr__`.
"""

from __future__ import annotations

import sys

from aurora_ssl.errors import (
    AuroraSSLError,
    BundleError,
    BundleUpdateError,
    CertificateExpiredError,
    HostnameMismatchError,
    InsecureConfigurationError,
    InspectionError,
    ServerTLSUnavailableError,
    TLSError,
    TLSNotInUseError,
    UnsupportedPartitionError,
    UntrustedCertificateError,
)

# typing is not imported at run time: a fresh process would pay for it (issue 12).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aurora_ssl.bundle_update import update_bundle
    from aurora_ssl.diagnostics import inspect_server, translate_error
    from aurora_ssl.endpoint import Endpoint, EndpointKind, parse_endpoint
    from aurora_ssl.policy import Settings, connection_params
    from aurora_ssl.sqlalchemy import create_async_engine, create_engine
    from aurora_ssl.status import ClientTLS, ServerTLS, client_tls, require_tls, server_tls
    from aurora_ssl.trust import TrustSelection, select_trust

_LAZY = {
    "create_engine": "aurora_ssl.sqlalchemy",
    "create_async_engine": "aurora_ssl.sqlalchemy",
    "connection_params": "aurora_ssl.policy",
    "Settings": "aurora_ssl.policy",
    "select_trust": "aurora_ssl.trust",
    "TrustSelection": "aurora_ssl.trust",
    "parse_endpoint": "aurora_ssl.endpoint",
    "Endpoint": "aurora_ssl.endpoint",
    "EndpointKind": "aurora_ssl.endpoint",
    "client_tls": "aurora_ssl.status",
    "require_tls": "aurora_ssl.status",
    "server_tls": "aurora_ssl.status",
    "ClientTLS": "aurora_ssl.status",
    "ServerTLS": "aurora_ssl.status",
    "translate_error": "aurora_ssl.diagnostics",
    "inspect_server": "aurora_ssl.diagnostics",
    "update_bundle": "aurora_ssl.bundle_update",
}

__all__ = [
    "AuroraSSLError",
    "BundleError",
    "BundleUpdateError",
    "CertificateExpiredError",
    "ClientTLS",
    "Endpoint",
    "EndpointKind",
    "HostnameMismatchError",
    "InsecureConfigurationError",
    "InspectionError",
    "ServerTLS",
    "ServerTLSUnavailableError",
    "Settings",
    "TLSError",
    "TLSNotInUseError",
    "TrustSelection",
    "UnsupportedPartitionError",
    "UntrustedCertificateError",
    "client_tls",
    "connection_params",
    "create_async_engine",
    "create_engine",
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
        from aurora_ssl.version import __version__

        return __version__
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aurora_ssl' has no attribute {name!r}")
    __import__(module)  # importlib itself is not needed for this
    value = getattr(sys.modules[module], name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
