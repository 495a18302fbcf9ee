"""The RDS IAM authentication token: a SigV4 presigned ``connect`` URL, signed at a given time.

botocore's own ``generate_db_auth_token`` needs an RDS *client* (a service model loaded from
disk: tens of milliseconds) and reads the wall clock inside the signer. This is the same
algorithm as a pure function of (credentials, endpoint, port, user, region, time): the cache
can compute a token's expiry from the exact ``X-Amz-Date`` it signed, and tests can pin the
time. ``tests/test_credentials_iam.py`` proves it byte for byte equal to botocore's
``generate_db_auth_token`` and accepted by a real server as the role's password.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from urllib.parse import quote

__all__ = ["TOKEN_LIFETIME", "rds_auth_token"]

TOKEN_LIFETIME = 900
"""Seconds RDS accepts a token after its ``X-Amz-Date`` (15 minutes, fixed by AWS)."""

_SERVICE = "rds-db"
_ALGORITHM = "AWS4-HMAC-SHA256"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def rds_auth_token(
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    host: str,
    port: int,
    user: str,
    region: str,
    signed_at: float,
) -> str:
    """The token RDS accepts as ``user``'s password at ``host:port`` until ``signed_at + 900``.

    Args:
        access_key, secret_key, session_token: AWS credentials (frozen: one consistent set).
        host: the RDS endpoint name (never a CNAME: RDS checks the name it was signed for).
        port: the database port.
        user: the database role, as granted ``rds_iam``.
        region: the endpoint's region.
        signed_at: POSIX time to sign at (whole seconds are used, as in ``X-Amz-Date``).

    Returns:
        ``host:port/?Action=connect&DBUser=...&X-Amz-Signature=...`` (no scheme, as RDS wants).
    """
    moment = datetime.datetime.fromtimestamp(int(signed_at), tz=datetime.timezone.utc)
    timestamp = moment.strftime("%Y%m%dT%H%M%SZ")
    day = timestamp[:8]
    scope = f"{day}/{region}/{_SERVICE}/aws4_request"
    params = [
        ("Action", "connect"),
        ("DBUser", user),
        ("X-Amz-Algorithm", _ALGORITHM),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", timestamp),
        ("X-Amz-Expires", str(TOKEN_LIFETIME)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if session_token is not None:
        params.append(("X-Amz-Security-Token", session_token))
    encoded = [(_encode(key), _encode(value)) for key, value in params]
    query = "&".join(f"{key}={value}" for key, value in encoded)
    canonical_query = "&".join(f"{key}={value}" for key, value in sorted(encoded))
    host_header = host.lower() if port == 443 else f"{host.lower()}:{port}"
    canonical_request = "\n".join(
        ["GET", "/", canonical_query, f"host:{host_header}", "", "host", _EMPTY_SHA256]
    )
    string_to_sign = "\n".join(
        [
            _ALGORITHM,
            timestamp,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, _SERVICE, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{host}:{port}/?{query}&X-Amz-Signature={signature}"
