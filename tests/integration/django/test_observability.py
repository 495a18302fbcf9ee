"""The trace of verification (log line, signal, is_protected) and the pool-timeout probe's
rate limit, against the real TLS server; the probe is counted in the server's own log
(``log_connections = on``), not by instrumenting our code.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from aurora_ssl.testing import AuroraLikeServer
from tests.fix_django import database_entry, pool_supported, use_databases
from tests.fix_servers import logins

POOL = {"min_size": 1, "max_size": 1, "timeout": 0.5}


def needs_pool() -> None:
    if not pool_supported():
        pytest.skip("Django's pool needs Django >= 5.1, psycopg 3 and psycopg_pool")


class Received:
    """A ``connection_verified`` receiver that keeps what it was sent."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append({"sender": sender, **kwargs})


@pytest.fixture
def received(django_env: None) -> Any:
    from django_aurora_ssl.signals import connection_verified

    receiver = Received()
    connection_verified.connect(receiver, weak=False)
    yield receiver
    connection_verified.disconnect(receiver)


@pytest.mark.parametrize("pool", [False, True], ids=["unpooled", "pooled"])
def test_one_log_line_and_one_signal_per_new_verified_connection(
    tls_server: AuroraLikeServer, received: Received, caplog: pytest.LogCaptureFixture, pool: bool
) -> None:
    if pool:
        needs_pool()
    options = {"pool": {"min_size": 1, "max_size": 1, "timeout": 3}} if pool else {}
    entry = database_entry(tls_server, options=options, aurora={"LOG_LEVEL": "INFO"})
    caplog.set_level(logging.INFO, logger="aurora_ssl.connections")
    with use_databases({"default": entry}):
        from django.db import connections

        wrapper = connections["default"]
        wrapper.ensure_connection()
        wrapper.close()
        wrapper.ensure_connection()  # pooled: the same physical connection, not announced
        wrapper.close()
        wrapper_class = type(wrapper)
    lines = [r for r in caplog.records if r.name == "aurora_ssl.connections"]
    assert len(lines) == (1 if pool else 2)
    text = lines[0].getMessage()
    for fact in (
        "verified TLS connection alias default",
        f"to {tls_server.host}:{tls_server.port}",
        "trust region:test-region-1",
        "TLSv1.",  # psycopg 3's too: read through libpq's PQsslAttribute
        "driver psycopg",
    ):
        assert fact in text, text
    assert lines[0].levelno == logging.INFO
    fields = lines[0].__dict__
    assert fields["aurora_ssl_outcome"] == "verified"
    assert fields["db_source"] == "alias default"
    assert (fields["server_host"], fields["aws_region"]) == (tls_server.host, "test-region-1")
    assert fields["tls_version"].startswith("TLSv1.")
    assert len(received.calls) == len(lines)
    call = received.calls[0]
    assert call["sender"] is wrapper_class
    assert call["alias"] == "default"
    assert call["pooled"] is pool
    assert call["client"].in_use
    assert call["tls_version"].startswith("TLSv1.")
    if not pool:  # the startup check asked the server on this connection
        assert call["server"].ssl
    assert call["params"]["sslmode"] == "verify-full"
    assert call["params"]["host"] == tls_server.host
    assert call["trust_scope"] == "region:test-region-1"
    assert "password" not in call["params"]
    assert tls_server.password not in repr(received.calls) + caplog.text


def test_the_default_level_is_debug(
    tls_server: AuroraLikeServer, django_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aurora_ssl.connections")
    with use_databases({"default": database_entry(tls_server)}):
        from django.db import connections

        connections["default"].ensure_connection()
    assert not [r for r in caplog.records if r.name == "aurora_ssl.connections"]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="aurora_ssl.connections")
    with use_databases({"default": database_entry(tls_server)}):
        from django.db import connections

        connections["default"].ensure_connection()
    assert [r.levelno for r in caplog.records if r.name == "aurora_ssl.connections"] == [
        logging.DEBUG
    ]


def test_a_failing_receiver_does_not_refuse_the_connection(
    tls_server: AuroraLikeServer, django_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    from django_aurora_ssl.signals import connection_verified

    def broken(sender: Any, **kwargs: Any) -> None:
        raise ValueError("metrics backend down")

    connection_verified.connect(broken, weak=False)
    try:
        with use_databases({"default": database_entry(tls_server)}):
            from django.db import connections

            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
                assert cursor.fetchone() == (1,)
    finally:
        connection_verified.disconnect(broken)
    # Django's send_robust logs the failure, naming the receiver and the error.
    (record,) = [r for r in caplog.records if r.name == "django.dispatch"]
    assert "broken" in record.getMessage()
    assert "metrics backend down" in record.getMessage()


def test_is_protected(tls_server: AuroraLikeServer, django_env: None) -> None:
    from django.db import connections
    from django.utils.connection import ConnectionDoesNotExist

    from django_aurora_ssl import is_protected

    plain = database_entry(tls_server, ENGINE="django.db.backends.postgresql")
    plain.pop("AURORA_SSL")
    databases = {
        "default": database_entry(tls_server),
        "plain": plain,
        "insecure": database_entry(tls_server, aurora={"INSECURE_LOCAL_DEV": True}),
        "subclass": database_entry(tls_server, ENGINE="tests.django_backends.provider"),
        "malformed": database_entry(tls_server, aurora={"IAM": "maybe"}),
    }
    with use_databases(databases):
        assert is_protected() is True  # not connected yet: by configuration
        connections["default"].ensure_connection()
        assert is_protected("default") is True  # connected: and the connection uses TLS
        assert is_protected("plain") is False
        assert is_protected("insecure") is False
        assert is_protected("subclass") is True
        assert is_protected("malformed") is False
        with pytest.raises(ConnectionDoesNotExist):
            is_protected("no-such-alias")


# -- the pool-timeout probe ---------------------------------------------------------------------


def _time_out_concurrently(alias: str, threads: int) -> list[BaseException]:
    """``threads`` requests at once on a pool whose only connection is taken."""
    from django.db import connections

    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def request() -> None:
        barrier.wait()
        try:
            connections[alias].ensure_connection()
        except BaseException as exc:  # noqa: BLE001 - the timeout is expected
            errors.append(exc)
        finally:
            connections[alias].close()

    workers = [threading.Thread(target=request) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.mark.parametrize("explain", [True, False], ids=["probe", "off"])
def test_concurrent_pool_timeouts_cause_one_probe(
    logged_server: AuroraLikeServer, django_env: None, explain: bool
) -> None:
    needs_pool()
    server = logged_server
    entry = database_entry(
        server, options={"pool": dict(POOL)}, aurora={"EXPLAIN_POOL_TIMEOUT": explain}
    )
    with use_databases({"default": entry}):
        from django.db import connections

        connections["default"].ensure_connection()  # holds the pool's only connection
        start = Path(server.log_path).stat().st_size
        first = _time_out_concurrently("default", 12)
        second = _time_out_concurrently("default", 12)  # within the interval: reused
        connections["default"].close()
    assert len(first) == len(second) == 12
    # Django wraps the driver's error: the pool's own timeout is the cause.
    assert {type(e.__cause__ or e).__name__ for e in first + second} == {"PoolTimeout"}
    # The server saw exactly one extra login for 24 timeouts (none with the switch off).
    assert logins(server, server.user, start) == (1 if explain else 0)


def test_the_probe_explanation_is_reused_and_raised_per_request(
    interception_server: AuroraLikeServer, django_env: None
) -> None:
    """The pool cannot connect to an impostor; every timeout gets the reason, from one probe."""
    needs_pool()
    from aurora_ssl.errors import AuroraSSLError

    entry = database_entry(interception_server, options={"pool": {**POOL, "timeout": 1}})
    with use_databases({"default": entry}):
        errors = _time_out_concurrently("default", 4)
    assert len(errors) == 4
    assert all(isinstance(e, AuroraSSLError) for e in errors), errors
    assert len({id(e) for e in errors}) == 4  # each request raises its own copy
    assert len({str(e) for e in errors}) == 1
