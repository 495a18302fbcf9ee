"""A password in the configuration next to a password provider: refused alike by every face.

Before, the SQLAlchemy plugin silently dropped the URL's password (the provider's won), Django
silently preferred the provider over ``PASSWORD``, and ``aurora-ssl check`` refused the pair:
the check and the app disagreed, and a stale secret left in a URL went unnoticed. Now the
plugin, ``check`` and Django refuse it with one message (aurora_ssl._options.password_conflict)
that names where the password is and never shows it.

Decision by the server: the logged server records every connection attempt and login, so a
refusal must leave no trace of the role there, while the same configuration without the
password logs the role in over TLS (``pg_stat_ssl``), which shows the refusal is about the
password and nothing else.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl.cli import main
from aurora_ssl.credentials import CredentialsError, CredentialTarget
from aurora_ssl.testing import AuroraLikeServer
from tests import drivers
from tests.fix_credentials import WHO
from tests.fix_django import database_entry, use_databases
from tests.fix_servers import log_since, log_size, role_url
from tests.fix_sqlalchemy import PROVIDED_PASSWORD

PROVIDER = "tests.fix_sqlalchemy:provided"


def stale_secret() -> str:
    return "stale-" + secrets.token_hex(8)


def server_saw(server: AuroraLikeServer, since: int, role: str) -> list[str]:
    """The log lines about ``role`` (a login or a refused one) and every connection received."""
    return [
        line
        for line in log_since(server, since).splitlines()
        if role in line or "connection received" in line
    ]


def assert_the_pair_is_refused(message: str, where: str, secret: str) -> None:
    assert f"Remove the password from {where}" in message
    assert secret not in message
    assert len(message.splitlines()) == 1


# -- SQLAlchemy ---------------------------------------------------------------------------------

CHOOSERS = [
    pytest.param({"aurora_ssl_password_provider": PROVIDER}, id="provider-text"),
    pytest.param({"aurora_ssl_password_provider": lambda: PROVIDED_PASSWORD}, id="provider-obj"),
    pytest.param({"aurora_ssl_iam": "true"}, id="iam"),
]


@pytest.mark.parametrize("chooser", CHOOSERS)
@pytest.mark.parametrize(
    "driver", drivers.params("postgresql+psycopg2", "postgresql+psycopg", "postgresql+asyncpg")
)
def test_sqlalchemy_refuses_a_url_password_next_to_a_provider(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    driver: str,
    chooser: dict[str, Any],
) -> None:
    role, secret = roles(PROVIDED_PASSWORD), stale_secret()
    since = log_size(logged_server)
    make = aurora_ssl.create_async_engine if "asyncpg" in driver else aurora_ssl.create_engine
    with pytest.raises(CredentialsError) as info:
        make(role_url(logged_server, driver, role, secret), poolclass=NullPool, **chooser)
    assert_the_pair_is_refused(str(info.value), "the URL", secret)
    with pytest.raises(CredentialsError) as info:
        make(
            role_url(logged_server, driver, role, None),
            poolclass=NullPool,
            connect_args={"password": secret},
            **chooser,
        )
    assert_the_pair_is_refused(str(info.value), "connect_args", secret)
    assert server_saw(logged_server, since, role) == []


@pytest.mark.parametrize(
    "driver", drivers.params("postgresql+psycopg2", "postgresql+psycopg", "postgresql+asyncpg")
)
def test_sqlalchemy_refuses_a_password_a_hook_adds_and_logs_in_without_it(
    logged_server: AuroraLikeServer, roles: Callable[[str], str], driver: str
) -> None:
    """A do_connect hook is the other way a password reaches a connection: refused at the
    connect step, before the driver is called; the same engine without the hook logs in."""
    role, secret = roles(PROVIDED_PASSWORD), stale_secret()
    is_async = "asyncpg" in driver
    make = aurora_ssl.create_async_engine if is_async else aurora_ssl.create_engine
    engine: Any = make(
        role_url(logged_server, driver, role, None),
        poolclass=NullPool,
        aurora_ssl_password_provider=PROVIDER,
    )
    sync_engine = engine.sync_engine if is_async else engine

    def add_password(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["password"] = secret

    since = log_size(logged_server)
    event.listen(sync_engine, "do_connect", add_password)
    with pytest.raises(CredentialsError) as info:
        _who(engine, is_async)
    assert_the_pair_is_refused(str(info.value), "the connect parameters", secret)
    assert server_saw(logged_server, since, role) == []

    event.remove(sync_engine, "do_connect", add_password)
    assert _who(engine, is_async) == (role, True)
    assert f"connection authorized: user={role} " in log_since(logged_server, since)


def _who(engine: Any, is_async: bool) -> tuple[str, bool]:
    if not is_async:
        with engine.connect() as conn:
            user, ssl = conn.execute(text(WHO)).one()
        return str(user), bool(ssl)
    import asyncio

    async def ask() -> tuple[str, bool]:
        try:
            async with engine.connect() as conn:
                user, ssl = (await conn.execute(text(WHO))).one()
            return str(user), bool(ssl)
        finally:
            await engine.dispose()

    return asyncio.run(ask())


# -- aurora-ssl check ---------------------------------------------------------------------------


@pytest.mark.driver("libpq")
@pytest.mark.parametrize(
    ("query", "args", "where"),
    [
        (f"&aurora_ssl_password_provider={PROVIDER}", [], "the URL"),
        ("&aurora_ssl_iam=true", [], "the URL"),
        ("", ["--password-provider", PROVIDER], "the URL"),
    ],
)
def test_check_refuses_the_same_url_and_passes_without_the_password(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    args: list[str],
    where: str,
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    role, secret = roles(PROVIDED_PASSWORD), stale_secret()
    since = log_size(logged_server)
    url = role_url(logged_server, drivers.libpq_drivername(), role, secret) + query
    assert main(["check", url, *args]) == 2
    out, err = capsys.readouterr()
    assert_the_pair_is_refused(err.strip().splitlines()[-1], where, secret)
    assert secret not in out + err
    assert server_saw(logged_server, since, role) == []
    if "iam" in query:
        return  # the IAM login itself: tests/integration/cli/test_credentials.py
    url = role_url(logged_server, drivers.libpq_drivername(), role, None) + query
    assert main(["check", url, *args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert f"connection authorized: user={role} " in log_since(logged_server, since)


# -- Django -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["PASSWORD", "OPTIONS"])
def test_django_refuses_a_password_next_to_a_provider(
    logged_server: AuroraLikeServer,
    roles: Callable[[str], str],
    django_env: None,
    where: str,
) -> None:
    from django.core.checks import run_checks
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    from django_aurora_ssl.backends.postgresql.base import DatabaseWrapper

    role, secret = roles(PROVIDED_PASSWORD), stale_secret()
    given: dict[str, Any] = (
        {"PASSWORD": secret} if where == "PASSWORD" else {"PASSWORD": "", "password": secret}
    )
    entry = database_entry(
        logged_server,
        USER=role,
        PASSWORD=given["PASSWORD"],
        options={"password": given["password"]} if "password" in given else {},
        aurora={"PASSWORD_PROVIDER": PROVIDER},
    )
    shown = (
        "DATABASES['default']['PASSWORD']"
        if where == "PASSWORD"
        else "DATABASES['default']['OPTIONS']['password']"
    )
    since = log_size(logged_server)
    with use_databases({"default": entry}):
        with pytest.raises(ImproperlyConfigured) as info:
            connections["default"].ensure_connection()
        assert_the_pair_is_refused(str(info.value), shown, secret)
        (found,) = [m for m in run_checks() if m.id == "aurora_ssl.E002"]
        assert_the_pair_is_refused(found.msg, shown, secret)
    with pytest.raises((ImproperlyConfigured, CredentialsError)) as info:  # manage.py dbshell
        DatabaseWrapper.client_class.settings_to_cmd_args_env(entry, [])
    assert "Remove the password from DATABASES[" in str(info.value)
    assert secret not in str(info.value)
    assert server_saw(logged_server, since, role) == []

    entry = database_entry(
        logged_server, USER=role, PASSWORD="", aurora={"PASSWORD_PROVIDER": PROVIDER}
    )
    with use_databases({"default": entry}), connections["default"].cursor() as cursor:
        cursor.execute(WHO)
        assert cursor.fetchone() == (role, True)


def test_django_database_url_pair_is_refused_before_the_server_sees_it(
    logged_server: AuroraLikeServer, roles: Callable[[str], str]
) -> None:
    """database_url() refuses the pair while settings load, naming the URL's password (not an
    alias that does not exist), before the server sees a byte."""
    from django_aurora_ssl import database_url
    from django_aurora_ssl._conf import OptionsError

    role, secret = roles(PROVIDED_PASSWORD), stale_secret()
    url = role_url(logged_server, "postgresql+psycopg", role, secret)
    since = log_size(logged_server)
    for query in (f"&aurora_ssl_password_provider={PROVIDER}", "&aurora_ssl_iam=on"):
        with pytest.raises(OptionsError) as info:
            database_url(url + query)
        assert_the_pair_is_refused(str(info.value), "the URL", secret)
        assert "DATABASES[" not in str(info.value)
    assert server_saw(logged_server, since, role) == []


def test_the_provider_is_asked_for_the_verified_name_once_the_password_is_gone(
    logged_server: AuroraLikeServer, roles: Callable[[str], str], django_env: None
) -> None:
    """The fix the message asks for works: same entry, PASSWORD removed, provider asked."""
    from django.db import connections

    asked: list[CredentialTarget] = []

    def provider(target: CredentialTarget) -> str:
        asked.append(target)
        return PROVIDED_PASSWORD

    role = roles(PROVIDED_PASSWORD)
    entry = database_entry(
        logged_server, USER=role, PASSWORD="", aurora={"PASSWORD_PROVIDER": provider}
    )
    with use_databases({"default": entry}), connections["default"].cursor() as cursor:
        cursor.execute(WHO)
        assert cursor.fetchone() == (role, True)
    assert [(t.host, t.user) for t in asked] == [(logged_server.host, role)]
