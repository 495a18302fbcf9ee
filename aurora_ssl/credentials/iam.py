"""RDS IAM database authentication tokens, signed locally, cached, refreshed before expiry.

The usual way (django-iam-dbauth) builds a boto3 session and an RDS client for every new
connection: about 53 ms each, more than the TLS connection itself. A token is valid for 15
minutes for any number of connections, and signing one is a few HMACs, so this provider
resolves the credential chain once, signs once per (endpoint, port, user, region) and
credential source, and serves the cached token until ``refresh_margin`` before it expires.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aurora_ssl._endpoint import parse_endpoint
from aurora_ssl.credentials.aws import CHAIN_HINT, credential_error, new_session
from aurora_ssl.credentials.cache import Fetched, SingleFlightCache
from aurora_ssl.credentials.contract import CredentialTarget
from aurora_ssl.credentials.sigv4 import TOKEN_LIFETIME, rds_auth_token
from aurora_ssl.errors import CredentialsError

__all__ = ["IAMTokenProvider"]

_Key = tuple[str, int, str, str]
_now = time.time
_PURPOSE = "IAM database authentication"


class IAMTokenProvider:
    """Passwords that are RDS IAM tokens for the target's endpoint, port and user.

    One provider holds one credential source (the default chain, a profile, or a botocore
    session you built); tokens are cached per (endpoint, port, user, region) within it, so the
    cache key is the token's full identity. Thread- and asyncio-safe: concurrent callers of a
    missing or due key share one signing.

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
        clock: POSIX seconds; tests pin it (default: ``time.time``).

    Raises:
        CredentialsError: ``refresh_margin`` outside [0, 900).
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        session: Any = None,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not 0 <= refresh_margin < TOKEN_LIFETIME:
            raise CredentialsError(
                f"refresh_margin must be between 0 and {TOKEN_LIFETIME} seconds (a token's "
                f"lifetime), got {refresh_margin}."
            )
        if session is not None and profile is not None:
            raise CredentialsError("Give IAMTokenProvider a profile or a session, not both.")
        self._region = region
        self._profile = profile
        self._session = session
        self._credentials: Any = None
        self._default_region: str | None = None
        self._refresh_margin = refresh_margin
        # Looked up on each call, so a test can pin the clock of providers built for it from
        # text options (aurora_ssl_iam=true), which cannot carry a clock.
        self._clock: Callable[[], float] = clock if clock is not None else (lambda: _now())
        self._lock = threading.Lock()
        self._cache: SingleFlightCache[_Key, str] = SingleFlightCache(clock=self._clock)

    def __repr__(self) -> str:
        source = f"profile={self._profile!r}" if self._profile else "default chain"
        return f"<IAMTokenProvider {source} region={self._region or 'from endpoint'}>"

    @property
    def signings(self) -> int:
        """How many tokens were signed (tests and the benchmark read it)."""
        return self._cache.fetches

    # -- the contract ------------------------------------------------------------------------

    def password(self, target: CredentialTarget) -> str:
        """The cached token for ``target``, signed now if missing or due.

        Raises:
            CredentialsError: botocore missing, no region, or no usable AWS credentials.
        """
        key = self._key(target, self._region_fast(target) or self._session_region(target))
        return self._cache.get(key, lambda: self._sign(key))

    async def password_async(self, target: CredentialTarget) -> str:
        """Like :meth:`password`; signing and credential look-ups run off the event loop."""
        region = self._region_fast(target)
        if region is None:
            loop = asyncio.get_running_loop()
            region = await loop.run_in_executor(None, self._session_region, target)
        key = self._key(target, region)
        return await self._cache.get_async(key, lambda: self._sign(key))

    def invalidate(self, target: CredentialTarget) -> None:
        """Drop the cached token for ``target``; the retry signs a new one."""
        region = self._region_fast(target) or self._default_region
        if region is not None:
            self._cache.invalidate(self._key(target, region))

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _key(target: CredentialTarget, region: str) -> _Key:
        return (target.host, target.port, target.user, region)

    def _region_fast(self, target: CredentialTarget) -> str | None:
        """The region without touching botocore: given, or read from the endpoint name."""
        return target.region or self._region or parse_endpoint(target.host).region

    def _botocore_session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = new_session(self._profile, _PURPOSE)
            return self._session

    def _session_region(self, target: CredentialTarget) -> str:
        if self._default_region is None:
            region = self._botocore_session().get_config_variable("region")
            if not region:
                raise CredentialsError(
                    f"{_PURPOSE} for {target.host}: cannot tell the AWS region, since the name "
                    "is not an RDS endpoint name (*.REGION.rds.amazonaws.com). Give the "
                    "region (IAMTokenProvider(region=...)) or set AWS_REGION."
                )
            self._default_region = str(region)
        return self._default_region

    def _resolved_credentials(self) -> Any:
        """botocore's credentials object, resolved once (it refreshes temporary ones itself)."""
        session = self._botocore_session()
        with self._lock:
            if self._credentials is None:
                try:
                    credentials = session.get_credentials()
                except Exception as exc:
                    raise credential_error(exc, _PURPOSE, self._profile) from exc
                if credentials is None:
                    source = f"profile {self._profile!r}" if self._profile else "any source"
                    raise CredentialsError(
                        f"{_PURPOSE}: no AWS credentials found through {source}. {CHAIN_HINT}; "
                        "configure one of them for this process."
                    )
                self._credentials = credentials
            return self._credentials

    def _sign(self, key: _Key) -> Fetched[str]:
        host, port, user, region = key
        try:
            frozen = self._resolved_credentials().get_frozen_credentials()
        except CredentialsError:
            raise
        except Exception as exc:
            raise credential_error(exc, _PURPOSE, self._profile) from exc
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsError(
                f"{_PURPOSE}: the AWS credentials found have no access key or secret key; "
                f"{CHAIN_HINT}."
            )
        signed_at = int(self._clock())
        token = rds_auth_token(
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            session_token=frozen.token,
            host=host,
            port=port,
            user=user,
            region=region,
            signed_at=signed_at,
        )
        return Fetched(token, refresh_at=signed_at + TOKEN_LIFETIME - self._refresh_margin)
