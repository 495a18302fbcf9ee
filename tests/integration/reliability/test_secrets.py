"""Secrets: a distinctive password, run through every failing path, appears nowhere.

Searched for, raw and URL-encoded: the message and repr of the exception and of every
exception chained to it, the formatted traceback, every log record of every logger at DEBUG
(SQLAlchemy's engine and pool loggers, psycopg's, ours), and warnings. Once the command line
and the Django command exist, their text and JSON output is searched too.
"""

from __future__ import annotations

import importlib.util
import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

import aurora_ssl
from tests import drivers
from tests.fix_reliability import PASSWORD, Everything, assert_no_secret, forms_of, run_failing

if TYPE_CHECKING:  # spawned test processes import this module; keep it light
    from collections.abc import Callable

    from aurora_ssl.testing import AuroraLikeServer, TestPKI
    from tests.fix_sqlalchemy import DriverCalls

SYNC_DRIVERS = drivers.params("postgresql+psycopg2", "postgresql+psycopg")


def url_with_password(server: AuroraLikeServer, driver: str, **query: str) -> URL:
    base = make_url(server.url(driver))
    return base.set(password=PASSWORD).update_query_dict(query)


def select_one(url: URL | str, **kwargs: Any) -> None:
    engine = aurora_ssl.create_engine(
        url, poolclass=NullPool, echo="debug", echo_pool="debug", **kwargs
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "scenario",
    ["wrong_host_server", "interception_server", "expired_server", "no_tls_server"],
)
@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_refused_servers(
    request: pytest.FixtureRequest,
    bundle_env: Path,
    all_logs: Everything,
    scenario: str,
    driver: str,
) -> None:
    server: AuroraLikeServer = request.getfixturevalue(scenario)
    run_failing(lambda: select_one(url_with_password(server, driver)), all_logs)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_wrong_password(
    tls_server: AuroraLikeServer, bundle_env: Path, all_logs: Everything, driver: str
) -> None:
    run_failing(lambda: select_one(url_with_password(tls_server, driver)), all_logs)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
@pytest.mark.parametrize(
    ("query", "kwargs"),
    [
        ({"sslmode": "disable"}, {}),
        ({"sslrootcert": "/nonexistent/root.pem"}, {}),
        ({}, {"aurora_ssl_bundle": "/nonexistent/bundle.pem"}),
        ({}, {"connect_args": {"dsn": f"password={PASSWORD} sslmode=require"}}),
        ({}, {"connect_args": {"dsn": f"password='{PASSWORD}"}}),  # malformed: unterminated
        ({}, {"connect_args": {"dsn": f"postgresql://u:{quote(PASSWORD, safe='')}@[h/db"}}),
        ({}, {"connect_args": {"application_name": "x\x00", "password": PASSWORD}}),
        ({}, {"aurora_ssl_tls_server_name": "db.cluster-abc.us-east-1.rds.amazonaws.com"}),
        ({}, {"aurora_ssl_insecure_local_dev": True}),  # refused for an AWS name
    ],
    ids=[
        "sslmode-disable",
        "missing-root",
        "missing-bundle",
        "dsn-with-password",
        "malformed-dsn",
        "malformed-uri",
        "nul",
        "tls-server-name-mismatch",
        "insecure-opt-out-for-aws",
    ],
)
def test_refused_configurations(
    tls_server: AuroraLikeServer,
    bundle_env: Path,
    all_logs: Everything,
    driver: str,
    query: dict[str, str],
    kwargs: dict[str, Any],
) -> None:
    run_failing(
        lambda: select_one(url_with_password(tls_server, driver, **query), **kwargs), all_logs
    )


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_unresolvable_connect_host(
    tls_server: AuroraLikeServer, bundle_env: Path, all_logs: Everything, driver: str
) -> None:
    url = url_with_password(tls_server, driver).set(host="no-such-host.invalid")
    run_failing(lambda: select_one(url, aurora_ssl_tls_server_name=tls_server.host), all_logs)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_tls_dropped_after_our_parameters(
    no_tls_server: AuroraLikeServer,
    bundle_env: Path,
    all_logs: Everything,
    driver: str,
    driver_calls: Callable[..., DriverCalls],
) -> None:
    """A listener dropping TLS is refused before connecting; a driver that drops it after our
    decision makes the plaintext connection (with the server's real password, which is then
    what must not show), closed by the read-back."""

    def weakened_by_a_listener() -> None:
        engine = aurora_ssl.create_engine(no_tls_server.url(driver), poolclass=NullPool)
        event.listen(engine, "do_connect", lambda d, r, a, kw: kw.update(sslmode="disable"))
        try:
            engine.connect()
        finally:
            engine.dispose()

    failure = run_failing(weakened_by_a_listener, all_logs, forms_of(no_tls_server.password))
    assert isinstance(failure, aurora_ssl.InsecureConfigurationError)

    def dropped_by_the_driver() -> None:
        engine = aurora_ssl.create_engine(no_tls_server.url(driver), poolclass=NullPool)
        driver_calls(engine, tamper=lambda c: c.replace("'verify-full'", "'disable'"))
        try:
            engine.connect()
        finally:
            engine.dispose()

    failure = run_failing(dropped_by_the_driver, all_logs, forms_of(no_tls_server.password))
    assert isinstance(failure, aurora_ssl.TLSNotInUseError)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_failures_with_the_servers_real_password(
    interception_server: AuroraLikeServer,
    expired_server: AuroraLikeServer,
    bundle_env: Path,
    all_logs: Everything,
    driver: str,
) -> None:
    """The same refusals with a password the servers would accept (had TLS been right)."""
    for server in (interception_server, expired_server):
        run_failing(partial(select_one, server.url(driver)), all_logs, forms_of(server.password))


def test_asyncpg_refusals(
    interception_server: AuroraLikeServer, bundle_env: Path, all_logs: Everything
) -> None:
    pytest.importorskip("asyncpg")
    import asyncio

    async def run() -> None:
        engine = aurora_ssl.create_async_engine(
            url_with_password(interception_server, "postgresql+asyncpg"), poolclass=NullPool
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    run_failing(lambda: asyncio.run(run()), all_logs)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_raw_driver_with_connection_params(
    interception_server: AuroraLikeServer, bundle_env: Path, all_logs: Everything, driver: str
) -> None:
    module = importlib.import_module(driver.split("+")[1])
    params = {**interception_server.params(), "password": PASSWORD}
    run_failing(lambda: module.connect(**aurora_ssl.connection_params(params)), all_logs)


def test_sqlalchemy_plugin_url_form(
    wrong_host_server: AuroraLikeServer, pki: TestPKI, all_logs: Everything, fresh_caches: None
) -> None:
    url = url_with_password(
        wrong_host_server,
        "postgresql+" + drivers.installed("psycopg2", "psycopg")[0],
        plugin="aurora_ssl",
        aurora_ssl_bundle=str(pki.bundle_path),
    )

    def connect() -> None:
        engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        try:
            engine.connect()
        finally:
            engine.dispose()

    run_failing(connect, all_logs)


# --- the command line -----------------------------------------------------------------------


def keyword_dsn(server: AuroraLikeServer, password: str = PASSWORD, **extra: str) -> str:
    params = {**server.params(), "password": password, **extra}
    quoted = {k: str(v).replace("\\", "\\\\").replace("'", "\\'") for k, v in params.items()}
    return " ".join(f"{k}='{v}'" for k, v in quoted.items())


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the CLI in-process; returns (exit status, stdout + stderr), checking that JSON
    output on stdout parses."""
    from aurora_ssl.cli import main

    status = main(list(argv))
    captured = capsys.readouterr()
    if "json" in argv and captured.out.strip():
        json.loads(captured.out)
    return status, captured.out + captured.err


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("form", ["keywords", "url"])
@pytest.mark.parametrize(
    "scenario",
    [
        "wrong_host_server",
        "interception_server",
        "expired_server",
        "no_tls_server",
        "tls_server",  # the distinctive password is simply wrong there
    ],
)
def test_cli_check_never_shows_the_password(
    request: pytest.FixtureRequest,
    pki: TestPKI,
    all_logs: Everything,
    capsys: pytest.CaptureFixture[str],
    fresh_caches: None,
    scenario: str,
    form: str,
    fmt: str,
) -> None:
    pytest.importorskip("aurora_ssl.cli")
    server: AuroraLikeServer = request.getfixturevalue(scenario)
    dsn = (
        keyword_dsn(server)
        if form == "keywords"
        else url_with_password(
            server, "postgresql+" + drivers.installed("psycopg2", "psycopg")[0]
        ).render_as_string(hide_password=False)
    )
    status, output = cli(capsys, "check", dsn, "--format", fmt, "--bundle", str(pki.bundle_path))
    assert status != 0, output
    assert_no_secret(f"`aurora-ssl check --format {fmt}`", output)
    assert_no_secret("the logs", "\n".join(all_logs.lines))


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize(
    ("extra", "args"),
    [
        ({"sslmode": "disable"}, []),
        ({"sslrootcert": "system"}, []),
        ({}, ["--bundle", "/nonexistent/bundle.pem"]),
        ({}, ["--tls-server-name", "db.cluster-abc.us-east-1.rds.amazonaws.com"]),
    ],
    ids=["sslmode-disable", "sslrootcert-system", "missing-bundle", "tls-server-name-mismatch"],
)
def test_cli_refused_configurations_never_show_the_password(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    capsys: pytest.CaptureFixture[str],
    fresh_caches: None,
    extra: dict[str, str],
    args: list[str],
    fmt: str,
) -> None:
    pytest.importorskip("aurora_ssl.cli")
    bundle = [] if "--bundle" in args else ["--bundle", str(pki.bundle_path)]
    status, output = cli(
        capsys, "check", keyword_dsn(tls_server, **extra), "--format", fmt, *bundle, *args
    )
    assert status != 0, output
    assert_no_secret(f"`aurora-ssl check --format {fmt}`", output)


def test_cli_as_a_module_with_the_dsn_on_stdin(
    interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    import subprocess
    import sys

    pytest.importorskip("aurora_ssl.cli")
    result = subprocess.run(
        [sys.executable, "-m", "aurora_ssl", "check", "-", "--bundle", str(pki.bundle_path)],
        input=keyword_dsn(interception_server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert_no_secret("`python -m aurora_ssl check -`", result.stdout + result.stderr)


def test_cli_success_output_has_no_password(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("aurora_ssl.cli")
    dsn = keyword_dsn(tls_server, password=tls_server.password)
    for fmt in ("text", "json"):
        status, output = cli(
            capsys, "check", dsn, "--format", fmt, "--bundle", str(pki.bundle_path)
        )
        assert status == 0, output
        assert_no_secret(
            f"`aurora-ssl check --format {fmt}`", output, forms_of(tls_server.password)
        )


@pytest.mark.driver("libpq")
@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("scenario", ["interception_server", "tls_server", "no_tls_server"])
def test_password_in_the_url_query_is_never_shown(
    request: pytest.FixtureRequest,
    pki: TestPKI,
    all_logs: Everything,
    capsys: pytest.CaptureFixture[str],
    fresh_caches: None,
    scenario: str,
    fmt: str,
) -> None:
    """A SQLAlchemy-style URL with ``?password=`` (not in the userinfo): the connection is
    really attempted and fails (look-alike CA, wrong password, no TLS); neither the CLI's
    text or JSON report, nor any log record, nor the translated error shows the password."""
    server: AuroraLikeServer = request.getfixturevalue(scenario)
    query = (
        f"hostaddr={server.hostaddr}&password={quote(PASSWORD, safe='')}"
        f"&plugin=aurora_ssl&aurora_ssl_bundle={quote(str(pki.bundle_path), safe='')}"
    )
    driver = drivers.libpq_driver()
    url = f"postgresql+{driver}://{server.user}@{server.host}:{server.port}/app?{query}"
    status, output = cli(capsys, "check", url, "--format", fmt)
    assert status == 1, output
    assert ("refused" if scenario != "tls_server" else "error") in output.lower()
    assert_no_secret(f"`aurora-ssl check --format {fmt}` with ?password=", output)
    assert_no_secret("the logs", "\n".join(all_logs.lines))

    from aurora_ssl._diagnostics._translation import translate_error
    from aurora_ssl._options import split_url
    from aurora_ssl._redaction import mask_url

    _, conninfo, _ = split_url(url)
    params = aurora_ssl.connection_params(
        {"dsn": conninfo}, aurora_ssl.Options(bundle=str(pki.bundle_path)), driver=driver
    )
    assert params["password"] == PASSWORD  # the secret really travelled to the driver
    assert_no_secret("mask_url", mask_url(url))

    dbapi = drivers.libpq_module()

    def attempt() -> None:
        try:
            dbapi.connect(**params).close()
        except dbapi.Error as exc:
            translated = translate_error(exc, params=params)
            if translated is None:
                raise
            raise translated from exc

    run_failing(attempt, all_logs)
