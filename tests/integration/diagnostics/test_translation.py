"""Error translation: every path is produced by a real failing connection, with both drivers.

Each test asserts the translated class, that the message explains and says what to do, that
the driver's exception is chained, and that the server's password appears nowhere: not in
the message, not in ``repr``, not in the formatted traceback of the translated error.

Translation is pure (it never connects: the last tests prove it); what an inspection of the
server adds (expired since when, every name, a look-alike CA named as such) is tested with an
inspection made on purpose, as ``aurora-ssl check`` and ``check_aurora_ssl`` make it. Texts of
other libpq and OpenSSL versions, and the masking, without a server:
tests/unit/diagnostics/test_translation.py.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from aurora_ssl import Options as Settings
from aurora_ssl import connection_params
from aurora_ssl._diagnostics._inspection import Inspection, inspect_server
from aurora_ssl._diagnostics._translation import translate_error
from aurora_ssl.errors import (
    AuroraSSLError,
    BundleError,
    CertificateExpiredError,
    HostnameMismatchError,
    InsecureConfigurationError,
    ServerTLSUnavailableError,
    TLSError,
    UntrustedCertificateError,
)
from aurora_ssl.testing import OTHER_HOST, AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_django import database_entry, use_databases

Connect = Callable[..., Any]

#: Where Python-level socket connections are recorded while a test listens (libpq connects in
#: C, so only a second connection made by Python code, such as an inspection, is seen).
_CONNECTS: list[list[Any]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _CONNECTS:
        _CONNECTS[-1].append(args[1])


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only when asked


@contextlib.contextmanager
def _connections_opened() -> Iterator[list[Any]]:
    """The addresses Python code connected to inside the block."""
    opened: list[Any] = []
    _CONNECTS.append(opened)
    try:
        yield opened
    finally:
        _CONNECTS.remove(opened)


@pytest.fixture(params=drivers.params("psycopg", "psycopg2"))
def connect(request: pytest.FixtureRequest) -> Connect:
    connect: Connect = importlib.import_module(request.param).connect
    return connect


def _is(connect: Connect, driver: str) -> bool:
    """Whether ``connect`` is ``driver``'s (a driver not installed was not imported)."""
    return driver in sys.modules and connect is sys.modules[driver].connect


def _fail(connect: Connect, params: Mapping[str, Any]) -> Exception:
    try:
        connection = connect(**params, connect_timeout=5)
    except Exception as exc:  # noqa: BLE001 - the failure is the point
        return exc
    connection.close()
    raise AssertionError("the connection unexpectedly succeeded")


def _verified(server: AuroraLikeServer, pki: TestPKI, connect: Connect) -> dict[str, Any]:
    """The parameters aurora-ssl's policy produces for the server (trimmed test roots), for
    ``connect``'s driver: its libpq version decides which keys may be pinned (psycopg2's libpq
    17 rejects 18's ``sslkeylogfile``), whichever driver the process imported first."""
    driver = "psycopg2" if _is(connect, "psycopg2") else "psycopg"
    settings = Settings(bundle=str(pki.bundle_path))
    return connection_params(server.params(), settings, driver=driver)


def _translated(exc: BaseException, password: str, **kwargs: Any) -> AuroraSSLError:
    error = translate_error(exc, **kwargs)
    assert error is not None, f"not translated: {exc}"
    assert error.__cause__ is exc
    shown = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), shown):
        assert password not in text
    assert "libpq:" in str(error)  # the original message is kept, for searching
    # psycopg 3 keeps the finished connection, password included, on the exception we chain.
    assert password not in repr(getattr(exc, "pgconn", None))
    return error


def _inspected(params: Mapping[str, Any]) -> Inspection:
    """The inspection ``aurora-ssl check`` makes of a refused attempt's target: the name and
    the address it went to, checked with the trust file it used."""
    host, port, root = params["host"], int(params["port"]), params["sslrootcert"]
    return inspect_server(host, port, hostaddr=params.get("hostaddr"), sslrootcert=root)


def test_untrusted_interception(
    connect: Connect, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    server = interception_server
    exc = _fail(connect, _verified(server, pki, connect))
    assert "certificate verify failed" in str(exc)
    error = _translated(exc, server.password)
    assert isinstance(error, UntrustedCertificateError)
    assert "interception" in str(error)  # the first of the likely causes


def test_untrusted_interception_explained_by_an_inspection(
    connect: Connect, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    """With an inspection, the look-alike CA is named as such, from psycopg2 too, whose error
    tells only the address."""
    params = _verified(interception_server, pki, connect)
    exc = _fail(connect, params)
    inspection = _inspected(params)
    error = _translated(exc, interception_server.password, params=params, inspection=inspection)
    assert isinstance(error, UntrustedCertificateError)
    assert "exactly that name is trusted, but its key did not sign" in str(error)


def test_untrusted_wrong_root_file(
    connect: Connect, tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    params = dict(
        tls_server.params(), sslmode="verify-full", sslrootcert=str(pki.foreign_root_path)
    )
    exc = _fail(connect, params)
    error = _translated(exc, tls_server.password, params=params, inspection=_inspected(params))
    assert isinstance(error, UntrustedCertificateError)
    assert "not signed by a CA in the trust set" in str(error)


def test_untrusted_without_inspection(
    connect: Connect, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    exc = _fail(connect, _verified(interception_server, pki, connect))
    error = _translated(exc, interception_server.password)
    assert isinstance(error, UntrustedCertificateError)
    message = str(error)
    for cause in ("interception", "aurora-ssl bundle update", "RDS Proxy", "aurora-ssl inspect"):
        assert cause in message


def test_expired_says_when(
    connect: Connect, expired_server: AuroraLikeServer, pki: TestPKI
) -> None:
    server = expired_server
    params = _verified(server, pki, connect)
    exc = _fail(connect, params)
    assert "certificate verify failed" in str(exc)  # libpq does not say "expired"
    error = _translated(exc, server.password, params=params, inspection=_inspected(params))
    assert isinstance(error, CertificateExpiredError)
    message = str(error)
    assert re.search(r"expired (9|10|11) day", message)  # the test server's: ten days ago
    assert "rds-ca-rsa2048-g1" in message  # the fix: rotate to a current CA


def test_hostname_mismatch_lists_the_names(
    connect: Connect, wrong_host_server: AuroraLikeServer, pki: TestPKI
) -> None:
    server = wrong_host_server
    exc = _fail(connect, _verified(server, pki, connect))
    assert "does not match host name" in str(exc)
    error = _translated(exc, server.password)
    assert isinstance(error, HostnameMismatchError)
    assert OTHER_HOST in str(error)
    assert f"not for {server.host}" in str(error)


def test_hostname_mismatch_names_all_names(
    connect: Connect, tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    """libpq names one SAN "(and 2 other names)"; an inspection lists all three."""
    params = dict(_verified(tls_server, pki, connect), host="localhost")
    exc = _fail(connect, params)
    assert "(and 2 other names)" in str(exc)
    error = _translated(exc, tls_server.password)
    assert isinstance(error, HostnameMismatchError)
    assert f"{tls_server.host}, 2 other name(s), not for localhost" in str(error)
    error = _translated(exc, tls_server.password, inspection=_inspected(params))
    assert isinstance(error, HostnameMismatchError)
    assert "demo.cluster-ro-abc123xyz" in str(error)
    assert "demo-instance-1.abc123xyz" in str(error)


@pytest.mark.driver("psycopg")
def test_hostname_mismatch_through_a_cname(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    import psycopg

    params = dict(_verified(tls_server, pki, psycopg.connect), host="db.internal.example.com")
    exc = _fail(psycopg.connect, params)
    error = _translated(exc, tls_server.password)
    assert isinstance(error, HostnameMismatchError)
    assert "CNAME" in str(error)
    assert f"tls_server_name={tls_server.host}" in str(error)


def test_server_without_tls(
    connect: Connect, no_tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    exc = _fail(connect, _verified(no_tls_server, pki, connect))
    assert "server does not support SSL, but SSL was required" in str(exc)
    error = _translated(exc, no_tls_server.password)
    assert isinstance(error, ServerTLSUnavailableError)
    assert "does not offer TLS" in str(error)


def test_server_requires_tls_but_client_disabled_it(
    connect: Connect, tls_server: AuroraLikeServer
) -> None:
    params = dict(tls_server.params(), sslmode="disable", gssencmode="disable")
    exc = _fail(connect, params)
    assert "no encryption" in str(exc)
    error = _translated(exc, tls_server.password)
    assert isinstance(error, InsecureConfigurationError)
    assert "insecure_local_dev" in str(error)


def test_root_file_missing(connect: Connect, tls_server: AuroraLikeServer, tmp_path: Path) -> None:
    missing = tmp_path / "gone.pem"
    exc = _fail(connect, dict(tls_server.params(), sslmode="verify-full", sslrootcert=str(missing)))
    assert "does not exist" in str(exc)
    error = _translated(exc, tls_server.password)
    assert isinstance(error, BundleError)
    assert str(missing) in str(error)
    assert "do not follow libpq's suggestion to weaken sslmode" in str(error)


@pytest.mark.parametrize("kind", ["not-pem", "directory"])
def test_root_file_not_pem(
    connect: Connect, tls_server: AuroraLikeServer, tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "root.pem"
    if kind == "directory":
        root.mkdir()
    else:
        root.write_text("this is not a certificate\n")
    exc = _fail(connect, dict(tls_server.params(), sslmode="verify-full", sslrootcert=str(root)))
    assert "could not read root certificate file" in str(exc)
    error = _translated(exc, tls_server.password)
    assert isinstance(error, BundleError)
    assert "holds no PEM certificate" in str(error)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_root_file_unreadable(
    connect: Connect, tls_server: AuroraLikeServer, pki: TestPKI, tmp_path: Path
) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_path.read_bytes())
    root.chmod(0)
    exc = _fail(connect, dict(tls_server.params(), sslmode="verify-full", sslrootcert=str(root)))
    error = _translated(exc, tls_server.password)
    assert isinstance(error, BundleError)
    assert "cannot be read" in str(error)


def test_not_a_tls_problem_is_left_alone(
    connect: Connect, tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    params = dict(_verified(tls_server, pki, connect), password="wrong-password-for-test")
    exc = _fail(connect, params)
    assert "password authentication failed" in str(exc)
    assert translate_error(exc) is None
    # Left alone, but the password psycopg 3 attaches to it is blanked all the same.
    assert "wrong-password-for-test" not in repr(getattr(exc, "pgconn", None))


@pytest.mark.driver("psycopg")
def test_django_wrapped_error(interception_server: AuroraLikeServer, pki: TestPKI) -> None:
    """Django raises its own OperationalError from the driver's; the cause is followed."""
    import psycopg
    from django.db.utils import OperationalError

    driver_error = _fail(psycopg.connect, _verified(interception_server, pki, psycopg.connect))
    try:
        raise OperationalError(*driver_error.args) from driver_error
    except OperationalError as wrapped:
        error = _translated(wrapped, interception_server.password)
    assert isinstance(error, UntrustedCertificateError)


@pytest.mark.driver("libpq")
def test_sqlalchemy_engine_raises_the_translation(
    expired_server: AuroraLikeServer, pki: TestPKI
) -> None:
    """libpq says "certificate verify failed" for the expired certificate: without an
    inspection the translation names both causes (``aurora-ssl check`` tells which)."""
    import sqlalchemy

    import aurora_ssl

    dbapi = drivers.libpq_module()
    engine = aurora_ssl.create_engine(
        expired_server.url(drivers.libpq_drivername()), aurora_ssl_bundle=str(pki.bundle_path)
    )
    try:
        with pytest.raises(UntrustedCertificateError) as caught:
            engine.connect()
    finally:
        engine.dispose()
    assert "An expired certificate is refused with the same words" in str(caught.value)
    assert isinstance(caught.value.__cause__, dbapi.OperationalError)
    shown = "".join(traceback.format_exception(caught.value))
    assert expired_server.password not in shown
    assert not isinstance(caught.value, sqlalchemy.exc.DBAPIError)


@pytest.mark.parametrize("passed", ["params", "environment", "unknown"])
def test_direct_tls_against_a_server_older_than_17(
    connect: Connect,
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    monkeypatch: pytest.MonkeyPatch,
    passed: str,
) -> None:
    """libpq 17+ with sslnegotiation=direct sends a TLS ClientHello first; PostgreSQL 15 reads
    it as a startup packet and hangs up. libpq says only "SSL SYSCALL error: EOF detected"."""
    params = _verified(tls_server, pki, connect)
    if passed == "environment":
        params.pop("sslnegotiation", None)  # nothing explicit, so libpq reads the variable
        monkeypatch.setenv("PGSSLNEGOTIATION", "direct")
    else:
        params["sslnegotiation"] = "direct"
    before = tls_server.log_path.read_text(errors="replace")
    exc = _fail(connect, params)
    seen = tls_server.log_path.read_text(errors="replace")[len(before) :]
    assert "invalid length of startup packet" in seen  # the server got TLS bytes, not a start
    assert re.search("EOF detected|unexpected eof", str(exc))
    given = {k: v for k, v in params.items() if k != "sslnegotiation"}
    if passed == "params":
        given = params
    error = _translated(exc, tls_server.password, params=None if passed == "unknown" else given)
    assert type(error).__name__ == "TLSError"
    message = str(error)
    assert len(message.splitlines()) == 1
    if passed == "unknown" and _is(connect, "psycopg2"):
        # Nothing tells psycopg2's caller the mode: name it as the likely cause anyway.
        assert "if sslnegotiation=direct is set anywhere" in message
    else:
        assert "PostgreSQL 17 and newer" in message
        assert "Remove sslnegotiation=direct" in message


# -- translation explains; it never probes ----------------------------------------------------


def test_translation_opens_no_connection(
    connect: Connect, expired_server: AuroraLikeServer, pki: TestPKI
) -> None:
    """An expired certificate, a look-alike CA and a wrong name all say "verify failed" or
    name one SAN: translating them must not inspect the server (a second connection from an
    application's error path, in a connection storm)."""
    params = _verified(expired_server, pki, connect)
    exc = _fail(connect, params)
    with _connections_opened() as opened:
        error = _translated(exc, expired_server.password, params=params)
    assert isinstance(error, UntrustedCertificateError)
    assert "An expired certificate is refused with the same words" in str(error)
    assert opened == []


@pytest.mark.driver("libpq")
def test_sqlalchemy_error_path_opens_no_second_connection(
    wrong_host_server: AuroraLikeServer, pki: TestPKI
) -> None:
    import aurora_ssl

    engine = aurora_ssl.create_engine(
        wrong_host_server.url(drivers.libpq_drivername()), aurora_ssl_bundle=str(pki.bundle_path)
    )
    try:
        with _connections_opened() as opened, pytest.raises(HostnameMismatchError) as caught:
            engine.connect()
    finally:
        engine.dispose()
    assert OTHER_HOST in str(caught.value)  # libpq names the certificate's first name
    assert opened == []


def test_django_error_path_opens_no_second_connection(
    interception_server: AuroraLikeServer, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("django")
    request.getfixturevalue("django_env")
    from django.db import connections

    entry = database_entry(interception_server)
    refused = pytest.raises(UntrustedCertificateError)
    with use_databases({"default": entry}), _connections_opened() as opened, refused as caught:
        connections["default"].ensure_connection()
    assert "interception" in str(caught.value)
    assert opened == []


# -- a connection that crossed a fork ---------------------------------------------------------


def _use(connection: Any, rounds: int = 20) -> str:
    """Query ``connection`` a few times; the driver's error and its translation, or "ok"."""
    for _ in range(rounds):
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT repeat('x', 65536), pg_sleep(0.01)")
            cursor.fetchall()
        except Exception as exc:  # noqa: BLE001 - the failure is the point
            error = translate_error(exc)
            return json.dumps([str(exc), type(error).__name__, str(error)])
    return "ok"


def _here_and_in_a_child(work: Callable[[], str]) -> list[str]:
    """``work()`` in this process and, at the same time, in a forked child (whose answer comes
    through a pipe; it leaves at once, running none of this process's cleanup)."""
    read, write = os.pipe()
    with warnings.catch_warnings():  # the child runs only ``work`` (Python 3.12+ warns of threads)
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.write(write, work().encode())
        finally:
            os._exit(0)
    os.close(write)
    mine = work()
    with os.fdopen(read, "rb") as pipe:
        theirs = pipe.read().decode()
    os.waitpid(pid, 0)
    return [mine, theirs]


@pytest.mark.parametrize("driver", drivers.params("psycopg", "psycopg2"))
def test_a_connection_used_on_both_sides_of_a_fork_is_explained(
    tls_server: AuroraLikeServer, pki: TestPKI, driver: str
) -> None:
    """A pool opened in gunicorn's master before it forks: parent and child share one TLS
    session, and libpq says "bad record mac" (issue 18). The translation says that connections
    must not cross a fork, and how to open them after it."""
    dbapi = importlib.import_module(driver)
    params = connection_params(
        tls_server.params(), Settings(bundle=str(pki.bundle_path)), driver=driver
    )
    shared = dbapi.connect(**params)
    shared.autocommit = True
    try:
        results = _here_and_in_a_child(lambda: _use(shared))
    finally:
        shared.close()
    failures = [json.loads(result) for result in results if result != "ok"]
    broken = [(kind, message) for said, kind, message in failures if "bad record mac" in said]
    assert broken, results  # one side at least reads the other's records, or the alert
    for kind, message in broken:
        assert kind == TLSError.__name__
        assert "Connections must not cross a fork" in message
        for fix in ("post_fork", "worker_process_init", "dispose(close=False)"):
            assert fix in message
        assert "close_old_connections" in message
        assert "bad record mac" in message  # libpq's words are kept
        assert tls_server.password not in message


@pytest.mark.parametrize("driver", drivers.params("psycopg", "psycopg2"))
def test_after_the_fix_each_side_of_the_fork_has_its_own_connection(
    tls_server: AuroraLikeServer, pki: TestPKI, driver: str
) -> None:
    """The advice, followed: the engine used before the fork is disposed of in the child
    without closing the parent's connection (``engine.dispose(close=False)``), so each process
    opens its own, and both work."""
    import aurora_ssl

    engine = aurora_ssl.create_engine(
        tls_server.url(f"postgresql+{driver}"), aurora_ssl_bundle=str(pki.bundle_path)
    )

    def use_engine() -> str:
        with engine.connect() as connection:
            return _use(connection.connection)

    try:
        assert use_engine() == "ok"  # the master's pool now holds a connection
        parent_pid = os.getpid()

        def after_fork() -> str:
            if os.getpid() != parent_pid:
                engine.dispose(close=False)  # gunicorn's post_fork, Celery's worker_process_init
            return use_engine()

        assert _here_and_in_a_child(after_fork) == ["ok", "ok"]
    finally:
        engine.dispose()
