"""Which database drivers a test needs, said by the test itself.

The support matrix (noxfile.py) runs this suite with exactly one libpq driver installed
(psycopg2 or psycopg 3, plus asyncpg and pg8000), as a user with only that driver would have
it; the main run has them all. So a test never assumes a driver is there:

- a test (or a ``pytest.param``) that needs a driver carries ``@pytest.mark.driver("psycopg2")``
  (several names: it needs all of them); the root conftest.py marks it skipped at collection,
  saying which driver is missing, when one is not installed;
- a test parametrized over drivers uses ``params("psycopg2", "psycopg")``: one marked
  ``pytest.param`` per driver, so the other driver's cases are skipped, not failed;
- the driver module itself is imported inside the test (or helper) that uses it, never at module
  level, so the module's other tests run everywhere; a fixture that needs a driver for everything
  it serves calls ``pytest.importorskip`` with a reason (the docs' examples: tests/fix_docs.py).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

#: The import name of each driver the suite knows (SQLAlchemy dialect names and Django's
#: backend use the same names).
KNOWN = ("psycopg2", "psycopg", "asyncpg", "pg8000")


def is_installed(name: str) -> bool:
    """Whether the driver ``name`` can be imported here (without importing it)."""
    return importlib.util.find_spec(name) is not None


def installed(*names: str) -> list[str]:
    """The drivers among ``names`` (all known ones when none given) that are installed."""
    return [name for name in names or KNOWN if is_installed(name)]


def driver_of(value: Any) -> str:
    """The driver a parameter value names: a driver (``"psycopg2"``), a SQLAlchemy drivername
    (``"postgresql+psycopg2"``, or a URL starting with one), or a tuple whose first item is."""
    first = value[0] if isinstance(value, tuple) else value
    dialect, _, driver = str(first).split("://")[0].partition("+")
    return driver or ("psycopg2" if dialect == "postgresql" else dialect)  # SQLAlchemy's default


def params(*values: Any) -> list[Any]:
    """One ``pytest.param`` per value, marked with the driver it needs (:func:`driver_of`).

    A tuple value gives several arguments. Ids stay pytest's own, as with plain values.
    """
    return [
        pytest.param(
            *(value if isinstance(value, tuple) else (value,)),
            marks=pytest.mark.driver(driver_of(value)),
        )
        for value in values
    ]
