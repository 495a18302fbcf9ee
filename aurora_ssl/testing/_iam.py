"""RDS IAM logins against the test server: a deterministic token made the role's password.

Why: RDS checks an IAM token's signature, which a local server cannot; it checks a password. A
token is known in advance when everything it signs is: the AWS keys, the instant, and the
endpoint name, port, user and region. :func:`iam_token_as_password` fixes the first two for a
block and sets the token the application will sign as the role's password, so the login works
exactly when the application signs what RDS would accept.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from unittest import mock

from aurora_ssl import clear_caches
from aurora_ssl.credentials import CredentialTarget, IAMTokenProvider
from aurora_ssl.errors import CredentialsError
from aurora_ssl.testing._server import AuroraLikeServer

# AWS's documented example keys: they belong to nobody, so no real request can succeed.
_KEYS = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
# Unset in the block: each would change the keys (or add a session token to the signature).
_OTHER_SOURCES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")
_SIGNED_AT = 1_796_000_000  # any fixed instant would do


@contextlib.contextmanager
def iam_token_as_password(
    server: AuroraLikeServer, user: str | None = None, *, at: float = _SIGNED_AT
) -> Iterator[str]:
    """Inside the block, RDS IAM logins to ``server`` work: the token is the role's password.

    For the block, botocore's default credential chain finds fixed example keys (in
    ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``; ``AWS_PROFILE`` and
    ``AWS_SESSION_TOKEN`` are unset), botocore signs at the instant ``at``, and aurora-ssl's
    IAM providers start afresh (:func:`aurora_ssl.clear_caches`). So a login with
    ``aurora_ssl_iam=true`` (:meth:`AuroraLikeServer.database_url` with ``iam=True``),
    ``"AURORA_SSL": {"IAM": True}`` or ``aurora-ssl check --iam`` signs exactly the token set
    as ``user``'s password, with the region read from the endpoint name; a token for another
    user, port or endpoint name, or from other keys, is refused, as RDS would refuse it.

    Args:
        server: a started server.
        user: the role that logs in (default: the app role, whose own password is set again
            after the block; another role keeps the token).
        at: the signing instant, in POSIX seconds.

    Yields:
        The token, to check that it shows up in no log or message.

    Raises:
        CredentialsError: botocore is not installed.
        TestServerError: the server has no such role.
    """
    try:
        import botocore.auth
    except ImportError as exc:
        raise CredentialsError("IAM tokens need botocore: pip install 'aurora-ssl[iam]'.") from exc
    user = server.user if user is None else user
    # botocore's clock (naive UTC, as botocore.auth asks for it), stopped at ``at``
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc).replace(tzinfo=None)
    with (
        mock.patch.dict(os.environ, _KEYS),
        mock.patch.object(botocore.auth, "get_current_datetime", return_value=moment),
    ):
        for name in _OTHER_SOURCES:
            os.environ.pop(name, None)
        clear_caches()
        try:
            token = IAMTokenProvider().password(CredentialTarget(server.host, server.port, user))
            server._set_password(user, token)
            yield token
        finally:
            if user == server.user and server.running:
                server._set_password(user, server.password)
            clear_caches()
