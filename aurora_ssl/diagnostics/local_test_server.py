"""Recognising aurora_ssl.testing's local server in a failure, without importing the harness.

Error translation must not blame a forgotten *test* bundle on an outdated AWS bundle
(``aurora-ssl bundle update`` cannot help: no AWS bundle holds the test root). The test PKI's
CAs live in the fictitious region ``test-region-1``, which exists in no AWS bundle, so their
names alone identify them. The names are defined here, and :mod:`aurora_ssl.testing.pki`
issues its certificates under them, so the diagnostics never import the test harness.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "TEST_CA_PREFIX",
    "TEST_REGION",
    "TEST_ROOT_CN",
    "is_test_ca",
    "missing_test_bundle_hint",
]

TEST_REGION = "test-region-1"
TEST_CA_PREFIX = f"Amazon RDS {TEST_REGION} "
TEST_ROOT_CN = f"Amazon RDS {TEST_REGION} Root CA RSA2048 G1"


def is_test_ca(name: str | None) -> bool:
    """Whether a CA common name is one of this PKI's (trusted or look-alike).

    ``test-region-1`` exists in no AWS bundle, so a name in it can only come from here.

    Args:
        name: a certificate's subject or issuer common name (``None`` allowed: no CN).
    """
    return bool(name) and str(name).startswith(TEST_CA_PREFIX)


def missing_test_bundle_hint(issuers: Iterable[str | None], trusted: Iterable[str]) -> str | None:
    """The advice for a client that reached the test server without the test bundle.

    Used by error translation so that a forgotten test bundle is not blamed on an outdated
    AWS bundle (``aurora-ssl bundle update`` cannot help: no AWS bundle has this root).

    Args:
        issuers: issuer common names of the certificates the server presented.
        trusted: common names of the roots the connection trusted.

    Returns:
        The message, or ``None`` when the server is not the test server or the test root was
        trusted (then the failure is something else, e.g. the interception scenario).
    """
    if not any(is_test_ca(issuer) for issuer in issuers):
        return None
    if any(is_test_ca(name) for name in trusted):
        return None
    return (
        "This looks like aurora_ssl.testing's server (its certificate comes from the test "
        f"PKI, '{TEST_ROOT_CN}'), and this connection does not trust the test root: pass the test "
        "bundle, e.g. bundle=server.pki.bundle_path (aurora_ssl_bundle= in a URL, "
        'AURORA_SSL["BUNDLE"] in Django) or set AURORA_SSL_BUNDLE to that file. Running '
        "`aurora-ssl bundle update` will not help: no AWS bundle holds the test root. (If "
        "the test bundle was in use, a look-alike CA signed this certificate: the "
        "'interception' scenario, or real TLS interception.)"
    )
