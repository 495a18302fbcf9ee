"""``aurora-ssl check --iam`` / ``--password-provider``: test a login the way the app makes it.

Operators setting up IAM database authentication need to know whether *this* role can log
in with a token signed by *these* AWS credentials, over verified TLS, before deploying. The
check then logs in exactly as the integrations do: the password comes from the provider for
the endpoint name that is verified (``--tls-server-name`` when given), and a refused login is
retried once with a fresh one. Kept out of :mod:`aurora_ssl.cli.check` so that module stays
about the report, and its options are declared here, next to the code that reads them.
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
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.options import parse_bool, password_conflict

__all__ = ["add_arguments", "password_connect", "provider_for"]

#: The marker ``engine.url`` carries for a provider given as an object (as in
#: ``aurora_ssl.sqlalchemy._options``; not imported: the CLI must not need SQLAlchemy).
PROVIDER_OBJECT = "passed-as-object"


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


def provider_for(
    args: argparse.Namespace, url_options: Mapping[str, str] | None = None
) -> tuple[PasswordProvider | None, str]:
    """The provider the options choose (``None``: the DSN's own password), and its name.

    The same rules as the SQLAlchemy plugin and Django (one of IAM or a provider, a profile
    only with IAM); the name is what messages call it (``--iam``, ``aurora_ssl_iam=true``).

    Raises:
        ValueError: a usage problem (one line, no secret).
        CredentialsError: the provider cannot be imported.
    """
    iam, named, profile, source = _choice(args, url_options or {})
    if iam:
        return IAMTokenProvider(profile=profile), source
    return (as_provider(named) if named else None), source


def _choice(
    args: argparse.Namespace, given: Mapping[str, str]
) -> tuple[bool, str | None, str | None, str]:
    """(IAM?, provider named, IAM profile, how messages name the choice), validated."""
    try:
        url_iam = parse_bool(given.get("aurora_ssl_iam", "false"), "aurora_ssl_iam")
    except InsecureConfigurationError as exc:
        raise ValueError(str(exc)) from None
    iam = bool(args.iam) or url_iam
    profile = args.iam_profile or given.get("aurora_ssl_iam_profile")
    named = args.password_provider or (
        None if args.iam else given.get("aurora_ssl_password_provider")
    )
    if named == PROVIDER_OBJECT:
        raise ValueError(
            "the URL says its password provider was an object, which a URL cannot carry; "
            "give it with --password-provider MODULE:ATTR."
        )
    if iam and named:  # not argparse's group: its message gets masked
        raise ValueError("give --iam or --password-provider, not both.")
    if profile and not iam:
        raise ValueError("--iam-profile needs --iam.")
    if args.iam:
        source = "--iam"
    elif url_iam:
        source = "aurora_ssl_iam=true"
    else:
        source = "--password-provider" if args.password_provider else "aurora_ssl_password_provider"
    return iam, named, profile, source


def password_connect(
    args: argparse.Namespace,
    params: Mapping[str, Any],
    verified_host: str,
    url_options: Mapping[str, str] | None = None,
    origin: str = "the DSN",
) -> Callable[[Callable[[dict[str, Any]], Any], dict[str, Any]], Any] | None:
    """A connector that adds the provider's password, or ``None`` without credential options.

    Args:
        args: the parsed ``check`` arguments.
        params: the DSN's parameters (a password there conflicts with a provider).
        verified_host: the endpoint name the certificate is checked against.
        url_options: ``aurora_ssl_iam``, ``aurora_ssl_iam_profile`` and
            ``aurora_ssl_password_provider`` from a SQLAlchemy-style URL (options win).
        origin: how messages name the DSN (``"the URL"``).

    Returns:
        ``connector(connect, final_params)``: calls ``connect(final_params + password)``,
        once more after a refused login.

    Raises:
        ValueError: a usage problem (one line, no secret): two password sources (a password
            in the DSN too: refused as by the SQLAlchemy plugin and Django),
            ``--iam-profile`` without ``--iam``, no user, or a port that is no number.
        CredentialsError: the provider cannot be imported.
    """
    iam, named, _, source = _choice(args, url_options or {})
    if not iam and not named:
        return None
    if params.get("password"):
        raise ValueError(password_conflict(origin, source))
    provider, _ = provider_for(args, url_options)
    assert provider is not None  # iam or named
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
