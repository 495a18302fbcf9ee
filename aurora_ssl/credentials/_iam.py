"""RDS IAM database authentication tokens, signed by botocore, cached, refreshed before expiry.

The usual way (django-iam-dbauth) builds a boto3 session and an RDS client for every new
connection: about 53 ms each, more than the TLS connection itself. A token is valid for 15
minutes for any number of connections, and signing one is a few HMACs, so this provider
resolves the credential chain once, signs once per login (endpoint, port, user, region), and
serves the cached token until ``refresh_margin`` before it expires.

The token is what ``generate_db_auth_token`` returns: botocore's own ``SigV4QueryAuth`` for
the ``rds-db`` service on ``GET https://HOST:PORT/?Action=connect&DBUser=USER``, without the
scheme; only the RDS client (a service model loaded from disk) is left out. When to sign again
is read from the token's own ``X-Amz-Date`` and ``X-Amz-Expires``, on the clock botocore
signed with, ``botocore.auth.get_current_datetime`` (tests pin it).
"""

from __future__ import annotations

import contextvars
import datetime
import logging
from typing import Any

from aurora_ssl._endpoint import parse_endpoint
from aurora_ssl.credentials._aws import AWS
from aurora_ssl.credentials._cache import SingleFlight
from aurora_ssl.credentials._contract import CredentialTarget
from aurora_ssl.errors import CredentialsError

TOKEN_LIFETIME = 900
"""Seconds RDS accepts a token after its ``X-Amz-Date`` (15 minutes, fixed by AWS)."""

_EPOCH = datetime.datetime(1970, 1, 1)  # naive UTC, as botocore's clock and X-Amz-Date are
_SIGNING = contextvars.ContextVar("aurora_ssl_iam_signing", default=False)


class IAMTokenProvider:
    """Passwords that are RDS IAM tokens for the target's endpoint, port and user.

    One provider holds one credential source (the default chain, a profile, or a botocore
    session you built); tokens are cached per :class:`CredentialTarget` within it, which
    together with the source is the token's full identity. Thread- and asyncio-safe:
    concurrent callers of a missing or due token share one signing. After a ``fork`` the child
    makes its own botocore session (unless you gave one), and signs what it needs itself.

    Args:
        region: sign for this region instead of the one in the endpoint name (needed for
            names that carry none).
        profile: an AWS profile (``~/.aws/config``); a profile with ``role_arn`` assumes that
            role. ``None``: the default chain.
        session: a ``botocore.session.Session`` to take credentials from, instead of
            ``profile``.
        refresh_margin: sign a new token this many seconds before the cached one expires.
            The default (300 s: a token is reused for 10 minutes) also keeps tokens shorter
            lived than the temporary credentials that sign them, which botocore refreshes at
            least 10 minutes before they expire.

    Raises:
        CredentialsError: ``refresh_margin`` outside [0, 900), or a profile and a session.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        session: Any = None,
        refresh_margin: float = 300.0,
    ) -> None:
        if not 0 <= refresh_margin < TOKEN_LIFETIME:
            raise CredentialsError(
                f"refresh_margin must be between 0 and {TOKEN_LIFETIME} seconds (a token's "
                f"lifetime), got {refresh_margin}."
            )
        self._aws = AWS("IAMTokenProvider", region, profile, session)
        self._refresh_margin = refresh_margin
        self._tokens: SingleFlight[CredentialTarget, str] = SingleFlight("an IAM token", clock=_now)

    def __repr__(self) -> str:
        source = f"profile={self._aws.profile!r}" if self._aws.profile else "default chain"
        return f"<IAMTokenProvider {source} region={self._aws.region or 'from endpoint'}>"

    @property
    def signings(self) -> int:
        """How many tokens were signed (tests and the benchmark read it)."""
        return self._tokens.fetches

    def password(self, target: CredentialTarget) -> str:
        """The cached token for ``target``, signed now if missing or due.

        Raises:
            CredentialsError: botocore missing, no region, or no usable AWS credentials; the
                message names the login.
        """
        return self._tokens.get(target, lambda _: self._sign(target), target)

    async def password_async(self, target: CredentialTarget) -> str:
        """Like :meth:`password`; signing and credential look-ups run off the event loop."""
        return await self._tokens.get_async(target, lambda _: self._sign(target), target)

    def invalidate(self, target: CredentialTarget) -> None:
        """Drop the cached token for ``target``; the retry signs a new one."""
        self._tokens.invalidate(target)

    def _sign(self, target: CredentialTarget) -> tuple[str, float]:
        purpose = f"IAM database authentication for {target}"
        session = self._aws.session(purpose)  # first: if botocore is missing, names its extra
        try:  # botocore resolves the chain once per session, and refreshes what expires
            region = self._aws.region or parse_endpoint(target.host).region
            region = target.region or region or session.get_config_variable("region")
            credentials = session.get_credentials()
            frozen = credentials and credentials.get_frozen_credentials()
        except Exception as exc:
            raise self._aws.error(purpose, exc) from exc
        if not region:
            raise CredentialsError(
                f"{purpose}: cannot tell the AWS region, since {target.host} is not an RDS "
                "endpoint name (*.REGION.rds.amazonaws.com). Pass region=... or set AWS_REGION."
            )
        if not frozen or not frozen.access_key or not frozen.secret_key:
            raise self._aws.error(purpose)

        from botocore.auth import SigV4QueryAuth
        from botocore.awsrequest import AWSRequest

        url = f"https://{target.host}:{target.port}/"
        request = AWSRequest("GET", url, params={"Action": "connect", "DBUser": target.user})
        logging.getLogger("botocore.auth").addFilter(_not_ours)  # once: addFilter dedups
        signing = _SIGNING.set(True)
        try:
            SigV4QueryAuth(frozen, "rds-db", region, expires=TOKEN_LIFETIME).add_auth(request)
        finally:
            _SIGNING.reset(signing)
        token = str(request.url).removeprefix("https://")
        # RDS accepts it until its X-Amz-Date plus its X-Amz-Expires.
        query = dict(pair.partition("=")[::2] for pair in token.partition("?")[2].split("&"))
        signed = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        expires_at = (signed - _EPOCH).total_seconds() + int(query["X-Amz-Expires"])
        return token, expires_at - self._refresh_margin


def _not_ours(record: object) -> bool:
    """A filter for botocore.auth's DEBUG records, which spell out the canonical request and
    the signature: of one of our tokens, that is the token itself."""
    return not _SIGNING.get()


def _now() -> float:
    """POSIX seconds on botocore's signing clock, the one every ``X-Amz-Date`` comes from."""
    import botocore.auth  # tests/unit/credentials/test_iam.py fails if botocore renames it

    now: datetime.datetime = botocore.auth.get_current_datetime()
    return (now - _EPOCH).total_seconds()
