"""The database system check against each scenario server: one round trip per alias, an impostor
refused before ``migrate`` touches it. The static checks, which never connect:
tests/unit/django/test_checks.py.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("django")

from aurora_ssl.testing import AuroraLikeServer
from tests.fix_django import aurora_ids, database_entry, use_databases

pytestmark = pytest.mark.usefixtures("django_env")

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

    from aurora_ssl import _server_tls as status
    from django_aurora_ssl import _checks
    from django_aurora_ssl.backends import _connect as wrapper

    asked: list[Any] = []
    real = status.server_tls

    def counting(connection: Any) -> Any:
        asked.append(connection)
        return real(connection)

    monkeypatch.setattr(wrapper, "server_tls", counting)
    monkeypatch.setattr(_checks, "server_tls", counting)
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
