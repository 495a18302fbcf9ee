"""pytest fixtures for an Aurora-like PostgreSQL with real TLS, registered as plugin ``aurora_ssl``.

Installed with aurora-ssl (a ``pytest11`` entry point) and inert until a test asks for one of
its fixtures: loading it imports nothing heavy (:mod:`aurora_ssl.testing` is imported by the
first fixture a test uses) and starts nothing. The fixtures:

``aurora_server``
    the session's :class:`~aurora_ssl.testing.AuroraLikeServer` (scenario ``good``).
``aurora_bundle``
    the trust file for it: AWS's RDS bundle plus the test root (a :class:`~pathlib.Path`).
``aurora_database_url``
    a ``DATABASE_URL`` string for SQLAlchemy with ``plugin=aurora_ssl`` and
    ``aurora_ssl_bundle=...``: ``aurora_ssl.create_engine(url)`` and plain
    ``sqlalchemy.create_engine(url)`` both connect with verify-full.
``aurora_django_database``
    a ``DATABASES`` entry for the server on the ``django_aurora_ssl`` backend.
``aurora_django_db_settings``
    points ``settings.DATABASES["default"]`` at the server; use it from pytest-django's
    ``django_db_modify_db_settings`` (see below).

With pytest-django, in the project's ``conftest.py``::

    @pytest.fixture(scope="session")
    def django_db_modify_db_settings(
        aurora_django_db_settings, django_db_modify_db_settings_parallel_suffix
    ):
        pass

Under pytest-xdist every worker is its own pytest session, so every worker starts its own
server: nothing is shared between workers, and no cross-process locking is needed (the
simplest correct choice; the cost is one server start, about a second, per worker).
``--reuse-db`` works as usual; it only saves time across runs with ``--aurora-ssl-data-dir
DIR`` (or the ``aurora_ssl_data_dir`` ini option), which keeps each worker's cluster in
``DIR/<worker id>`` between runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aurora_ssl.testing import AuroraLikeServer


_DATA_DIR_HELP = (
    "keep the aurora_ssl test server's cluster in this directory between runs "
    "(one subdirectory per xdist worker); default: a throwaway cluster"
)
_ENGINE_PREFIX = "django_aurora_ssl.backends."


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the data-directory option (declaring starts nothing)."""
    parser.addoption("--aurora-ssl-data-dir", default=None, help=_DATA_DIR_HELP)
    parser.addini("aurora_ssl_data_dir", _DATA_DIR_HELP, default="")


def _data_dir(config: pytest.Config) -> Path | None:
    value = config.getoption("--aurora-ssl-data-dir") or config.getini("aurora_ssl_data_dir")
    if not value:
        return None
    worker = str(getattr(config, "workerinput", {}).get("workerid", "main"))
    return Path(str(value)).absolute() / worker


@pytest.fixture(scope="session")
def aurora_server(pytestconfig: pytest.Config) -> Iterator[AuroraLikeServer]:
    """An Aurora-like server for the session (per xdist worker), stopped at its end."""
    from aurora_ssl.testing import AuroraLikeServer  # here: the import costs

    with AuroraLikeServer(keep_dir=_data_dir(pytestconfig)) as server:
        yield server


@pytest.fixture(scope="session")
def aurora_bundle(aurora_server: AuroraLikeServer) -> Path:
    """The trust file for the server: AWS's RDS bundle plus the test root."""
    return aurora_server.pki.bundle_path


@pytest.fixture(scope="session")
def aurora_database_url(aurora_server: AuroraLikeServer) -> str:
    """A SQLAlchemy ``DATABASE_URL`` with the aurora-ssl plugin and the test bundle."""
    return aurora_server.database_url()


@pytest.fixture(scope="session")
def aurora_django_database(aurora_server: AuroraLikeServer) -> dict[str, Any]:
    """A ``DATABASES`` entry on the ``django_aurora_ssl`` backend for the server."""
    return {
        "ENGINE": f"{_ENGINE_PREFIX}postgresql",
        "HOST": aurora_server.host,
        "PORT": str(aurora_server.port),
        "NAME": aurora_server.database,
        "USER": aurora_server.user,
        "PASSWORD": aurora_server.password,
        "OPTIONS": {"hostaddr": aurora_server.hostaddr},
        "AURORA_SSL": {"BUNDLE": str(aurora_server.pki.bundle_path)},
    }


@pytest.fixture(scope="session")
def aurora_django_db_settings(aurora_django_database: dict[str, Any]) -> dict[str, Any]:
    """Point ``settings.DATABASES["default"]`` at the server, in place; returns the entry.

    In place, because Django's connection handler holds the very same dict. The project's
    other keys (``TEST``, ``CONN_MAX_AGE``, its own ``OPTIONS``...) stay; a
    ``django_aurora_ssl`` engine the project chose (e.g. PostGIS) stays too.
    """
    from django.conf import settings

    entry: dict[str, Any] = settings.DATABASES.setdefault("default", {})
    ours = dict(aurora_django_database)
    if str(entry.get("ENGINE", "")).startswith(_ENGINE_PREFIX):
        ours.pop("ENGINE")
    ours["OPTIONS"] = {**entry.get("OPTIONS", {}), **ours["OPTIONS"]}
    ours["AURORA_SSL"] = {**entry.get("AURORA_SSL", {}), **ours["AURORA_SSL"]}
    entry.update(ours)
    return entry
