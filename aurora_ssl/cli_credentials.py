"""``aurora-ssl check --iam`` / ``--password-provider``: test a login the way the app makes it.

Operators setting up IAM database authentication need to know whether *this* role can log
in with a token signed by *these* AWS credentials, over verified TLS, before deploying. The
check then logs in exactly as the integrations do: the password comes from the provider for
the endpoint name that is verified (``--tls-server-name`` when given), and a refused login is
retried once with a fresh one. Kept out of :mod:`aurora_ssl.cli` so the command module stays
a thin parser.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import Any

from aurora_ssl.credentials import (
    CredentialTarget,
    IAMTokenProvider,
    PasswordProvider,
    as_provider,
    connect_with_password,
)

__all__ = ["add_arguments", "password_connect"]


def add_arguments(check: argparse.ArgumentParser) -> None:
    """The credential options of ``aurora-ssl check``."""
    check.add_argument(
        "--iam",
        action="store_true",
        help="log in with an RDS IAM token (AWS credentials from the standard chain; region "
        "from the endpoint name or AWS_REGION); needs aurora-ssl[iam]",
    )
    check.add_argument(
        "--password-provider",
        metavar="MODULE:ATTR",
        help="log in with the password this function or provider returns (as "
        "aurora_ssl_password_provider / AURORA_SSL['PASSWORD_PROVIDER'])",
    )
    check.add_argument(
        "--iam-profile", metavar="PROFILE", help="AWS profile for --iam (default: AWS_PROFILE)"
    )


def password_connect(
    args: argparse.Namespace, params: Mapping[str, Any], verified_host: str
) -> Callable[[Callable[[dict[str, Any]], Any], dict[str, Any]], Any] | None:
    """A connector that adds the provider's password, or ``None`` without credential options.

    Args:
        args: the parsed ``check`` arguments.
        params: the DSN's parameters (a password there conflicts with a provider).
        verified_host: the endpoint name the certificate is checked against.

    Returns:
        ``connector(connect, final_params)``: calls ``connect(final_params + password)``,
        once more after a refused login.

    Raises:
        ValueError: a usage problem (one line, no secret): two password sources,
            ``--iam-profile`` without ``--iam``, no user, or a port that is no number.
        CredentialsError: the provider cannot be imported.
    """
    if args.iam and args.password_provider:  # not argparse's group: its message gets masked
        raise ValueError("give --iam or --password-provider, not both.")
    if args.iam_profile and not args.iam:
        raise ValueError("--iam-profile needs --iam.")
    if not args.iam and not args.password_provider:
        return None
    if params.get("password"):
        raise ValueError(
            "the DSN has a password and --iam/--password-provider gives one too; remove the "
            "password from the DSN."
        )
    provider: PasswordProvider = (
        IAMTokenProvider(profile=args.iam_profile)
        if args.iam
        else as_provider(args.password_provider)
    )
    user = str(params.get("user") or os.environ.get("PGUSER") or "")
    if not user:
        raise ValueError("--iam/--password-provider need the database user (user= or PGUSER).")
    port_text = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    if not port_text.isdigit() or not verified_host or "," in verified_host:
        raise ValueError(
            "--iam/--password-provider log in to one endpoint: give one host and a numeric port."
        )
    target = CredentialTarget(verified_host, int(port_text), user)

    def connector(connect: Callable[[dict[str, Any]], Any], final: dict[str, Any]) -> Any:
        return connect_with_password(
            provider, target, lambda password: connect({**final, "password": password})
        )

    return connector
