"""A login refusal is told by the server's words, not taken for a TLS failure, without a server:
which texts are login refusals, and the TLS state, unknown before libpq's fix for
CVE-2024-10977.

The check commands and Django's checks after a real wrong password:
tests/integration/diagnostics/test_report_login.py.
"""

from __future__ import annotations

import re

import pytest

REASON = 'password authentication failed for user "app"'


class _Error(Exception):
    pass


@pytest.mark.parametrize(
    ("server_said", "reason"),
    [
        (f"FATAL:  {REASON}", REASON),
        ('FATAL:  PAM authentication failed for user "iam_user"', None),  # RDS IAM
        ('FATAL:  role "nobody" does not exist', None),
        ('FATAL:  role "app" is not permitted to log in', None),
        (
            'FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "app", database "app", '
            "SSL encryption",
            None,
        ),
        ('FATAL:  pg_hba.conf rejects connection for host "10.0.0.1", user "app"', None),
        ("FATAL:  connection requires a valid client certificate", None),
        ("fe_sendauth: no password supplied", None),
        ('FATAL:  database "nope" does not exist', "no"),  # 3D000: not a login refusal
        ("SSL error: certificate verify failed", "no"),
    ],
)
def test_login_refusals_are_told_by_the_servers_words(server_said: str, reason: str | None) -> None:
    from aurora_ssl._diagnostics._translation import login_refusal

    error = _Error(f'connection to server at "h" (10.0.0.1), port 5432 failed: {server_said}')
    refusal = login_refusal(error, libpq_version=170001)
    if reason == "no":
        assert refusal is None
        return
    assert refusal is not None
    expected = reason or re.sub(r"^FATAL:\s+", "", server_said)
    assert refusal.reason == expected


@pytest.mark.parametrize(
    ("version", "verified"),
    [
        (180000, True),
        (170001, True),
        (170000, False),
        (160005, True),
        (160004, False),
        (150009, True),
        (150008, False),
        (140014, True),
        (130017, True),
        (130016, False),
        (120020, False),
    ],
)
def test_the_tls_state_follows_the_fix_for_cve_2024_10977(version: int, verified: bool) -> None:
    from aurora_ssl._diagnostics._translation import login_refusal

    refusal = login_refusal(
        _Error(f'connection to server at "h", port 1 failed: FATAL:  {REASON}'),
        libpq_version=version,
    )
    assert refusal is not None
    assert refusal.tls_verified is verified
    if not verified:
        assert "CVE-2024-10977" in refusal.message
        assert "unknown" in refusal.message
