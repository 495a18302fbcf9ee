"""An Aurora-like cluster: a writer and hot-standby readers that answer Aurora's topology SQL.

Why: failover and cluster-wide audits are what Aurora users depend on, and the tools that
implement them (AWS's Advanced Python Wrapper) find the instances by asking the server:
``pg_catalog.aurora_replica_status()`` (one row per instance; the writer's ``session_id`` is
``MASTER_SESSION_ID``) and ``pg_catalog.aurora_db_instance_identifier()``, and tell the roles
apart with ``pg_is_in_recovery()``. Here each instance is its own PostgreSQL process on its
own loopback address (127.0.0.2, .3, ...) and the same port, as the instance endpoints of a
real cluster are; the readers are real streaming-replication standbys of the writer. The
topology is a table in the application database, written on the writer and so replicated to
every reader; each instance knows its own name from the ``aurora_ssl.instance_id`` setting.

Every certificate names its instance's endpoint and both cluster endpoints (the writer and
reader endpoints move between instances on failover). The names do not resolve:
:meth:`AuroraLikeCluster.resolve` maps them to the instances' addresses in-process, for
clients that resolve host names in Python (psycopg 3, asyncpg, pg8000; not psycopg2, whose
libpq resolves in C: give it ``hostaddr``).
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from unittest import mock

from aurora_ssl.errors import TestServerError
from aurora_ssl.testing._pki import CLUSTER_HOST, INSTANCE_HOST, READER_HOST, TestPKI
from aurora_ssl.testing._server import AuroraLikeServer, _new_pki, _poll

# Streaming replication; commits written at once (not ~200 ms later) so that a reader can be
# waited for: what the writer reports as written includes every commit.
_REPLICATION = {
    "wal_level": "replica",
    "max_wal_senders": "10",
    "synchronous_commit": "on",
}

# Aurora's result shapes (AWS documentation of aurora_replica_status); the values a local
# cluster cannot know are NULL. The instance asked reports no last_update_timestamp, as Aurora
# PostgreSQL does since 13.9.
_TOPOLOGY_SQL = """
CREATE SCHEMA aurora_ssl_testing;
CREATE TABLE aurora_ssl_testing.instances (server_id text PRIMARY KEY, is_writer boolean NOT NULL);
GRANT USAGE ON SCHEMA aurora_ssl_testing TO PUBLIC;
GRANT SELECT ON aurora_ssl_testing.instances TO PUBLIC;
CREATE FUNCTION pg_catalog.aurora_db_instance_identifier() RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT pg_catalog.current_setting('aurora_ssl.instance_id') $$;
CREATE FUNCTION pg_catalog.aurora_replica_status() RETURNS TABLE (
    server_id text, session_id text, durable_lsn bigint, highest_lsn_rcvd bigint,
    current_read_lsn bigint, cur_replay_latency_in_usec bigint, active_txns integer,
    is_current boolean, last_transport_error integer, last_error_timestamp timestamptz,
    last_update_timestamp timestamptz, feedback_xmin bigint, feedback_epoch integer,
    replica_lag_in_msec real, log_stream_speed_in_kib_per_second real,
    log_buffer_sequence_number bigint, oldest_read_view_trx_id bigint,
    oldest_read_view_lsn bigint, pending_read_ios bigint, read_ios bigint, iops integer,
    cpu real
) LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM aurora_ssl_testing.instances ORDER BY 1 LOOP
        server_id := r.server_id;
        session_id := CASE WHEN r.is_writer THEN 'MASTER_SESSION_ID'
                           ELSE pg_catalog.md5(r.server_id)::uuid::text END;
        last_update_timestamp := CASE WHEN r.server_id <> pg_catalog.aurora_db_instance_identifier()
                                      THEN pg_catalog.now() END;
        replica_lag_in_msec := CASE WHEN NOT r.is_writer THEN 0 END;
        cpu := 0;
        RETURN NEXT;
    END LOOP;
END
$$;
INSERT INTO aurora_ssl_testing.instances
SELECT 'demo-instance-' || n, n = 1 FROM pg_catalog.generate_series(1, {size:d}) AS n;
"""


class AuroraLikeCluster:
    """A writer and ``readers`` hot standbys, with Aurora's topology functions and endpoints.

    Args:
        readers: how many reader instances (hot standbys of the writer).
        pki: the PKI for every instance's certificate (default: an ``rsa2048`` one; give a
            :meth:`TestPKI.generate` of another family for that family).
        bindir: the PostgreSQL build (as for :class:`AuroraLikeServer`).
        settings: extra ``postgresql.conf`` settings for every instance.

    The application role's password is random (:attr:`AuroraLikeServer.password`).

    Instance ``n`` is called ``demo-instance-n`` (``aurora_db_instance_identifier()``), has
    the endpoint ``demo-instance-n.abc123xyz.test-region-1.rds.amazonaws.com`` and listens
    on ``127.0.0.<n+1>``; instance 1 starts as the writer. :meth:`failover` moves the writer
    role as Aurora does.

    Attributes:
        pki: the PKI every instance's certificate comes from.
        instances: every instance, in instance-number order (whatever its role now).
    """

    __test__ = False

    def __init__(
        self,
        readers: int = 2,
        *,
        pki: TestPKI | None = None,
        bindir: Path | str | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        if not 0 <= readers <= 15:
            raise ValueError(f"an Aurora cluster has 0 to 15 readers, not {readers}")
        self.pki = pki if pki is not None else _new_pki("rsa2048")
        self._size, self._bindir = readers + 1, bindir
        self._settings = {**_REPLICATION, **(settings or {})}
        self.instances: list[AuroraLikeServer] = []

    @property
    def writer(self) -> AuroraLikeServer:
        """The instance that is the writer now."""
        writers = [i for i in self.instances if i.running and i._primary is None]
        if len(writers) != 1:
            raise TestServerError(f"the cluster has {len(writers)} running writers, not 1")
        return writers[0]

    @property
    def readers(self) -> list[AuroraLikeServer]:
        """The running reader instances."""
        return [i for i in self.instances if i.running and i._primary is not None]

    def instance(self, instance_id: str) -> AuroraLikeServer:
        """The instance named ``instance_id`` (e.g. ``demo-instance-2``)."""
        by_id = {i.host.split(".")[0]: i for i in self.instances}
        if instance_id not in by_id:
            raise KeyError(f"no instance {instance_id!r} in {list(by_id)}")
        return by_id[instance_id]

    def start(self) -> AuroraLikeCluster:
        """Start the writer, create the topology, then clone and start each reader."""
        if self.instances:
            return self
        try:
            writer = self._instance(1, None).start()
            writer._psql(writer.database, _TOPOLOGY_SQL.format(size=self._size))
            for number in range(2, self._size + 1):
                self._instance(number, writer).start()
            self.wait_replicated()
        except BaseException:
            self.stop()
            raise
        return self

    __enter__ = start

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every instance and remove its files."""
        for server in reversed(self.instances):
            server.stop()
        self.instances.clear()

    def failover(self, target: str | None = None, *, rejoin: bool = True) -> AuroraLikeServer:
        """Fail over to a reader, as Aurora does; returns the new writer.

        The writer shuts down (fast: open sessions are cut), the target is promoted, the
        topology rows name it the writer, and the other readers follow it. With ``rejoin``
        the old writer comes back as a reader of the new one; otherwise it stays down.

        Args:
            target: the instance id to promote (default: the first running reader).
        """
        old = self.writer
        new = self.instance(target) if target else next(iter(self.readers), None)
        if new is None or new not in self.readers:
            raise TestServerError(f"no running reader to fail over to ({target or 'any'})")
        self.wait_replicated()  # every reader gets the writer's last WAL as it shuts down
        old._shutdown(signal.SIGINT)
        if new._psql("postgres", "SELECT pg_catalog.pg_promote(true, 60);").strip() != "t":
            raise new._failed("The standby was not promoted in 60 s")
        new._primary = None
        new._psql(
            new.database,
            "UPDATE aurora_ssl_testing.instances "
            "SET is_writer = (server_id = pg_catalog.aurora_db_instance_identifier());\n",
        )
        # The readers restart as hot standbys of the new writer, as Aurora's do; the old writer
        # too (after its clean shutdown it follows the new writer's timeline).
        for reader in [*self.readers, old] if rejoin else self.readers:
            reader._primary = new
            (reader.data_dir / "standby.signal").touch()  # new for the old writer
            reader.restart()
        self.wait_replicated()
        return new

    def wait_replicated(self, timeout: float = 30.0) -> None:
        """Return once every running reader streams from the writer and has replayed all it
        has written.

        Streaming matters beyond the data: a writer that shuts down sends its last WAL only to
        the readers connected then, and a reader that missed it cannot follow a new writer.
        """
        writer, readers = self.writer, self.readers
        deadline = time.monotonic() + timeout

        def until(server: AuroraLikeServer, query: str, answer: str, what: str) -> None:
            left = deadline - time.monotonic()
            if not _poll(lambda: server._psql("postgres", query).strip() == answer, left, 0.02):
                raise TestServerError(
                    f"{server.host}: {what} not within {timeout:.0f}s; its log: {server.log_path}"
                )

        streaming = "SELECT count(*) FROM pg_catalog.pg_stat_replication WHERE state = 'streaming'"
        until(writer, streaming, str(len(readers)), f"{len(readers)} readers streaming")
        lsn = writer._psql("postgres", "SELECT pg_catalog.pg_current_wal_lsn();\n").strip()
        for reader in readers:
            replayed = f"SELECT pg_catalog.pg_last_wal_replay_lsn() >= '{lsn}';\n"
            until(reader, replayed, "t", f"replayed up to {lsn}")

    def topology(self) -> list[tuple[str, bool]]:
        """``(server_id, is_writer)`` per row of ``aurora_replica_status()`` on the writer."""
        writer = self.writer
        rows = writer._psql(
            writer.database,
            "SELECT server_id, session_id = 'MASTER_SESSION_ID' "
            "FROM pg_catalog.aurora_replica_status();\n",
        )
        return [(name, flag == "t") for name, flag in (r.split("|") for r in rows.split())]

    def resolve(self) -> AbstractContextManager[Any]:
        """Resolve this cluster's endpoint names in this process (``socket.getaddrinfo``).

        Instance endpoints resolve to their instance, the cluster endpoint to the writer and
        the reader endpoint to the first running reader (the writer when there is none); other
        names as before. Meant for a test's duration: the patch is process-wide.
        """
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host == CLUSTER_HOST:
                host = self.writer.hostaddr
            elif host == READER_HOST:
                host = (self.readers or [self.writer])[0].hostaddr
            else:
                host = next((i.hostaddr for i in self.instances if i.host == host), host)
            return real(host, *args, **kwargs)

        return mock.patch.object(socket, "getaddrinfo", getaddrinfo)

    def _instance(self, number: int, primary: AuroraLikeServer | None) -> AuroraLikeServer:
        host = INSTANCE_HOST.replace("-instance-1.", f"-instance-{number}.", 1)
        server = AuroraLikeServer(
            pki=self.pki,
            settings={**self._settings, "aurora_ssl.instance_id": host.split(".")[0]},
            port=0 if primary is None else primary.port,
            host=host,
            hostaddr=f"127.0.0.{number + 1}",
            bindir=self._bindir,
            password=None if primary is None else primary.password,
        )
        server._primary = primary  # a reader: a base backup of the writer, then streaming
        server.use_certificate(names=[host, CLUSTER_HOST, READER_HOST])
        self.instances.append(server)
        return server
