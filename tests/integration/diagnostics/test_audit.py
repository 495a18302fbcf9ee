"""``aurora-ssl audit``, ``aurora_ssl.audit()`` and ``check_aurora_ssl --audit``, for real.

Real servers, real sessions: a psql in plaintext, other clients on TLS, Unix-socket sessions of
the superuser, a role without ``pg_read_all_stats``, and an Aurora-like cluster. A session from
127.0.0.1 is a loopback one, which the audit lists apart and does not count, so the servers
here listen on this machine's other address (eth0's): their clients are not on loopback, as a
remote client is not. The audit's rules on sessions, and its answers without a server:
tests/unit/diagnostics/test_audit.py.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import aurora_ssl
from aurora_ssl._diagnostics._audit import Audit
from aurora_ssl.cli import main
from aurora_ssl.testing import CLUSTER_HOST, AuroraLikeCluster, AuroraLikeServer, Scenario, TestPKI
from aurora_ssl.testing._server import _find_bindir
from tests import ROOT, drivers
from tests.fix_cli import Capture
from tests.fix_servers import admin_execute, wait_for


def outside_address() -> str:
    """This machine's address on its default route: a client there is not on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # UDP: nothing is sent; the kernel picks a source
            address = str(probe.getsockname()[0])
        except OSError:
            address = ""
    if not address or ipaddress.ip_address(address).is_loopback:
        pytest.fail(
            "These tests need an IPv4 address of this machine other than loopback (eth0's, with "
            "a default route; see `ip -4 addr`), for clients whose sessions are not loopback "
            "ones: the audit lists loopback sessions apart and does not count them. Run them "
            "on a machine (or container) with a network interface."
        )
    return address


@pytest.fixture(scope="module")
def outside() -> str:
    return outside_address()


@pytest.fixture(scope="module")
def open_server(pki: TestPKI, outside: str) -> Iterator[AuroraLikeServer]:
    """rds.force_ssl = 0 (TLS on, plaintext accepted) on the outside address; the app role
    sees every session."""
    with AuroraLikeServer(Scenario.TLS_OPTIONAL, pki=pki, hostaddr=outside) as server:
        admin_execute(server, "GRANT pg_read_all_stats TO app")
        yield server


AUDITOR_PASSWORD = "auditor-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def forced_server(pki: TestPKI, outside: str) -> Iterator[AuroraLikeServer]:
    """rds.force_ssl = 1 on the outside address; the app role sees every session, the role
    ``auditor`` (no pg_read_all_stats) only its own."""
    with AuroraLikeServer(Scenario.GOOD, pki=pki, hostaddr=outside) as server:
        admin_execute(
            server,
            "GRANT pg_read_all_stats TO app",
            f"CREATE ROLE auditor LOGIN PASSWORD '{AUDITOR_PASSWORD}'",
        )
        yield server


def url(server: AuroraLikeServer, user: str | None = None, password: str | None = None) -> str:
    """The server's URL with the test bundle, optionally for another role."""
    text = server.url(drivers.libpq_drivername())
    if user:
        text = text.replace(f"//{server.user}:{server.password}@", f"//{user}:{password}@", 1)
    return f"{text}&aurora_ssl_bundle={server.pki.bundle_path}"


def _sessions(server: AuroraLikeServer, application_name: str) -> list[int]:
    """The pids of ``application_name``'s sessions, as the superuser sees them."""
    connection = drivers.libpq_connect(**server.admin_params())
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        )
        return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


@contextlib.contextmanager
def plaintext_psql(server: AuroraLikeServer, name: str = "plain-client") -> Iterator[None]:
    """A psql session with sslmode=disable, open until the block ends."""
    conninfo = (
        f"host={server.hostaddr} port={server.port} user={server.user} "
        f"dbname={server.database} sslmode=disable application_name={name}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    process = subprocess.Popen(
        [str(_find_bindir() / "psql"), "-X", "-q", "-d", conninfo],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**env, "PGPASSWORD": server.password},
    )
    assert process.stdin is not None
    assert process.stderr is not None
    try:
        deadline = time.monotonic() + 15
        while not _sessions(server, name):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the psql session did not appear"
            time.sleep(0.02)
        yield
    finally:
        process.stdin.close()
        process.wait(timeout=15)
        process.stderr.close()
        wait_for(lambda: not _sessions(server, name), f"{name}'s session to end", 15)


@contextlib.contextmanager
def tls_session(server: AuroraLikeServer, name: str, **params: str) -> Iterator[Any]:
    """A verify-full session of the app role (``params`` override the server's)."""
    connection = drivers.libpq_connect(
        **aurora_ssl.connection_params(
            {**server.params(), "application_name": name, **params},
            aurora_ssl.Options(bundle=str(server.pki.bundle_path)),
            driver=drivers.libpq_driver(),
        )
    )
    try:
        yield connection
    finally:
        connection.close()


def _by_name(sessions: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [s for s in sessions if s["application_name"] == name]
    assert len(found) == 1, sessions
    return found[0]


# ------------------------------------------------------------------------ the case


@pytest.mark.driver("libpq")
def test_a_plaintext_session_exits_3_and_is_listed(open_server: AuroraLikeServer) -> None:
    """`aurora-ssl audit` (the installed command, URL from DATABASE_URL) against a server
    with one plaintext psql session: exit 3, that session with ssl false, ours with true."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    with plaintext_psql(open_server):
        done = subprocess.run(
            [sys.executable, "-m", "aurora_ssl", "audit", "--format", "json"],
            env={**env, "DATABASE_URL": url(open_server)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 3, done.stderr
    document = json.loads(done.stdout)
    plain = _by_name(document["sessions"], "plain-client")
    own = _by_name(document["sessions"], "aurora-ssl audit")
    assert plain["ssl"] is False
    assert plain["client_addr"] == open_server.hostaddr
    assert own["ssl"] is True
    assert own["own"] is True
    assert own["tls_version"].startswith("TLSv1.")
    assert document["totals"]["plaintext"] == 1
    assert document["totals"]["hidden"] == 0
    assert document["instances"][0]["settings"]["rds.force_ssl"] == "0"
    assert open_server.password not in done.stdout + done.stderr


@pytest.mark.driver("libpq")
def test_the_text_names_the_plaintext_client_and_the_setting(
    open_server: AuroraLikeServer, capsys: Capture
) -> None:
    with plaintext_psql(open_server):
        code = main(["audit", url(open_server)])
    out = capsys.readouterr().out
    assert code == 3
    assert out.startswith("NOT ENCRYPTED - 1 session(s) without TLS")
    assert re.search(r"PLAINTEXT +pid \d+ +app@app plain-client from ", out), out
    assert "rds.force_ssl is 0, plaintext logins work" in out


# ------------------------------------------------------------------------ exit 0, 4


@pytest.mark.driver("libpq")
def test_every_session_on_tls_exits_0_and_local_ones_are_apart(
    forced_server: AuroraLikeServer,
) -> None:
    """From Python: a TLS client and ours count; a superuser on the Unix socket (plaintext, as
    a socket always is) is listed apart and changes nothing."""
    admin = drivers.libpq_connect(**forced_server.admin_params(), application_name="maintenance")
    try:
        with tls_session(forced_server, "tls-client"):
            result = aurora_ssl.audit(
                forced_server.params(),
                options=aurora_ssl.Options(bundle=str(forced_server.pki.bundle_path)),
            )
    finally:
        admin.close()
    assert isinstance(result, Audit)
    assert result.exit_status == 0, result.to_text()
    assert (result.plaintext, result.hidden) == (0, 0)
    assert result.tls >= 2
    names = {s.application_name: s for s in result.sessions}
    assert names["tls-client"].ssl is True
    assert names["aurora-ssl audit"].own
    maintenance = [s for s in result.local_sessions if s.application_name == "maintenance"]
    assert maintenance
    assert maintenance[0].ssl is False
    assert maintenance[0].client_addr is None
    settings = result.instances[0].settings
    assert settings["rds.force_ssl"] == "1"
    assert settings["password_encryption"] == "scram-sha-256"


@pytest.mark.driver("libpq")
def test_hidden_sessions_exit_4_and_name_the_grant(
    forced_server: AuroraLikeServer, capsys: Capture
) -> None:
    """As a role without pg_read_all_stats, the app's TLS session is hidden: its ssl is null
    and the audit cannot say it is encrypted."""
    with tls_session(forced_server, "tls-client"):
        code = main(["audit", url(forced_server, "auditor", AUDITOR_PASSWORD), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 4
    hidden = _by_name(document["sessions"], "tls-client")
    assert hidden["ssl"] is None
    assert hidden["client_addr"] is None
    assert hidden["backend_type"] is None
    assert hidden["user"] == "app"
    assert _by_name(document["sessions"], "aurora-ssl audit")["ssl"] is True
    assert document["totals"]["plaintext"] == 0
    assert document["totals"]["hidden"] >= 1
    assert document["instances"][0]["sees_all"] is False
    hint = " ".join(document["messages"])
    assert "GRANT pg_read_all_stats TO auditor" in hint
    assert "rds_superuser" in hint


# ------------------------------------------------------------------------ Aurora


@pytest.mark.driver("psycopg")  # the cluster's names resolve in-process, for psycopg 3
def test_every_instance_of_a_cluster_is_audited(
    aurora_cluster: AuroraLikeCluster, capsys: Capture
) -> None:
    cluster = aurora_cluster
    suffix = uuid.uuid4().hex[:8]
    sees_all, blind = f"auditor_all_{suffix}", f"auditor_{suffix}"
    admin_execute(
        cluster.writer,
        f"CREATE ROLE {sees_all} LOGIN PASSWORD '{AUDITOR_PASSWORD}' IN ROLE pg_read_all_stats",
        f"CREATE ROLE {blind} LOGIN PASSWORD '{AUDITOR_PASSWORD}'",
    )
    cluster.wait_replicated()
    reader = cluster.readers[-1]
    reader_id = reader.host.split(".")[0]

    def audit_as(user: str) -> tuple[int, dict[str, Any]]:
        base = cluster.writer.url("postgresql+psycopg").split("?")[0]
        base = base.replace(
            f"//{cluster.writer.user}:{cluster.writer.password}@", f"//{user}:{AUDITOR_PASSWORD}@"
        )
        with cluster.resolve():
            code = main(
                ["audit", f"{base}?aurora_ssl_bundle={cluster.pki.bundle_path}", "--format", "json"]
            )
        return code, json.loads(capsys.readouterr().out)

    with tls_session(reader, "reader-client"):
        code, seen = audit_as(sees_all)
        blind_code, unseen = audit_as(blind)

    instances = {i["instance_id"]: i for i in seen["instances"]}
    assert set(instances) == {s.host.split(".")[0] for s in cluster.instances}
    assert [i["writer"] for i in seen["instances"]].count(True) == 1
    assert instances[cluster.writer.host.split(".")[0]]["writer"] is True
    for instance_id, instance in instances.items():
        assert instance["host"].startswith(f"{instance_id}.") or instance["host"] == CLUSTER_HOST
        own = [s for s in seen["local_sessions"] if s["instance"] == instance_id and s["own"]]
        assert len(own) == 1
        assert own[0]["ssl"] is True
    # On 127.0.0.x every client is a loopback one: listed apart, not counted.
    assert code == 0
    assert seen["totals"] == {
        "tls": 0,
        "plaintext": 0,
        "hidden": 0,
        "local": len(seen["local_sessions"]),
    }
    client = _by_name(seen["local_sessions"], "reader-client")
    assert client["instance"] == reader_id
    assert client["ssl"] is True
    walsenders = [s for s in seen["local_sessions"] if s["backend_type"] == "walsender"]
    assert len(walsenders) == len(cluster.readers)
    assert not any(s["ssl"] for s in walsenders)

    assert blind_code == 4
    hidden = _by_name(unseen["sessions"], "reader-client")
    assert hidden["instance"] == reader_id
    assert hidden["ssl"] is None
    writer_id = cluster.writer.host.split(".")[0]  # its walsenders are hidden too
    assert {writer_id, reader_id} <= {s["instance"] for s in unseen["sessions"] if s["ssl"] is None}


# ------------------------------------------------------------------------ the document


def _documented_keys() -> dict[str, set[str]]:
    """The keys docs/reference/json.md lists for the audit, per table (``document``,
    ``session``, ``instance``)."""
    text = (ROOT / "docs" / "reference" / "json.md").read_text(encoding="utf-8")
    section = text.split("## `aurora-ssl audit`", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, set[str]] = {}
    for block in section.split("\n| key ")[1:]:
        name = block.split("|", 1)[0].strip().strip("()")
        cells = [row.split("|")[1] for row in block.splitlines() if row.startswith("| `")]
        tables[name] = {key for cell in cells for key in re.findall(r"`([^`]+)`", cell)}
    return tables


@pytest.mark.driver("libpq")
def test_the_json_document_has_exactly_the_documented_keys(
    forced_server: AuroraLikeServer, capsys: Capture
) -> None:
    admin = drivers.libpq_connect(**forced_server.admin_params())
    try:
        code = main(["audit", url(forced_server), "--format", "json"])
    finally:
        admin.close()
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["ok"] is True
    assert document["exit_status"] == 0
    documented = _documented_keys()
    assert set(document) == documented["document"]
    assert set(document["totals"]) == {"tls", "plaintext", "hidden", "local"}
    assert document["sessions"]
    assert document["local_sessions"]
    for session in document["sessions"] + document["local_sessions"]:
        assert set(session) == documented["session"]
    assert set(document["instances"][0]) == documented["instance"]


# ------------------------------------------------------------------------ Django


@pytest.mark.usefixtures("django_env")
def test_check_aurora_ssl_audit(
    open_server: AuroraLikeServer, forced_server: AuroraLikeServer
) -> None:
    """Through Django's own connection for the alias; the exit status is the audit's."""
    pytest.importorskip("django")
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.fix_django import database_entry, use_databases

    out = io.StringIO()
    with use_databases({"default": database_entry(forced_server)}):
        call_command("check_aurora_ssl", "--audit", stdout=out, no_color=True)
    assert out.getvalue().startswith("ENCRYPTED - every session uses TLS")

    out = io.StringIO()
    with (
        plaintext_psql(open_server),
        use_databases({"default": database_entry(open_server)}),
        pytest.raises(CommandError) as failed,
    ):
        call_command(
            "check_aurora_ssl", "--audit", "--database", "default", "--format", "json", stdout=out
        )
    assert failed.value.returncode == 3
    assert "NOT ENCRYPTED" in str(failed.value)
    document = json.loads(out.getvalue())
    assert _by_name(document["sessions"], "plain-client")["ssl"] is False
    assert [s["ssl"] for s in document["sessions"] if s["own"]] == [True]


@pytest.mark.driver("psycopg")  # Django picks psycopg 3; the cluster's names resolve for it
@pytest.mark.usefixtures("django_env")
def test_check_aurora_ssl_audits_every_instance(aurora_cluster: AuroraLikeCluster) -> None:
    pytest.importorskip("django")
    from django.core.management import call_command

    from tests.fix_django import database_entry, use_databases

    role = f"auditor_django_{uuid.uuid4().hex[:8]}"
    admin_execute(
        aurora_cluster.writer,
        f"CREATE ROLE {role} LOGIN PASSWORD '{AUDITOR_PASSWORD}' IN ROLE pg_read_all_stats",
    )
    aurora_cluster.wait_replicated()
    entry = database_entry(
        aurora_cluster.writer, HOST=CLUSTER_HOST, USER=role, PASSWORD=AUDITOR_PASSWORD
    )
    del entry["OPTIONS"]["hostaddr"]
    out = io.StringIO()
    with aurora_cluster.resolve(), use_databases({"default": entry}):
        call_command("check_aurora_ssl", "--audit", "--format", "json", stdout=out)
    document = json.loads(out.getvalue())
    assert {i["instance_id"] for i in document["instances"]} == {
        s.host.split(".")[0] for s in aurora_cluster.instances
    }
    own = [s["instance"] for s in document["local_sessions"] if s["own"]]
    assert sorted(own) == sorted(i["instance_id"] for i in document["instances"])
