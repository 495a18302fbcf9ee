"""A deterministic IAM token provider, named by a "module:attr" path in subprocess tests.

Fixed fake credentials and a fixed clock: the token is the one botocore would sign at
``T0``, so a test can make it the role's password on the real local server beforehand.
"""

from __future__ import annotations

from aurora_ssl.credentials import IAMTokenProvider
from tests.fix_credentials import T0, Clock, session_with

provider = IAMTokenProvider(session=session_with(), clock=Clock(T0))
