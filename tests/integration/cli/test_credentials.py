"""``aurora-ssl check --iam`` and ``--password-provider`` (issue 10), in-process via ``main``.

The IAM token is the deterministic SigV4 of fixed fake AWS keys (from the environment, as
the standard chain reads them) at a pinned clock, set as the role's password on the real
server (``aurora_ssl.testing.iam_token_as_password``): the server accepts or refuses it. Refusals are counted in the server's log.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import pytest

from aurora_ssl.cli import main
from aurora_ssl.testing import AuroraLikeServer, iam_token_as_password
from tests.fix_credentials import (
    ACCESS_KEY,
    SECRET_KEY,
    T0,
    Clock,
    reference_token,
    refused_logins,
)
from tests.fix_sqlalchemy import PROVIDED_PASSWORD, REGION


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    """Fake keys for botocore's default chain and a pinned signing clock; no AWS call."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)


def _dsn(server: AuroraLikeServer, user: str) -> str:
    return (
        f"host={server.host} hostaddr={server.hostaddr} port={server.port} user={user} "
        f"dbname={server.database}"
    )


def _check(
    capsys: pytest.CaptureFixture[str], server: AuroraLikeServer, user: str, *extra: str
) -> tuple[int, dict[str, object], str]:
    code = main(
        ["check", _dsn(server, user), "--bundle", str(server.pki.bundle_path), "--format", "json",
         *extra]
    )  # fmt: skip
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_check_iam_logs_in_with_the_token(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    role = roles("not-the-token")
    with iam_token_as_password(logged_server, role) as token:
        code, document, err = _check(capsys, logged_server, role, "--iam")
    assert code == 0, err
    assert document["ok"] is True
    (report,) = document["connections"]  # type: ignore[misc]
    assert report["verdict"] == "verified"
    assert token not in json.dumps(document) + err


def test_check_iam_with_a_token_the_server_refuses_retries_once_and_fails(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    fake_aws: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    role = roles("not-the-token-" + secrets.token_hex(4))
    before = refused_logins(logged_server, role)
    code, document, err = _check(capsys, logged_server, role, "--iam")
    assert code == 1
    assert document["ok"] is False
    assert refused_logins(logged_server, role) - before == 2  # the attempt and one retry
    token = reference_token(logged_server.host, logged_server.port, role, REGION, T0)
    assert token not in json.dumps(document) + err


def test_check_password_provider(
    logged_server: AuroraLikeServer, roles: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    role = roles(PROVIDED_PASSWORD)
    code, document, err = _check(
        capsys,
        logged_server,
        role,
        "--password-provider",
        "tests.fix_sqlalchemy:provided",
    )
    assert code == 0, err
    assert document["ok"] is True
    assert PROVIDED_PASSWORD not in json.dumps(document) + err


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--iam-profile", "prod"], "--iam-profile needs --iam"),
        (["--password-provider", "no.such.module:x"], "cannot import module"),
        (["--iam", "--password-provider", "a:b"], "not both"),
    ],
)
def test_check_credential_options_misuse(
    logged_server: AuroraLikeServer,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    match: str,
) -> None:
    code = main(["check", _dsn(logged_server, "app"), *extra])
    _, err = capsys.readouterr()
    assert code in (1, 2)
    assert match in err
    assert len(err.strip().splitlines()) == 1


def test_check_refuses_a_dsn_password_with_a_provider(
    logged_server: AuroraLikeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", _dsn(logged_server, "app") + " password=x", "--iam"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "Remove the password from the connection string" in err
    assert "aurora_ssl_iam=true gives the password" in err


def _sqlalchemy_url(server: AuroraLikeServer, user: str, query: str) -> str:
    return (
        f"postgresql+psycopg://{user}@{server.host}:{server.port}/{server.database}"
        f"?hostaddr={server.hostaddr}&plugin=aurora_ssl"
        f"&aurora_ssl_bundle={server.pki.bundle_path}&{query}"
    )


@pytest.mark.driver("psycopg")
def test_check_honours_the_credential_keys_of_the_apps_url(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The same DATABASE_URL the SQLAlchemy app uses, IAM and log level included.
    role = roles("not-the-token")
    url = _sqlalchemy_url(logged_server, role, "aurora_ssl_iam=true&aurora_ssl_log_level=INFO")
    with iam_token_as_password(logged_server, role):
        code = main(["check", url, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    assert "aurora_ssl_log_level sets the level of the per-connection line" in err

    provided_role = roles(PROVIDED_PASSWORD)
    url = _sqlalchemy_url(
        logged_server,
        provided_role,
        "aurora_ssl_password_provider=tests.fix_sqlalchemy:provided",
    )
    assert main(["check", url, "--format", "json"]) == 0
    capsys.readouterr()


def test_check_explains_a_url_from_an_object_provider(
    logged_server: AuroraLikeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _sqlalchemy_url(logged_server, "app", "aurora_ssl_password_provider=passed-as-object")
    assert main(["check", url]) == 2
    assert "--password-provider MODULE:ATTR" in capsys.readouterr().err
