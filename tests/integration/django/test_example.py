"""The example project and the SQLAlchemy script in fresh interpreters, with each driver.

This is where psycopg2 runs through Django in the main environment (in-process Django picks
psycopg 3 when both are installed), and where ``manage.py``'s real exit status is checked.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import subprocess
from collections.abc import Iterator

import pytest

pytest.importorskip("django")

from aurora_ssl.testing import AuroraLikeServer
from tests.fix_django import demo_env, manage_command, run_script
from tests.fix_servers import admin_execute

DRIVERS = [
    pytest.param(name, marks=pytest.mark.driver(module))  # tests/drivers.py
    for name, module in (("psycopg2", "psycopg2"), ("psycopg3", "psycopg"))
]
CLIENT_DRIVER = {"psycopg2": "psycopg2", "psycopg3": "psycopg"}
SQLALCHEMY_DRIVER = {"psycopg2": "psycopg2", "psycopg3": "psycopg"}


@pytest.fixture(scope="module")
def example_db(tls_server: AuroraLikeServer) -> Iterator[str]:
    """A database of its own for the example project on the good server (with sslinfo)."""
    name = f"example_{secrets.token_hex(4)}"
    admin_execute(tls_server, f'CREATE DATABASE {name} OWNER "{tls_server.user}"')
    admin_execute(tls_server, "CREATE EXTENSION IF NOT EXISTS sslinfo", dbname=name)
    yield name
    admin_execute(tls_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("driver", DRIVERS)
def test_example_project_end_to_end(
    tls_server: AuroraLikeServer, example_db: str, driver: str
) -> None:
    env = demo_env(tls_server, AURORA_SSL_DEMO_DBNAME=example_db)
    ok(manage_command("migrate", "--noinput", driver=driver, env=env))

    report = json.loads(
        ok(manage_command("check_aurora_ssl", "--format", "json", driver=driver, env=env))
    )
    assert report["ok"] is True
    (default,) = report["connections"]
    assert default["verdict"] == "verified"
    assert default["client"]["driver"] == CLIENT_DRIVER[driver]
    assert default["server"]["source"] == "sslinfo"
    assert default["warnings"] == []

    out = ok(manage_command("demo_notes", driver=driver, env=env))
    assert f"Django (postgresql, {CLIENT_DRIVER[driver]})" in out
    assert "server says ssl=True TLSv1." in out

    out = ok(
        run_script(
            "example_project/sqlalchemy_example.py",
            SQLALCHEMY_DRIVER[driver],
            driver=driver,
            env=env,
        )
    )
    assert f"SQLAlchemy (postgresql+{SQLALCHEMY_DRIVER[driver]})" in out
    assert "note(s); server says ssl=True TLSv1." in out

    # Django's test runner creates test_<name> over the same verified TLS, runs, drops it.
    result = manage_command(
        "test", "example_project.notes", "--noinput", "-v", "2", driver=driver, env=env
    )
    ok(result)
    assert "Creating test database for alias 'default'" in result.stderr
    assert "OK" in result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("psycopg_pool") is None, reason="psycopg_pool is not installed"
)
def test_example_project_with_the_pool(tls_server: AuroraLikeServer, example_db: str) -> None:
    import django

    if django.VERSION < (5, 1):
        pytest.skip("Django's pool needs Django >= 5.1")
    env = demo_env(tls_server, AURORA_SSL_DEMO_DBNAME=example_db, AURORA_SSL_DEMO_POOL="1")
    ok(manage_command("migrate", "--noinput", driver="psycopg3", env=env))
    ok(manage_command("test", "example_project.notes", "--noinput", driver="psycopg3", env=env))
    assert "server says ssl=True" in ok(manage_command("demo_notes", driver="psycopg3", env=env))


@pytest.mark.parametrize("driver", DRIVERS)
def test_example_project_refuses_an_impostor(
    interception_server: AuroraLikeServer, driver: str
) -> None:
    env = demo_env(interception_server)
    result = manage_command("check_aurora_ssl", driver=driver, env=env)
    assert result.returncode == 1
    assert "Not verified: default." in result.stderr
    assert "  error:" in result.stdout
    assert interception_server.password not in result.stdout + result.stderr

    migrate = manage_command("migrate", "--noinput", driver=driver, env=env)
    assert migrate.returncode != 0
    assert "aurora_ssl.E008" in migrate.stderr  # the database check stopped it first

    script = run_script(
        "example_project/sqlalchemy_example.py", SQLALCHEMY_DRIVER[driver], driver=driver, env=env
    )
    assert script.returncode != 0
    assert interception_server.password not in script.stdout + script.stderr
