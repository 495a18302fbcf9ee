"""Secrets Manager provider: the RDS secret JSON and caching.

AWS Secrets Manager cannot be reached from here, so ``moto`` (a recognised simulator of the
AWS APIs) stands in for it: only the ``GetSecretValue`` / ``PutSecretValue`` /
``UpdateSecretVersionStage`` calls are simulated. Rotation against the real server, without a
restart: tests/integration/credentials/test_secrets.py.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from aurora_ssl.credentials import (
    CredentialsError,
    CredentialTarget,
    SecretsManager,
    as_provider,
)
from tests.fix_credentials import (
    SECRETS_REGION,
    rds_secret,
)

REGION = SECRETS_REGION
TARGET = CredentialTarget("demo.cluster-abc.eu-west-1.rds.amazonaws.com", 5432, "app")


def test_reads_the_standard_rds_secret_once(aws: Any) -> None:
    aws.create_secret(
        Name="prod/app/db",
        SecretString=rds_secret("app", "pw-one", host="h.example", port=5432, dbname="app"),
    )
    provider = SecretsManager("prod/app/db")
    assert provider.password(TARGET) == "pw-one"
    assert provider.password(TARGET) == "pw-one"
    secret = provider.secret()
    assert secret.username == "app"
    assert "pw-one" not in repr(secret)
    assert "pw-one" not in repr(provider)
    assert provider.reads == 1


def test_the_client_is_created_once(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.create_secret(Name="s", SecretString=rds_secret("app", "pw"))
    created = 0
    original = botocore.session.Session.create_client

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal created
        created += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    provider = SecretsManager("s")
    assert created == 0  # lazily, on first use
    for _ in range(3):
        provider.password(TARGET)
        provider.invalidate(TARGET)
    assert provider.reads == 3
    assert created == 1


def test_invalidate_rereads(aws: Any) -> None:
    aws.create_secret(Name="s", SecretString=rds_secret("app", "old"))
    provider = SecretsManager("s")
    assert provider.password(TARGET) == "old"
    aws.put_secret_value(SecretId="s", SecretString=rds_secret("app", "new"))
    assert provider.password(TARGET) == "old"  # cached: no call per connection
    provider.invalidate(TARGET)
    assert provider.password(TARGET) == "new"
    assert provider.reads == 2


def test_region_comes_from_the_arn(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    other = botocore.session.Session().create_client("secretsmanager", region_name="ap-south-1")
    arn = other.create_secret(Name="s", SecretString=rds_secret("app", "pw"))["ARN"]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # would be wrong
    assert SecretsManager(arn).password(TARGET) == "pw"


def test_no_region_is_an_actionable_error(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(
        CredentialsError,
        match=r"cannot tell the AWS region; give the secret's ARN, pass region=\.\.\., or set AWS_REGION",
    ) as info:
        SecretsManager("s").password(TARGET)
    assert f"for {TARGET}" in str(info.value)


@pytest.mark.parametrize(
    ("secret_string", "message"),
    [
        ("not json at all pw-leak", "is not a JSON object"),
        (json.dumps(["pw-leak"]), "is not a JSON object"),
        (json.dumps({"username": "app"}), "no non-empty string 'password'"),
        (json.dumps({"username": "app", "password": ""}), "no non-empty string 'password'"),
        (json.dumps({"username": 7, "password": "pw-leak"}), "'username' must be a string"),
        (rds_secret("someone_else", "pw-leak"), "holds the password of user 'someone_else'"),
    ],
)
def test_bad_secrets_are_explained_without_their_content(
    aws: Any, secret_string: str, message: str
) -> None:
    aws.create_secret(Name="bad", SecretString=secret_string)
    with pytest.raises(CredentialsError, match=message) as info:
        SecretsManager("bad").password(TARGET)
    text = f"{info.value} {info.value!r} {info.value.__cause__} {info.value.__context__}"
    assert "pw-leak" not in text
    assert str(TARGET) in str(info.value)  # app@demo.cluster-abc.eu-west-1...:5432


def test_binary_and_missing_secrets_are_explained(aws: Any) -> None:
    aws.create_secret(Name="binary", SecretBinary=b"\x00pw")
    with pytest.raises(CredentialsError, match="has no SecretString"):
        SecretsManager("binary").password(TARGET)
    with pytest.raises(CredentialsError, match=r"ResourceNotFoundException.*check the name"):
        SecretsManager("missing").password(TARGET)


def test_a_secret_without_username_serves_any_user(aws: Any) -> None:
    aws.create_secret(Name="s", SecretString=json.dumps({"password": "pw", "port": "any"}))
    provider = SecretsManager("s")
    assert provider.password(TARGET) == "pw"
    assert provider.secret().username is None


def test_as_provider_accepts_the_provider(aws: Any) -> None:
    provider = SecretsManager("s")
    assert as_provider(provider) is provider


def test_missing_botocore_is_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in [name for name in sys.modules if name.split(".")[0] == "botocore"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed: imports raise
    with pytest.raises(CredentialsError, match=r"pip install 'aurora-ssl\[iam\]'") as info:
        SecretsManager("s", region=REGION).password(TARGET)
    assert f"Reading secret 's' for {TARGET} needs botocore" in str(info.value)
