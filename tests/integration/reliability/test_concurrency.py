"""Concurrency: 64 threads and 4 processes connecting at once through one engine/backend.

A fresh trust cache directory per test makes every thread and process race to split the
user's bundle (AURORA_SSL_BUNDLE) at the same moment. Afterwards: no errors, every connection
used verified TLS, and the cache directory holds the bundle split once and complete (no
partial or temporary files), the test region's file exactly the test root.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl._readback import client_tls
from tests import drivers
from tests.fix_reliability import (
    PROCESSES,
    THREADS,
    THREADS_PER_PROCESS,
    all_at_once,
    assert_only_complete_trust_files,
)

if TYPE_CHECKING:  # spawned children import this module; keep their imports minimal
    from aurora_ssl.testing import AuroraLikeServer, TestPKI

SYNC_DRIVERS = drivers.params("postgresql+psycopg2", "postgresql+psycopg")


SERVER_TLS = "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_64_threads_through_one_engine(
    tls_server: AuroraLikeServer, pki: TestPKI, racing_cache: Path, driver: str
) -> None:
    # The engine is created by the first thread to get the lock, inside the race, so trust
    # selection and materialisation happen while the other threads are already waiting.
    engines: list[Any] = []
    lock = threading.Lock()
    tls_views: list[bool] = []

    def engine() -> Any:
        with lock:
            if not engines:
                created = aurora_ssl.create_engine(
                    tls_server.url(driver), pool_size=THREADS, max_overflow=0, pool_timeout=30
                )
                event.listen(
                    created,
                    "connect",
                    lambda dbapi, rec: tls_views.append(client_tls(dbapi).in_use),
                )
                engines.append(created)
            return engines[0]

    holding = threading.Barrier(THREADS)

    def task(i: int) -> bool:
        with engine().connect() as conn:
            ssl = bool(conn.execute(text(SERVER_TLS)).scalar())
            holding.wait(timeout=60)  # all 64 connections are open at the same time
        return ssl

    results = all_at_once(THREADS, task)
    assert results == [True] * THREADS
    assert len(tls_views) == THREADS
    assert all(tls_views)
    engines[0].dispose()
    assert_only_complete_trust_files(racing_cache, pki)


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_64_threads_each_materialising_at_once(
    tls_server: AuroraLikeServer, pki: TestPKI, racing_cache: Path, driver: str
) -> None:
    """Many engines created at the same instant in a process with no memo yet."""

    def task(i: int) -> bool:
        engine = aurora_ssl.create_engine(tls_server.url(driver), poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return bool(conn.execute(text(SERVER_TLS)).scalar())
        finally:
            engine.dispose()

    assert all_at_once(THREADS, task) == [True] * THREADS
    assert_only_complete_trust_files(racing_cache, pki)


def _process_main(url: str, threads: int, start: Any, results: Any) -> None:
    """One process: wait for the common start, then ``threads`` threads connect at once."""
    try:
        start.wait(timeout=60)
        engine = aurora_ssl.create_engine(url, pool_size=threads, max_overflow=0)
        outcomes = all_at_once(threads, lambda i: _query_tls(engine))
        engine.dispose()
        results.put((os.getpid(), outcomes, None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put((os.getpid(), [], f"{type(exc).__name__}: {exc}"))


def _query_tls(engine: Any) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(SERVER_TLS)).scalar())


@pytest.mark.slow
@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_4_processes_with_threads_at_once(
    tls_server: AuroraLikeServer, pki: TestPKI, racing_cache: Path, driver: str
) -> None:
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: nothing memoised
    start = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_process_main, args=(tls_server.url(driver), THREADS_PER_PROCESS, start, results)
        )
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    for pid, values, error in outcomes:
        assert error is None, f"process {pid}: {error}"
        assert values == [True] * THREADS_PER_PROCESS
    assert_only_complete_trust_files(racing_cache, pki)
