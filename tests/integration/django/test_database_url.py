"""One DATABASE_URL for Django, SQLAlchemy and the usual Django URL libraries, through real
verified connections to the TLS test server (``ssl`` read from the server's pg_stat_ssl).

The URL reader's refusals without a server: tests/unit/django/test_database_url.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.testing import AuroraLikeServer
from django_aurora_ssl import database_url, secure_entry
from tests.fix_credentials import T0, reference_token, set_password
from tests.fix_django import ENGINE, django_whoami, use_databases


def server_url(
    server: AuroraLikeServer,
    scheme: str = "postgresql+psycopg",
    *,
    user: str | None = None,
    password: str | None = None,
    query: str = "",
) -> str:
    userinfo = quote(user or server.user, safe="")
    if password != "":
        userinfo += ":" + quote(password or server.password, safe="")
    base = f"{scheme}://{userinfo}@{server.host}:{server.port}/{server.database}"
    return f"{base}?hostaddr={server.hostaddr}&connect_timeout=5{query}"


def ours(server: AuroraLikeServer) -> str:
    return f"&plugin=aurora_ssl&aurora_ssl_bundle={quote(str(server.pki.bundle_path))}"


def whoami_through(entry: dict[str, Any]) -> tuple[str, bool]:
    """:func:`django_whoami` with Django's "default" database the given ``entry``."""
    with use_databases({"default": entry}):
        return django_whoami()


@pytest.mark.driver("psycopg")  # the URL names it; SQLAlchemy connects with it
def test_the_sqlalchemy_url_works_in_django_and_in_sqlalchemy(
    tls_server: AuroraLikeServer, django_env: None
) -> None:
    import sqlalchemy

    url = server_url(tls_server, query=ours(tls_server))
    entry = database_url(url)
    assert entry["ENGINE"] == ENGINE
    assert entry["AURORA_SSL"] == {"BUNDLE": str(tls_server.pki.bundle_path)}
    assert entry["OPTIONS"] == {"hostaddr": tls_server.hostaddr, "connect_timeout": "5"}
    assert whoami_through(entry) == (tls_server.user, True)
    engine = sqlalchemy.create_engine(url)  # the very same string
    try:
        with engine.connect() as conn:
            ssl = conn.exec_driver_sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert ssl.scalar() is True
    finally:
        engine.dispose()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_other_schemes_and_the_environment(
    tls_server: AuroraLikeServer,
    django_env: None,
    monkeypatch: pytest.MonkeyPatch,
    scheme: str,
) -> None:
    monkeypatch.setenv("MY_DB", server_url(tls_server, scheme, query=ours(tls_server)))
    entry = database_url(env="MY_DB", CONN_MAX_AGE=0, OPTIONS={"application_name": "t"})
    assert entry["CONN_MAX_AGE"] == 0
    assert entry["OPTIONS"]["application_name"] == "t"
    assert whoami_through(entry) == (tls_server.user, True)


def test_a_password_provider_in_the_url(
    tls_server: AuroraLikeServer, role_on: Any, django_env: None
) -> None:
    role = role_on(tls_server, "x")
    token = reference_token(tls_server.host, tls_server.port, role, "test-region-1", T0)
    set_password(tls_server, role, token)
    query = (
        ours(tls_server) + "&aurora_ssl_password_provider=tests.django_backends.iam_token:provider"
    )
    entry = database_url(server_url(tls_server, user=role, password="", query=query))
    assert entry["PASSWORD"] == ""
    assert whoami_through(entry) == (role, True)


def test_weak_settings_in_the_url_are_refused_at_connect(
    tls_server: AuroraLikeServer, django_env: None
) -> None:
    from aurora_ssl.errors import InsecureConfigurationError

    entry = database_url(server_url(tls_server, query=ours(tls_server) + "&sslmode=require"))
    with pytest.raises(InsecureConfigurationError, match="sslmode"):
        whoami_through(entry)


# -- dj-database-url and django-environ -------------------------------------------------------


def test_dj_database_url_plain_and_secured(tls_server: AuroraLikeServer, django_env: None) -> None:
    import dj_database_url

    plain = server_url(tls_server, "postgres")
    entry = dict(dj_database_url.parse(plain, engine=ENGINE))
    entry["AURORA_SSL"] = {"BUNDLE": str(tls_server.pki.bundle_path)}
    assert whoami_through(entry) == (tls_server.user, True)
    # Our keys in a plain URL: dj-database-url puts them in OPTIONS, where they are no libpq
    # keywords: refused before connecting ...
    with_keys = server_url(tls_server, "postgres", query=ours(tls_server))
    raw = dict(dj_database_url.parse(with_keys, engine=ENGINE))
    with pytest.raises(InsecureConfigurationError, match=r"'(plugin|aurora_ssl_bundle)' in DATAB"):
        whoami_through(raw)
    # ... secure_entry() moves them to AURORA_SSL.
    assert whoami_through(secure_entry(dj_database_url.parse(with_keys))) == (tls_server.user, True)
    # Its scheme registry refuses the SQLAlchemy form; database_url() is the helper for it.
    with pytest.raises(ValueError, match="unknown"):
        dj_database_url.parse(server_url(tls_server, query=ours(tls_server)), engine=ENGINE)


def test_django_environ_secured(
    tls_server: AuroraLikeServer, django_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import environ  # type: ignore[import-untyped]

    monkeypatch.setenv("DATABASE_URL", server_url(tls_server, query=ours(tls_server)))
    env = environ.Env()
    entry = secure_entry(env.db_url("DATABASE_URL", engine=ENGINE))
    assert "plugin" not in entry["OPTIONS"]
    assert whoami_through(entry) == (tls_server.user, True)
