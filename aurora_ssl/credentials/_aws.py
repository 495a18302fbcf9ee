"""One AWS credential source per provider: botocore imported on first use, failures explained.

botocore is an optional extra (``aurora-ssl[iam]``): ``import aurora_ssl`` must not need it,
and an app that never uses IAM or Secrets Manager must not pay its import time. A provider
makes one botocore session per process, lazily, and keeps it: a session resolves the
credential chain (environment, profile, SSO, container or instance role) once and refreshes
temporary credentials itself.

``purpose`` in every method below is how the message starts; it names the login
(``IAM database authentication for app@host:5432``), so the error says which connection
had no password, and what to supply for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aurora_ssl.errors import CredentialsError

#: What to do, per botocore exception class or AWS error code; botocore's text otherwise.
_HINTS = {
    "NoCredentialsError": "no AWS credentials found through {source}. botocore's standard chain "
    "looks at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials and "
    "config (SSO, role_arn), web identity, and the container or instance role; configure one "
    "of them for this process",
    "ProfileNotFound": "AWS profile {profile!r} is not configured in ~/.aws/config or "
    "~/.aws/credentials (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE); fix the name or leave "
    "the profile unset to use the default chain",
    "ResourceNotFoundException": "no such secret (or no such version stage) in this region; "
    "check the name, the region and the label",
    "AccessDeniedException": "the AWS identity may not read it; grant "
    "secretsmanager:GetSecretValue (and kms:Decrypt for a customer-managed key)",
    "DecryptionFailure": "its KMS key cannot be used; grant kms:Decrypt",
    "NoRegionError": "cannot tell the AWS region; give the secret's ARN, pass region=..., or set "
    "AWS_REGION",
}


class AWS:
    """Where a provider's AWS credentials come from: a session given, a profile, or the chain.

    Args:
        owner: the provider's class name, for messages.
        region: the region given to the provider, if any.
        profile: an AWS profile; ``None``: the default credential chain.
        session: a ``botocore.session.Session`` to use instead of ``profile``.
    """

    def __init__(self, owner: str, region: str | None, profile: str | None, session: Any) -> None:
        if session is not None and profile is not None:
            raise CredentialsError(f"Give {owner} a profile or a session, not both.")
        self.region = region
        self.profile = profile
        self._session = session
        self._made: dict[str, tuple[int, Any]] = {}  # name: (the process that made it, it)

    def session(self, purpose: str) -> Any:
        """The botocore session; the first call imports botocore.

        Raises:
            CredentialsError: botocore is not installed.
        """
        if self._session is not None:
            return self._session
        try:
            import botocore.session
        except ImportError as exc:
            raise CredentialsError(
                f"{purpose} needs botocore, which is not installed: pip install 'aurora-ssl[iam]'."
            ) from exc
        return self._per_process("session", lambda: botocore.session.Session(profile=self.profile))

    def client(self, service: str, purpose: str) -> Any:
        """A botocore client of ``service`` in the region given, else the configuration's."""
        return self._per_process(
            service, lambda: self.session(purpose).create_client(service, self.region)
        )

    def error(self, purpose: str, exc: Exception | None = None) -> CredentialsError:
        """Explain a botocore failure (``None``: no credentials found) and what to do.

        botocore's text names codes, ARNs and files, never secrets.
        """
        code = type(exc).__name__ if exc is not None else "NoCredentialsError"
        response = getattr(exc, "response", None)
        if isinstance(response, dict):  # a ClientError: AWS's own code
            code = response.get("Error", {}).get("Code", code)
        source = f"profile {self.profile!r}" if self.profile else "the default credential chain"
        hint = _HINTS.get(code, "{exc} (AWS credentials through {source})")
        what = hint.format(source=source, profile=self.profile, exc=exc)
        return CredentialsError(f"{purpose} failed ({code}): {what}.")

    def _per_process(self, name: str, make: Callable[[], Any]) -> Any:
        """What ``make`` made in this process: a forked child makes its own, as a session
        (the credentials it resolved) and a client (its pooled HTTPS connections) must not be
        shared with the parent. Two threads may both make one at first use; either will do."""
        pid, made = self._made.get(name, (None, None))
        if pid != os.getpid():
            made = make()
            self._made[name] = (os.getpid(), made)
        return made
