"""botocore, imported on first use, and its failures turned into actionable CredentialsErrors.

botocore is an optional extra (``aurora-ssl[iam]``): ``import aurora_ssl`` must not need it,
and an app that never uses IAM or Secrets Manager must not pay its import time. Providers
build one session per provider (per process), lazily, and keep it: a botocore session resolves
the credential chain (environment, profile, SSO, container or instance role) once and refreshes
temporary credentials itself.

``purpose`` in every function below is how the message starts; it names the login
(``IAM database authentication for app@host:5432``), so the error says which connection
had no password, and what to supply for it.
"""

from __future__ import annotations

from typing import Any

from aurora_ssl.errors import CredentialsError

CHAIN_HINT = (
    "botocore's standard chain looks at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
    "~/.aws/credentials and config (SSO, role_arn), web identity, and the container or "
    "instance role"
)


def new_session(profile: str | None, purpose: str) -> Any:
    """A botocore session for ``profile`` (``None``: the default chain).

    Raises:
        CredentialsError: botocore is not installed, or the profile is not configured.
    """
    try:
        import botocore.session
    except ImportError as exc:
        raise CredentialsError(
            f"{purpose} needs botocore, which is not installed: pip install 'aurora-ssl[iam]'."
        ) from exc
    from botocore.exceptions import ProfileNotFound

    try:
        return botocore.session.Session(profile=profile)
    except ProfileNotFound as exc:
        raise CredentialsError(
            f"{purpose}: AWS profile {profile!r} is not configured in ~/.aws/config or "
            "~/.aws/credentials (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE). Fix the name "
            "or leave the profile unset to use the default chain."
        ) from exc


def no_credentials(purpose: str, profile: str | None) -> CredentialsError:
    """The chain found nothing: say where botocore looked and what to configure."""
    source = f"profile {profile!r}" if profile else "the default credential chain"
    return CredentialsError(
        f"{purpose}: no AWS credentials found through {source}. {CHAIN_HINT}; configure one "
        "of them for this process."
    )


def credential_error(exc: Exception, purpose: str, profile: str | None) -> CredentialsError:
    """Explain a botocore failure; botocore's text names codes and ARNs, never secrets."""
    from botocore.exceptions import NoCredentialsError, ProfileNotFound

    if isinstance(exc, NoCredentialsError):
        return no_credentials(purpose, profile)
    if isinstance(exc, ProfileNotFound):
        return CredentialsError(f"{purpose}: AWS profile {profile!r} is not configured.")
    source = f"profile {profile!r}" if profile else "the default credential chain"
    return CredentialsError(
        f"{purpose}: AWS credentials through {source} could not be used: "
        f"{type(exc).__name__}: {exc}"
    )
