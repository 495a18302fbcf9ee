"""What every part of the benchmark shares: the server, the target, targets and medians."""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Targets from issue 12; every ratio in the final table is checked against one of these.
TARGET_VS_FLOOR = 1.05
TARGET_VS_RECIPE = 0.75
TARGET_IMPORT_MS = 5.0  # import aurora_ssl after the driver
TARGET_EXTRA_MIB = 2.0


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to connect, and the two trust files the variants differ by."""

    host: str
    hostaddr: str
    port: int
    user: str
    password: str
    database: str
    root_path: Path  # the test root only: the floor
    bundle_path: Path  # the shipped RDS bundle + the test root: the recipe and our source

    def libpq(self, sslrootcert: Path | None) -> dict[str, Any]:
        """Plain libpq keywords; ``sslrootcert=None`` leaves trust (and sslmode) to us."""
        params: dict[str, Any] = {
            "host": self.host,
            "hostaddr": self.hostaddr,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
        }
        if sslrootcert is not None:
            params.update(sslmode="verify-full", sslrootcert=str(sslrootcert))
        return params

    def via(self, port: int) -> Target:
        """The same server reached through another loopback port (the latency proxy)."""
        return dataclasses.replace(self, port=port)


@contextlib.contextmanager
def aurora_like_server(max_connections: int) -> Iterator[Target]:
    from aurora_ssl.testing import AuroraLikeServer

    with AuroraLikeServer("good", settings={"max_connections": str(max_connections)}) as server:
        yield Target(
            host=server.host,
            hostaddr=server.hostaddr,
            port=int(server.port),
            user=server.user,
            password=server.password,
            database=server.database,
            root_path=Path(server.pki.root_path),
            bundle_path=Path(server.pki.bundle_path),
        )


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (median(values), median(values))
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of a/b within the same round (robust to drift during the run)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))
