"""Which database drivers a test needs, said by the test itself.

The support matrix (noxfile.py) runs this suite with exactly one libpq driver installed
(psycopg2 or psycopg 3, plus asyncpg and pg8000), as a user with only that driver would have
it; the main run has them all. So a test never assumes a driver is there:

- a test (or a ``pytest.param``) that needs a driver carries ``@pytest.mark.driver("psycopg2")``
  (several names: it needs all of them); the root conftest.py marks it skipped at collection,
  saying which driver is missing, when one is not installed;
- a test whose subject is not the driver, but that needs libpq (a refusal's words, a server
  that saw a TLS session), says ``@pytest.mark.driver("libpq")``: either psycopg2 or psycopg 3
  will do, and it connects through :func:`libpq_connect` / :func:`libpq_refusal` (the session's
  driver, :func:`libpq_driver`) and builds URLs with :func:`libpq_drivername`; a test that uses
  one driver's own API (``psycopg2.extensions``, ``parse_dsn``, ``conn.info.dsn_parameters``)
  names that driver instead;
- a test parametrized over drivers uses ``params("psycopg2", "psycopg")``: one marked
  ``pytest.param`` per driver, so the other driver's cases are skipped, not failed;
- the driver module itself is imported inside the test (or helper) that uses it, never at module
  level, so the module's other tests run everywhere; a fixture that needs a driver for everything
  it serves calls ``pytest.importorskip`` with a reason (the docs' examples: tests/fix_docs.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import pytest

#: The import name of each driver the suite knows (SQLAlchemy dialect names and Django's
#: backend use the same names).
KNOWN = ("psycopg2", "psycopg", "asyncpg", "pg8000")


def is_installed(name: str) -> bool:
    """Whether the driver ``name`` can be imported here (without importing it)."""
    return importlib.util.find_spec(name) is not None


def is_available(name: str) -> bool:
    """Whether a ``driver`` marker's name is satisfied: ``"libpq"`` by either libpq driver."""
    if name == "libpq":
        return any(is_installed(driver) for driver in LIBPQ)
    return is_installed(name)


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


# -- either libpq driver ---------------------------------------------------------------------

#: The drivers that wrap libpq; their connection errors carry libpq's own text, word for word.
LIBPQ = ("psycopg2", "psycopg")


def libpq_driver() -> str:
    """The libpq driver this run connects with, for tests whose subject is not the driver.

    The session's (``AURORA_SSL_TEST_DRIVER``, noxfile.py) when it names an installed libpq
    driver; else psycopg 3 when installed, as :meth:`AuroraLikeServer.url` and Django pick it;
    else psycopg2. A test that calls this carries ``@pytest.mark.driver("libpq")``, so a run
    with neither driver skips it at collection rather than failing here.
    """
    session = os.environ.get("AURORA_SSL_TEST_DRIVER", "")
    for name in (session, *LIBPQ[::-1]):
        if name in LIBPQ and is_installed(name):
            return name
    raise RuntimeError("neither psycopg2 nor psycopg 3 is installed; mark the test driver('libpq')")


def libpq_drivername() -> str:
    """The SQLAlchemy drivername for :func:`libpq_driver` (``postgresql+psycopg``...)."""
    return f"postgresql+{libpq_driver()}"


def libpq_module() -> Any:
    """The :func:`libpq_driver` module itself (``connect``, ``OperationalError``, ``errors``)."""
    return importlib.import_module(libpq_driver())


def connect_with(name: str, params: dict[str, Any]) -> Any:
    """A DB-API connection through the libpq driver ``name`` (``psycopg2`` or ``psycopg``)."""
    return importlib.import_module(name).connect(**params)


def libpq_connect(**params: Any) -> Any:
    """A DB-API connection through :func:`libpq_driver`; ``params`` are libpq keywords."""
    return libpq_module().connect(**params)


def libpq_refusal(**params: Any) -> str:
    """libpq's message for a connection that must fail (fails the test if it connects).

    Both drivers raise their ``OperationalError`` with libpq's text, so what a test asserts
    about the words holds for either.
    """
    module = libpq_module()
    with pytest.raises(module.OperationalError) as info:
        module.connect(**params).close()
    return str(info.value)


def ssl_in_use(conn: Any) -> bool:
    """What libpq says of a connection's TLS (``PQsslInUse``), from either driver."""
    pgconn = getattr(conn, "pgconn", None)  # psycopg 3
    return bool(pgconn.ssl_in_use if pgconn is not None else conn.info.ssl_in_use)
