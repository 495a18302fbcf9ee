"""Bad input gets one clear line (never a traceback), whatever the arguments or the DSN.

In-process through ``aurora_ssl.cli.main([...])``, without a server (nothing listens where a
fuzzed DSN points). One DATABASE_URL for ``check`` against the real server:
tests/integration/cli/test_database_url.py.
"""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aurora_ssl.cli import main
from tests.fix_cli import Capture, run_cli

LONG_LABEL = "a" * 64 + ".cluster-abc.us-east-1.rds.amazonaws.com"
HUGE = "h" * 100_000


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["inspect", "localhost", "--timeout", "-1"], 2, "greater than 0"),
        (["inspect", "localhost", "--timeout", "nan"], 2, "greater than 0"),
        (["inspect", "localhost", "--timeout", "inf"], 2, "greater than 0"),
        (["inspect", "localhost", "--timeout", "0"], 2, "greater than 0"),
        (["inspect", "localhost", "--port", "abc"], 2, "is not a port number (1-65535)"),
        (["inspect", "localhost", "--port", "70000"], 2, "is not a port number (1-65535)"),
        (["inspect", "localhost", "--hostaddr", "db.example.com"], 2, "not an IP address"),
        (["inspect", "localhost", "--warn-days", "-3"], 2, "whole number"),
        (["inspect", LONG_LABEL], 2, "labels of at most 63"),
        (["inspect", f"{LONG_LABEL}:5432"], 2, "labels of at most 63"),
        (["inspect", "db.example.com:notaport"], 2, "not a number"),
        (["env", LONG_LABEL], 2, "labels of at most 63"),
        (["env", "db..example.com"], 2, "not a valid host name"),
        (["env", "localhost", "--port", "0"], 2, "is not a port number (1-65535)"),
        (["bundle", "path", LONG_LABEL], 2, "labels of at most 63"),
        (["bundle", "update", "--timeout", "-5", "--dry-run"], 2, "greater than 0"),
        (["check", "host=h port=abc"], 2, "port 'abc' is not a port number"),
        (["check", "host=h port=5432,abc"], 2, "port 'abc' is not a port number"),
        (["check", f"host={LONG_LABEL}"], 2, "labels of at most 63"),
        (["check", "host=h hostaddr=not-an-ip"], 2, "not an IP address"),
        (["check", "host=h connect_timeout=soon"], 2, "connect_timeout"),
        (["check", "host=h", "--connect-timeout", "-1"], 2, "whole number"),
        (["check", "host=h", "--tls-server-name", LONG_LABEL], 2, "labels of at most 63"),
        (["check", "postgresql://h/db?aurora_ssl_bundel=/x.pem"], 2, "aurora_ssl_bundle"),
        (["check", "postgresql+pg9000://h/db"], 2, "not pg9000"),
        (["inspect", "localhost", "--bundle", "\x00"], 2, "not a usable file path"),
        (["check", "postgresql://h/db?aurora_ssl_bundle=%00"], 2, "NUL character"),
        (
            ["check", "postgresql://h/db?aurora_ssl_insecure_local_dev=true"],
            2,
            "turns verification off",
        ),
        (["check", "--format", "xml", "host=h"], 2, "invalid choice"),
    ],
)
def test_bad_input_gets_one_line(capsys: Capture, argv: list[str], status: int, says: str) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == status
    assert says in _one_line(err)
    assert out == ""


def test_bad_port_in_the_environment_is_named(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPORT", "abc")
    code, _, err = run_cli(capsys, "check", "host=h")
    assert code == 2
    assert "PGPORT 'abc' is not a port number" in _one_line(err)


def test_bad_input_in_json_mode_is_a_json_document(capsys: Capture) -> None:
    code, out, err = run_cli(capsys, "check", "--format", "json", "host=h port=abc")
    assert code == 2
    assert json.loads(out) == {
        "ok": False,
        "error": {"code": "UsageError", "message": _one_line(err).split("error: ", 1)[1]},
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["check", f"host={HUGE}"],
        ["check", f"host=h port={HUGE}"],
        ["inspect", HUGE],
        ["env", HUGE],
        ["check", "--format", HUGE, "host=h"],
        ["check", f"postgresql://h/db?aurora_ssl_{HUGE}=1"],
    ],
)
def test_a_100kb_value_is_not_echoed_whole(capsys: Capture, argv: list[str]) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert len(out + err) < 1000
    assert "h" * 101 not in out + err
    assert "characters" in err or "h..." in err  # says it was shortened


# ------------------------------------------------------------------ fuzzing the arguments

_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["-1", "0", "nan", "inf", "1e309", "65536", "abc", "", " ", "\x00", "-"]),
    st.sampled_from(["/", "/nonexistent.pem", "/etc/passwd", "/dev/null", "~", "127.0.0.1"]),
    st.just("a" * 64 + ".example.com"),
)
_OPTIONS = st.sampled_from(
    [
        "--timeout",
        "--port",
        "--hostaddr",
        "--warn-days",
        "--format",
        "--shell",
        "--bundle",
        "--connect-timeout",
        "--tls-server-name",
        "--driver",
        "--sslrootcert",
        "--libpq-version",
    ]
)


@st.composite
def _argv(draw: st.DrawFn) -> list[str]:
    command = draw(
        st.sampled_from([["inspect"], ["env"], ["check"], ["bundle", "path"], ["bundle"]])
    )
    argv = [*command, draw(_VALUES)]
    for _ in range(draw(st.integers(0, 3))):
        argv += [draw(_OPTIONS), draw(_VALUES)]
    if command == ["inspect"]:
        # Never reach the network: an address nothing listens on, refused at once.
        argv += ["--hostaddr", "127.0.0.1", "--port", "9", "--timeout", "1"]
    if command == ["check"]:
        argv[1] = f"{argv[1]} hostaddr=127.0.0.1 port=9 connect_timeout=1"
    return argv


@settings(
    max_examples=int(os.environ.get("AURORA_SSL_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=_argv())
def test_no_input_produces_a_traceback(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # '-' reads the DSN from stdin
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), argv
    assert "Traceback" not in out + err
    assert "unexpected" not in err, err  # the last-resort handler for bugs never ran


_KEYS = st.sampled_from(
    [
        "host",
        "port",
        "hostaddr",
        "sslmode",
        "sslrootcert",
        "plugin",
        "aurora_ssl_bundle",
        "aurora_ssl_tls_server_name",
        "aurora_ssl_typo",
        "connect_timeout",
        "password",
        "sslnegotiation",
        "service",
        "ssl",
        "dbname",
        "user",
    ]
)


@st.composite
def _dsn(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(_KEYS, _VALUES), max_size=5))
    if draw(st.booleans()):
        scheme = draw(
            st.sampled_from(
                [
                    "postgresql",
                    "postgres",
                    "postgresql+psycopg",
                    "postgresql+psycopg2",
                    "postgresql+asyncpg",
                ]
            )
        )
        host = draw(_VALUES)
        query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in pairs)
        return (
            f"{scheme}://u@{urllib.parse.quote(host, safe='')}/db?{query}"
            "&hostaddr=127.0.0.1&port=9&connect_timeout=1"
        )
    quoted = " ".join(
        f"{k}='{v.replace(chr(92), chr(92) * 2).replace(chr(39), chr(92) + chr(39))}'"
        for k, v in pairs
    )
    return f"{quoted} hostaddr=127.0.0.1 port=9 connect_timeout=1"


@settings(
    max_examples=int(os.environ.get("AURORA_SSL_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dsn=_dsn(), fmt=st.sampled_from(["text", "json"]))
def test_no_dsn_produces_a_traceback(capsys: Capture, dsn: str, fmt: str) -> None:
    code = main(["check", "--format", fmt, dsn])
    out, err = capsys.readouterr()
    assert code in (1, 2), dsn  # nothing listens on port 9: never verified
    assert "Traceback" not in out + err
    assert "unexpected" not in err, err
    if fmt == "json" and out.strip():
        assert json.loads(out)["ok"] is False
