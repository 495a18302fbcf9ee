"""Runs inside the benchmark's own aws-advanced-python-wrapper venv (see aws_wrapper.py).

    python aws_wrapper_child.py warm ROUNDS    # prints JSON: samples per variant (seconds)

Variants, interleaved in a shuffled order each round, all psycopg 3 with verify-full and
the 1-root trust file: the plain driver (the floor), the wrapper with its default plugins,
and the wrapper with no plugins (the minimum it can do). Where to connect comes from
``BENCH_*`` environment variables.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable

E = os.environ


def conninfo() -> str:
    return (
        f"host={E['BENCH_HOST']} hostaddr={E['BENCH_HOSTADDR']} port={E['BENCH_PORT']} "
        f"user={E['BENCH_USER']} dbname={E['BENCH_DB']} sslmode=verify-full "
        f"sslrootcert={E['BENCH_ROOT']}"
    )


def variants() -> dict[str, Callable[[], None]]:
    import psycopg
    from aws_advanced_python_wrapper import AwsWrapperConnection

    info, password = conninfo(), E["BENCH_PASSWORD"]

    def floor() -> None:
        with psycopg.Connection.connect(info, password=password) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def wrapper(**plugins: str) -> Callable[[], None]:
        def run() -> None:
            conn = AwsWrapperConnection.connect(
                psycopg.Connection.connect, info, password=password, **plugins
            )
            try:
                cur = conn.cursor()
                cur.execute("SELECT 1")
                cur.fetchone()
                cur.close()
            finally:
                conn.close()

        return run

    return {"floor": floor, "default": wrapper(), "minimal": wrapper(plugins="")}


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


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the wrapper logs its topology probing at warning level
    rounds = int(sys.argv[2])
    result = warm(rounds)
    from importlib.metadata import version

    print(json.dumps({"samples": result, "version": version("aws_advanced_python_wrapper")}))
    sys.stdout.flush()
    os._exit(0)  # the default plugins leave monitoring threads behind; do not wait for them
