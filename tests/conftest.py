"""Shared test helpers: ``fresh_caches`` empties the per-process memos for tests that change
the environment (bundle source, cache directory) and need selection to run again; ``driver``
is each libpq driver in turn.

The session set-up (a private trust cache, the fixture plugins) is in the root conftest.py,
so the documentation's examples (docs/) get it too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import drivers


def clear_aurora_caches() -> None:
    """Forget every per-process memo of trust selection and bundle parsing."""
    from aurora_ssl import clear_caches

    clear_caches()


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    clear_aurora_caches()
    yield
    clear_aurora_caches()


@pytest.fixture(params=drivers.params("psycopg2", "psycopg"))
def driver(request: pytest.FixtureRequest) -> str:
    """Each libpq driver in turn (``psycopg2``, ``psycopg``); a driver not installed here is
    skipped. A test that parametrizes ``driver`` itself overrides this."""
    return str(request.param)
