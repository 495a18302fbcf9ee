"""The unit tests use no PostgreSQL server: a test here that asks for one (a fixture that yields
an ``AuroraLikeServer``, a cluster, or a server that logs) stops the run at collection, saying where it
belongs (tests/integration/, see tests/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT = Path(__file__).parent
SERVERS = ("AuroraLikeServer", "AuroraLikeCluster", "Logged")


def _server_fixtures(item: pytest.Item) -> list[str]:
    """The fixtures ``item`` uses, directly or not, that give a server."""
    info = getattr(item, "_fixtureinfo", None)
    found = []
    for name, defs in (info.name2fixturedefs if info else {}).items():
        returns = str(getattr(defs[-1].func, "__annotations__", {}).get("return", ""))
        if any(kind in returns for kind in SERVERS):
            found.append(name)
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    wrong = [
        f"{item.nodeid} uses {', '.join(servers)}"
        for item in items
        if UNIT in Path(str(item.path)).parents and (servers := _server_fixtures(item))
    ]
    if wrong:
        raise pytest.UsageError(
            "unit tests use no server; move these to tests/integration/:\n  " + "\n  ".join(wrong)
        )
