"""botocore, imported on first use, and its failures turned into actionable CredentialsErrors.

botocore is an optional extra (``aurora-ssl[iam]``): ``import aurora_ssl`` must not need it,
and an app that never uses IAM or Secrets Manager must not pay its import time. Providers
build one session per provider, lazily, and keep it: a botocore session resolves the
credential chain (environment, profile, SSO, container or instance role) once and refreshes
temporary credentials itself.
"""

from __future__ import annotations

from typing import Any

from aurora_ssl.errors import CredentialsError

__all__ = ["credential_error", "new_session", "require_botocore"]

CHAIN_HINT = (
    "botocore's standard chain looks at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
    "~/.aws/credentials and config (SSO, role_arn), web identity, and the container or "
    "instance role"
)


def require_botocore(purpose: str) -> Any:
    """The ``botocore.session`` module, or a CredentialsError saying which extra to install."""
    try:
        import botocore.session
    except ImportError as exc:
        raise CredentialsError(
            f"{purpose} needs botocore, which is not installed: pip install 'aurora-ssl[iam]'."
        ) from exc
    return botocore.session


def new_session(profile: str | None, purpose: str) -> Any:
    """A botocore session for ``profile`` (``None``: the default chain)."""
    session_module = require_botocore(purpose)
    from botocore.exceptions import ProfileNotFound

    try:
        return session_module.Session(profile=profile)
    except ProfileNotFound as exc:
        raise CredentialsError(
            f"{purpose}: AWS profile {profile!r} is not configured in ~/.aws/config or "
            "~/.aws/credentials (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE). Fix the name "
            "or leave the profile unset to use the default chain."
        ) from exc


def credential_error(exc: Exception, purpose: str, profile: str | None) -> CredentialsError:
    """Explain a botocore failure; botocore's text names codes and ARNs, never secrets."""
    from botocore.exceptions import NoCredentialsError, ProfileNotFound

    source = f"profile {profile!r}" if profile else "the default credential chain"
    if isinstance(exc, NoCredentialsError):
        return CredentialsError(
            f"{purpose}: no AWS credentials found through {source}. {CHAIN_HINT}; configure "
            "one of them for this process."
        )
    if isinstance(exc, ProfileNotFound):
        return CredentialsError(f"{purpose}: AWS profile {profile!r} is not configured.")
    return CredentialsError(
        f"{purpose}: AWS credentials through {source} could not be used: "
        f"{type(exc).__name__}: {exc}"
    )
