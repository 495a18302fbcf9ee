"""``database_url`` and ``secure_entry`` without a server: bad URLs refused without their password,
values read strictly, unknown keys refused, the helper a plain function.

One DATABASE_URL through real verified connections: tests/integration/django/test_database_url.py.
"""

from __future__ import annotations

import json

import pytest

from django_aurora_ssl import database_url, secure_entry
from django_aurora_ssl._conf import OptionsError, database_options


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:SECRETPW@h/db", "scheme 'mysql'"),
        ("postgresql://u:SECRETPW@h/db?aurora_ssl_bundel=x", "option aurora_ssl_bundel in"),
        (
            "postgresql://u:SECRETPW@h/db?AURORA_SSL_BUNDLE=x",
            "Unknown aurora-ssl option AURORA_SSL_BUNDLE",
        ),
        (
            "postgresql://u:SECRETPW@h/db?aurora_ssl_bundle=%20",
            "aurora_ssl_bundle in the query of the URL is empty",
        ),
        ("postgresql://u:SECRETPW@h/db?aurora_ssl_tls_server_name=a%20b", "contains blanks"),
        ("postgresql://u:SECRETPW@h/db?aurora_ssl_log_level=LOUD", "not a logging level"),
        ("postgresql://u:SECRETPW@h/db?plugin=other", "Django cannot run SQLAlchemy plugins"),
        ("postgresql://u:SECRETPW@h/db?sslmode=a&sslmode=b", "twice"),
        ("postgresql://u:SECRETPW@h/db?aurora_ssl_iam=maybe", "aurora_ssl_iam='maybe'"),
        ("postgresql://u:SECRETPW@h/db?aurora_ssl_insecure_local_dev=sure", "not a boolean"),
        (
            "postgresql://u:SECRETPW@h/db?aurora_ssl_explain_pool_timeout=x",
            "aurora_ssl_explain_pool_timeout='x' in the query",
        ),
        (
            "postgresql://u:SECRETPW@h/db?aurora_ssl_password_provider=os:getcwd",
            "Remove the password from the URL",
        ),
        ("postgresql://u:SECRETPW@h/db?aurora_ssl_iam=on", "Remove the password from"),
        ("postgresql://u:SECRETPW@h:notaport/db", "not a valid URL"),
        (
            "postgresql://u:SECRETPW@h/db?aurora_ssl_iam=1&aurora_ssl_password_provider=os:getcwd",
            "both choose the password",
        ),
    ],
)
def test_bad_urls_are_refused_without_the_password(url: str, message: str) -> None:
    with pytest.raises(OptionsError) as info:
        database_url(url)
    assert message in str(info.value)
    assert "SECRETPW" not in str(info.value)


def test_strict_values_and_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = database_url(
        "postgres://u@h.example:6543/d%2Fb?aurora_ssl_iam=TRUE&aurora_ssl_iam_profile=prod"
        "&aurora_ssl_explain_pool_timeout=off&aurora_ssl_log_level=info"
    )
    assert (entry["PASSWORD"], entry["PORT"], entry["NAME"]) == ("", "6543", "d/b")
    # Checked by the one reader the plugin and ``check`` use, kept as given (read at connect).
    assert entry["AURORA_SSL"] == {
        "IAM": "TRUE",
        "IAM_PROFILE": "prod",
        "EXPLAIN_POOL_TIMEOUT": "off",
        "LOG_LEVEL": "info",
    }
    options = database_options(entry, "default")
    assert (options.iam, options.explain_pool_timeout, options.log_level) == (True, False, 20)
    entry = database_url("postgres://u:p%40ss@h.example:6543/d%2Fb?aurora_ssl_bundle=/b.pem")
    assert (entry["PASSWORD"], entry["PORT"], entry["NAME"]) == ("p@ss", "6543", "d/b")
    assert database_url("postgis://u@h/d")["ENGINE"] == "django_aurora_ssl.backends.postgis"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(OptionsError, match=r"\$DATABASE_URL is not set"):
        database_url()


def test_secure_entry_refuses_unknown_keys() -> None:
    entry = {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"aurora_ssl_nope": "1"}}
    with pytest.raises(OptionsError, match="aurora_ssl_nope"):
        secure_entry(entry)
    made = secure_entry({"ENGINE": "django.contrib.gis.db.backends.postgis", "OPTIONS": {}})
    assert made["ENGINE"] == "django_aurora_ssl.backends.postgis"
    assert json.dumps(made)  # plain data: fits a settings module


def test_the_helper_stays_a_function_once_its_module_is_imported() -> None:
    """A submodule named like the helper would replace it on the package once imported."""
    import importlib

    import django_aurora_ssl

    importlib.import_module("django_aurora_ssl._conf")
    assert callable(django_aurora_ssl.database_url)
    assert callable(django_aurora_ssl.secure_entry)
