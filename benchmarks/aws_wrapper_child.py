"""Runs in a venv with aws-advanced-python-wrapper (see aws_wrapper.py), in a fresh process.

    python aws_wrapper_child.py warm ROUNDS       # JSON: samples per variant (seconds)
    python aws_wrapper_child.py failover ROUNDS   # JSON: time to the first good query (s)

Warm variants, interleaved in a shuffled order each round, all psycopg 3 with verify-full: the
plain driver with the 1-root trust file (the floor), the wrapper with its default plugins and
with no plugins (the 1-root file given by hand), and both again with aurora-ssl's plugin last
(no ssl* key given: the plugin supplies them, trust from ``BENCH_BUNDLE`` split per region).
Where to connect comes from ``BENCH_*`` environment variables.

Failover: an Aurora-like cluster (a writer and a reader) of its own; the wrapper connected to
the writer with its default plugins, with and without aurora-ssl's plugin, alternating. One
thread fails the cluster over; the application thread runs a query in a loop, and the time
from the writer's shutdown to the first query that succeeds on the new writer is recorded.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

E = os.environ


def conninfo() -> str:
    return (
        f"host={E['BENCH_HOST']} hostaddr={E['BENCH_HOSTADDR']} port={E['BENCH_PORT']} "
        f"user={E['BENCH_USER']} dbname={E['BENCH_DB']}"
    )


def verified() -> str:
    return f"{conninfo()} sslmode=verify-full sslrootcert={E['BENCH_ROOT']}"


def variants() -> dict[str, Callable[[], None]]:
    import psycopg
    from aws_advanced_python_wrapper import AwsWrapperConnection

    from aurora_ssl import aws_wrapper

    aws_wrapper.register()
    password = E["BENCH_PASSWORD"]

    def floor() -> None:
        with psycopg.Connection.connect(verified(), password=password) as conn:
            conn.execute("SELECT 1").fetchone()

    def wrapper(info: str, **props: str) -> Callable[[], None]:
        def run() -> None:
            conn = AwsWrapperConnection.connect(
                psycopg.Connection.connect, info, password=password, **props
            )
            try:
                cur = conn.cursor()
                cur.execute("SELECT 1")
                cur.fetchone()
                cur.close()
            finally:
                conn.close()

        return run

    ours = {"aurora_ssl_bundle": E["BENCH_BUNDLE"]}
    default_plugins = "initial_connection,aurora_connection_tracker,failover_v2,host_monitoring_v2"
    return {
        "floor": floor,
        "default": wrapper(verified()),
        "minimal": wrapper(verified(), plugins=""),
        "default+ours": wrapper(conninfo(), plugins=f"{default_plugins},aurora_ssl", **ours),
        "minimal+ours": wrapper(conninfo(), plugins="aurora_ssl", **ours),
    }


def warm(rounds: int) -> dict[str, list[float]]:
    runs = variants()
    for run in runs.values():  # first connects (dialect detection, plugin set-up) untimed
        run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    rng = random.Random(20241128)  # noqa: S311 - an order, not a secret
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            runs[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def failover(rounds: int) -> dict[str, list[float]]:
    import psycopg
    from aws_advanced_python_wrapper import AwsWrapperConnection, release_resources

    from aurora_ssl import aws_wrapper
    from aurora_ssl.testing import CLUSTER_HOST, AuroraLikeCluster

    aws_wrapper.register()
    samples: dict[str, list[float]] = {"wrapper": [], "wrapper+ours": []}
    with AuroraLikeCluster(readers=1) as cluster, cluster.resolve():
        bundle = str(cluster.pki.bundle_path)
        props: dict[str, Any] = {
            "host": CLUSTER_HOST, "port": cluster.writer.port, "user": cluster.writer.user,
            "password": cluster.writer.password, "dbname": cluster.writer.database,
            "wrapper_dialect": "aurora-pg", "connect_timeout": 3, "autocommit": True,
        }  # fmt: skip
        by_hand = {"sslmode": "verify-full", "sslrootcert": str(cluster.pki.root_path)}
        plugins = "initial_connection,aurora_connection_tracker,failover_v2,host_monitoring_v2"
        ours = {"plugins": f"{plugins},aurora_ssl", "aurora_ssl_bundle": bundle}
        variants = {
            "wrapper": {**props, **by_hand, "plugins": plugins},
            "wrapper+ours": {**props, **ours},
        }
        for _ in range(rounds):
            for name, kwargs in variants.items():
                conn = AwsWrapperConnection.connect(psycopg.Connection.connect, "", **kwargs)
                samples[name].append(_time_to_new_writer(cluster, conn))
                conn.close()
                release_resources()
    return samples


def _time_to_new_writer(cluster: Any, conn: Any) -> float:
    """Fail ``cluster`` over in another thread; seconds from the writer's shutdown until
    ``conn`` answers a query from the new writer."""
    target = cluster.readers[0].settings["aurora_ssl.instance_id"]
    thread = threading.Thread(target=cluster.failover, args=(target,))
    start = time.perf_counter()
    thread.start()
    while True:
        try:
            cur = conn.cursor()
            cur.execute("SELECT pg_catalog.aurora_db_instance_identifier()")
            if cur.fetchone()[0] == target:
                break
        except Exception:  # noqa: BLE001, S110 - the failover being measured
            pass
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    thread.join()
    return elapsed


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the wrapper logs its topology probing at warning level
    mode, rounds = sys.argv[1], int(sys.argv[2])
    result = warm(rounds) if mode == "warm" else failover(rounds)
    from importlib.metadata import version

    print(json.dumps({"samples": result, "version": version("aws_advanced_python_wrapper")}))
    sys.stdout.flush()
    os._exit(0)  # the default plugins leave monitoring threads behind; do not wait for them
