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
imported only when an AWS provider first signs a token or reads a secret
(``pip install 'aurora-ssl[iam]'``). The providers are safe across ``fork`` (Celery prefork,
gunicorn ``--preload``): a child never waits for a fetch its parent had in flight.
"""

from aurora_ssl.credentials._contract import (
    CredentialTarget,
    PasswordProvider,
    as_provider,
    connect_with_password,
    connect_with_password_async,
    is_auth_failure,
)
from aurora_ssl.credentials._iam import IAMTokenProvider
from aurora_ssl.credentials._secrets import DatabaseSecret, SecretsManager
from aurora_ssl.errors import CredentialsError

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
