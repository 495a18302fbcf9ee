"""A login failure is not a TLS failure: the check commands and Django's checks say what happened.

A wrong password over a verified connection used to be reported as "no verified TLS
connection" (``aurora-ssl check``: ERROR, ``migrate``: E008 with "never weaken sslmode"). The
server's refusal (SQLSTATE class 28) reaches the client only over the TLS session libpq
verified, provided the driver's libpq has the fix for CVE-2024-10977; before it, libpq could
show an error sent before TLS, so the TLS state is then unknown and said to be. Every test
logs in with a wrong password against the real TLS server (the refusals' words without a
server: tests/unit/diagnostics/test_report_login.py).
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from aurora_ssl._libpq import libpq_of
from aurora_ssl.cli import main
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_django import database_entry, use_databases

WRONG = "wrong-password-for-test"
REASON = 'password authentication failed for user "app"'

# IAM providers are kept per process (their token caches); each test starts afresh.
pytestmark = pytest.mark.usefixtures("fresh_caches")


#: The first libpq of each major version with the fix for CVE-2024-10977.
FIXED_IN = {13: 17, 14: 14, 15: 9, 16: 5, 17: 1}


def _fixed(driver: str) -> bool:
    """Whether ``driver``'s libpq shows a server's error only once TLS is up."""
    major, minor = divmod(libpq_of(driver).version or 0, 10000)
    return major > 17 or minor >= FIXED_IN.get(major, 10000)


@pytest.mark.parametrize("driver", drivers.params("psycopg", "psycopg2"))
def test_check_names_the_login_not_tls(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
) -> None:
    monkeypatch.setenv("PGPASSWORD", WRONG)
    dsn = (
        f"host={tls_server.host} hostaddr={tls_server.hostaddr} port={tls_server.port} "
        f"user={tls_server.user} dbname=app"
    )
    args = ["check", dsn, "--bundle", str(pki.bundle_path), "--driver", driver]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert main([*args, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)["connections"][0]
    headline = out.splitlines()[0]
    if _fixed(driver):
        assert headline.endswith(f"LOGIN-REFUSED - TLS verified, login refused: {REASON}"), out
        assert report["verdict"] == "login-refused"
    else:
        assert f"ERROR - failed: login refused ({REASON}), TLS state unknown" in headline, out
        assert report["verdict"] == "error"
    assert "no verified TLS connection" not in out
    assert report["ok"] is False
    assert report["client"] is None
    assert REASON in report["errors"][0]["message"]
    assert WRONG not in out + json.dumps(report)


def _command(*args: str) -> tuple[bool, str]:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("check_aurora_ssl", *args, stdout=out, no_color=True)
    except CommandError:
        return False, out.getvalue()
    return True, out.getvalue()


def _wrong_password(server: AuroraLikeServer) -> dict[str, Any]:
    return database_entry(server, PASSWORD=WRONG)


def _django_driver() -> str:
    from django.db import connections

    return str(connections["default"].Database.__name__)  # psycopg or psycopg2


def test_check_aurora_ssl_names_the_login(
    tls_server: AuroraLikeServer, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("django")
    request.getfixturevalue("django_env")
    with use_databases({"default": _wrong_password(tls_server)}):
        passed, out = _command()
        passed_json, out_json = _command("--format", "json")
        fixed = _fixed(_django_driver())
    assert not passed
    assert not passed_json
    report = json.loads(out_json)["connections"][0]
    if fixed:
        assert out.startswith(f"default: LOGIN-REFUSED - TLS verified, login refused: {REASON}")
        assert report["verdict"] == "login-refused"
    else:
        assert report["verdict"] == "error"
    assert "no verified TLS connection" not in out
    assert WRONG not in out + out_json


def test_database_check_has_its_own_id_for_a_refused_login(
    tls_server: AuroraLikeServer, request: pytest.FixtureRequest
) -> None:
    """Not E008 ("no verified TLS connection", "never weaken sslmode") but E010."""
    pytest.importorskip("django")
    request.getfixturevalue("django_env")
    from django.core.checks import Tags, run_checks

    with use_databases({"default": _wrong_password(tls_server)}):
        messages = run_checks(tags=[Tags.database], databases=["default"])
        fixed = _fixed(_django_driver())
    ours = [m for m in messages if m.id.startswith("aurora_ssl.")]
    assert [m.id for m in ours] == (["aurora_ssl.E010"] if fixed else ["aurora_ssl.E008"])
    (message,) = ours
    assert REASON in message.msg
    assert "no verified TLS connection" not in message.msg
    assert "weakening sslmode" not in message.hint
    assert WRONG not in f"{message.msg} {message.hint}"


# -- a credentials problem found before connecting ---------------------------------------------


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's default chain finds nothing here, and asks no instance metadata service."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "PGPASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _check_iam(server: AuroraLikeServer, capsys: pytest.CaptureFixture[str]) -> tuple[str, Any]:
    dsn = (
        f"host={server.host} hostaddr={server.hostaddr} port={server.port} "
        f"user={server.user} dbname=app"
    )
    args = ["check", dsn, "--bundle", str(server.pki.bundle_path), "--iam"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert main([*args, "--format", "json"]) == 1
    return out, json.loads(capsys.readouterr().out)["connections"][0]


def _assert_no_credentials(out: str, report: dict[str, Any], server: AuroraLikeServer) -> None:
    headline = out.splitlines()[0]
    assert "NO-CREDENTIALS - no password for the login" in headline, out
    assert "no verified TLS connection" not in out
    assert report["verdict"] == "no-credentials"
    assert report["ok"] is False
    assert [e["code"] for e in report["errors"]] == ["CredentialsError"]


def test_check_names_missing_aws_credentials(
    logged_server: AuroraLikeServer,
    capsys: pytest.CaptureFixture[str],
    no_aws_credentials: None,
) -> None:
    from tests.fix_servers import log_since

    offset = logged_server.log_path.stat().st_size
    out, report = _check_iam(logged_server, capsys)
    _assert_no_credentials(out, report, logged_server)
    assert "no AWS credentials found" in report["errors"][0]["message"]
    assert "connection received" not in log_since(logged_server, offset)  # nothing was sent


def test_check_names_missing_botocore(
    tls_server: AuroraLikeServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("botocore", "botocore.session", "botocore.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)  # import botocore.session: ImportError
    out, report = _check_iam(tls_server, capsys)
    _assert_no_credentials(out, report, tls_server)
    assert "aurora-ssl[iam]" in report["errors"][0]["message"]


def test_django_names_a_failing_password_provider(
    tls_server: AuroraLikeServer, request: pytest.FixtureRequest
) -> None:
    """Not E008 ("no verified TLS connection") but E011, and check_aurora_ssl says so."""
    pytest.importorskip("django")
    request.getfixturevalue("django_env")
    from django.core.checks import Tags, run_checks

    def failing() -> str:
        raise RuntimeError("the vault is sealed")

    entry = database_entry(tls_server, PASSWORD="", AURORA_SSL={"PASSWORD_PROVIDER": failing})
    entry["AURORA_SSL"]["BUNDLE"] = str(tls_server.pki.bundle_path)
    with use_databases({"default": entry}):
        messages = run_checks(tags=[Tags.database], databases=["default"])
        passed, out = _command()
        passed_json, out_json = _command("--format", "json")
    assert [m.id for m in messages if m.id.startswith("aurora_ssl.")] == ["aurora_ssl.E011"]
    assert "RuntimeError" in messages[0].msg  # the provider's failure, named
    assert "the vault is sealed" not in out + out_json  # its text may hold anything: not shown
    assert "no verified TLS connection" not in messages[0].msg + out
    assert not passed
    assert not passed_json
    assert out.startswith("default: NO-CREDENTIALS - no password for the login")
    _assert_no_credentials(out, json.loads(out_json)["connections"][0], tls_server)
