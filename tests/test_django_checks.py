"""System checks: static ones never connect; the database check asks each real server once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests.fix_django import ENGINE, database_entry, use_databases

pytestmark = pytest.mark.usefixtures("django_env")

AWS_HOST = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"
CLOSED_PORT = "1"  # nothing listens there: a check that tried to connect would fail


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ENGINE": ENGINE,
        "HOST": AWS_HOST,
        "PORT": CLOSED_PORT,
        "NAME": "app",
        "USER": "app",
        "PASSWORD": "Sekrit-check-pw",
        "OPTIONS": {},
    }
    base.update(overrides)
    return base


def aurora_ids(messages: list[Any]) -> list[str]:
    return sorted(m.id for m in messages if m.id.startswith("aurora_ssl."))


def static_ids(databases: dict[str, dict[str, Any]]) -> list[str]:
    from django.core.checks import run_checks
    from django.db import connections

    with use_databases(databases):
        messages = run_checks()
        # Static checks never connect (Django's own checks may build a wrapper, unconnected).
        assert [c.alias for c in connections.all(initialized_only=True) if c.connection] == []
    for message in messages:
        if message.id.startswith("aurora_ssl."):
            assert message.hint, message.id  # every message says how to fix it
            assert "Sekrit-check-pw" not in f"{message.msg} {message.hint}"
    return aurora_ids(messages)


def test_a_correct_configuration_passes(pki: TestPKI) -> None:
    ok = entry(AURORA_SSL={"BUNDLE": str(pki.bundle_path)})
    assert static_ids({"default": ok}) == []


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        pytest.param(
            {"ENGINE": "django.db.backends.postgresql", "AURORA_SSL": {}},
            ["aurora_ssl.E001"],
            id="options-on-plain-engine",
        ),
        pytest.param({"AURORA_SSL": ["BUNDLE"]}, ["aurora_ssl.E002"], id="options-not-a-dict"),
        pytest.param({"AURORA_SSL": {"BUNDEL": "x"}}, ["aurora_ssl.E002"], id="unknown-key"),
        pytest.param(
            {"OPTIONS": {"AURORA_SSL": {"BUNDLE": "x"}}}, ["aurora_ssl.E002"], id="inside-options"
        ),
        pytest.param(
            {"AURORA_SSL": {"INSECURE_LOCAL_DEV": "yes"}}, ["aurora_ssl.E002"], id="wrong-type"
        ),
        *(
            pytest.param({"OPTIONS": {"sslmode": mode}}, ["aurora_ssl.E003"], id=f"sslmode-{mode}")
            for mode in ("disable", "allow", "prefer", "require", "verify-ca")
        ),
        pytest.param(
            {"OPTIONS": {"sslrootcert": "system"}}, ["aurora_ssl.E003"], id="sslrootcert-system"
        ),
        pytest.param({"OPTIONS": {"gssencmode": "prefer"}}, ["aurora_ssl.E003"], id="gssenc"),
        pytest.param({"HOST": ""}, ["aurora_ssl.E004"], id="no-host"),
        pytest.param({"HOST": "/var/run/postgresql"}, ["aurora_ssl.E004"], id="unix-socket"),
        pytest.param(
            {"AURORA_SSL": {"BUNDLE": "/nonexistent/bundle.pem"}},
            ["aurora_ssl.E005"],
            id="missing-bundle",
        ),
        pytest.param(
            {"HOST": "db.cluster-abc.cn-north-1.rds.amazonaws.com.cn"},
            ["aurora_ssl.E006"],
            id="china-without-bundle",
        ),
        pytest.param(
            {"HOST": "db.cluster-abc.us-gov-west-1.rds.amazonaws.com"},
            ["aurora_ssl.E006"],
            id="govcloud-without-bundle",
        ),
        pytest.param(
            {"AURORA_SSL": {"INSECURE_LOCAL_DEV": True}}, ["aurora_ssl.E007"], id="optout-aws"
        ),
        pytest.param(
            {"HOST": "localhost", "AURORA_SSL": {"INSECURE_LOCAL_DEV": True}},
            ["aurora_ssl.W001"],
            id="optout-local",
        ),
        pytest.param({"HOST": "db.internal.example.com"}, ["aurora_ssl.W003"], id="cname"),
        pytest.param(
            {"ENGINE": "django.db.backends.postgresql"},
            ["aurora_ssl.W002", "aurora_ssl.W004"],
            id="rds-on-plain-engine",
        ),
    ],
)
def test_static_checks(database: dict[str, Any], expected: list[str]) -> None:
    assert static_ids({"default": entry(**database)}) == expected


def test_engine_path_that_does_not_exist() -> None:
    import django
    from django.core.exceptions import ImproperlyConfigured

    bad = {"default": entry(ENGINE="django_aurora_ssl.backends")}
    if django.VERSION >= (6, 1):  # Django loads every backend in its own checks, first
        with pytest.raises(ImproperlyConfigured, match="isn't an available database backend"):
            static_ids(bad)
    else:
        assert static_ids(bad) == ["aurora_ssl.E001"]


def test_garbage_bundle_file_is_an_error(tmp_path: Path) -> None:
    garbage = tmp_path / "bundle.pem"
    garbage.write_text("not a certificate\n")
    assert static_ids({"default": entry(AURORA_SSL={"BUNDLE": str(garbage)})}) == [
        "aurora_ssl.E005"
    ]


def test_bundle_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURORA_SSL_BUNDLE", "/nonexistent/from-env.pem")
    assert static_ids({"default": entry()}) == ["aurora_ssl.E005"]


def test_tls_server_name_is_what_selects_trust(pki: TestPKI) -> None:
    cname = entry(
        HOST="db.internal.example.com",
        AURORA_SSL={"TLS_SERVER_NAME": AWS_HOST, "BUNDLE": str(pki.bundle_path)},
    )
    assert static_ids({"default": cname}) == []


def test_static_checks_run_with_every_command() -> None:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    databases = {"default": entry(OPTIONS={"sslmode": "require"})}
    with use_databases(databases), pytest.raises(SystemCheckError, match=r"aurora_ssl\.E003"):
        call_command("check")


# --- the database check, against each scenario server -----------------------------------------


DATABASE_CHECK = [
    ("tls_server", []),
    ("no_sslinfo_server", ["aurora_ssl.W005"]),
    ("wrong_host_server", ["aurora_ssl.E008"]),
    ("interception_server", ["aurora_ssl.E008"]),
    ("expired_server", ["aurora_ssl.E008"]),
    ("no_tls_server", ["aurora_ssl.E008"]),
]


@pytest.mark.parametrize(("scenario", "expected"), DATABASE_CHECK)
def test_database_check(request: pytest.FixtureRequest, scenario: str, expected: list[str]) -> None:
    from django.core.checks import Tags, run_checks

    server: AuroraLikeServer = request.getfixturevalue(scenario)
    with use_databases({"default": database_entry(server)}):
        messages = run_checks(tags=[Tags.database], databases=["default"])
    assert aurora_ids(messages) == expected
    for message in messages:
        assert message.hint
        assert server.password not in f"{message.msg} {message.hint}"


def test_database_check_is_one_round_trip_per_alias(
    tls_server: AuroraLikeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.checks import Tags, run_checks

    from aurora_ssl import status
    from django_aurora_ssl import probe
    from django_aurora_ssl.backends import wrapper

    asked: list[Any] = []
    real = status.server_tls

    def counting(connection: Any) -> Any:
        asked.append(connection)
        return real(connection)

    monkeypatch.setattr(wrapper, "server_tls", counting)
    monkeypatch.setattr(probe, "server_tls", counting)
    databases = {
        "default": database_entry(tls_server),  # startup check asks; the check reuses it
        "quiet": database_entry(tls_server, aurora={"SERVER_CHECK_AT_STARTUP": False}),
    }
    with use_databases(databases):
        messages = run_checks(tags=[Tags.database], databases=["default", "quiet"])
    assert aurora_ids(messages) == []
    assert len(asked) == 2


def test_database_check_skips_aliases_that_fail_statically(
    tls_server: AuroraLikeServer,
) -> None:
    from django.core.checks import run_checks
    from django.db import connections

    weak = database_entry(tls_server, options={"sslmode": "prefer"})
    with use_databases({"default": weak}):
        messages = run_checks(databases=["default"])
        assert connections["default"].connection is None
    assert aurora_ids(messages) == ["aurora_ssl.E003"]


def test_migrate_refuses_an_impostor_before_touching_it(
    interception_server: AuroraLikeServer,
) -> None:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    databases = {"default": database_entry(interception_server)}
    with use_databases(databases), pytest.raises(SystemCheckError, match=r"aurora_ssl\.E008"):
        call_command("migrate", skip_checks=False, verbosity=0)


def test_check_database_flag_reports_the_impostor(interception_server: AuroraLikeServer) -> None:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    databases = {"default": database_entry(interception_server)}
    with use_databases(databases), pytest.raises(SystemCheckError, match=r"aurora_ssl\.E008"):
        call_command("check", "--database", "default")
