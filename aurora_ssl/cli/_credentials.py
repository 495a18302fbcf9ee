"""``aurora-ssl check --iam`` / ``--password-provider``: test a login the way the app makes it.

Operators setting up IAM database authentication need to know whether *this* role can log in
with a token signed by *these* AWS credentials, over verified TLS, before deploying. The
options are read into the same options as a URL's ``aurora_ssl_iam`` (one reader), so the
check logs in exactly as the integrations do.
"""

from __future__ import annotations

import argparse
from typing import Any

from aurora_ssl._options import PREFIX


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


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The options the command line gives, in URL spelling (merged with the URL's)."""
    given = {
        "bundle": getattr(args, "bundle", None),
        "tls_server_name": getattr(args, "tls_server_name", None),
        "iam": "true" if getattr(args, "iam", False) else None,
        "iam_profile": getattr(args, "iam_profile", None),
        "password_provider": getattr(args, "password_provider", None),
    }
    return {PREFIX + name: value for name, value in given.items() if value is not None}
