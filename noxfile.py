"""Support matrix: each supported Python x Django x SQLAlchemy combination, with each driver.

    nox -l                               # list the sessions
    nox -s "tests(3.10-django4.2-psycopg2)"   # one of them
    nox -k psycopg2                      # every psycopg2 session

Every session installs the package with exactly one libpq driver (plus asyncpg), as a user with
only that driver would have it, and runs the real-TLS test suite against it; Django's backend
then runs on that driver, and tests follow the installed drivers. Tests parametrized for the
other driver are deselected by their ids, modules importing it at module level are not
collected, and ``KNOWN_FAILURES`` lists other failures with their cause (all logged by the
session). ``AURORA_SSL_TEST_DRIVER`` names the session's driver for tests that want it. The
main CI run (``scripts/test.sh``: Python 3.11, both drivers) runs everything, lint and types.

Interpreters are taken from PATH or pyenv (``$PYENV_ROOT/versions/X.Y.*``); nox never downloads
one here. ``.ci/run`` runs only the sessions whose interpreter exists.
"""

from __future__ import annotations

import os
import re
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
# pytest -k expressions deselecting tests parametrized for the *other* driver, by the driver's
# name as a whole token in the test id ("[postgresql+psycopg-...]", "[psycopg-...]",
# "[...-psycopg]", "psycopg3"); -k matches substrings, case-insensitively.
_PSYCOPG3_TOKENS = [f"{a}psycopg{b}" for a in "[-+" for b in "]-"] + ["psycopg3"]
DESELECT_OTHER = {
    "psycopg2": " and ".join(f"not {token}" for token in _PSYCOPG3_TOKENS),
    "psycopg": "not psycopg2",
}

# Known failures of other modules' tests in some matrix sessions, deselected here so the
# matrix stays useful; each is a bug to fix at its source (then remove the entry).
KNOWN_FAILURES: list[tuple[str, str, str]] = [
    # (condition: a python version, a driver or "sqlalchemy2.0"; node id prefix; why)
    *(
        ("psycopg", f"tests/test_sqlalchemy.py::{name}", "connects with postgresql+psycopg2 only")
        for name in (
            "test_connection_without_tls_is_closed_before_any_query",
            "test_insecure_opt_out_is_loud_and_local_only",
            "test_tls_server_name_verifies_the_rds_name_through_another_name",
            "test_unrelated_kwargs_and_query_keys_pass_through",
        )
    ),
    ("psycopg", "tests/test_cli.py::test_check_verified_json", "uses postgresql+psycopg2 only"),
    (
        "sqlalchemy2.0",
        "tests/test_testing.py::test_custom_names_and_password_are_quoted",
        "AuroraLikeServer.url() percent-encodes the database name; SQLAlchemy 2.0 does not "
        "decode it",
    ),
]


def known_failures(python: str, driver: str, sqlalchemy_req: str) -> list[tuple[str, str]]:
    """The KNOWN_FAILURES entries that apply to one session: (node id prefix, why)."""
    conditions = {python, driver, "sqlalchemy2.0" if "<2.1" in sqlalchemy_req else ""}
    return [(node, why) for when, node, why in KNOWN_FAILURES if when in conditions]


TEST_TOOLS = ["pytest>=8", "hypothesis>=6", "asyncpg>=0.29"]


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
    ignored = modules_importing(OTHER_DRIVER[driver])
    if ignored:
        session.log(
            f"not collected (they import {OTHER_DRIVER[driver]} at module level): {ignored}"
        )
    known = known_failures(str(session.python), driver, sqlalchemy_req)
    for node, why in known:
        session.log(f"deselected, known failure here: {node}: {why}")
    args = session.posargs or [
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        DESELECT_OTHER[driver],
        *(f"--ignore={path}" for path in ignored),
        *(f"--deselect={node}" for node, _ in known),
    ]
    session.run("python", "-m", "pytest", *args, env=env)


OTHER_DRIVER = {"psycopg2": "psycopg", "psycopg": "psycopg2"}


def modules_importing(module: str) -> list[str]:
    """Test modules that import ``module`` unconditionally at module level (they cannot be
    collected in a session without it; they run in the main suite and the other sessions)."""
    name = rf"{re.escape(module)}(?:\.\w+)*\b(?!\.)"
    pattern = re.compile(rf"^(?:import {name}|from {name} import )", re.MULTILINE)
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").glob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )


_VERSIONS_SCRIPT = """
import importlib, importlib.util, sys
driver = sys.argv[1]
other = {"psycopg2": "psycopg", "psycopg": "psycopg2"}[driver]
assert importlib.util.find_spec(other) is None, f"{other} must not be installed here"
names = ("django", "sqlalchemy", driver, "asyncpg")
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
