"""The database password from an AWS Secrets Manager secret, cached, re-read after a refusal.

RDS-managed and rotation-Lambda secrets hold JSON with ``username`` and ``password`` (and
often ``host``, ``port``, ``engine``). Reading the secret for every connection would add a
network call to each connect and run into the API's rate limit; reading it once would break
at the first rotation. So: read once, keep it, and read again when the server refuses the
cached password (the integration calls :meth:`SecretsManager.invalidate` and retries once).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from aurora_ssl.credentials._aws import credential_error, new_session
from aurora_ssl.credentials._cache import SingleFlight
from aurora_ssl.credentials._contract import CredentialTarget
from aurora_ssl.errors import CredentialsError

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):")
_KEY = "secret"
_CURRENT = "AWSCURRENT"
_PENDING = "AWSPENDING"
_NOT_FOUND = "ResourceNotFoundException"


@dataclass(frozen=True)
class DatabaseSecret:
    """The fields of a standard RDS secret; the password is left out of ``repr``."""

    username: str | None
    password: str = field(repr=False)
    host: str | None = None
    port: int | None = None


class SecretsManager:
    """Passwords read from one Secrets Manager secret (the standard RDS JSON shape).

    Args:
        secret_id: the secret's name or ARN.
        region: its region; by default taken from the ARN, else from the AWS configuration
            (AWS_REGION, the profile).
        profile: an AWS profile; ``None``: the default credential chain.
        session: a ``botocore.session.Session`` to use instead of ``profile``.
        version_stage: the staging label to read (``AWSCURRENT``).
        max_age: also re-read after this many seconds; ``None`` (default) re-reads only
            after the server refused the password.
        clock: seconds, for ``max_age``; tests pin it.

    The botocore client is created once, on first use.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        session: Any = None,
        version_stage: str = "AWSCURRENT",
        max_age: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(secret_id, str) or not secret_id.strip():
            raise CredentialsError("SecretsManager needs a secret name or ARN; got none.")
        if session is not None and profile is not None:
            raise CredentialsError("Give SecretsManager a profile or a session, not both.")
        if max_age is not None and max_age <= 0:
            raise CredentialsError(
                f"max_age must be a positive number of seconds or None, got {max_age}."
            )
        self.secret_id = secret_id
        arn = _ARN_REGION.match(secret_id)
        self._region = region or (arn["region"] if arn else None)
        self._profile = profile
        self._session = session
        self._version_stage = version_stage
        self._max_age = max_age
        self._clock = clock
        self._cache: SingleFlight[str, DatabaseSecret] = SingleFlight(
            f"secret {secret_id!r}", clock=clock
        )
        # The botocore client (its HTTPS connections): a forked child makes its own.
        self._aws: SingleFlight[str, Any] = SingleFlight(
            "a Secrets Manager client", forget_in_child=True
        )

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
        return self._secret(None)

    def password(self, target: CredentialTarget) -> str:
        """The secret's password, if the secret is for ``target.user``.

        Raises:
            CredentialsError: as :meth:`secret`, or the secret names another user.
        """
        return self._password_for(self._secret(target), target)

    async def password_async(self, target: CredentialTarget) -> str:
        """Like :meth:`password`, without blocking the event loop on AWS."""
        secret = await self._cache.get_async(
            _KEY, lambda refused: self._read(refused, target), target
        )
        return self._password_for(secret, target)

    def invalidate(self, target: CredentialTarget) -> None:
        """The server refused the password: read the secret again on the next call.

        If the re-read finds the same refused password under ``AWSCURRENT``, a rotation is
        half done (its Lambda changes the database before it moves the label), and the
        ``AWSPENDING`` version is used instead when there is one.
        """
        self._cache.invalidate(_KEY)

    def _secret(self, target: CredentialTarget | None) -> DatabaseSecret:
        return self._cache.get(_KEY, lambda refused: self._read(refused, target), target)

    def _password_for(self, secret: DatabaseSecret, target: CredentialTarget) -> str:
        if secret.username is not None and secret.username != target.user:
            raise CredentialsError(
                f"Secret {self.secret_id!r} holds the password of user {secret.username!r}, "
                f"but the connection {target} logs in as {target.user!r}. Use "
                f"user {secret.username!r} (with alternating-users rotation, take the user "
                "from provider.secret().username)."
            )
        return secret.password

    def _purpose(self, target: CredentialTarget | None) -> str:
        login = f" for {target}" if target is not None else ""
        return f"Reading secret {self.secret_id!r}{login}"

    def _client(self, purpose: str, target: CredentialTarget | None) -> Any:
        return self._aws.get("client", lambda _: (self._new_client(purpose), None), target)

    def _new_client(self, purpose: str) -> Any:
        session = self._session or new_session(self._profile, purpose)
        region = self._region or session.get_config_variable("region")
        if not region:
            raise CredentialsError(
                f"{purpose}: cannot tell the AWS region of the secret. Give its ARN, pass "
                "region=..., or set AWS_REGION."
            )
        return session.create_client("secretsmanager", region_name=region)

    def _read(
        self, refused: DatabaseSecret | None, target: CredentialTarget | None
    ) -> tuple[DatabaseSecret, float | None]:
        purpose = self._purpose(target)
        client = self._client(purpose, target)  # first: says which extra to install if needed
        secret = self._fetch(client, self._version_stage, purpose, missing_ok=False)
        stale = refused is not None and secret.password == refused.password
        if stale and self._version_stage == _CURRENT:
            pending = self._fetch(client, _PENDING, purpose, missing_ok=True)
            if pending is not None and pending.password != secret.password:
                secret = pending
        return secret, None if self._max_age is None else self._clock() + self._max_age

    @overload
    def _fetch(
        self, client: Any, stage: str, purpose: str, *, missing_ok: Literal[False]
    ) -> DatabaseSecret: ...
    @overload
    def _fetch(
        self, client: Any, stage: str, purpose: str, *, missing_ok: Literal[True]
    ) -> DatabaseSecret | None: ...
    def _fetch(
        self, client: Any, stage: str, purpose: str, *, missing_ok: bool
    ) -> DatabaseSecret | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            if missing_ok and code == _NOT_FOUND:
                return None
            hint = _HINTS.get(code, "see the chained botocore error")
            raise CredentialsError(f"{purpose} failed ({code}): {hint}.") from exc
        except BotoCoreError as exc:
            raise credential_error(exc, purpose, self._profile) from exc
        return _parse(response.get("SecretString"), f"{purpose}: its {stage} version")


_HINTS = {
    _NOT_FOUND: "no such secret (or no such version stage) in this region; check the name, "
    "the region and the label",
    "AccessDeniedException": "the AWS identity may not read it; grant "
    "secretsmanager:GetSecretValue (and kms:Decrypt for a customer-managed key)",
    "DecryptionFailure": "its KMS key cannot be used; grant kms:Decrypt",
}


def _parse(text: object, where: str) -> DatabaseSecret:
    """The RDS JSON shape, checked; messages name the field, never quote the secret."""
    import json

    if not isinstance(text, str):
        raise CredentialsError(
            f"{where} has no SecretString (binary secrets are not supported); store the "
            'standard RDS JSON: {"username": ..., "password": ...}.'
        )
    try:
        data = json.loads(text)
    except ValueError:
        data = None  # not chained: the decoder's message quotes the secret
    if not isinstance(data, dict):
        raise CredentialsError(
            f"{where} is not a JSON object; store the standard RDS JSON: "
            '{"username": ..., "password": ...}.'
        )
    password = data.get("password")
    if not isinstance(password, str) or not password:
        raise CredentialsError(f"{where} has no non-empty string 'password' field.")
    username = data.get("username")
    if username is not None and not isinstance(username, str):
        raise CredentialsError(f"{where}: 'username' must be a string.")
    host = data.get("host")
    port = data.get("port")
    try:
        port_number = int(port) if port is not None and not isinstance(port, bool) else None
    except (TypeError, ValueError):
        raise CredentialsError(f"{where}: 'port' is not a number.") from None
    return DatabaseSecret(
        username=username or None,
        password=password,
        host=host if isinstance(host, str) and host else None,
        port=port_number,
    )
