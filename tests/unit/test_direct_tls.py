"""Direct TLS (``sslnegotiation=direct``) without a server: only a failure before the TLS
handshake falls back, and RDS Proxy (or a host list) is never learned from a server's version.

Learned per endpoint, and its one safe fallback, against real servers:
tests/integration/test_direct_tls.py.
"""

from __future__ import annotations

from aurora_ssl import _policy


def test_the_fallback_is_only_for_failures_before_the_handshake() -> None:
    before = [
        "SSL SYSCALL error: EOF detected",
        "SSL error: unexpected eof while reading",
        "server closed the connection unexpectedly",
    ]
    after = [
        "SSL error: certificate verify failed",
        'server certificate for "x" does not match host name "y"',
        'FATAL:  password authentication failed for user "app"',
    ]
    assert all(_policy._before_tls(Exception(text)) for text in before)
    assert not any(_policy._before_tls(Exception(text)) for text in after)


def test_rds_proxy_is_never_learned_from_its_version() -> None:
    proxy = {"host": "p.proxy-abc.us-east-1.rds.amazonaws.com", "port": "5432"}
    assert _policy._endpoint_key(proxy) is None  # the proxy passes the server's version through
    assert _policy._endpoint_key({"host": "a,b", "port": "5432"}) is None
    assert _policy._endpoint_key({"host": "db.cluster-x.us-east-1.rds.amazonaws.com"})
