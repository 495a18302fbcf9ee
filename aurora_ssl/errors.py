"""The one exception hierarchy of aurora-ssl.

Every error the package raises on purpose derives from :class:`AuroraSSLError`, so an
application can catch "anything aurora-ssl refused" in one place, while the subclasses let
operators tell a configuration mistake from an attack or an outage::

    AuroraSSLError
    ├── InsecureConfigurationError     a setting would weaken or bypass verify-full
    ├── BundleError                    a trust file is missing, unreadable or not CA certificates
    │   └── UnsupportedPartitionError  China / GovCloud endpoint without a bundle for it
    ├── TLSError                       the connection could not be made with verified TLS
    │   ├── UntrustedCertificateError  not signed by a CA in the trust set (interception?)
    │   ├── CertificateExpiredError    the server certificate is outside its validity period
    │   ├── HostnameMismatchError      the certificate does not name the host we asked for
    │   ├── ServerTLSUnavailableError  the server does not offer TLS at all
    │   └── TLSNotInUseError           a connection ended up without TLS (closed before use)
    ├── InspectionError                certificate inspection could not reach or read the server
    ├── BundleUpdateError              ``aurora-ssl bundle update`` refused new content
    ├── CredentialsError               a password provider, IAM token or secret could not be had
    └── TestServerError                the local test server (aurora_ssl.testing) failed to run

Messages never contain passwords: every class is constructed from already-redacted text, and
the driver's original exception is kept as ``__cause__`` rather than copied into the message.
"""

from __future__ import annotations


class AuroraSSLError(Exception):
    """Base class: aurora-ssl refused to go on, and the message says how to fix it."""


class InsecureConfigurationError(AuroraSSLError, ValueError):
    """A setting would let a connection skip or weaken server verification.

    Raised at configuration time (engine/backend creation, system checks) and again at connect
    time if a weaker setting slipped in later. The message names where the setting came from
    (URL query, connect kwargs, OPTIONS, DSN string) so it can be removed at its source.
    """


class BundleError(AuroraSSLError):
    """A trust file (shipped, cached, or user supplied) cannot be used as a CA bundle."""


class UnsupportedPartitionError(BundleError):
    """The endpoint is in an AWS partition whose CAs are not in the shipped bundle.

    China and GovCloud endpoints are signed by CAs that AWS publishes separately; the message
    gives the download address so the user can supply that bundle explicitly.
    """


class TLSError(AuroraSSLError):
    """A connection could not be established with TLS and a verified server identity."""


class UntrustedCertificateError(TLSError):
    """The server's certificate chain does not lead to a CA in the trust set.

    Seen as libpq's "certificate verify failed" or "SSL error: invalid padding" (a foreign CA
    with the same names as a trusted one): interception, a wrong bundle, or an RDS Proxy that
    needs the Amazon Trust Services roots.
    """


class CertificateExpiredError(TLSError):
    """The server certificate is expired (or not yet valid)."""


class HostnameMismatchError(TLSError):
    """The certificate is valid but issued for other names than the host connected to."""


class ServerTLSUnavailableError(TLSError):
    """The server answered the SSLRequest with 'N': it does not offer TLS."""


class TLSNotInUseError(TLSError):
    """A connection was established without TLS; it was closed before any query ran."""


class InspectionError(AuroraSSLError):
    """Certificate inspection failed before a certificate could be read."""


class BundleUpdateError(AuroraSSLError):
    """A new RDS bundle was refused; the bundle in use was left untouched."""


class CredentialsError(AuroraSSLError):
    """No password for a new connection: a provider failed, or AWS credentials are missing.

    Raised before any byte is sent to the database, so the message can say exactly what to
    supply (a region, an AWS profile, the ``[iam]`` extra). It names the provider and the
    target but never contains a password, a token or an AWS secret; the underlying error, if
    any, is kept as ``__cause__``.
    """


class TestServerError(AuroraSSLError):
    """The throwaway PostgreSQL of :mod:`aurora_ssl.testing` could not be set up or run."""

    __test__ = False  # not a pytest test class despite the name
