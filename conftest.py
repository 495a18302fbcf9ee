"""Session set-up for tests/ and docs/: a private trust cache, and the fixture plugins.

The cache directory is set before any test runs so no test writes to the developer's
``~/.cache``, and an ``AURORA_SSL_BUNDLE`` of the developer's shell cannot steer selection.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

import pytest

pytest_plugins = [
    "tests.fix_servers",
    "tests.fix_credentials",
    "tests.fix_sqlalchemy",
    "tests.fix_django",
    "tests.fix_reliability",
    "tests.fix_docs",
    "tests.fix_trust",
    "tests.fix_cli",
]

_SESSION_CACHE = tempfile.mkdtemp(prefix="aurora-ssl-test-cache-")
os.environ["AURORA_SSL_CACHE_DIR"] = _SESSION_CACHE
atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)
os.environ.pop("AURORA_SSL_BUNDLE", None)


def _readme_examples() -> Any:
    """The README's Python examples run like the docs' (docs/conftest.py)."""
    from sybil import Sybil
    from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

    return Sybil(
        parsers=[PythonCodeBlockParser(), SkipParser()],
        patterns=["README.md"],
        fixtures=["docs_env"],
    ).pytest()


pytest_collect_file = _readme_examples()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip each test marked ``@pytest.mark.driver(name, ...)`` when a driver it names is not
    installed (tests/drivers.py): the support matrix runs with one libpq driver.
    ``"libpq"`` means either libpq driver (psycopg2 or psycopg 3)."""
    from tests.drivers import is_available

    for item in items:
        needed = [name for mark in item.iter_markers("driver") for name in mark.args]
        absent = [name for name in needed if not is_available(name)]
        if absent:
            names = ", ".join("psycopg2 or psycopg (libpq)" if n == "libpq" else n for n in absent)
            reason = f"needs the {names} driver, which is not installed here"
            item.add_marker(pytest.mark.skip(reason=reason))
