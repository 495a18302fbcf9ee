"""The ``aurora-ssl`` command line, in-process through ``main([...])`` and once as processes.

The process tests prove the point of ``aurora-ssl env`` and ``bundle path``: ``psql`` itself
connects to the test server with verify-full using their output, and is refused by the
interception server with the same settings. The command line without a server:
tests/unit/cli/test_cli.py, tests/unit/cli/test_inputs.py, tests/unit/cli/test_bundle_info.py.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from aurora_ssl._diagnostics._report import REPORT_KEYS
from aurora_ssl.cli import main
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers
from tests.fix_cli import Capture, run_cli


def _url(server: AuroraLikeServer, scheme: str = "postgresql", **query: str) -> str:
    quoted = urllib.parse.quote(server.password, safe="")
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return (
        f"{scheme}://{server.user}:{quoted}@{server.host}:{server.port}/{server.database}"
        f"?hostaddr={server.hostaddr}{extra}"
    )


# ------------------------------------------------------------------ check


def test_check_verified_text(tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture) -> None:
    code, out, err = run_cli(capsys, "check", _url(tls_server), "--bundle", str(pki.bundle_path))
    assert code == 0
    assert out.startswith(f"{tls_server.user}@{tls_server.host}:{tls_server.port}/app: VERIFIED")
    assert "region:test-region-1" in out
    assert "ssl_is_used() = true" in out
    assert "visible to other users" in err  # a password on the command line is discouraged
    assert tls_server.password not in out + err


@pytest.mark.driver("libpq")
def test_check_verified_json(tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture) -> None:
    url = _url(tls_server, drivers.libpq_drivername())
    code, out, _ = run_cli(
        capsys, "check", url, "--bundle", str(pki.bundle_path), "--format", "json"
    )
    assert code == 0
    document = json.loads(out)
    assert document["format"] == 1
    assert document["ok"] is True
    (report,) = document["connections"]
    assert tuple(report) == REPORT_KEYS
    assert report["verdict"] == "verified"
    assert report["client"]["driver"] == drivers.libpq_driver()  # from the URL scheme
    assert report["server"]["ssl"] is True


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("expired_server", "CertificateExpiredError"),
        ("interception_server", "UntrustedCertificateError"),
        ("wrong_host_server", "HostnameMismatchError"),
        ("no_tls_server", "ServerTLSUnavailableError"),
    ],
)
@pytest.mark.parametrize("driver", drivers.params("psycopg", "psycopg2"))
def test_check_refused(
    request: pytest.FixtureRequest,
    pki: TestPKI,
    capsys: Capture,
    fixture: str,
    code: str,
    driver: str,
) -> None:
    server: AuroraLikeServer = request.getfixturevalue(fixture)
    exit_code, out, err = run_cli(
        capsys,
        "check",
        _url(server),
        "--bundle",
        str(pki.bundle_path),
        "--driver",
        driver,
        "--format",
        "json",
    )
    assert exit_code == 1
    (report,) = json.loads(out)["connections"]
    assert report["verdict"] == "refused"
    assert [e["code"] for e in report["errors"]] == [code]
    assert report["errors"][0]["cause"]  # libpq's own words are kept
    assert server.password not in out + err


def test_check_refuses_weak_sslmode(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture
) -> None:
    url = _url(tls_server, sslmode="require")
    code, out, _ = run_cli(capsys, "check", url, "--bundle", str(pki.bundle_path))
    assert code == 1
    assert "REFUSED" in out
    assert "sslmode=require" in out


def test_check_dsn_from_stdin(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = " ".join(f"{k}={v}" for k, v in tls_server.params().items())
    monkeypatch.setattr(sys, "stdin", io.StringIO(dsn + "\n"))
    code, out, err = run_cli(capsys, "check", "-", "--bundle", str(pki.bundle_path))
    assert code == 0
    assert "VERIFIED" in out
    assert err == ""
    assert tls_server.password not in out


def test_check_from_libpq_environment(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for key, value in tls_server.params().items():
        monkeypatch.setenv({"dbname": "PGDATABASE"}.get(key, f"PG{key.upper()}"), value)
    code, out, _ = run_cli(capsys, "check", "--bundle", str(pki.bundle_path), "--format", "json")
    assert code == 0
    assert json.loads(out)["connections"][0]["host"] == tls_server.host


def test_check_warnings_can_fail(
    no_sslinfo_server: AuroraLikeServer, pki: TestPKI, capsys: Capture
) -> None:
    args = ["check", _url(no_sslinfo_server), "--bundle", str(pki.bundle_path)]
    assert run_cli(capsys, *args)[0] == 0
    code, out, _ = run_cli(capsys, *args, "--fail-on-warning")
    assert code == 1
    assert "sslinfo" in out


# ------------------------------------------------------------------ inspect


def test_inspect_text(tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture) -> None:
    target = f"{tls_server.host}:{tls_server.port}"
    code, out, err = run_cli(
        capsys, "inspect", target, "--hostaddr", "127.0.0.1", "--bundle", str(pki.bundle_path)
    )
    assert code == 0
    assert ": VERIFIED" in out
    assert "rds-ca-rsa2048-g1" in out
    assert "inspecting" in err


def test_inspect_json_wrong_host(
    wrong_host_server: AuroraLikeServer, pki: TestPKI, capsys: Capture
) -> None:
    server = wrong_host_server
    code, out, _ = run_cli(
        capsys,
        "inspect",
        server.host,
        "--port",
        str(server.port),
        "--hostaddr",
        "127.0.0.1",
        "--bundle",
        str(pki.bundle_path),
        "--format",
        "json",
    )
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "hostname-mismatch"
    assert data["trusted"] is True
    assert data["hostname_matches"] is False
    assert data["names"] == ["other.cluster-zzz999xyz.test-region-1.rds.amazonaws.com"]
    assert data["errors"][0]["code"] == "HostnameMismatchError"


def test_inspect_no_tls(no_tls_server: AuroraLikeServer, capsys: Capture) -> None:
    target = f"{no_tls_server.host}:{no_tls_server.port}"
    code, out, err = run_cli(
        capsys, "inspect", target, "--hostaddr", "127.0.0.1", "--format", "json"
    )
    assert code == 1
    assert "does not offer TLS" in err
    assert json.loads(out)["error"]["code"] == "ServerTLSUnavailableError"


# ------------------------------------------------------------------ bundle path / info, env


def test_bundle_path_for_host(tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture) -> None:
    code, out, _ = run_cli(
        capsys, "bundle", "path", tls_server.host, "--bundle", str(pki.bundle_path)
    )
    assert code == 0
    path = Path(out.strip())
    assert path.read_bytes().strip() == pki.root_path.read_bytes().strip()


def test_env_command(tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture) -> None:
    code, out, _ = run_cli(capsys, "env", tls_server.host, "--bundle", str(pki.bundle_path))
    assert code == 0
    unset, exports = out.strip().split("\n")
    assert unset == "unset PGSERVICE"  # a service file would outrank every variable below
    assert exports.startswith(f"export PGHOST={tls_server.host} ")
    assert "PGSSLMODE=verify-full PGSSLROOTCERT=" in exports
    assert "PGGSSENCMODE=disable" in exports
    code, out, _ = run_cli(capsys, "env", tls_server.host, "--shell", "powershell")
    assert out.startswith("Remove-Item Env:PGSERVICE")
    assert "$env:PGSSLMODE = 'verify-full'" in out
    code, out, _ = run_cli(capsys, "env", tls_server.host, "--shell", "fish")
    assert out.startswith("set -e PGSERVICE;")


def _env_variable_names() -> dict[str, str]:
    """libpq keyword -> environment variable, as the system libpq (psql's) lists them."""
    from aurora_ssl._libpq import system_library, system_options

    return {key: var for key, var, _, _ in system_options(system_library()) if var}


def test_env_json_and_hostaddr(tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture) -> None:
    from aurora_ssl import Options
    from aurora_ssl._policy import Policy

    where = ["--hostaddr", "127.0.0.1", "--port", str(tls_server.port)]
    bundle = ["--bundle", str(pki.bundle_path)]
    code, out, _ = run_cli(capsys, "env", tls_server.host, *where, *bundle, "--format", "json")
    assert code == 0
    data = json.loads(out)
    # Decision with the system libpq, psql's, not a driver's.
    expected = Policy(Options(bundle=str(pki.bundle_path))).decide(
        {"host": tls_server.host, "hostaddr": "127.0.0.1", "port": str(tls_server.port)},
        "test",
        driver="system",
    )
    assert data["params"] == expected.params
    assert data["conninfo"] == expected.conninfo
    assert data["params"]["sslmode"] == "verify-full"
    names = _env_variable_names()
    assert data["variables"] == {names[k]: v for k, v in expected.params.items() if k in names}
    assert data["variables"]["PGHOSTADDR"] == "127.0.0.1"
    assert data["variables"]["PGPORT"] == str(tls_server.port)
    assert {k for k, v in data["params"].items() if v} <= set(names)  # every key that says so
    assert data["unset"] == ["PGSERVICE"]
    assert data["conninfo"].startswith(f"host='{tls_server.host}' hostaddr='127.0.0.1' ")
    code, out, _ = run_cli(capsys, "env", tls_server.host, *where, *bundle)
    assert f"PGHOSTADDR=127.0.0.1 PGPORT={tls_server.port} " in out


def test_env_takes_the_url_check_takes(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture
) -> None:
    """The application's URL (a SQLAlchemy one, with our options in its query) says where to
    connect; the password in it is never printed."""
    url = _url(
        tls_server,
        "postgresql+psycopg",
        plugin="aurora_ssl",
        aurora_ssl_bundle=str(pki.bundle_path),
    )
    code, out, err = run_cli(capsys, "env", url, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["params"]["host"] == tls_server.host
    assert data["params"]["hostaddr"] == tls_server.hostaddr
    assert data["params"]["dbname"] == tls_server.database
    assert data["params"]["user"] == tls_server.user
    assert "password" not in data["params"]
    assert data["params"]["sslrootcert"].endswith("test-region-1.pem")
    assert tls_server.password not in out + err
    assert "visible to other users" in err


def test_env_and_check_without_an_argument_read_database_url(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", _url(tls_server, aurora_ssl_bundle=str(pki.bundle_path)))
    code, out, err = run_cli(capsys, "env", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["params"]["host"] == tls_server.host
    assert "visible to other users" not in err  # not typed on a command line
    code, out, err = run_cli(capsys, "check", "--format", "json")
    assert code == 0, out + err
    (report,) = json.loads(out)["connections"]
    assert (report["verdict"], report["host"]) == ("verified", tls_server.host)
    assert tls_server.password not in out + err


# ------------------------------------------------------------------ as processes, with psql


def _psql_env(server: AuroraLikeServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        PGHOST=server.host,
        PGHOSTADDR=server.hostaddr,
        PGPORT=str(server.port),
        PGUSER=server.user,
        PGPASSWORD=server.password,
        PGDATABASE=server.database,
        PGCONNECT_TIMEOUT="5",
    )
    return env


PSQL = shutil.which("psql") or next(
    (p for p in ("/usr/lib/postgresql/15/bin/psql",) if os.access(p, os.X_OK)), None
)
ASK_SSL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.mark.skipif(PSQL is None, reason="psql is not installed")
def test_psql_with_env_output(
    tls_server: AuroraLikeServer, interception_server: AuroraLikeServer, pki: TestPKI
) -> None:
    """eval "$(python -m aurora_ssl env HOST)"; psql  -> verified TLS; interception refused."""
    script = (
        f'eval "$("{sys.executable}" -m aurora_ssl env "$PGHOST" --bundle "{pki.bundle_path}")" '
        f'&& test "$PGSSLMODE" = verify-full && psql -XtAc "{ASK_SSL}"'
    )
    good = subprocess.run(
        ["bash", "-c", script],
        env=_psql_env(tls_server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "t"
    bad = subprocess.run(
        ["bash", "-c", script],
        env=_psql_env(interception_server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    assert "certificate verify failed" in bad.stderr


@pytest.mark.skipif(PSQL is None, reason="psql is not installed")
@pytest.mark.parametrize("given", ["argument", "DATABASE_URL"])
def test_psql_with_the_conninfo_of_a_url(
    tls_server: AuroraLikeServer,
    interception_server: AuroraLikeServer,
    pki: TestPKI,
    given: str,
) -> None:
    """The README's line, psql "$(aurora-ssl env --format conninfo)": the app's URL (no
    password in it; psql takes PGPASSWORD) gives psql verify-full to the right roots, and the
    same line is refused by a server whose certificate the RDS roots do not vouch for."""
    argument = '"$URL"' if given == "argument" else ""
    script = (
        f'{shlex.quote(str(PSQL))} -XtAc "{ASK_SSL}" '
        f'"$({shlex.quote(sys.executable)} -m aurora_ssl env {argument} --format conninfo)"'
    )
    for server, verified in ((tls_server, True), (interception_server, False)):
        url = (
            f"postgresql+psycopg2://{server.user}@{server.host}:{server.port}/{server.database}"
            f"?hostaddr={server.hostaddr}&plugin=aurora_ssl&aurora_ssl_bundle={pki.bundle_path}"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGPASSWORD=server.password, PGCONNECT_TIMEOUT="5", URL=url, DATABASE_URL=url)
        if given == "argument":
            del env["DATABASE_URL"]
        result = _bash(script, env)
        if verified:
            assert result.returncode == 0, result.stderr
            assert result.stdout.strip() == "t"  # the server's own view: a TLS session
        else:
            assert result.returncode != 0
            assert "certificate verify failed" in result.stderr
        assert server.password not in result.stdout + result.stderr


@pytest.mark.skipif(PSQL is None, reason="psql is not installed")
def test_psql_with_bundle_path(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    path = subprocess.run(
        [
            sys.executable,
            "-m",
            "aurora_ssl",
            "bundle",
            "path",
            tls_server.host,
            "--bundle",
            str(pki.bundle_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert PSQL is not None
    result = subprocess.run(
        [PSQL, "-XtAc", ASK_SSL, f"sslmode=verify-full sslrootcert={path}"],
        env=_psql_env(tls_server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "t"


def test_python_dash_m_check_exit_codes(
    tls_server: AuroraLikeServer, expired_server: AuroraLikeServer, pki: TestPKI
) -> None:
    env = dict(os.environ, PGPASSWORD=tls_server.password)
    dsn = f"host={tls_server.host} hostaddr=127.0.0.1 port={tls_server.port} user={tls_server.user} dbname=app"
    ok = subprocess.run(
        [sys.executable, "-m", "aurora_ssl", "check", dsn, "--bundle", str(pki.bundle_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "VERIFIED" in ok.stdout
    env["PGPASSWORD"] = expired_server.password
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "aurora_ssl",
            "check",
            dsn.replace(str(tls_server.port), str(expired_server.port)),
            "--bundle",
            str(pki.bundle_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "CertificateExpired" in refused.stdout or "outside its validity period" in refused.stdout
    assert expired_server.password not in refused.stdout + refused.stderr


def test_check_through_another_name_with_tls_server_name(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connect to 'localhost' (think: a CNAME or tunnel), verify the RDS endpoint name."""
    monkeypatch.setenv("PGPASSWORD", tls_server.password)
    dsn = f"host=localhost port={tls_server.port} user={tls_server.user} dbname=app"
    code, out, _ = run_cli(
        capsys, "check", dsn, "--bundle", str(pki.bundle_path), "--tls-server-name", tls_server.host
    )
    assert code == 0, out
    assert "VERIFIED" in out
    assert "(cluster, region test-region-1)" in out


# ------------------------------------------------------------------ env beats a service file


def _weak_service(tmp_path: Path, server: AuroraLikeServer) -> dict[str, str]:
    """The environment of a user whose PGSERVICE names a service with sslmode=disable."""
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        f"[weak]\nhost={server.host}\nhostaddr=127.0.0.1\nport={server.port}\nsslmode=disable\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        PGSERVICEFILE=str(service_file),
        PGSERVICE="weak",
        PGUSER=server.user,
        PGPASSWORD=server.password,
        PGDATABASE=server.database,
        PGCONNECT_TIMEOUT="5",
    )
    return env


def _aurora_env(server: AuroraLikeServer, pki: TestPKI, *extra: str) -> str:
    args = ["--hostaddr", "127.0.0.1", "--port", str(server.port), "--bundle", str(pki.bundle_path)]
    command = [sys.executable, "-m", "aurora_ssl", "env", server.host, *args, *extra]
    return " ".join(shlex.quote(part) for part in command)


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(PSQL is None, reason="psql is not installed")
def test_service_file_cannot_weaken_env_output(
    tls_server: AuroraLikeServer, pki: TestPKI, tmp_path: Path
) -> None:
    """PGSERVICE=weak (sslmode=disable) outranks PG* variables in libpq: without `unset
    PGSERVICE` psql goes plaintext (the server refuses it: rds.force_ssl); with our output,
    both forms, the server sees a TLS session."""
    env = _weak_service(tmp_path, tls_server)
    query = f'{shlex.quote(str(PSQL))} -XtAc "{ASK_SSL}"'
    # The old output (variables only) loses to the service file: a plaintext attempt.
    path = subprocess.run(
        [
            sys.executable,
            "-m",
            "aurora_ssl",
            "bundle",
            "path",
            tls_server.host,
            "--bundle",
            str(pki.bundle_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    before = tls_server.log_path.read_text(errors="replace")
    old = _bash(f"export PGSSLMODE=verify-full PGSSLROOTCERT={shlex.quote(path)}; {query}", env)
    assert old.returncode != 0
    assert "no encryption" in old.stderr
    seen = tls_server.log_path.read_text(errors="replace")[len(before) :]
    assert "rejects connection" in seen  # the server saw a plaintext attempt
    assert "no encryption" in seen

    exported = _bash(f'eval "$({_aurora_env(tls_server, pki)})" && {query}', env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == "t"

    conninfo = _bash(f'{query} "$({_aurora_env(tls_server, pki, "--format", "conninfo")})"', env)
    assert conninfo.returncode == 0, conninfo.stderr
    assert conninfo.stdout.strip() == "t"


@pytest.mark.skipif(PSQL is None, reason="psql is not installed")
def test_conninfo_output_is_refused_by_a_server_without_tls(
    no_tls_server: AuroraLikeServer, pki: TestPKI, tmp_path: Path
) -> None:
    env = _weak_service(tmp_path, no_tls_server)
    query = f'{shlex.quote(str(PSQL))} -XtAc "{ASK_SSL}"'
    plain = _bash(query, env)  # the service alone: a plaintext session, accepted
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == "f"
    for script in (
        f'{query} "$({_aurora_env(no_tls_server, pki, "--format", "conninfo")})"',
        f'eval "$({_aurora_env(no_tls_server, pki)})" && {query}',
    ):
        refused = _bash(script, env)
        assert refused.returncode != 0
        assert refused.stdout.strip() == ""  # no session, so no answer from pg_stat_ssl
        assert "server does not support SSL" in refused.stderr


@pytest.mark.driver("psycopg")
def test_check_reads_the_url_of_aws_wrapper_without_its_properties(
    tls_server: AuroraLikeServer, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = tls_server.database_url("postgresql+aws_wrapper_psycopg")
    monkeypatch.setenv("DATABASE_URL", f"{url}&wrapper_dialect=pg&plugins=failover")
    assert main(["check", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["connections"][0]["verdict"] == "verified"
    assert "2 property(ies) of AWS's wrapper ignored" in err
