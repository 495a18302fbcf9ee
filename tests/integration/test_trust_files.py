"""Trust files someone else could write never reach a server; what a verified update vouches for.

A bundle open to others, or an ``updated/`` bundle planted with a foreign root, is refused
before any connection: the server's log shows no attempt. ``check`` and ``inspect`` name roots
that carry an RDS name but are not AWS's; the roots of a verified update are known. The rules
on the files themselves, without a server: tests/unit/test_trust_files.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aurora_ssl import Options, _trust, clear_caches, connection_params
from aurora_ssl._trust import select_trust
from aurora_ssl.errors import BundleError
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.certs import make_cert_pem
from tests.fix_servers import log_since
from tests.fix_trust import NOBODY, needs_root, plant_update, shipped_bundle, weak_copy

pytestmark = pytest.mark.usefixtures("fresh_caches", "restore_modes")


@pytest.mark.driver("libpq")
@pytest.mark.parametrize("how", ["sslrootcert", "bundle"])
def test_a_trust_file_open_to_others_never_reaches_the_server(
    logged_server: AuroraLikeServer, pki: TestPKI, tmp_path: Path, cache: Path, how: str
) -> None:
    server = logged_server
    source = pki.root_path if how == "sslrootcert" else pki.bundle_path
    path = weak_copy(tmp_path, source.read_bytes())
    params = server.params()
    options = Options(bundle=str(path)) if how == "bundle" else None
    if how == "sslrootcert":
        params["sslrootcert"] = str(path)
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError, match="writable by other users"):
        connection_params(params, options, driver=drivers.libpq_driver())
    time.sleep(0.2)
    assert "connection received" not in log_since(server, since)  # not one byte
    # Control: the directory closed to others, the same file connects and the server saw TLS.
    path.parent.chmod(0o755)
    clear_caches()
    connect = connection_params(params, options, driver=drivers.libpq_driver())
    with (
        drivers.libpq_connect(**connect, connect_timeout=5) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cursor.fetchone() == (True,)
    connection.close()


def _attempts(log: str) -> int:
    """Connections the server saw: accepted ones, and ones whose TLS handshake it refused."""
    return log.count("connection received") + log.count("could not accept SSL connection")


def _log_after_attempts(server: AuroraLikeServer, since: int, expected: int) -> str:
    """The server's log since ``since``, once it shows ``expected`` attempts (it lags a bit).

    Lines arrive in order, so an earlier attempt would be in the log by then too.
    """
    deadline = time.monotonic() + 10
    log = log_since(server, since)
    while _attempts(log) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        log = log_since(server, since)
    return log


@pytest.mark.driver("libpq")
@needs_root
def test_planted_rds_named_foreign_root_is_refused_and_never_connects(
    cache: Path, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    # Another user planted AWS's bundle plus an interceptor's root that carries the exact name
    # of an RDS root, while updated/ was writable; the owner then ran the advised chmod.
    driver = drivers.libpq_driver()
    planted = plant_update(cache, shipped_bundle() + pki.foreign_root_path.read_bytes())
    os.chown(planted, NOBODY, NOBODY)
    server = interception_server
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError) as refused:
        connection_params(server.params(), driver=driver)
    message = str(refused.value)
    assert f"The updated RDS bundle {planted} is refused" in message
    assert "belongs to another user (uid 65534)" in message
    assert "\n" not in message
    with pytest.raises(BundleError, match="refused"):
        select_trust(server.host)

    time.sleep(0.2)
    assert log_since(server, since) == ""  # the server saw nothing at all

    # Control: the same file, ours. Nothing else tells it from a real update, so it is used
    # and the interceptor is reached; what refused it above was the owner check alone.
    os.chown(planted, os.getuid(), os.getgid())
    clear_caches()
    params = connection_params(server.params(), driver=driver)
    assert Path(params["sslrootcert"]).read_bytes().strip() == (
        pki.foreign_root_path.read_bytes().strip()
    )
    with (
        drivers.libpq_connect(**params, connect_timeout=5) as connection,
        connection.cursor() as cur,
    ):
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (True,)  # the interceptor's server saw a TLS session
    connection.close()


@pytest.mark.driver("libpq")
def test_planted_non_rds_root_is_refused_and_never_connects(
    cache: Path, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    dbapi = drivers.libpq_module()
    driver = drivers.libpq_driver()
    planted = plant_update(
        cache, pki.foreign_root_path.read_bytes() + make_cert_pem("Evil Root CA")
    )
    server = interception_server
    since = server.log_path.stat().st_size
    with pytest.raises(BundleError) as refused:
        connection_params(server.params(), driver=driver)
    message = str(refused.value)
    assert f"The bundle {planted} is refused" in message
    assert "Evil Root CA is not a self-signed Amazon RDS root" in message
    assert "aurora-ssl bundle update" in message
    assert "\n" not in message
    # The control connection with the file removed (shipped bundle: no test-region-1 root,
    # so the full bundle) is refused by the server's chain: it is what the server saw.
    planted.unlink()
    clear_caches()
    with pytest.raises(dbapi.OperationalError, match="certificate verify failed"):
        dbapi.connect(**connection_params(server.params(), driver=driver), connect_timeout=5)
    log = _log_after_attempts(server, since, 1)
    assert _attempts(log) == 1, log[-2000:]  # only the control's
    assert "connection authorized" not in log


def test_check_and_inspect_report_unknown_rds_roots(
    tls_server: AuroraLikeServer,
    pki: TestPKI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every run says it, not only the first (which split the bundle and logged it)."""
    from aurora_ssl.cli import main

    impostor = make_cert_pem("Amazon RDS us-east-1 Root CA ECC384 G1")
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(pki.bundle_path.read_bytes() + impostor)
    url = tls_server.url("postgresql")
    for _ in range(2):
        clear_caches()
        code = main(["check", url, "--bundle", str(bundle)])
        out, err = capsys.readouterr()
        assert code == 0, out + err  # verified: the warning informs, it does not refuse
        assert "VERIFIED" in out
        assert "not AWS's" in out
        assert "Amazon RDS us-east-1 Root CA ECC384 G1" in out
        assert tls_server.password not in out + err
    where = [f"{tls_server.host}:{tls_server.port}", "--hostaddr", tls_server.hostaddr]
    assert main(["inspect", *where, "--bundle", str(bundle)]) == 0
    assert "Amazon RDS us-east-1 Root CA ECC384 G1" in capsys.readouterr().out
    # The PKI's own bundle names no impostor.
    clear_caches()
    main(["check", url, "--bundle", str(pki.bundle_path)])
    assert "not AWS's" not in capsys.readouterr().out


def test_roots_of_a_verified_update_are_known(
    cache: Path, tmp_path: Path, tls_server: AuroraLikeServer, pki: TestPKI,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from aurora_ssl.cli import main

    new_root = make_cert_pem("Amazon RDS us-east-1 Root CA RSA4096 G2")
    plant_update(cache, shipped_bundle() + new_root)
    bundle = tmp_path / "mine.pem"
    bundle.write_bytes(pki.bundle_path.read_bytes() + new_root)
    assert main(["check", tls_server.url("postgresql"), "--bundle", str(bundle)]) == 0
    assert "not AWS's" not in capsys.readouterr().out
    os.unlink(_trust.updated_bundle_path())  # control: without the update it is unknown
    clear_caches()
    assert main(["check", tls_server.url("postgresql"), "--bundle", str(bundle)]) == 0
    assert "Amazon RDS us-east-1 Root CA RSA4096 G2" in capsys.readouterr().out
