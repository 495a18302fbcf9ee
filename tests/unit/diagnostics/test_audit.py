"""``aurora-ssl audit`` and ``aurora_ssl.audit()`` without a server: the exit status of a set of
sessions, which sessions are local, the instance endpoints of a cluster, bad input (exit 2) and
an unreachable server (exit 1).

The audit of real servers and real sessions: tests/integration/diagnostics/test_audit.py.
"""

from __future__ import annotations

import json
import re
import socket

import pytest

import aurora_ssl
from aurora_ssl._diagnostics._audit import Audit, Session, instance_endpoint
from aurora_ssl.cli import main
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.testing import CLUSTER_HOST, TestPKI
from tests.fix_cli import Capture


def _session(ssl: bool | None, kind: str | None = "client backend") -> Session:
    return Session("i", 1, "u", "d", "a", "10.0.0.5", kind, ssl, None, None, None, False)


@pytest.mark.parametrize(
    ("sessions", "status"),
    [
        ([_session(True)], 0),
        ([_session(True), _session(False)], 3),
        ([_session(True), _session(None, None)], 4),
        ([_session(False), _session(None, None)], 3),  # a plaintext session seen decides
    ],
)
def test_exit_status(sessions: list[Session], status: int) -> None:
    assert Audit([], sessions, []).exit_status == status


@pytest.mark.parametrize(
    ("address", "local"),
    [(None, True), ("127.0.0.1", True), ("127.0.0.3", True), ("::1", True),
     ("::ffff:127.0.0.1", True), ("10.0.3.17", False), ("2001:db8::1", False)],
)  # fmt: skip
def test_unix_socket_and_loopback_sessions_are_local(address: str | None, local: bool) -> None:
    session = Session(
        "i", 1, "u", "d", "a", address, "client backend", False, None, None, None, False
    )
    assert session.local is local
    hidden = Session("i", 1, "u", "d", "a", None, None, None, None, None, None, False)
    assert not hidden.local  # a hidden session's address is unknown: never local


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com", "i-2.c9akciq32xyz.us-east-1"),
        ("mydb.cluster-ro-c9akciq32xyz.us-east-1.rds.amazonaws.com", "i-2.c9akciq32xyz.us-east-1"),
        ("x.cluster-custom-c9akciq32xyz.us-east-1.rds.amazonaws.com", "i-2.c9akciq32xyz.us-east-1"),
        ("i-1.c9akciq32xyz.cn-north-1.rds.amazonaws.com.cn", "i-2.c9akciq32xyz.cn-north-1"),
        ("mydb.proxy-c9akciq32xyz.us-east-1.rds.amazonaws.com", None),
        ("db.internal.example.com", None),
    ],
)
def test_instance_endpoints_are_built_from_the_cluster_domain(
    host: str, expected: str | None
) -> None:
    built = instance_endpoint(host, "i-2")
    assert (built.split(".rds.")[0] if built else None) == expected


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("postgresql://app@demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com/app"
         "?aurora_ssl_nope=1", "Unknown aurora-ssl option aurora_ssl_nope"),
        ("host=demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com port=abc",
         "not a port number"),
    ],
)  # fmt: skip
def test_bad_input_exits_2(target: str, says: str, capsys: Capture) -> None:
    assert main(["audit", target]) == 2
    assert says in capsys.readouterr().err
    with pytest.raises(InsecureConfigurationError, match=re.escape(says)):
        aurora_ssl.audit(target)


@pytest.mark.driver("libpq")
def test_an_unreachable_server_exits_1(pki: TestPKI, capsys: Capture) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    target = (
        f"postgresql://app:secret@{CLUSTER_HOST}:{port}/app?hostaddr=127.0.0.1"
        f"&aurora_ssl_bundle={pki.bundle_path}"
    )
    assert main(["audit", target, "--format", "json", "--connect-timeout", "5"]) == 1
    out, err = capsys.readouterr()
    assert f"Could not connect to {CLUSTER_HOST} to audit it" in err
    assert "this is a bug" not in err
    assert "secret" not in out + err
    assert json.loads(out)["ok"] is False
