"""Direct TLS: a round trip fewer than the plain driver where the server takes it.

Through the latency proxy (:class:`benchmarks.latency.DelayProxy`), at 1 ms and 20 ms RTT,
against a PostgreSQL 18 build (``aurora_ssl.testing.fetch_server``) and the distribution's
PostgreSQL 15: the plain driver (psycopg 3, verify-full, the server's root, the default
negotiation) against ours (the policy's decision, learned per endpoint, read back), each a new
connection and ``SELECT 1``, interleaved, median of ``samples`` each. Targets (issue 20): on
17+, ours <= plain - 0.8 x RTT at 20 ms; on 15/16, ours <= 1.02 x plain (learning must not cost
a round trip per connection).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.common import median
from benchmarks.latency import DelayProxy

VERSIONS = ("18", "15")


@contextlib.contextmanager
def _server(version: str) -> Iterator[Any]:
    from aurora_ssl.testing import AuroraLikeServer, fetch_server

    bindir = fetch_server(version) if version != "15" else None
    with AuroraLikeServer(bindir=bindir) as server:
        yield server


def _variants(server: Any, port: int) -> dict[str, Callable[[], None]]:
    import psycopg

    import aurora_ssl
    from aurora_ssl._connect import open_connection
    from aurora_ssl._policy import Policy
    from aurora_ssl._readback import require_tls

    params = {**server.params(), "port": str(port), "connect_timeout": "10"}
    plain = {**params, "sslmode": "verify-full", "sslrootcert": str(server.pki.root_path)}
    policy = Policy(aurora_ssl.Options(bundle=str(server.pki.root_path)))

    def run_plain() -> None:
        with psycopg.connect(**plain) as conn:
            conn.execute("SELECT 1")

    def run_ours() -> None:
        decision = policy.decide(params, "the benchmark", driver="psycopg")
        conn, used = open_connection(decision, psycopg.connect)
        with conn:
            require_tls(conn, expected=used.params)
            conn.execute("SELECT 1")

    return {"plain": run_plain, "ours": run_ours}


def measure(samples: int, rtts_ms: tuple[float, ...] = (1.0, 20.0)) -> dict[str, Any]:
    """Medians (ms) per server version, RTT and variant, and the checked differences."""
    out: dict[str, Any] = {"samples": samples, "rtts_ms": list(rtts_ms), "servers": {}}
    for version in VERSIONS:
        with _server(version) as server, DelayProxy((server.hostaddr, server.port)) as proxy:
            variants = _variants(server, proxy.port)
            by_rtt: dict[str, Any] = {}
            for rtt in rtts_ms:
                proxy.rtt_s = rtt / 1000
                for run in variants.values():  # warm up: learning happens here, once
                    run()
                times: dict[str, list[float]] = {name: [] for name in variants}
                for _ in range(samples):
                    for name, run in variants.items():
                        start = time.perf_counter()
                        run()
                        times[name].append((time.perf_counter() - start) * 1000)
                plain, ours = median(times["plain"]), median(times["ours"])
                by_rtt[f"{rtt:g}"] = {
                    "plain_ms": plain,
                    "ours_ms": ours,
                    "ours_minus_plain_ms": ours - plain,
                    "ours_vs_plain": ours / plain,
                }
            out["servers"][version] = by_rtt
    return out
