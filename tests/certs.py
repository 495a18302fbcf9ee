"""The tests' certificate factory: a thin name for :func:`aurora_ssl.testing.pki.make_certificate_pem`.

Kept so existing imports (``from tests.certs import make_cert_pem``) still work; new tests call
the pki module directly.
"""

from __future__ import annotations

from aurora_ssl.testing.pki import make_certificate_pem as make_cert_pem

__all__ = ["make_cert_pem"]
