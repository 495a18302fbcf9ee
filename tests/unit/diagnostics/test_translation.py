"""Error translation without a server: texts of other libpq and OpenSSL versions, the target read
from a message, the forgotten-test-bundle hint, secrets masked, our own errors left alone.

Every path produced by a real failing connection, with both drivers:
tests/integration/diagnostics/test_translation.py.
"""

from __future__ import annotations

import pytest

from aurora_ssl._diagnostics._translation import Target, target_of, translate_error
from aurora_ssl._redaction import mask_text
from aurora_ssl.errors import (
    AuroraSSLError,
    CertificateExpiredError,
    InsecureConfigurationError,
    UntrustedCertificateError,
)
from aurora_ssl.testing import TestPKI
from tests import drivers


def test_our_own_errors_are_not_translated_again() -> None:
    assert translate_error(UntrustedCertificateError("x")) is None


@pytest.mark.driver("libpq")
@pytest.mark.parametrize(
    ("text", "cls"),
    [
        (
            'connection to server at "h" (10.0.0.1), port 5432 failed: SSL error: certificate has expired',
            CertificateExpiredError,
        ),
        (
            'connection to server at "h" (10.0.0.1), port 5432 failed: SSL error: invalid padding',
            UntrustedCertificateError,
        ),
        (  # a look-alike CA whose RSA modulus is smaller than the real one's signature
            'connection to server at "h" (10.0.0.1), port 5432 failed: SSL error: data too '
            "large for modulus",
            UntrustedCertificateError,
        ),
        ("SSL error: unsupported protocol", AuroraSSLError),
        (
            'FATAL:  no pg_hba.conf entry for host "1.2.3.4", user "u", database "d", SSL off',
            InsecureConfigurationError,
        ),
        ('FATAL:  database "nope" does not exist', type(None)),
    ],
)
def test_recognised_texts(text: str, cls: type) -> None:
    """Texts of other libpq/OpenSSL versions, not reproducible with this server."""
    dbapi = drivers.libpq_module()
    error = translate_error(dbapi.OperationalError(text))
    assert isinstance(error, cls)


@pytest.mark.driver("libpq")
@pytest.mark.parametrize(
    ("host", "root", "hint"),
    [
        ("demo.cluster-abc.test-region-1.rds.amazonaws.com", "test bundle", False),
        ("demo.cluster-abc.test-region-1.rds.amazonaws.com", "certifi", True),
        ("demo.cluster-abc.test-region-1.rds.amazonaws.com", None, True),  # not known
        ("demo.cluster-abc.us-east-1.rds.amazonaws.com", "certifi", False),
    ],
)
def test_the_test_server_is_told_from_its_name_and_the_trust_file(
    pki: TestPKI, host: str, root: str | None, hint: bool
) -> None:
    """Without an inspection: the test PKI's region in the name, and the trust file libpq used
    (read locally) holding no test CA, make the forgotten-test-bundle hint."""
    dbapi = drivers.libpq_module()
    exc = dbapi.OperationalError(
        'connection to server at "127.0.0.1", port 5432 failed: SSL error: certificate verify '
        "failed"
    )
    import certifi

    files = {"test bundle": str(pki.bundle_path), "certifi": certifi.where(), None: None}
    params = {"host": host, "sslrootcert": files[root]}
    error = translate_error(exc, params=params)
    assert isinstance(error, UntrustedCertificateError)
    assert ("aurora_ssl.testing's server" in str(error)) is hint


@pytest.mark.driver("libpq")
def test_target_from_message_and_params() -> None:
    dbapi = drivers.libpq_module()

    exc = dbapi.OperationalError(
        'connection to server at "db.example.com" (10.1.2.3), port 6543 failed: x'
    )
    assert target_of(exc) == Target("db.example.com", "10.1.2.3", 6543, None)
    only_addr = dbapi.OperationalError('connection to server at "10.1.2.3", port 5432 failed: x')
    assert target_of(only_addr) == Target(None, "10.1.2.3", 5432, None)
    given = target_of(
        only_addr, {"host": "h", "hostaddr": "10.1.2.3", "port": "5432", "sslrootcert": "/r.pem"}
    )
    assert given == Target("h", "10.1.2.3", 5432, "/r.pem")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("host=h password=hunter2 dbname=d", "hunter2"),
        ("host=h password='hun ter2' dbname=d", "hun ter2"),
        ("postgresql://app:hunter2@h/db", "hunter2"),
        ("postgresql+psycopg2://app:hunter2@h:5432/db", "hunter2"),
        ("sslpassword = hunter2", "hunter2"),
    ],
)
def test_the_masking_translation_quotes_through(text: str, secret: str) -> None:
    assert secret not in mask_text(text)
    assert "********" in mask_text(text)
