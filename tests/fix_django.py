"""Django in-process for the tests: settings configured once, DATABASES swapped per test.

Django reads ``settings.DATABASES`` once into ``django.db.connections``; the scenario servers
get their ports at run time, so :func:`use_databases` points Django at them for one test and
resets the connection handler (and Django's per-alias psycopg pools) before and after.

In-process Django uses the driver Django picks (psycopg 3 when installed, else psycopg2);
the other driver is covered by subprocess tests that hide psycopg (:func:`manage_command`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from aurora_ssl.testing import AuroraLikeServer
from tests import ROOT

ENGINE = "django_aurora_ssl.backends.postgresql"
INSTALLED_APPS = ["django_aurora_ssl", "example_project.notes"]


def configure_django() -> None:
    """Configure Django once per process (idempotent; never undone)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=INSTALLED_APPS,
            DATABASES={},
            USE_TZ=True,
            TIME_ZONE="UTC",
            SECRET_KEY="aurora-ssl-tests",
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        )
        django.setup()


def pool_supported() -> bool:
    """Whether Django's psycopg pool can run here (Django >= 5.1, psycopg 3, psycopg_pool)."""
    import django
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    pool = django.VERSION >= (5, 1) and importlib.util.find_spec("psycopg_pool") is not None
    return pool and is_psycopg3


@contextmanager
def example_app_installed() -> Iterator[None]:
    """Make sure ``example_project.notes`` is installed (another test module may have
    configured Django first, without it)."""
    from django.conf import settings
    from django.test.utils import override_settings

    configure_django()
    if all(app in settings.INSTALLED_APPS for app in INSTALLED_APPS):
        yield
        return
    apps = [
        *settings.INSTALLED_APPS,
        *(a for a in INSTALLED_APPS if a not in settings.INSTALLED_APPS),
    ]
    with override_settings(INSTALLED_APPS=apps):
        yield


def database_entry(
    server: AuroraLikeServer,
    *,
    options: Mapping[str, Any] | None = None,
    aurora: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A DATABASES entry for ``server`` on our backend, trusting the test PKI's bundle."""
    entry: dict[str, Any] = {
        "ENGINE": ENGINE,
        "HOST": server.host,
        "PORT": str(server.port),
        "NAME": server.database,
        "USER": server.user,
        "PASSWORD": server.password,
        "OPTIONS": {"hostaddr": server.hostaddr, "connect_timeout": 5, **(options or {})},
        "AURORA_SSL": {"BUNDLE": str(server.pki.bundle_path), **(aurora or {})},
    }
    entry.update(overrides)
    return entry


def _reset_connections() -> None:
    from asgiref.local import Local
    from django.db import connections

    for alias in list(connections.settings):
        with contextlib.suppress(Exception):  # a refused connection may not close cleanly
            connections[alias].close()
    _close_pools()
    connections.__dict__.pop("settings", None)
    connections._settings = None
    connections._connections = Local(connections.thread_critical)


def _close_pools() -> None:
    # Django keeps psycopg pools in a class attribute keyed by alias; a pool built for one
    # test's server must not serve the next test's "default".
    from django.db.backends.postgresql.base import DatabaseWrapper

    pools = getattr(DatabaseWrapper, "_connection_pools", {})
    for alias in list(pools):
        pools.pop(alias).close()


@contextmanager
def use_databases(databases: Mapping[str, Mapping[str, Any]]) -> Iterator[None]:
    """Point Django at ``databases`` (must contain "default") for the duration."""
    from django.conf import settings

    configure_django()
    _reset_connections()
    old = settings.DATABASES
    settings.DATABASES = {alias: dict(entry) for alias, entry in databases.items()}
    try:
        yield
    finally:
        _reset_connections()
        settings.DATABASES = old


def aurora_ids(messages: list[Any]) -> list[str]:
    """The ids of aurora-ssl's own check messages among Django's, sorted."""
    return sorted(m.id for m in messages if m.id.startswith("aurora_ssl."))


@pytest.fixture
def django_env(pki: Any, monkeypatch: pytest.MonkeyPatch, fresh_caches: None) -> None:
    """Django configured; trust selection starts fresh (bundle given per database)."""
    monkeypatch.delenv("AURORA_SSL_BUNDLE", raising=False)
    configure_django()


class DjangoDriverCalls:
    """What Django's driver receives, recorded at the driver's own connect (unpooled:
    ``Database.connect``; pooled: psycopg's ``Connection.connect``, under aurora-ssl's
    connection class): the libpq parameters as that driver's libpq reads them."""

    def __init__(self, parse: Callable[[str], dict[str, str]]) -> None:
        self.parse = parse
        self.strings: list[str] = []
        self.kwargs: list[dict[str, Any]] = []

    def params(self, index: int = 0) -> dict[str, str]:
        return self.parse(self.strings[index])


@pytest.fixture
def django_driver_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[..., DjangoDriverCalls]:
    """``spy(tamper=None)``: record what Django's driver receives; ``tamper(conninfo)`` may
    rewrite the connection string after aurora-ssl checked it (a driver that changes what it
    was given: only the read-back can see that)."""

    def spy(tamper: Callable[[str], str] | None = None) -> DjangoDriverCalls:
        from django.db import connections

        module = connections["default"].Database
        if module.__name__ == "psycopg2":
            from psycopg2.extensions import parse_dsn

            calls = DjangoDriverCalls(lambda text: dict(parse_dsn(text)))
            key = "dsn"
        else:
            from psycopg.conninfo import conninfo_to_dict

            calls = DjangoDriverCalls(
                lambda text: {k: str(v) for k, v in conninfo_to_dict(text).items()}
            )
            key = "conninfo"
        change = tamper or (lambda text: text)

        def record(conninfo: str, kwargs: dict[str, Any]) -> str:
            calls.strings.append(conninfo)
            calls.kwargs.append(dict(kwargs))
            return change(conninfo)

        real_connect = module.connect

        def connect(*args: Any, **kwargs: Any) -> Any:
            conninfo = kwargs.pop(key, args[0] if args else "")
            return real_connect(record(conninfo, kwargs), **kwargs)

        monkeypatch.setattr(module, "connect", connect)
        if key == "conninfo":  # the pool connects through Connection.connect
            real = module.Connection.connect.__func__

            def pooled(cls: Any, conninfo: str = "", **kwargs: Any) -> Any:
                return real(cls, record(conninfo, kwargs), **kwargs)

            monkeypatch.setattr(module.Connection, "connect", classmethod(pooled))
        return calls

    return spy


def server_ssl(alias: str = "default") -> bool:
    """Whether the server says the session of Django's connection ``alias`` is encrypted."""
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()")
        row = cursor.fetchone()
    return bool(row and row[0])


def django_whoami(alias: str = "default") -> tuple[str, bool]:
    """Who the server says is logged in on Django's connection ``alias``, and whether the
    session is encrypted."""
    from django.db import connections

    from tests.fix_credentials import whoami

    return whoami(connections[alias])


def demo_env(server: AuroraLikeServer, **extra: str) -> dict[str, str]:
    """The environment of a subprocess running the example project against ``server``."""
    env = dict(os.environ)
    env.update(
        {
            "AURORA_SSL_DEMO_HOST": server.host,
            "AURORA_SSL_DEMO_HOSTADDR": server.hostaddr,
            "AURORA_SSL_DEMO_PORT": str(server.port),
            "AURORA_SSL_DEMO_USER": server.user,
            "AURORA_SSL_DEMO_PASSWORD": server.password,
            "AURORA_SSL_DEMO_DBNAME": server.database,
            "AURORA_SSL_DEMO_BUNDLE": str(server.pki.bundle_path),
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("AURORA_SSL_BUNDLE", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


# Runs a script with one driver hidden, so Django's backend (which prefers psycopg 3) and
# the SQLAlchemy example use the requested one.
_RUNNER = """
import runpy, sys
hide, script, *args = sys.argv[1:]
if hide:
    sys.modules[hide] = None
sys.argv = [script, *args]
runpy.run_path(script, run_name="__main__")
"""

_OTHER = {"psycopg2": "psycopg", "psycopg3": "psycopg2"}


def run_script(
    script: str, *args: str, driver: str | None, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (a path under the repository) in a fresh interpreter."""
    hide = _OTHER[driver] if driver else ""
    return subprocess.run(
        [sys.executable, "-c", _RUNNER, hide, str(ROOT / script), *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def manage_command(
    *args: str, driver: str | None, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``example_project/manage.py ARGS`` in a fresh interpreter."""
    return run_script("example_project/manage.py", *args, driver=driver, env=env, timeout=timeout)
