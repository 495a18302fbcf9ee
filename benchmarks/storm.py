"""The storm: many concurrent new connections at once, as after a failover or a deploy.

Decision: wall time and client CPU of ours over the floor's storm (target <= 1.05x); the
recipe is shown beside them. Variants alternate within each repeat.
"""

from __future__ import annotations

import concurrent.futures
import resource
import threading
import time
from typing import Any

from benchmarks.common import Target, median
from benchmarks.warm import HoldingOpener


def storm(open_query_close: HoldingOpener, size: int, batch: int) -> tuple[float, float]:
    """``size`` new connections at once, each held open until all are established (in
    batches of at most ``batch`` if the server has less room); returns (wall seconds, client
    CPU seconds of this process)."""
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    remaining = size
    while remaining:
        n = min(batch, remaining)
        go, held = threading.Barrier(n), threading.Barrier(n)

        def one(go: threading.Barrier = go, held: threading.Barrier = held) -> None:
            go.wait()
            open_query_close(held)

        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
            for future in [pool.submit(one) for _ in range(n)]:
                future.result()
        remaining -= n
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu


def server_room(target: Target) -> int:
    """Connections the server can still take (max_connections less reserved and in use)."""
    import psycopg2

    conn = psycopg2.connect(**target.libpq(target.root_path))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return int(row[0]) if row else 90


def measure(
    target: Target, openers: dict[str, HoldingOpener], size: int, repeats: int, via: str
) -> dict[str, Any]:
    """Medians over ``repeats`` storms per variant (``openers``: kind -> opener)."""
    batch = max(1, min(size, server_room(target) - 5))
    runs: dict[str, list[tuple[float, float]]] = {kind: [] for kind in openers}
    for index in range(repeats):
        kinds = list(openers) if index % 2 == 0 else list(reversed(openers))
        for kind in kinds:
            runs[kind].append(storm(openers[kind], size, batch))
    out: dict[str, Any] = {"size": size, "batch": batch, "repeats": repeats, "via": via}
    for kind, samples in runs.items():
        out[kind] = {
            "wall_s": median([w for w, _ in samples]),
            "cpu_s": median([c for _, c in samples]),
        }
    for metric in ("wall_s", "cpu_s"):
        if "floor" in out and "ours" in out:
            out[f"ours_vs_floor_{metric[:-2]}"] = out["ours"][metric] / out["floor"][metric]
    return out
