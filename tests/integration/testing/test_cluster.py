"""The Aurora-like cluster: real replicas, Aurora's topology functions, endpoints, failover.

Every connection goes through ``aurora_ssl.create_engine`` with verify-full, as the app role,
so the functions are proven callable by an application, over TLS, on every instance. Its
limits without a server: tests/unit/testing/test_cluster.py.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import aurora_ssl
from aurora_ssl.errors import HostnameMismatchError, TestServerError
from aurora_ssl.testing import CLUSTER_HOST, READER_HOST, AuroraLikeCluster, AuroraLikeServer

sqlalchemy = pytest.importorskip("sqlalchemy")
pytestmark = pytest.mark.driver("libpq")

# The columns of aurora_replica_status(), in order, as AWS documents them.
COLUMNS = [
    "server_id",
    "session_id",
    "durable_lsn",
    "highest_lsn_rcvd",
    "current_read_lsn",
    "cur_replay_latency_in_usec",
    "active_txns",
    "is_current",
    "last_transport_error",
    "last_error_timestamp",
    "last_update_timestamp",
    "feedback_xmin",
    "feedback_epoch",
    "replica_lag_in_msec",
    "log_stream_speed_in_kib_per_second",
    "log_buffer_sequence_number",
    "oldest_read_view_trx_id",
    "oldest_read_view_lsn",
    "pending_read_ios",
    "read_ios",
    "iops",
    "cpu",
]

# What a topology-aware client (AWS's wrapper) asks: every instance, whether it is the writer,
# its CPU and lag, and when it reported last (rows older than five minutes are stale).
TOPOLOGY = """
SELECT server_id, session_id = 'MASTER_SESSION_ID' AS is_writer, cpu,
       coalesce(replica_lag_in_msec, 0) AS lag, last_update_timestamp
  FROM pg_catalog.aurora_replica_status()
 WHERE last_update_timestamp IS NULL OR session_id = 'MASTER_SESSION_ID'
    OR now() - last_update_timestamp <= interval '300 seconds'
"""
AM_I_THE_WRITER = """
SELECT server_id FROM pg_catalog.aurora_replica_status()
 WHERE session_id = 'MASTER_SESSION_ID' AND server_id = pg_catalog.aurora_db_instance_identifier()
"""
WHO = "SELECT pg_catalog.aurora_db_instance_identifier(), pg_is_in_recovery(), inet_server_addr()"


def _id(server: AuroraLikeServer) -> str:
    return server.host.split(".")[0]


def _without_hostaddr(url: str, host: str) -> Any:
    """The server's URL for ``host``, resolved by name (no ``hostaddr``)."""
    return sqlalchemy.engine.make_url(url).set(host=host).difference_update_query(["hostaddr"])


def rows(url: Any, sql: str) -> list[Any]:
    """Run ``sql`` in its own verified connection and transaction (committed); its rows."""
    engine = aurora_ssl.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def cluster(aurora_cluster: AuroraLikeCluster) -> Iterator[AuroraLikeCluster]:
    yield aurora_cluster
    assert len(aurora_cluster.readers) == 2  # each test leaves it whole for the next


def test_each_instance_serves_its_own_name_and_role(cluster: AuroraLikeCluster) -> None:
    assert [_id(i) for i in cluster.instances] == [f"demo-instance-{n}" for n in (1, 2, 3)]
    assert len({i.port for i in cluster.instances}) == 1  # one port, one address each
    for instance in cluster.instances:
        ((name, in_recovery, address),) = rows(instance.database_url(), WHO)
        assert name == _id(instance)
        assert in_recovery is (instance is not cluster.writer)
        assert str(address) == instance.hostaddr


def test_an_instance_certificate_names_no_other_instance(cluster: AuroraLikeCluster) -> None:
    first, second = cluster.readers
    url = sqlalchemy.engine.make_url(second.database_url()).set(host=first.host)
    with pytest.raises(HostnameMismatchError):
        rows(url, "SELECT 1")


def test_readers_replicate_the_writer_and_refuse_writes(cluster: AuroraLikeCluster) -> None:
    writer = cluster.writer.database_url()
    rows(writer, "CREATE TABLE IF NOT EXISTS seen (id serial PRIMARY KEY)")
    ((written,),) = rows(writer, "INSERT INTO seen DEFAULT VALUES RETURNING id")
    cluster.wait_replicated()
    for reader in cluster.readers:
        assert rows(reader.database_url(), "SELECT max(id) FROM seen") == [(written,)]
        with pytest.raises(sqlalchemy.exc.InternalError, match="read-only transaction"):
            rows(reader.database_url(), "INSERT INTO seen DEFAULT VALUES")


def test_the_topology_functions_answer_like_aurora(cluster: AuroraLikeCluster) -> None:
    writer = _id(cluster.writer)
    expected = sorted((_id(i), _id(i) == writer) for i in cluster.instances)
    for instance in cluster.instances:
        url = instance.database_url()
        topology = rows(url, TOPOLOGY)
        assert sorted((r.server_id, r.is_writer) for r in topology) == expected
        for row in topology:
            assert (row.last_update_timestamp is None) is (row.server_id == _id(instance))
            assert row.lag == 0
        assert [r[0] for r in rows(url, AM_I_THE_WRITER)] == (
            [writer] if instance is cluster.writer else []
        )
        engine = aurora_ssl.create_engine(url)
        try:
            with engine.connect() as conn:
                result = conn.exec_driver_sql("SELECT * FROM pg_catalog.aurora_replica_status()")
                assert list(result.keys()) == COLUMNS
                sessions = {r.server_id: r.session_id for r in result}
        finally:
            engine.dispose()
        assert sessions[writer] == "MASTER_SESSION_ID"
        for name, session in sessions.items():
            if name != writer:
                uuid.UUID(session)  # a reader's session id is a UUID, as on Aurora


@pytest.mark.driver("psycopg")  # psycopg 3 resolves host names in Python; psycopg2's libpq does not
def test_resolve_routes_the_endpoint_names(cluster: AuroraLikeCluster) -> None:
    url = cluster.writer.database_url("postgresql+psycopg")
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(CLUSTER_HOST, 5432)
    with cluster.resolve():
        writer = rows(_without_hostaddr(url, CLUSTER_HOST), WHO)[0]
        reader = rows(_without_hostaddr(url, READER_HOST), WHO)[0]
        for instance in cluster.instances:
            assert rows(_without_hostaddr(url, instance.host), WHO)[0][0] == _id(instance)
        assert socket.getaddrinfo("localhost", 5432)  # other names resolve as before
    assert (writer[0], writer[1]) == (_id(cluster.writer), False)
    assert reader[1] is True
    assert reader[0] in {_id(r) for r in cluster.readers}
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(CLUSTER_HOST, 5432)


@pytest.mark.slow
def test_failover_promotes_a_reader(cluster: AuroraLikeCluster) -> None:
    old, target = cluster.writer, cluster.readers[-1]
    engine = aurora_ssl.create_engine(old.database_url())
    try:
        with engine.connect() as before:
            started = time.monotonic()
            assert cluster.failover(_id(target)) is target
            took = time.monotonic() - started
            with pytest.raises(sqlalchemy.exc.OperationalError):
                before.exec_driver_sql("SELECT 1").all()  # the old writer's sessions are cut
    finally:
        engine.dispose()
    assert took < 10, f"failover took {took:.1f}s"
    assert cluster.writer is target
    assert old in cluster.readers  # back as a reader of the new writer
    assert rows(target.database_url(), WHO)[0][1] is False
    rows(target.database_url(), "CREATE TABLE IF NOT EXISTS after_failover (x int)")
    cluster.wait_replicated()
    for instance in cluster.instances:
        url = instance.database_url()
        assert rows(url, AM_I_THE_WRITER) == ([(_id(target),)] if instance is target else [])
        assert rows(url, "SELECT count(*) FROM after_failover")[0][0] == 0  # the table is there
    assert sorted(cluster.topology()) == sorted((_id(i), i is target) for i in cluster.instances)


@pytest.mark.slow
def test_failover_without_rejoin_leaves_the_old_writer_down(tls_server: AuroraLikeServer) -> None:
    with AuroraLikeCluster(readers=1, pki=tls_server.pki) as cluster:
        old, new = cluster.writer, cluster.readers[0]
        assert cluster.failover(rejoin=False) is new
        assert not old.running
        assert (cluster.writer, cluster.readers) == (new, [])
        assert sorted(cluster.topology()) == [("demo-instance-1", False), ("demo-instance-2", True)]
        with pytest.raises(TestServerError, match="no running reader"):
            cluster.failover()
