"""A deterministic IAM token provider, named by a "module:attr" path in subprocess tests.

Fixed fake credentials, and botocore's clock pinned at ``T0`` while the provider signs and
reads its cache: the token is the one botocore would sign at ``T0``, so a test can make it the
role's password on the real local server beforehand. The pin is undone after every call, so
importing this module (in-process, through a settings path) leaves botocore's clock alone.
"""

from __future__ import annotations

from aurora_ssl.credentials import CredentialTarget, IAMTokenProvider
from tests.fix_credentials import T0, Clock, session_with, signing_at

_signer = IAMTokenProvider(session=session_with())


class _SignedAtT0:
    def password(self, target: CredentialTarget) -> str:
        with signing_at(Clock(T0)):
            return _signer.password(target)

    async def password_async(self, target: CredentialTarget) -> str:
        return self.password(target)

    def invalidate(self, target: CredentialTarget) -> None:
        with signing_at(Clock(T0)):
            _signer.invalidate(target)


provider = _SignedAtT0()
