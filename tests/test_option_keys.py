"""One list of aurora-ssl's URL option keys, read alike by every face that reads a URL.

The same ``DATABASE_URL`` goes to the SQLAlchemy plugin (the app), ``aurora-ssl check`` (the
operator's test of that app) and Django's ``database_url()``. Each case below is one URL query;
each face reads it as far as it goes before connecting (the plugin's options, settings and
provider; check's URL reader and login choice; Django's entry and ``AURORA_SSL`` options) and
says either "refused" or what it understood. The faces must agree: a key or value one accepts
and another refuses (or reads differently, e.g. a boolean not through ``parse_bool``) fails
here. The only differences allowed are the ones the core list declares (``Option.check``:
check refuses the insecure opt-out and does not use the log level) and Django's own keys.
No connection is needed: this is about reading; connecting with the result is covered by
tests/test_password_and_provider.py, test_cli_credentials.py and test_django_database_url.py.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from aurora_ssl import options as core
from aurora_ssl.credentials import IAMTokenProvider
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError

HOST = "demo.cluster-abc.test-region-1.rds.amazonaws.com"
BASE = f"postgresql+psycopg://app@{HOST}:5432/app"
PROVIDER = "tests.fix_sqlalchemy:provided"
REFUSED = "refused"

#: What each option changes in a face's reading (the meaning compared below). A new core
#: option must be added here, or this test fails: say what it means before it ships.
MEANING_OF = {
    "aurora_ssl_bundle": "bundle",
    "aurora_ssl_tls_server_name": "tls_server_name",
    "aurora_ssl_insecure_local_dev": "insecure_local_dev",
    "aurora_ssl_iam": "login",
    "aurora_ssl_iam_profile": "login",
    "aurora_ssl_password_provider": "login",
    "aurora_ssl_log_level": "log_level",
}


@pytest.fixture(autouse=True)
def _own_iam_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django keeps one IAM provider per profile per process: these ones stay here."""
    from django_aurora_ssl import conf

    monkeypatch.setattr(conf, "_iam_providers", {})


def _login(provider: Any) -> object:
    if provider is None:
        return None
    if isinstance(provider, IAMTokenProvider):
        return repr(provider)  # says the profile
    return type(provider).__name__


def _level(name: str | int) -> int:
    return name if isinstance(name, int) else int(getattr(logging, name))


def plugin_reads(query: str) -> dict[str, object] | str:
    """What the SQLAlchemy plugin makes of ``query`` at engine creation (before preflight)."""
    from aurora_ssl.sqlalchemy import _credentials
    from aurora_ssl.sqlalchemy._options import LOG_LEVEL, read_options, settings_from

    try:
        url = make_url(f"{BASE}?{query}")
        options = read_options(url, {})
        settings = settings_from(options)
        provider = _credentials.provider_from(
            dict(options), None, _credentials.password_where(url, None)
        )
    except AuroraSSLError:
        return REFUSED
    return {
        "bundle": settings.bundle,
        "tls_server_name": settings.tls_server_name,
        "insecure_local_dev": settings.insecure_local_dev,
        "login": _login(provider),
        "log_level": _level(options.get(LOG_LEVEL, "DEBUG")),
    }


def check_reads(query: str) -> dict[str, object] | str:
    """What ``aurora-ssl check URL`` makes of ``query`` before it connects."""
    from aurora_ssl.cli import credentials
    from aurora_ssl.database_url import read_dsn

    args = argparse.Namespace(iam=False, password_provider=None, iam_profile=None)
    try:
        target = read_dsn(f"{BASE}?{query}")
        credentials.password_connect(args, target.params, HOST, target.credentials, target.origin)
        provider, _ = credentials.provider_for(args, target.credentials)
    except (AuroraSSLError, ValueError):
        return REFUSED
    return {
        "bundle": target.bundle,
        "tls_server_name": target.tls_server_name,
        "insecure_local_dev": False,  # true is refused (declared by the core list)
        "login": _login(provider),
    }


def django_reads(query: str) -> dict[str, object] | str:
    """What ``database_url()`` and the backend's options make of ``query``."""
    from django_aurora_ssl import database_url
    from django_aurora_ssl.conf import OptionsError, database_options

    try:
        entry = database_url(f"{BASE}?{query}")
        options = database_options(entry)
    except OptionsError:
        return REFUSED
    return {
        "bundle": options.bundle,
        "tls_server_name": options.tls_server_name,
        "insecure_local_dev": options.insecure_local_dev,
        "login": _login(options.password_provider),
        "log_level": options.log_level,
    }


def _values(option: core.Option) -> list[str]:
    """Good and bad spellings of a value of this kind, as they appear in a query string."""
    common = ["", "%20", "a%00b"]
    if option.kind == core.BOOL:
        return [
            "true",
            "TRUE",
            "%20on%20",
            "1",
            "false",
            "0",
            "no",
            "Off",
            "maybe",
            "2",
            "yes!",
            *common,
        ]
    if option.kind == core.LEVEL:
        return ["info", "WARNING", "critical", "Loud", "10", *common]
    if option.kind == core.HOST:
        return [HOST, "10.0.0.1", "a%20b", "x" * 64 + ".example.com", "a..b", *common]
    if option.key == "aurora_ssl_password_provider":
        return [PROVIDER, "no.such.module:thing", "prod", *common]
    return ["/tmp/bundle.pem", "prod", *common]  # paths and plain text


CASES = [f"{option.key}={value}" for option in core.OPTIONS for value in _values(option)] + [
    "aurora_ssl_iam=true&aurora_ssl_iam_profile=prod",
    "aurora_ssl_iam=false&aurora_ssl_iam_profile=prod",
    f"aurora_ssl_iam=on&aurora_ssl_password_provider={PROVIDER}",
    "aurora_ssl_iam=true&aurora_ssl_insecure_local_dev=true",
    "aurora_ssl_iam=true&aurora_ssl_insecure_local_dev=no",
    "aurora_ssl_bundle=/a.pem&aurora_ssl_bundle=/b.pem",
    "aurora_ssl_bundle=/a.pem&aurora_ssl_bundle=/a.pem",
    "AURORA_SSL_BUNDLE=/a.pem",
    "Aurora_SSL_iam=true",
    "aurora_ssl_bundel=/a.pem",
    "aurora_ssl_=1",
    f"aurora_ssl_tls_server_name={HOST}&aurora_ssl_bundle=/b.pem&aurora_ssl_log_level=error",
]


@pytest.mark.parametrize("query", CASES)
def test_every_face_reads_the_same_url_alike(query: str, django_env: None) -> None:
    plugin, check, django = plugin_reads(query), check_reads(query), django_reads(query)
    assert plugin == django, f"plugin {plugin} but Django {django}"
    declared_refusals = [
        o.key
        for o in core.OPTIONS
        if o.check == core.REFUSED_WHEN_TRUE
        and isinstance(plugin, dict)
        and plugin[MEANING_OF[o.key]] is True
    ]
    if plugin == REFUSED or declared_refusals:
        assert check == REFUSED, f"plugin {plugin} but check {check}"
        return
    assert isinstance(check, dict), f"plugin {plugin} but check {check}"
    applied = {MEANING_OF[o.key] for o in core.OPTIONS if o.check != core.NOTED}
    assert {k: v for k, v in plugin.items() if k in applied} == check


def test_the_cases_cover_acceptance_and_refusal_of_every_key(django_env: None) -> None:
    """The table above proves something only if each key is both accepted and refused."""
    for option in core.OPTIONS:
        outcomes = {plugin_reads(q) == REFUSED for q in CASES if q.startswith(option.key + "=")}
        assert outcomes == {True, False}, option.key


def test_a_password_next_to_a_provider_is_refused_by_every_face(django_env: None) -> None:
    for chooser in (f"aurora_ssl_password_provider={PROVIDER}", "aurora_ssl_iam=true"):
        query = f"{chooser}&aurora_ssl_bundle=/b.pem"
        with_password = f"{BASE.replace('app@', 'app:s3cret@')}?{query}"
        assert isinstance(plugin_reads(query), dict)  # without the password: accepted
        from aurora_ssl.cli import credentials
        from aurora_ssl.database_url import read_dsn
        from aurora_ssl.sqlalchemy import _credentials
        from aurora_ssl.sqlalchemy._options import read_options
        from django_aurora_ssl import database_url
        from django_aurora_ssl.conf import OptionsError

        url = make_url(with_password)
        with pytest.raises(AuroraSSLError) as plugin:
            _credentials.provider_from(
                read_options(url, {}), None, _credentials.password_where(url, None)
            )
        target = read_dsn(with_password)
        args = argparse.Namespace(iam=False, password_provider=None, iam_profile=None)
        with pytest.raises(ValueError, match="Remove the password") as check:
            credentials.password_connect(args, target.params, HOST, target.credentials, "the URL")
        with pytest.raises(OptionsError) as django:
            database_url(with_password)
        for info in (plugin, check, django):
            assert "Remove the password from" in str(info.value)
            assert "s3cret" not in str(info.value)


def test_each_face_derives_its_list_from_the_core() -> None:
    from aurora_ssl.database_url import CREDENTIAL_OPTIONS, URL_OPTIONS
    from aurora_ssl.sqlalchemy import _options
    from django_aurora_ssl import conf
    from django_aurora_ssl.url_settings import DJANGO_ONLY, URL_KEYS

    assert set(MEANING_OF) == set(core.KEYS)
    # The plugin: exactly the core list; its named constants are in it.
    assert set(_options.OPTION_KEYS) == set(core.KEYS)
    named = {
        v for k, v in vars(_options).items() if k.isupper() and str(v).startswith("aurora_ssl_")
    }
    assert named <= set(core.KEYS)
    # check: every key it applies has a place (a policy setting or the login), none more.
    applied = {o.key for o in core.OPTIONS if o.check == core.APPLIED}
    assert set(URL_OPTIONS) | set(CREDENTIAL_OPTIONS) == applied
    assert not set(URL_OPTIONS) & set(CREDENTIAL_OPTIONS)
    # Django: the core list plus its own keys, which are really Django settings and not core.
    assert set(URL_KEYS) == set(core.KEYS) | {f"aurora_ssl_{k.lower()}" for k in DJANGO_ONLY}
    assert {o.setting for o in core.OPTIONS} | set(DJANGO_ONLY) == set(conf._KEYS)
    assert not {o.setting for o in core.OPTIONS} & set(DJANGO_ONLY)


@pytest.mark.parametrize("key", ["server_check_at_startup", "explain_pool_timeout"])
def test_djangos_own_keys_are_refused_by_the_others(key: str, django_env: None) -> None:
    query = f"aurora_ssl_{key}=false"
    assert isinstance(django_reads(query), dict)
    assert plugin_reads(query) == REFUSED
    assert check_reads(query) == REFUSED


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("aurora_ssl_iam", "maybe", "aurora_ssl_iam='maybe' is not a boolean"),
        ("aurora_ssl_iam", 2, "aurora_ssl_iam=2 is not a boolean"),
        ("aurora_ssl_iam_profile", " ", "aurora_ssl_iam_profile is empty in the URL"),
        ("aurora_ssl_bundle", 5, "aurora_ssl_bundle in the URL must be a string, not int"),
        ("aurora_ssl_log_level", "loud", "not a logging level"),
        ("aurora_ssl_bundel", "x", "Unknown aurora-ssl option aurora_ssl_bundel in the URL"),
    ],
)
def test_read_option_says_what_is_wrong(key: str, value: object, says: str) -> None:
    with pytest.raises(InsecureConfigurationError) as info:
        core.read_option(key, value, "the URL")
    assert says in str(info.value)


def test_read_option_gives_the_text_a_url_would_hold() -> None:
    assert core.read_option("aurora_ssl_iam", " On ", "x") == "true"
    assert core.read_option("aurora_ssl_insecure_local_dev", 0, "x") == "false"
    assert core.read_option("aurora_ssl_log_level", "info", "x") == "INFO"
    assert core.read_option("aurora_ssl_bundle", Path("/b.pem"), "x") == "/b.pem"
