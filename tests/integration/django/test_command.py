"""``manage.py check_aurora_ssl`` against each scenario server, in-process (call_command).

The real exit status of ``manage.py`` is checked in ``tests/integration/django/test_example.py``.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

pytest.importorskip("django")

from aurora_ssl._diagnostics._report import REPORT_KEYS
from aurora_ssl.testing import AuroraLikeServer
from tests.fix_django import database_entry, use_databases

pytestmark = pytest.mark.usefixtures("django_env")

BAD_SCENARIOS = ["wrong_host_server", "interception_server", "expired_server", "no_tls_server"]


def run(*args: str) -> tuple[bool, str, str]:
    """``(passed, stdout, error message)`` of one ``check_aurora_ssl`` run."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("check_aurora_ssl", *args, stdout=out, no_color=True)
    except CommandError as exc:
        return False, out.getvalue(), str(exc)
    return True, out.getvalue(), ""


def test_text_report_of_a_verified_connection(tls_server: AuroraLikeServer) -> None:
    with use_databases({"default": database_entry(tls_server)}):
        passed, out, _ = run()
    assert passed
    assert out.startswith("default: VERIFIED")
    for fact in (
        f"{tls_server.host}:{tls_server.port} (cluster, region test-region-1)",
        "trust:         region:test-region-1, 1 CA(s)",
        "- Amazon RDS test-region-1 Root CA RSA2048 G1",
        "client view:   TLS in use",
        "libpq used:    host=",
        "sslmode=verify-full",
        "server view:   ssl_is_used() = true, TLSv1.",
        "(sslinfo installed: yes)",
        "rds.force_ssl:",
    ):
        assert fact in out, out
    assert tls_server.password not in out


def test_the_headline_is_coloured_as_djangos_commands_colour_theirs(
    tls_server: AuroraLikeServer, no_tls_server: AuroraLikeServer
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.core.management.color import color_style

    style = color_style(force_color=True)
    entries = {"default": database_entry(tls_server), "bad": database_entry(no_tls_server)}
    out = io.StringIO()
    with use_databases(entries), pytest.raises(CommandError):
        call_command("check_aurora_ssl", stdout=out, force_color=True)
    (green, reset), (red, _) = style.SUCCESS("|").split("|"), style.ERROR("|").split("|")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(green + "default: VERIFIED")
    assert lines[0].endswith(reset)
    assert [line for line in lines if line.startswith(red + "bad: REFUSED")], lines
    assert all("\x1b" not in line for line in lines if line.startswith("  "))  # details plain


def test_json_report_has_the_documented_keys_from_the_code(
    tls_server: AuroraLikeServer, no_sslinfo_server: AuroraLikeServer
) -> None:
    databases = {"default": database_entry(tls_server), "other": database_entry(no_sslinfo_server)}
    with use_databases(databases):
        passed, out, _ = run("--format", "json")
    assert passed
    document = json.loads(out)
    assert set(document) == {"format", "ok", "connections"}
    assert document["format"] == 1
    assert document["ok"] is True
    reports = {r["label"]: r for r in document["connections"]}
    assert set(reports) == {"default", "other"}
    for report in reports.values():
        assert tuple(report) == REPORT_KEYS
        assert set(report["endpoint"]) == {"kind", "region", "partition"}
        assert set(report["trust"]) == {"file", "scope", "source", "cas"}
        assert set(report["client"]) == {"tls", "protocol", "cipher", "bits", "driver"}
        effective = report["effective"]
        assert effective["sslmode"] == "verify-full"
        assert effective["gssencmode"] == "disable"
        assert effective["sslsni"] == "1"
        assert effective["sslkeylogfile"] == ""
        assert effective["sslrootcert"] == report["trust"]["file"]
        assert "password" not in effective
        assert set(report["server"]) == {
            "ssl", "version", "cipher", "bits", "sslinfo", "source", "rds_force_ssl",
        }  # fmt: skip
        assert report["verdict"] == "verified"
        assert report["client"]["tls"] is True
        assert report["server"]["ssl"] is True
    assert reports["default"]["server"]["source"] == "sslinfo"
    assert reports["other"]["server"]["source"] == "pg_stat_ssl"
    assert [w["code"] for w in reports["other"]["warnings"]] == ["sslinfo-missing"]
    # Every key a real report has is described on the reference page.
    from tests.docs.test_reference_tables import documented_report_keys

    documented = set(documented_report_keys())

    for report in reports.values():
        for name in ("endpoint", "trust", "client", "server"):
            assert {f"{name}.{key}" for key in report[name]} <= documented
        for problem in report["warnings"]:
            assert {f"warnings[].{key}" for key in problem} <= documented


@pytest.mark.parametrize("scenario", BAD_SCENARIOS)
def test_refused_connections_fail_with_the_reason(
    request: pytest.FixtureRequest, scenario: str
) -> None:
    server: AuroraLikeServer = request.getfixturevalue(scenario)
    with use_databases({"default": database_entry(server)}):
        passed, out, error = run()
        passed_json, out_json, _ = run("--format", "json")
    assert not passed
    assert not passed_json
    assert error == "Not verified: default."
    assert re.match(r"default: (REFUSED|ERROR) - ", out), out
    assert "  error:" in out
    report = json.loads(out_json)["connections"][0]
    assert report["ok"] is False
    assert report["verdict"] in ("refused", "error")
    assert report["client"] is None  # nothing was ever sent over such a connection
    assert report["server"] is None
    assert report["errors"]
    assert server.password not in out + out_json


def test_an_expired_certificate_is_named_by_inspecting_the_server(
    expired_server: AuroraLikeServer,
) -> None:
    """libpq says only "certificate verify failed"; the command inspects the server on purpose
    (the backend's error path never does) and says it expired, and when."""
    with use_databases({"default": database_entry(expired_server)}):
        passed, out, _ = run("--format", "json")
    assert not passed
    (problem,) = json.loads(out)["connections"][0]["errors"]
    assert problem["code"] == "CertificateExpiredError"
    assert re.search(r"expired (9|10|11) day\(s\) ago", problem["message"])
    assert "verify failed" in problem["cause"]
    assert expired_server.password not in out


def test_warnings_pass_unless_fail_on_warning(no_sslinfo_server: AuroraLikeServer) -> None:
    with use_databases({"default": database_entry(no_sslinfo_server)}):
        passed, out, _ = run()
        strict, _, error = run("--fail-on-warning")
    assert passed
    assert "CREATE EXTENSION sslinfo" in out
    assert not strict
    assert error == "Not verified: default."


def test_one_bad_alias_fails_the_whole_run(
    tls_server: AuroraLikeServer, interception_server: AuroraLikeServer
) -> None:
    databases = {
        "default": database_entry(tls_server),
        "impostor": database_entry(interception_server),
    }
    with use_databases(databases):
        passed, out, error = run()
        only_default, _, _ = run("--database", "default")
    assert not passed
    assert error == "Not verified: impostor."
    assert "default: VERIFIED" in out
    assert only_default


def test_default_is_every_alias_on_the_backend(tls_server: AuroraLikeServer) -> None:
    databases: dict[str, Any] = {
        "default": database_entry(tls_server),
        "cache": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
    with use_databases(databases):
        passed, out, _ = run("--format", "json")
    assert passed
    assert [r["label"] for r in json.loads(out)["connections"]] == ["default"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--database", "nope"], "Unknown database alias 'nope'"),
        (["--database", "cache"], "not an aurora-ssl backend"),
    ],
)
def test_bad_arguments(tls_server: AuroraLikeServer, args: list[str], message: str) -> None:
    databases: dict[str, Any] = {
        "default": database_entry(tls_server),
        "cache": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
    with use_databases(databases):
        passed, _, error = run(*args)
    assert not passed
    assert message in error


def test_no_database_on_the_backend_is_an_error() -> None:
    with use_databases({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}):
        passed, _, error = run()
    assert not passed
    assert "No database uses an aurora-ssl backend" in error


def test_configuration_errors_are_reported_not_raised(tls_server: AuroraLikeServer) -> None:
    weak = database_entry(tls_server, options={"sslmode": "require"})
    with use_databases({"default": weak}):
        passed, out, _ = run("--format", "json")
    report = json.loads(out)["connections"][0]
    assert not passed
    assert report["verdict"] == "refused"
    assert report["errors"][0]["code"] == "InsecureConfigurationError"
    assert "sslmode=require" in report["errors"][0]["message"]


def test_insecure_opt_out_never_passes(no_tls_server: AuroraLikeServer) -> None:
    local = database_entry(
        no_tls_server, HOST=no_tls_server.hostaddr, options={}, aurora={"INSECURE_LOCAL_DEV": True}
    )
    with use_databases({"default": local}):
        passed, out, _ = run("--format", "json")
    report = json.loads(out)["connections"][0]
    assert not passed
    assert report["verdict"] == "insecure"
    assert report["insecure_local_dev"] is True
    assert report["server"]["ssl"] is False
    codes = [w["code"] for w in report["warnings"]]
    assert codes == ["insecure-local-dev", "rds-force-ssl-off"]  # that server has force_ssl=0
