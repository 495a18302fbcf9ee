"""The database password from an AWS Secrets Manager secret, cached, re-read after a refusal.

RDS-managed secrets (``ManageMasterUserPassword``) hold JSON with ``username`` and
``password``; secrets that a rotation Lambda keeps add ``engine``, ``host``, ``port`` and
``dbname``. Only the two login fields are read (the connection's endpoint is configured where
TLS is verified, not taken from a secret). Reading the secret for every connection would add a
network call to each connect and run into the API's rate limit; reading it once would break
at the first rotation. So: read once, keep it, and read again when the server refuses the
cached password (the integration calls :meth:`SecretsManager.invalidate` and retries once).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aurora_ssl.credentials._aws import AWS
from aurora_ssl.credentials._cache import SingleFlight
from aurora_ssl.credentials._contract import CredentialTarget
from aurora_ssl.errors import CredentialsError

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):")
_KEY = "secret"
_SHAPE = 'store the standard RDS JSON: {"username": ..., "password": ...}'


@dataclass(frozen=True)
class DatabaseSecret:
    """The login of an RDS secret; the password is left out of ``repr``."""

    username: str | None
    password: str = field(repr=False)


class SecretsManager:
    """Passwords read from one Secrets Manager secret (the standard RDS JSON shape).

    Args:
        secret_id: the secret's name or ARN.
        region: its region; by default taken from the ARN, else from the AWS configuration
            (AWS_REGION, the profile).
        profile: an AWS profile; ``None``: the default credential chain.
        session: a ``botocore.session.Session`` to use instead of ``profile``.

    The botocore client is created once (per process), on first use.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        session: Any = None,
    ) -> None:
        if not isinstance(secret_id, str) or not secret_id.strip():
            raise CredentialsError("SecretsManager needs a secret name or ARN; got none.")
        self.secret_id = secret_id
        arn = _ARN_REGION.match(secret_id)
        region = region or (arn["region"] if arn else None)
        self._aws = AWS("SecretsManager", region, profile, session)
        self._cache: SingleFlight[str, DatabaseSecret] = SingleFlight(f"secret {secret_id!r}")

    def __repr__(self) -> str:
        return f"<SecretsManager {self.secret_id!r}>"

    @property
    def reads(self) -> int:
        """How many times the secret was read from AWS (tests read it)."""
        return self._cache.fetches

    def secret(self) -> DatabaseSecret:
        """The cached secret (read now if missing); its ``username`` is the login to use.

        Raises:
            CredentialsError: the secret cannot be read or is not the RDS JSON shape.
        """
        return self._cache.get(_KEY, functools.partial(self._read, None), None)

    def password(self, target: CredentialTarget) -> str:
        """The secret's password, if the secret is for ``target.user``.

        Raises:
            CredentialsError: as :meth:`secret`, or the secret names another user.
        """
        secret = self._cache.get(_KEY, functools.partial(self._read, target), target)
        return self._password_for(secret, target)

    async def password_async(self, target: CredentialTarget) -> str:
        """Like :meth:`password`, without blocking the event loop on AWS."""
        secret = await self._cache.get_async(_KEY, functools.partial(self._read, target), target)
        return self._password_for(secret, target)

    def invalidate(self, target: CredentialTarget) -> None:
        """The server refused the password: read the secret again on the next call.

        If the re-read finds the same refused password under ``AWSCURRENT``, a rotation may be
        half done (its Lambda changes the database before it moves the label), and the
        ``AWSPENDING`` version is used instead when there is one that can be read.
        """
        self._cache.invalidate(_KEY)

    def _password_for(self, secret: DatabaseSecret, target: CredentialTarget) -> str:
        if secret.username is not None and secret.username != target.user:
            raise CredentialsError(
                f"Secret {self.secret_id!r} holds the password of user {secret.username!r}, "
                f"but the connection {target} logs in as {target.user!r}. Use "
                f"user {secret.username!r} (with alternating-users rotation, take the user "
                "from provider.secret().username)."
            )
        return secret.password

    def _read(
        self, target: CredentialTarget | None, refused: DatabaseSecret | None
    ) -> tuple[DatabaseSecret, None]:
        purpose = f"Reading secret {self.secret_id!r}" + (f" for {target}" if target else "")
        self._aws.session(purpose)  # first: says which extra to install if botocore is missing
        secret = self._get("AWSCURRENT", purpose)
        if refused is not None and secret.password == refused.password:  # a rotation half done?
            with contextlib.suppress(CredentialsError):  # none pending (or unreadable): current
                secret = self._get("AWSPENDING", purpose)
        return secret, None  # kept until the server refuses it

    def _get(self, stage: str, purpose: str) -> DatabaseSecret:
        try:
            client = self._aws.client("secretsmanager", purpose)
            response = client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        except Exception as exc:
            raise self._aws.error(purpose, exc) from exc
        return _parse(response.get("SecretString"), f"{purpose}: its {stage} version")


def _parse(text: object, where: str) -> DatabaseSecret:
    """The RDS JSON shape, checked; messages name the field, never quote the secret."""
    if not isinstance(text, str):
        raise CredentialsError(f"{where} has no SecretString (binary is not supported); {_SHAPE}.")
    try:
        data = json.loads(text)
    except ValueError:
        data = None  # not chained: the decoder's message quotes the secret
    if not isinstance(data, dict):
        raise CredentialsError(f"{where} is not a JSON object; {_SHAPE}.")
    password, username = data.get("password"), data.get("username")
    if not isinstance(password, str) or not password:
        raise CredentialsError(f"{where} has no non-empty string 'password' field; {_SHAPE}.")
    if username is not None and not isinstance(username, str):
        raise CredentialsError(f"{where}: 'username' must be a string; {_SHAPE}.")
    return DatabaseSecret(username=username or None, password=password)
