"""AWS's wrapper with aurora-ssl's plugin on an Aurora-like cluster: failover, monitoring,
read/write splitting, a failover target that presents a look-alike certificate.

One cluster for the module (a writer and two hot-standby readers, each on its own loopback
address with its own instance certificate, logging every connection); the tests fail it over
in turn, so each asks the cluster who the writer is now. Every test proves the same property
from the servers' side: each login any instance saw was made over TLS and matches a
"verified" record of the plugin; a refused one left no login.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

import aurora_ssl
from aurora_ssl.testing import CLUSTER_HOST, READER_HOST, AuroraLikeCluster, TestPKI
from tests.fix_servers import log_since

pytest.importorskip("aws_advanced_python_wrapper")
pytest.importorskip("psycopg")
pytest.importorskip("sqlalchemy")
from aurora_ssl import aws_wrapper

pytestmark = [pytest.mark.driver("psycopg"), pytest.mark.slow]
LOGIN = re.compile(r"connection authorized: user=app database=app(?: application_name=(\S+))?(.*)")
WHO = "SELECT pg_catalog.aurora_db_instance_identifier(), pg_catalog.pg_is_in_recovery()"
#: The wrapper's properties that keep these tests short (seconds, not its minutes).
FAST = {
    "wrapper_dialect": "aurora-pg",
    "failover_timeout_sec": 8,
    "cluster_topology_high_refresh_rate_ms": 50,
    "topology_refresh_ms": 500,
    "connect_timeout": 3,
}


@pytest.fixture(scope="module")
def logged_cluster(pki: TestPKI) -> Iterator[AuroraLikeCluster]:
    from aws_advanced_python_wrapper.aurora_connection_tracker_plugin import (
        AuroraConnectionTrackerPlugin,
    )

    with AuroraLikeCluster(readers=2, pki=pki, settings={"log_connections": "on"}) as cluster:
        yield cluster
    # For three minutes after a failover the wrapper's connection tracker (process-wide)
    # expects topology changes, and closes a new cluster-endpoint connection whose writer
    # it then finds under its instance name: later tests (the failover guide's) start clean.
    AuroraConnectionTrackerPlugin._host_list_refresh_end_time_nano = 0


@pytest.fixture
def resolved(logged_cluster: AuroraLikeCluster, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    """The cluster's names resolve; the plugin's records are captured; the wrapper's monitors
    are released afterwards (they are process-wide)."""
    from aws_advanced_python_wrapper import release_resources

    caplog.set_level(logging.DEBUG, logger="aurora_ssl.connections")
    with logged_cluster.resolve():
        yield logged_cluster
        release_resources()


class Logins:
    """What every instance logged from now on (the app role's logins), and the plugin's
    records from now on."""

    def __init__(self, cluster: AuroraLikeCluster, caplog: pytest.LogCaptureFixture) -> None:
        self.cluster, self.caplog = cluster, caplog
        self.offsets = {s.host: s.log_path.stat().st_size for s in cluster.instances}
        self.first_record = len(caplog.records)

    def by_instance(self) -> dict[str, list[tuple[str, str]]]:
        """``{instance host: [(application_name, the rest of the line)]}``."""
        found: dict[str, list[tuple[str, str]]] = {}
        for server in self.cluster.instances:
            text = log_since(server, self.offsets[server.host])
            found[server.host] = [(m[1] or "", m[2]) for m in LOGIN.finditer(text)]
        return found

    def records(self, outcome: str) -> list[Any]:
        return [
            r
            for r in self.caplog.records[self.first_record :]
            if r.name == "aurora_ssl.connections" and r.aurora_ssl_outcome == outcome
        ]

    def assert_every_login_verified(self) -> None:
        """Each app login any instance saw was over TLS and is one of the plugin's verified
        connections to that instance (so none bypassed the plugin). The wrapper's monitors
        are stopped first; one caught between its login and the plugin's record gets a
        moment to finish."""
        from aws_advanced_python_wrapper import release_resources

        release_resources()
        deadline = time.monotonic() + 3
        while True:
            verified = [r.server_host for r in self.records("verified")]
            logins = self.by_instance()
            counts = {host: (len(lines), verified.count(host)) for host, lines in logins.items()}
            if all(a == b for a, b in counts.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for host, lines in logins.items():
            assert all("SSL enabled (protocol=TLS" in rest for _, rest in lines), (host, lines)
        assert all(a == b for a, b in counts.values()), counts


def engine_for(
    cluster: AuroraLikeCluster, pki: TestPKI, host: str = CLUSTER_HOST, **args: Any
) -> Any:
    writer = cluster.writer
    url = f"postgresql+aws_wrapper_psycopg://app:{quote(writer.password)}@{host}:{writer.port}/app"
    return aurora_ssl.create_engine(
        url, aurora_ssl_bundle=str(pki.bundle_path), connect_args={**FAST, **args}
    )


def query(engine: Any, sql: str = WHO) -> Any:
    with engine.connect() as conn:
        row = conn.exec_driver_sql(sql).one()
        conn.commit()
        return tuple(row)


def test_failover_reconnects_to_the_new_writer_over_verified_tls(
    resolved: AuroraLikeCluster, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = resolved
    old = cluster.writer
    engine = engine_for(cluster, pki, host=old.host)
    assert query(engine) == (old.host.split(".")[0], False)
    logins = Logins(cluster, caplog)
    new = cluster.failover()
    sqlalchemy = pytest.importorskip("sqlalchemy")
    with pytest.raises(sqlalchemy.exc.DBAPIError, match=r"(?i)failover|transaction resolution"):
        query(engine)  # the wrapper reports the switch once, as it documents
    assert query(engine) == (new.host.split(".")[0], False)  # the next query runs on it
    engine.dispose()
    new_logins = logins.by_instance()[new.host]
    assert new_logins
    assert all("SSL enabled (protocol=TLS" in rest for _, rest in new_logins)
    assert new.host in {r.server_host for r in logins.records("verified")}
    assert not logins.records("refused")
    logins.assert_every_login_verified()


def test_monitoring_connections_are_verified_too(
    resolved: AuroraLikeCluster, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = resolved
    logins = Logins(cluster, caplog)
    engine = engine_for(
        cluster, pki, host=cluster.writer.host,
        application_name="app",
        failure_detection_time_ms=100, failure_detection_interval_ms=100,
        **{"monitoring-application_name": "efm-monitor",
           "topology-monitoring-application_name": "topology-monitor"},
    )  # fmt: skip
    # Host monitoring takes up a query after failure_detection_time_ms, rounded up to whole
    # seconds, and looks for new queries once a second: this one lasts long enough.
    query(engine, "SELECT pg_sleep(2.5)")
    engine.dispose()
    names = {name for lines in logins.by_instance().values() for name, _ in lines}
    assert {"app", "efm-monitor", "topology-monitor"} <= names
    assert not logins.records("refused")
    logins.assert_every_login_verified()


def test_a_failover_target_with_a_look_alike_certificate_is_refused(
    resolved: AuroraLikeCluster, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = resolved
    target = cluster.readers[0]
    names = [target.host, CLUSTER_HOST, READER_HOST]
    engine = engine_for(cluster, pki, host=cluster.writer.host, failover_timeout_sec=3)
    query(engine)
    target.use_certificate(foreign=True, names=names)
    try:
        logins = Logins(cluster, caplog)
        cluster.failover(target.settings["aurora_ssl.instance_id"])
        sqlalchemy = pytest.importorskip("sqlalchemy")
        with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
            query(engine)
        engine.dispose()
    finally:
        target.use_certificate(names=names)
    assert "FailoverFailedError" in str(raised.value)
    assert logins.by_instance()[target.host] == []  # no login: no password reached it
    refused = [r for r in logins.records("refused") if r.server_host == target.host]
    assert refused
    assert all("UntrustedCertificateError" in r.getMessage() for r in refused)
    logins.assert_every_login_verified()


def test_read_write_splitting_reads_from_a_verified_reader(
    resolved: AuroraLikeCluster, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = resolved
    writer = cluster.writer
    logins = Logins(cluster, caplog)
    with aws_wrapper.connect(
        host=writer.host, port=writer.port, user="app", password=writer.password, dbname="app",
        aurora_ssl_bundle=str(pki.bundle_path), plugins="read_write_splitting,failover_v2",
        **FAST,
    ) as conn:  # fmt: skip
        conn.read_only = True
        cursor = conn.cursor()
        cursor.execute(WHO)
        reader_id, in_recovery = cursor.fetchone()
        conn.commit()
        conn.read_only = False
        cursor = conn.cursor()
        cursor.execute(WHO)
        assert cursor.fetchone() == (writer.host.split(".")[0], False)
    assert in_recovery is True
    reader = cluster.instance(reader_id)
    assert reader.host in {r.server_host for r in logins.records("verified")}
    assert logins.by_instance()[reader.host]
    logins.assert_every_login_verified()


def test_a_hostaddr_copied_to_other_instances_is_refused(
    resolved: AuroraLikeCluster, pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = resolved
    writer = cluster.writer
    logins = Logins(cluster, caplog)
    with aws_wrapper.connect(
        host=writer.host, hostaddr=writer.hostaddr, port=writer.port, user="app",
        password=writer.password, dbname="app", aurora_ssl_bundle=str(pki.bundle_path),
        plugins="read_write_splitting", **FAST,
    ) as conn:  # fmt: skip
        conn.read_only = True  # the wrapper tries the readers, with the writer's hostaddr
        cursor = conn.cursor()
        cursor.execute(WHO)
        assert cursor.fetchone() == (writer.host.split(".")[0], False)  # it stayed
    refused = logins.records("refused")
    assert refused
    assert {r.server_host for r in refused} <= {r.host for r in cluster.readers}
    assert all("InsecureConfigurationError" in r.getMessage() for r in refused)
    logins.assert_every_login_verified()
