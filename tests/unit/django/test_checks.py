"""System checks: the static ones never connect (the database check, which asks each real
server once: tests/integration/django/test_checks.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

from aurora_ssl.testing import TestPKI
from tests.fix_django import ENGINE, aurora_ids, use_databases

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


def static_ids(databases: dict[str, dict[str, Any]]) -> list[str]:
    return aurora_ids(static_messages(databases))


def static_messages(databases: dict[str, dict[str, Any]]) -> list[Any]:
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
    return [m for m in messages if m.id.startswith("aurora_ssl.")]


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
            {"AURORA_SSL": {"INSECURE_LOCAL_DEV": "maybe"}}, ["aurora_ssl.E002"], id="wrong-type"
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


# --- options as strings (settings from environment variables) -------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *((v, []) for v in ("false", "False", " off ", "0", "no", 0, False)),
        *((v, ["aurora_ssl.E007"]) for v in ("true", "TRUE", "on", "1", "yes", 1, True)),
    ],
)
def test_insecure_local_dev_given_as_a_string_is_parsed_strictly(
    pki: TestPKI, value: object, expected: list[str]
) -> None:
    # The AWS host makes "on" visible (E007); "false" must keep verification on, not be truthy.
    aurora = {"INSECURE_LOCAL_DEV": value, "BUNDLE": str(pki.bundle_path)}
    assert static_ids({"default": entry(AURORA_SSL=aurora)}) == expected


@pytest.mark.parametrize("key", ["INSECURE_LOCAL_DEV", "SERVER_CHECK_AT_STARTUP"])
@pytest.mark.parametrize("value", ["maybe", " ", "2", "falsch", 2, -1, 0.0])
def test_unrecognised_boolean_spellings_are_errors(key: str, value: object) -> None:
    messages = static_messages({"default": entry(AURORA_SSL={key: value})})
    assert [m.id for m in messages] == ["aurora_ssl.E002"]
    text = messages[0].msg
    assert f"{key}=" in text
    assert "in DATABASES['default']['AURORA_SSL']" in text
    assert "true/false" in text
    assert "yes/no" in text


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("off", False), ("1", True)])
def test_server_check_at_startup_given_as_a_string(value: str, expected: bool) -> None:
    from django_aurora_ssl._conf import database_options

    options = database_options({"AURORA_SSL": {"SERVER_CHECK_AT_STARTUP": value}}, "default")
    assert options.server_check_at_startup is expected
    assert options.insecure_local_dev is False


def test_a_bad_boolean_is_improperly_configured_at_connect_too() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    with use_databases({"default": entry(AURORA_SSL={"INSECURE_LOCAL_DEV": "ture"})}):
        with pytest.raises(ImproperlyConfigured, match=r"INSECURE_LOCAL_DEV.*'ture'.*true/false"):
            connections["default"].ensure_connection()
        assert connections["default"].connection is None


# --- the insecure opt-out's guard sees every host source -----------------------------------

LOCAL = {"HOST": "localhost"}
GUARD_SOURCES = [
    pytest.param({"HOST": AWS_HOST}, id="HOST"),
    pytest.param({"HOST": f"localhost,{AWS_HOST}"}, id="HOST-multi"),
    pytest.param({"HOST": "", "OPTIONS": {"host": AWS_HOST}}, id="OPTIONS-host"),
    pytest.param({**LOCAL, "OPTIONS": {"host": AWS_HOST}}, id="OPTIONS-host-under-HOST"),
    pytest.param({**LOCAL, "OPTIONS": {"hostaddr": AWS_HOST}}, id="OPTIONS-hostaddr"),
    pytest.param({**LOCAL, "TLS_SERVER_NAME": AWS_HOST}, id="TLS_SERVER_NAME"),
    pytest.param(
        {**LOCAL, "TLS_SERVER_NAME": "db.cluster-x.eu-west-1.rds.amazonaws.com"}, id="tsn"
    ),
]


def guarded(source: dict[str, Any]) -> dict[str, Any]:
    """``source`` with the opt-out on (TLS_SERVER_NAME goes into AURORA_SSL)."""
    source = dict(source)
    aurora = {"INSECURE_LOCAL_DEV": True}
    if "TLS_SERVER_NAME" in source:
        aurora["TLS_SERVER_NAME"] = source.pop("TLS_SERVER_NAME")
    return entry(AURORA_SSL=aurora, **source)


@pytest.mark.parametrize("source", GUARD_SOURCES)
def test_insecure_opt_out_is_refused_for_an_aws_name_from_any_host_source(
    source: dict[str, Any],
) -> None:
    messages = static_messages({"default": guarded(source)})
    assert [m.id for m in messages] == ["aurora_ssl.E007"]
    assert "amazonaws.com" in messages[0].msg


def test_insecure_opt_out_for_local_names_only_warns() -> None:
    local = guarded({**LOCAL, "OPTIONS": {"hostaddr": "127.0.0.1"}})
    assert static_ids({"default": local}) == ["aurora_ssl.W001"]


# --- NAME holding a connection string ----------------------------------------------------------

CONNINFO_NAMES = [
    pytest.param({"NAME": "dbname=app sslmode=disable"}, id="keywords"),
    pytest.param({"NAME": "postgresql://app@evil.example.com/app?sslmode=disable"}, id="uri"),
    pytest.param({"NAME": "POSTGRES://x/app"}, id="uri-upper"),
    pytest.param({"NAME": "app", "OPTIONS": {"dbname": "dbname=app host=/tmp"}}, id="options"),
]


@pytest.mark.parametrize("database", CONNINFO_NAMES)
def test_a_connection_string_in_name_is_refused(pki: TestPKI, database: dict[str, Any]) -> None:
    messages = static_messages(
        {"default": entry(AURORA_SSL={"BUNDLE": str(pki.bundle_path)}, **database)}
    )
    assert [m.id for m in messages] == ["aurora_ssl.E003"]
    assert "holds a connection string" in messages[0].msg
    assert "sslmode=disable" not in messages[0].msg  # the value (maybe a password) is not echoed
    assert "NAME" in messages[0].hint


def test_a_connection_string_in_name_is_refused_even_with_the_opt_out() -> None:
    local = guarded({**LOCAL, "NAME": "dbname=app host=db.cluster-x.us-east-1.rds.amazonaws.com"})
    assert static_ids({"default": local}) == ["aurora_ssl.E003"]


# --- E003's hint names where sslmode came from ----------------------------------------------

# What dj_database_url.parse(url, ssl_require=True) returns (dj-database-url 2.x), on our ENGINE.
DJ_DATABASE_URL_ENTRY = {
    "NAME": "app",
    "USER": "app",
    "PASSWORD": "Sekrit-check-pw",
    "HOST": AWS_HOST,
    "PORT": CLOSED_PORT,
    "CONN_MAX_AGE": 0,
    "CONN_HEALTH_CHECKS": False,
    "DISABLE_SERVER_SIDE_CURSORS": False,
    "ENGINE": ENGINE,
    "OPTIONS": {"sslmode": "require"},
}


def test_e003_hint_names_dj_database_url_ssl_require() -> None:
    messages = static_messages({"default": dict(DJ_DATABASE_URL_ENTRY)})
    assert [m.id for m in messages] == ["aurora_ssl.E003"]
    hint = messages[0].hint
    assert "looks built by dj-database-url" in hint
    assert "remove ssl_require=True from dj_database_url.config() / parse()" in hint
    assert "DATABASE_URL" in hint


def test_e003_hint_for_sslmode_require_mentions_ssl_require_even_without_the_shape() -> None:
    (message,) = static_messages({"default": entry(OPTIONS={"sslmode": "require"})})
    assert "ssl_require=True" in message.hint
    assert "looks built by" not in message.hint


def test_e003_hint_for_hand_written_options_says_options() -> None:
    (message,) = static_messages({"default": entry(OPTIONS={"sslmode": "disable"})})
    assert message.id == "aurora_ssl.E003"
    assert message.hint.startswith("Remove it from OPTIONS")
    assert "dj_database_url" not in message.hint


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
