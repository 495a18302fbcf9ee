"""Failover: a writer keeps committing small transactions while the server restarts.

Each test gets its own server (restarts would disturb the shared ones). A writer thread
inserts numbered rows, one per transaction, through our SQLAlchemy engine (pool_pre_ping)
or our Django backend (CONN_HEALTH_CHECKS), while the main thread restarts the server twice.
Afterwards:

* every transaction the writer saw commit is in the table exactly once;
* every other attempt raised an error the application saw (nothing is lost silently); a
  row may exist for an attempt that raised (the commit reached the server but its answer
  did not reach us: the ambiguity every database client has), never twice;
* every row was written over TLS, as the server itself recorded in the row
  (``pg_stat_ssl`` of the inserting backend), and every (re)connection was made with
  verify-full and the trimmed roots, and checked by the client-side TLS assertion.

Then the interception variant: after a failover the "new primary" presents a certificate
from a foreign CA with the same names. Every reconnection must be refused, and the table
proves no statement reached the impostor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy
from sqlalchemy import event, text

import aurora_ssl
from aurora_ssl._readback import ClientTLS, client_tls
from tests import drivers
from tests.fix_reliability import (
    Failover,
    Writer,
    assert_nothing_reached,
    check_rows,
    refused_as_untrusted,
    run_failover,
)

if TYPE_CHECKING:  # spawned test processes import this module; keep it light
    from aurora_ssl.testing import AuroraLikeServer
    from tests.fix_sqlalchemy import DriverCalls

pytestmark = pytest.mark.slow

SYNC_DRIVERS = drivers.params("postgresql+psycopg2", "postgresql+psycopg")
INSERT = (
    "INSERT INTO {table} (id, backend_pid, ssl, version) "
    "SELECT {id}, pg_backend_pid(), s.ssl, s.version "
    "FROM pg_catalog.pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
)


# --- SQLAlchemy -----------------------------------------------------------------------------


@dataclass
class ConnectLog:
    received: DriverCalls
    tls: list[ClientTLS] = field(default_factory=list)


def instrument(engine: sqlalchemy.Engine, spy: Callable[[Any], DriverCalls]) -> ConnectLog:
    """Record what the driver received for every new DB-API connection (the libpq parameters,
    after aurora-ssl's decision), and its client TLS view."""
    log = ConnectLog(spy(engine))
    event.listen(engine, "connect", lambda dbapi, rec: log.tls.append(client_tls(dbapi)))
    return log


def check_connections(log: ConnectLog, server: AuroraLikeServer, reconnects: int) -> None:
    assert len(log.tls) >= reconnects + 1
    assert all(t.in_use for t in log.tls)
    root = Path(server.pki.root_path).read_bytes()
    attempts = [log.received.params(i) for i in range(len(log.received.calls))]
    assert len(attempts) >= len(log.tls)
    for params in attempts:  # attempts, including refused ones
        assert params["sslmode"] == "verify-full"
        assert params["gssencmode"] == "disable"
        assert Path(params["sslrootcert"]).read_bytes() == root


def create_table(engine: sqlalchemy.Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(
            text(
                f"CREATE TABLE {table} (id integer PRIMARY KEY, backend_pid integer NOT NULL,"
                " ssl boolean NOT NULL, version text)"
            )
        )


def read_rows(engine: sqlalchemy.Engine, table: str) -> list[tuple[int, int, bool, str]]:
    with engine.connect() as conn:
        # The table name is one of this module's constants.
        result = conn.execute(text(f"SELECT id, backend_pid, ssl, version FROM {table}"))  # noqa: S608
        return [tuple(row) for row in result]  # type: ignore[misc]


def sqlalchemy_engine(server: AuroraLikeServer, driver: str) -> sqlalchemy.Engine:
    return aurora_ssl.create_engine(
        server.url(driver),
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=0,
        connect_args={"connect_timeout": 3},
    )


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_sqlalchemy_writer_through_two_restarts(
    own_server: AuroraLikeServer,
    own_bundle_env: Path,
    driver: str,
    driver_calls: Callable[[Any], DriverCalls],
) -> None:
    table = f"failover_sa_{driver.rsplit('+', 1)[-1]}"
    engine = sqlalchemy_engine(own_server, driver)
    log = instrument(engine, driver_calls)
    create_table(engine, table)

    def write(n: int) -> None:
        with engine.begin() as conn:
            conn.execute(text(INSERT.format(table=table, id=n)))

    writer = Writer(write)
    run_failover(own_server, writer)
    check_rows(read_rows(engine, table), writer)
    check_connections(log, own_server, reconnects=2)
    engine.dispose()


@pytest.fixture
def failover(own_server: AuroraLikeServer) -> Iterator[Failover]:
    handle = Failover(own_server)
    yield handle
    if handle.impostor:
        handle.back()


@pytest.mark.parametrize("driver", SYNC_DRIVERS)
def test_sqlalchemy_no_statement_reaches_an_impostor_after_failover(
    own_server: AuroraLikeServer,
    own_bundle_env: Path,
    failover: Failover,
    driver: str,
    driver_calls: Callable[[Any], DriverCalls],
) -> None:
    table = f"intercept_sa_{driver.rsplit('+', 1)[-1]}"
    engine = sqlalchemy_engine(own_server, driver)
    log = instrument(engine, driver_calls)
    create_table(engine, table)

    def write(n: int) -> None:
        with engine.begin() as conn:
            conn.execute(text(INSERT.format(table=table, id=n)))

    writer = Writer(write)
    with writer:
        writer.wait_for_commits(10)
        failover.to_impostor()
        before = len(writer.committed)
        failed_before = set(writer.failed)
        time.sleep(1.5)  # the writer keeps trying against the impostor
        during = writer.committed[before:]
        writer.stop.set()
    assert during == [], "a transaction committed while the impostor was the server"
    impostor_attempts = {n: e for n, e in writer.failed.items() if n not in failed_before}
    assert len(impostor_attempts) >= 5
    # Each was refused because the certificate is not from a trusted CA (the server
    # restart itself may show up as one "connection closed" error first).
    untrusted = [e for e in impostor_attempts.values() if refused_as_untrusted(e)]
    assert len(untrusted) >= len(impostor_attempts) - 2, [
        repr(e) for e in impostor_attempts.values()
    ]
    assert all(t.in_use for t in log.tls)

    # Back on the real server: the table holds exactly the rows committed before.
    failover.back()
    assert_nothing_reached(failover.impostor_log())
    rows = read_rows(engine, table)
    assert {r[0] for r in rows} <= set(writer.committed) | failed_before
    assert set(writer.committed) <= {r[0] for r in rows}
    assert not {r[0] for r in rows} & set(impostor_attempts)
    engine.dispose()
