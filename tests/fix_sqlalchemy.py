"""Helpers for the SQLAlchemy tests: servers that log everything, and throwaway login roles.

Shared by several test modules (the entry points, pg8000, credentials and the CLI's credential
tests), so they live here rather than in one test module another imports. The fixtures are
registered by the root conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aurora_ssl.testing import AuroraLikeServer, Scenario, TestPKI
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


# --- what the driver itself receives ------------------------------------------------------


class DriverCalls:
    """Every call of a sync engine's driver ``connect`` (after aurora-ssl's decision), with
    the connection string read by that driver's own libpq."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.parse: Callable[[str], dict[str, str]] = dict

    def params(self, index: int = 0) -> dict[str, str]:
        """The libpq parameters of call ``index`` (its connection string, as libpq reads it)."""
        args, _ = self.calls[index]
        return self.parse(args[0])


@pytest.fixture
def driver_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], DriverCalls]:
    """``spy(engine, tamper=None)``: record what the engine's libpq driver (psycopg2 or
    psycopg) receives; ``tamper(conninfo)`` may rewrite the string after aurora-ssl checked it
    (a driver that changes what it was given: only the read-back can see that)."""

    def spy(engine: Any, tamper: Callable[[str], str] | None = None) -> DriverCalls:
        dbapi = engine.dialect.loaded_dbapi
        seen = DriverCalls()
        if dbapi.__name__ == "psycopg2":
            from psycopg2.extensions import parse_dsn

            seen.parse = lambda text: dict(parse_dsn(text))
        else:
            from psycopg.conninfo import conninfo_to_dict

            seen.parse = lambda text: {k: str(v) for k, v in conninfo_to_dict(text).items()}
        real = dbapi.connect

        def connect(*args: Any, **kwargs: Any) -> Any:
            seen.calls.append((args, kwargs))
            if tamper is not None:
                args = (tamper(args[0]), *args[1:])
            return real(*args, **kwargs)

        monkeypatch.setattr(dbapi, "connect", connect)
        return seen

    return spy


# --- throwaway login roles -------------------------------------------------------------------


@pytest.fixture
def roles(
    logged_server: AuroraLikeServer, role_on: Callable[[AuroraLikeServer, str], str]
) -> Callable[[str], str]:
    """``role_on`` on the logged server: ``make(password) -> name``."""
    return lambda password: role_on(logged_server, password)


# --- a module-attribute password provider, named by "tests.fix_sqlalchemy:provided" ---------

PROVIDED_PASSWORD = "provided-" + secrets.token_hex(6)


def provided() -> str:
    return PROVIDED_PASSWORD
