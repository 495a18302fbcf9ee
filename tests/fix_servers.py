"""Session-wide real-TLS PostgreSQL servers, one per scenario, started on first use.

All servers share the session :class:`TestPKI`, so ``pki.root_path`` (or ``pki.bundle_path``)
trusts every one of them except the interception server, whose look-alike CA is the point.
A test that changes a server (restart, certificate swap) should start its own
``AuroraLikeServer`` instead of using these.

Beyond the default: ``family_server`` and ``family_impostor`` (one pair per CA family, each
family with its own PKI) and ``aurora_cluster`` (a writer and two readers; tests that fail it
over leave it with one writer and two readers, the writer perhaps another instance).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from aurora_ssl import Options
from aurora_ssl.testing import AuroraLikeCluster, AuroraLikeServer, CAFamily, Scenario, TestPKI
from tests import ROOT, drivers


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """The RDS-like test PKI (root, bundle, foreign root) shared by the session's servers."""
    return TestPKI.generate(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def bundle_env(pki: TestPKI, monkeypatch: pytest.MonkeyPatch, fresh_caches: None) -> Path:
    """The session PKI's bundle as the user's RDS bundle (``AURORA_SSL_BUNDLE``): the test root
    is then part of "the RDS bundle", as if test-region-1 were a real region."""
    monkeypatch.setenv("AURORA_SSL_BUNDLE", str(pki.bundle_path))
    return Path(pki.bundle_path)


@pytest.fixture
def bundle_options(pki: TestPKI, fresh_caches: None) -> Options:
    """aurora-ssl's options naming the session PKI's bundle (``Options(bundle=...)``)."""
    return Options(bundle=str(pki.bundle_path))


def _serve(scenario: Scenario, pki: TestPKI) -> Iterator[AuroraLikeServer]:
    with AuroraLikeServer(scenario, pki=pki) as server:
        yield server


#: Server settings under which the log shows every attempt and statement, for tests that check
#: a refusal by what the server saw.
LOG_EVERYTHING = {"log_connections": "on", "log_statement": "all"}


@pytest.fixture(scope="session")
def tls_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Good: trusted chain for the cluster/reader/instance names, sslinfo installed."""
    yield from _serve(Scenario.GOOD, pki)


@pytest.fixture(scope="session")
def wrong_host_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Trusted chain, but the certificate only names ``OTHER_HOST``."""
    yield from _serve(Scenario.WRONG_HOST, pki)


@pytest.fixture(scope="session")
def interception_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Right names, look-alike CA (same subject names, other keys)."""
    yield from _serve(Scenario.INTERCEPTION, pki)


@pytest.fixture(scope="session")
def expired_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Trusted chain and right names, expired ten days ago."""
    yield from _serve(Scenario.EXPIRED, pki)


@pytest.fixture(scope="session")
def no_tls_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """``ssl = off``: plain password logins over TCP."""
    yield from _serve(Scenario.NO_TLS, pki)


@pytest.fixture(scope="session")
def no_sslinfo_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Good TLS, but no ``sslinfo`` extension (server-side checks fall back to pg_stat_ssl)."""
    yield from _serve(Scenario.NO_SSLINFO, pki)


@pytest.fixture(scope="session", params=get_args(CAFamily))
def family_pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A test PKI of each CA family RDS issues under (the test runs once per family)."""
    return TestPKI.generate(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="session")
def family_server(family_pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Good TLS, with a chain of ``family_pki``'s family."""
    yield from _serve(Scenario.GOOD, family_pki)


@pytest.fixture(scope="session")
def family_impostor(family_pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Right names, a look-alike CA of the same family (same subject names, other keys); the
    log records every connection attempt."""
    with AuroraLikeServer(Scenario.INTERCEPTION, pki=family_pki, settings=LOG_EVERYTHING) as server:
        yield server


@pytest.fixture(scope="session")
def aurora_cluster(pki: TestPKI) -> Iterator[AuroraLikeCluster]:
    """A writer and two hot-standby readers answering Aurora's topology functions."""
    with AuroraLikeCluster(readers=2, pki=pki) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def plaintext_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """A server that also takes plaintext logins (``rds.force_ssl`` off), logging every
    attempt and statement: the control that shows an attack would have worked."""
    with AuroraLikeServer(Scenario.NO_TLS, pki=pki, settings=LOG_EVERYTHING) as server:
        yield server


@pytest.fixture
def kept_dir() -> Iterator[Path]:
    """A data directory to keep between runs that the server's OS user can reach even when we
    run as root (pytest's own directories are 0700); removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="aurora-ssl-kept-", dir="/tmp"))
    path.chmod(0o711)
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def logged_server(pki: TestPKI) -> Iterator[AuroraLikeServer]:
    """Good TLS, and the log records every connection attempt and statement."""
    with AuroraLikeServer(Scenario.GOOD, pki=pki, settings=LOG_EVERYTHING) as server:
        yield server


def admin_execute(
    server: AuroraLikeServer,
    *statements: str,
    args: tuple[Any, ...] = (),
    dbname: str | None = None,
) -> None:
    """Run SQL as the superuser over the server's private Unix socket (test set-up only).

    Statement logging is off for the session (statements may carry passwords); ``args`` are
    bound to each statement client-side, as utility statements take no parameters. Through
    whichever libpq driver is installed (the support matrix has one).
    """
    params = {**server.admin_params(), **({"dbname": dbname} if dbname else {})}
    if drivers.is_installed("psycopg2"):
        import psycopg2

        conn = psycopg2.connect(**params)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SET log_statement = 'none'")
                for sql in statements:
                    cur.execute(sql, args or None)
        finally:
            conn.close()
        return
    import psycopg

    with (
        psycopg.connect(**params, autocommit=True) as conn3,
        psycopg.ClientCursor(conn3) as cur3,
    ):
        cur3.execute("SET log_statement = 'none'")
        for sql in statements:
            cur3.execute(sql.encode(), args or None)


def role_url(
    server: AuroraLikeServer,
    drivername: str,
    role: str,
    password: str | None = None,
    *,
    query: str = "",
) -> str:
    """A SQLAlchemy URL for ``role`` on ``server`` that trusts the server's test bundle
    (``aurora_ssl_bundle``); the password is in the URL only if given (else a provider gives
    it). ``query`` is appended as written (``"&plugin=aurora_ssl..."``)."""
    userinfo = urllib.parse.quote(role) + (
        ":" + urllib.parse.quote(password, safe="") if password else ""
    )
    return (
        f"{drivername}://{userinfo}@{server.host}:{server.port}/{server.database}"
        f"?hostaddr={server.hostaddr}&aurora_ssl_bundle={server.pki.bundle_path}{query}"
    )


def log_size(server: AuroraLikeServer) -> int:
    """Where the server's log ends now: the mark :func:`log_since` reads from."""
    return Path(server.log_path).stat().st_size


def logins(server: AuroraLikeServer, role: str, since: int = 0) -> int:
    """How many logins of ``role`` the server authorised after ``since`` (its log)."""
    return log_since(server, since).count(f"connection authorized: user={role} ")


def downgrade(conninfo: str) -> str:
    """What a driver that changed what it was given would hand libpq: verify-full made
    ``disable`` after aurora-ssl checked (only the read-back can see that), and direct TLS,
    which libpq refuses with ``disable``, made the usual negotiation (PostgreSQL 17+)."""
    downgraded = conninfo.replace("sslmode='verify-full'", "sslmode='disable'")
    return downgraded.replace("sslnegotiation='direct'", "sslnegotiation='postgres'")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail the test saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.01)


def log_since(server: AuroraLikeServer, offset: int) -> str:
    """What the server logged after ``offset`` (take ``server.log_path.stat().st_size``)."""
    with open(server.log_path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


#: The environment of a process that must take its settings from an env file alone.
BARE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AURORA_SSL_", "PG"))}


def wait_for_env_file(path: Path, proc: subprocess.Popen[str] | None = None) -> dict[str, str]:
    """The variables of ``serve --env-file path``, once written, as a shell sources them."""
    deadline = time.monotonic() + 60
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.communicate()}")
        assert time.monotonic() < deadline, "the server never wrote its env file"
        time.sleep(0.02)
    return sourced(path)


def sourced(path: Path) -> dict[str, str]:
    """What ``set -a; . FILE`` gives a POSIX shell (bash), for the keys FILE assigns."""
    keys = [line.split("=", 1)[0] for line in path.read_text().splitlines()]
    script = 'set -a; . "$1"; for k in "${@:2}"; do printf "%s\\0" "${!k}"; done'
    done = subprocess.run(
        ["bash", "-c", script, "bash", str(path), *keys],
        capture_output=True,
        env={"PATH": os.environ["PATH"]},
        check=True,
    )
    return dict(zip(keys, done.stdout.decode().split("\0")[:-1], strict=True))


def fresh_process(script: str, cache: Path, *args: str) -> dict[str, object]:
    """Run ``script`` (``python -c``) in a fresh interpreter with its own trust cache and no
    ``AURORA_SSL_*``/``PG*`` variables; its last stdout line is JSON, returned parsed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURORA_SSL_", "PG"))}
    env["AURORA_SSL_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


# DRIVER: the run's libpq driver (tests/drivers.py), put in by verified_connect_in_fresh_process.
_VERIFIED_CONNECT = """
import json, sys
import DRIVER as dbapi
import aurora_ssl

params, bundle = json.loads(sys.argv[1]), sys.argv[2]
conninfo = aurora_ssl.connection_params(params, aurora_ssl.Options(bundle=bundle))
with dbapi.connect(**conninfo, connect_timeout=5) as connection:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        server_saw_tls = cursor.fetchone()[0]
connection.close()
print(json.dumps({"server_saw_tls": server_saw_tls, "sslmode": conninfo["sslmode"],
                  "sslrootcert": conninfo["sslrootcert"], "modules": sorted(sys.modules)}))
"""


def verified_connect_in_fresh_process(
    cache: Path, params: dict[str, str], bundle: str
) -> dict[str, object]:
    """A new interpreter connects once through ``aurora_ssl.connection_params`` (bundle as its
    source) with the run's libpq driver; says what the server saw, the ``sslmode`` and
    ``sslrootcert`` it used, and every module it had loaded by then."""
    script = _VERIFIED_CONNECT.replace("DRIVER", drivers.libpq_driver())
    return fresh_process(script, cache, json.dumps(params), bundle)
