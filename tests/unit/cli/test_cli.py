"""The ``aurora-ssl`` command line in-process without a server: usage errors, ``bundle path``,
``env``'s refusals and its quoting for each shell, ``--version`` and ``--help``.

Against the real servers, and once as processes with psql: tests/integration/cli/test_cli.py;
``bundle info``: tests/unit/cli/test_bundle_info.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aurora_ssl.cli import main
from tests.fix_cli import Capture, run_cli


def test_inspect_usage_error(capsys: Capture) -> None:
    code, out, err = run_cli(capsys, "inspect", "db.example.com:notaport")
    assert code == 2
    assert out == ""
    assert "not a number" in err


def test_bundle_path_json_and_warning(capsys: Capture) -> None:
    code, out, err = run_cli(
        capsys, "bundle", "path", "db.internal.example.com", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["scope"] == "full-bundle"
    assert len(data["cas"]) == 102
    assert "CNAME" in err


def test_bundle_path_without_host(capsys: Capture) -> None:
    code, out, _ = run_cli(capsys, "bundle", "path")
    assert code == 0
    assert out.strip().endswith("rds-global-bundle.pem")


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("postgresql://db.example.com/app?sslmode=disable", "sslmode=disable in the URL"),
        ("host=/var/run/postgresql", "No TCP host"),
        ("host=db.example.com sslmode =disable", "sslmode=disable"),
    ],
)
def test_env_refuses_what_the_policy_refuses(target: str, words: str, capsys: Capture) -> None:
    code, out, err = run_cli(capsys, "env", target)
    assert code == 1
    assert out == ""
    assert words in err


def test_env_names_a_key_no_variable_can_carry(capsys: Capture) -> None:
    """keepalives has no PG* variable: the variables form would drop it, so it is refused
    with the form that can say it; JSON and conninfo carry it."""
    target = "host=db.example.com keepalives=0"
    code, out, err = run_cli(capsys, "env", target)
    assert code == 1
    assert out == ""
    assert "keepalives cannot be set through environment variables" in err
    assert "--format conninfo" in err
    code, out, _ = run_cli(capsys, "env", target, "--format", "conninfo")
    assert code == 0
    assert "keepalives='0'" in out


@pytest.mark.parametrize("shell", ["sh", "fish", "powershell"])
def test_env_quotes_values_for_each_shell(tmp_path: Path, capsys: Capture, shell: str) -> None:
    from aurora_ssl._libpq import render
    from tests.certs import make_cert_pem

    own = tmp_path / "my dir" / "it's $HOME `x` \\.pem"
    own.parent.mkdir(mode=0o700)
    own.write_bytes(make_cert_pem("My Corp Root"))
    target = render({"host": "db.example.com", "sslrootcert": str(own)})
    code, out, err = run_cli(capsys, "env", target, "--shell", shell)
    assert code == 0, err
    if shell == "sh":  # the shell itself reads back the exact path
        done = subprocess.run(
            ["bash", "-c", f'{out}\nprintf %s "$PGSSLROOTCERT"'],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout == str(own)
    elif shell == "fish":
        quoted = str(own).replace("\\", "\\\\").replace("'", "\\'")
        assert f"set -gx PGSSLROOTCERT '{quoted}';" in out
        assert out.startswith("set -e PGSERVICE;")
    else:
        assert f"$env:PGSSLROOTCERT = '{str(own).replace(chr(39), chr(39) * 2)}'" in out
        assert out.startswith("Remove-Item Env:PGSERVICE")


def test_env_has_no_libpq_version_option(capsys: Capture) -> None:
    """The system libpq is asked through ctypes; there is nothing to tell it."""
    code, _, err = run_cli(capsys, "env", "db.example.com", "--libpq-version", "15")
    assert code == 2
    assert "--libpq-version" in err


def test_version_help_and_usage(capsys: Capture) -> None:
    assert run_cli(capsys, "--version")[1].startswith("aurora-ssl ")
    assert main(["--help"]) == 0
    assert main([]) == 2
    assert main(["bundle"]) == 2
    assert main(["frobnicate"]) == 2
    capsys.readouterr()
