"""Passwords for new connections: IAM tokens, Secrets Manager, or a function of yours.

Why a layer of its own: with IAM authentication or rotated secrets the password changes
while the application runs, so it must be asked for on every new physical connection (pools
included), cached so that asking costs nothing, and refreshed when the server refuses it. The
integrations (SQLAlchemy, Django) call one small contract, :class:`PasswordProvider`; this
package supplies the providers and the pieces the integrations need around them.

Usage::

    from aurora_ssl.credentials import CredentialTarget, IAMTokenProvider, connect_with_password

    provider = IAMTokenProvider()          # botocore's default chain; region from the name
    target = CredentialTarget("mydb.cluster-abc.us-east-1.rds.amazonaws.com", 5432, "app")
    params = aurora_ssl.connection_params({"host": target.host, "user": target.user,
                                           "dbname": "app"})
    # password(target) for every new connection; after a refused login (is_auth_failure),
    # invalidate(target) and one retry with a fresh password:
    conn = connect_with_password(
        provider, target, lambda password: psycopg2.connect(**params, password=password)
    )

Other providers: ``SecretsManager("prod/app/db")``, or any function passed through
:func:`as_provider` (``"myapp.db:get_password"`` works where only text fits). botocore is
imported only when an AWS provider first needs it (``pip install 'aurora-ssl[iam]'``).
"""

from __future__ import annotations

import sys

# Each name is imported from its module when first used: the integrations import only the
# contract on every start, and asyncio, dataclasses and the AWS providers cost a fresh
# process a few milliseconds that an application without a provider should not pay (issue 12).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from aurora_ssl.credentials.contract import CredentialTarget, PasswordProvider, as_provider
    from aurora_ssl.credentials.failures import is_auth_failure
    from aurora_ssl.credentials.iam import IAMTokenProvider
    from aurora_ssl.credentials.retry import connect_with_password, connect_with_password_async
    from aurora_ssl.credentials.secretsmanager import DatabaseSecret, SecretsManager
    from aurora_ssl.errors import CredentialsError

_LAZY = {
    "CredentialTarget": "aurora_ssl.credentials.contract",
    "CredentialsError": "aurora_ssl.errors",
    "DatabaseSecret": "aurora_ssl.credentials.secretsmanager",
    "IAMTokenProvider": "aurora_ssl.credentials.iam",
    "PasswordProvider": "aurora_ssl.credentials.contract",
    "SecretsManager": "aurora_ssl.credentials.secretsmanager",
    "as_provider": "aurora_ssl.credentials.contract",
    "connect_with_password": "aurora_ssl.credentials.retry",
    "connect_with_password_async": "aurora_ssl.credentials.retry",
    "is_auth_failure": "aurora_ssl.credentials.failures",
}

__all__ = [
    "CredentialTarget",
    "CredentialsError",
    "DatabaseSecret",
    "IAMTokenProvider",
    "PasswordProvider",
    "SecretsManager",
    "as_provider",
    "connect_with_password",
    "connect_with_password_async",
    "is_auth_failure",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    __import__(module)
    value = getattr(sys.modules[module], name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
