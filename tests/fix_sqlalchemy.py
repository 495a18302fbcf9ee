"""Helpers for the SQLAlchemy tests: servers that log everything, and throwaway login roles.

Shared by several test modules (the entry points, pg8000, credentials and the CLI's credential
tests), so they live here rather than in one test module another imports. The fixtures are
registered by the root conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from aurora_ssl.testing import AuroraLikeServer, Scenario, TestPKI
from tests.fix_credentials import admin_execute
from tests.fix_servers import LOG_EVERYTHING, log_since

REGION = "test-region-1"  # what the test server's endpoint name says


# --- servers that log every connection and statement ---------------------------------------


class Logged:
    """A server plus "what did it log since mark()"."""

    def __init__(self, server: AuroraLikeServer) -> None:
        self.server = server
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.server.log_path.stat().st_size

    def since(self) -> str:
        return log_since(self.server, self.offset)

    def assert_nothing_authorised(self) -> None:
        log = self.since()
        assert "connection authorized" not in log, log[-2000:]
        assert "statement:" not in log, log[-2000:]

    def assert_nothing_received(self) -> None:
        log = self.since()
        assert "connection received" not in log, log[-2000:]


def _logged(scenario: Scenario, pki: TestPKI) -> Iterator[Logged]:
    with AuroraLikeServer(scenario, pki=pki, settings=LOG_EVERYTHING) as server:
        yield Logged(server)


@pytest.fixture(scope="module")
def logged_good(pki: TestPKI) -> Iterator[Logged]:
    yield from _logged(Scenario.GOOD, pki)


@pytest.fixture(scope="module")
def logged_impostor(pki: TestPKI) -> Iterator[Logged]:
    yield from _logged(Scenario.INTERCEPTION, pki)


# --- throwaway login roles -------------------------------------------------------------------


def make_role(server: AuroraLikeServer, password: str) -> str:
    name = f"sacred_{secrets.token_hex(4)}"
    admin_execute(server, f'CREATE ROLE "{name}" LOGIN PASSWORD %s', (password,))
    return name


def drop_role(server: AuroraLikeServer, name: str) -> None:
    admin_execute(
        server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
    )
    admin_execute(server, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def roles(logged_server: AuroraLikeServer) -> Iterator[Callable[[str], str]]:
    """Throwaway login roles on the logged server (``make(password) -> name``)."""
    made: list[str] = []

    def make(password: str) -> str:
        made.append(make_role(logged_server, password))
        return made[-1]

    yield make
    for name in made:
        drop_role(logged_server, name)


# --- a module-attribute password provider, named by "tests.fix_sqlalchemy:provided" ---------

PROVIDED_PASSWORD = "provided-" + secrets.token_hex(6)


def provided() -> str:
    return PROVIDED_PASSWORD
