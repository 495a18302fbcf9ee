"""aurora-ssl's own options: one reader (``read_options``) for every source, and ``split_url``,
which takes them out of a ``DATABASE_URL`` for libpq. Table-driven; no server.

Every source spells the options one of two ways: ``aurora_ssl_bundle`` (a URL query, keyword
arguments, the command line) or ``BUNDLE`` (Django's ``AURORA_SSL``). Values often arrive as
text (INI files, URL queries, environment variables), so booleans read only the usual
spellings, and anything unknown is refused naming the key and where it came from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from aurora_ssl import Options
from aurora_ssl._options import (
    _OPTIONS,
    DJANGO_ONLY,
    PREFIX,
    is_ours,
    parse_bool,
    password_conflict,
    read_options,
    split_url,
)
from aurora_ssl.errors import InsecureConfigurationError

HOST = "demo.cluster-abc.test-region-1.rds.amazonaws.com"
WHERE = "the URL query"

#: Every option, its URL spelling's name and one value that reads, and what it reads as.
GOOD = [
    ("bundle", "/etc/rds/bundle.pem", "/etc/rds/bundle.pem"),
    ("tls_server_name", HOST, HOST),
    ("insecure_local_dev", "true", True),
    ("iam", "on", True),
    ("iam_profile", "prod", "prod"),
    ("password_provider", "tests.fix_sqlalchemy:provided", "tests.fix_sqlalchemy:provided"),
    ("log_level", "info", logging.INFO),
    ("server_check_at_startup", "false", False),
    ("explain_pool_timeout", "0", False),
]


def url_spelling(name: str) -> str:
    return PREFIX + name


def django_spelling(name: str) -> str:
    return name.upper()


def test_the_table_names_every_option() -> None:
    """A new option must be added to GOOD (and so to every test below) before it ships."""
    assert sorted(n for n, _, _ in GOOD) == sorted(_OPTIONS)


# --- every source spelling ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "value"), GOOD)
def test_each_option_reads_in_each_spelling(name: str, text: str, value: object) -> None:
    given = {name: text, **({"iam": "true"} if name == "iam_profile" else {})}
    from_url = read_options(
        {url_spelling(k): v for k, v in given.items()}, WHERE, django_options=True
    )
    from_django = read_options(
        {django_spelling(k): v for k, v in given.items()}, "AURORA_SSL", django=True
    )
    for options in (from_url, from_django):
        assert getattr(options, name) == value
        assert list(options.given) == list(given)
    assert repr(from_url) == repr(from_django)


@pytest.mark.parametrize(
    ("key", "django"),
    [
        ("AURORA_SSL_BUNDLE", False),  # the URL spelling is lower case
        ("Aurora_Ssl_Bundle", False),
        ("aurora_ssl_BUNDLE", False),
        ("aurora_ssl_bundle ", False),  # a blank makes it another key
        (" aurora_ssl_bundle", False),
        ("aurora-ssl-bundle", False),
        ("aurora_ssl_bundel", False),  # a typo
        ("aurora_ssl_", False),
        ("bundle", False),
        ("BUNDLE", False),  # Django's spelling in a URL
        ("bundle", True),  # Django's spelling is upper case
        ("Bundle", True),
        ("aurora_ssl_bundle", True),  # the URL spelling in AURORA_SSL
        ("BUNDLE ", True),
        ("BUNDEL", True),
    ],
)
def test_an_unknown_or_misspelt_key_is_refused_with_the_list(key: str, django: bool) -> None:
    with pytest.raises(InsecureConfigurationError) as info:
        read_options({key: "/x.pem"}, "AURORA_SSL" if django else WHERE, django=django)
    message = str(info.value)
    assert f"Unknown aurora-ssl option {key}" in message
    assert ("AURORA_SSL" if django else WHERE) in message
    assert ("BUNDLE" if django else "aurora_ssl_bundle") in message  # the list of options


def test_a_very_long_unknown_key_is_shortened() -> None:
    with pytest.raises(InsecureConfigurationError) as info:
        read_options({PREFIX + "x" * 10_000: "1"}, WHERE)
    assert len(str(info.value)) < 1000


@pytest.mark.parametrize("name", sorted(DJANGO_ONLY))
def test_django_only_options(name: str) -> None:
    assert (
        getattr(read_options({django_spelling(name): "no"}, "AURORA_SSL", django=True), name)
        is False
    )
    # A DATABASE_URL for Django carries them in URL spelling...
    assert (
        getattr(read_options({url_spelling(name): "no"}, WHERE, django_options=True), name) is False
    )
    # ...which SQLAlchemy, check and env refuse, saying why.
    with pytest.raises(InsecureConfigurationError, match=r"\(a Django-only option\)"):
        read_options({url_spelling(name): "no"}, WHERE)


def test_nothing_given_means_the_defaults() -> None:
    options = read_options({}, WHERE)
    assert (options.bundle, options.tls_server_name, options.insecure_local_dev) == (
        None,
        None,
        False,
    )
    assert (options.iam, options.iam_profile, options.password_provider) == (False, None, None)
    assert options.log_level == logging.DEBUG
    assert options.server_check_at_startup is True
    assert options.explain_pool_timeout is True
    assert options.given == {}
    assert repr(options) == "Options()"


@pytest.mark.parametrize("empty", [None, ""])
def test_none_and_empty_count_as_not_given(empty: object) -> None:
    options = read_options({url_spelling(n): empty for n, _, _ in GOOD}, WHERE, django_options=True)
    assert options.given == {}
    assert repr(options) == repr(Options())


# --- strict booleans ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (True, True), (False, False), (1, True), (0, False),
        ("true", True), ("TRUE", True), ("True", True), ("1", True), ("yes", True), ("on", True),
        (" on ", True), ("false", False), ("False", False), ("0", False), ("no", False),
        ("Off", False), ("\toff\n", False),
    ],
)  # fmt: skip
def test_booleans_read_the_usual_spellings(text: object, value: bool) -> None:
    assert parse_bool(text, "iam") is value
    assert read_options({"aurora_ssl_iam": text}, WHERE).iam is value
    assert read_options({"IAM": text}, "AURORA_SSL", django=True).iam is value


@pytest.mark.parametrize(
    "text",
    ["maybe", "2", 2, -1, "yes!", "t", "y", "ja", "1.0", 1.0, "true false", "nope", b"true", []],
)
def test_anything_else_is_not_a_boolean(text: object) -> None:
    with pytest.raises(InsecureConfigurationError, match="is not a boolean") as info:
        parse_bool(text, "aurora_ssl_iam")
    assert "aurora_ssl_iam=" in str(info.value)
    assert "true/false" in str(info.value)
    if not isinstance(text, list):  # a list is a repeated key (below)
        with pytest.raises(InsecureConfigurationError, match="aurora_ssl_insecure_local_dev="):
            read_options({"aurora_ssl_insecure_local_dev": text}, WHERE)


def test_parse_bool_refuses_none_and_empty_when_asked_directly() -> None:
    for text in (None, "", " "):
        with pytest.raises(InsecureConfigurationError):
            parse_bool(text, "x")


# --- the other kinds of value ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("log_level", "Loud", "not a logging level"),
        ("log_level", True, "not a logging level"),
        ("log_level", 1.5, "not a logging level"),
        ("tls_server_name", "a" * 64 + ".example.com", "not a valid host name"),
        ("tls_server_name", "db example.com", "blanks or control characters"),
        ("tls_server_name", "/var/run/postgresql", "not a valid host name"),
        ("bundle", "a\x00b", "NUL character"),
        ("bundle", "   ", "empty"),
        ("bundle", 42, "must be a string, not int"),
        ("iam_profile", ["a"], "more than once"),
        ("password_provider", 42, "'module:attribute', a function or a provider, not int"),
    ],
)
def test_a_value_that_does_not_read_is_refused_naming_key_and_source(
    name: str, value: object, words: str
) -> None:
    given = {url_spelling(name): value}
    if name == "iam_profile":
        given["aurora_ssl_iam"] = "true"
    with pytest.raises(InsecureConfigurationError, match=words) as info:
        read_options(given, WHERE)
    assert url_spelling(name) in str(info.value)
    if name != "iam_profile":
        assert WHERE in str(info.value)


def test_log_levels() -> None:
    for text, level in [("debug", 10), ("INFO", 20), (" warning ", 30), ("Error", 40), (35, 35)]:
        assert read_options({"aurora_ssl_log_level": text}, WHERE).log_level == level


def test_paths_and_providers_of_other_types(tmp_path: Path) -> None:
    assert read_options({"aurora_ssl_bundle": tmp_path / "b.pem"}, WHERE).bundle == str(
        tmp_path / "b.pem"
    )

    def provider(target: Any) -> str:
        return "pw"

    class Provider:
        def password(self, target: Any) -> str:
            return "pw"

    for given in (provider, Provider()):
        options = read_options({"aurora_ssl_password_provider": given}, WHERE)
        assert options.password_provider is given
        assert options.given == {}  # an object cannot be written back into a URL


# --- repeated keys and contradictions -------------------------------------------------------


@pytest.mark.parametrize("value", [["a", "b"], ("a", "b"), ["a", "a"]])
def test_a_key_given_more_than_once_is_refused(value: object) -> None:
    with pytest.raises(InsecureConfigurationError, match="given more than once in the URL query"):
        read_options({"aurora_ssl_bundle": value}, WHERE)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"iam": "true", "password_provider": "m:f"}, ("iam", "password_provider")),
        ({"iam_profile": "prod"}, ("iam_profile", "iam")),
        ({"iam_profile": "prod", "iam": "false"}, ("iam_profile", "iam")),
        ({"iam": "true", "insecure_local_dev": "true"}, ("iam", "insecure_local_dev")),
    ],
)
@pytest.mark.parametrize("django", [False, True])
def test_contradictions_are_refused_naming_both(
    given: dict[str, str], named: tuple[str, str], django: bool
) -> None:
    spell = django_spelling if django else url_spelling
    with pytest.raises(InsecureConfigurationError) as info:
        read_options({spell(k): v for k, v in given.items()}, "SOURCE", django=django)
    message = str(info.value)
    assert message.startswith("In SOURCE, ")
    assert all(spell(name) in message for name in named)
    assert any(fix in message for fix in ("give one of them", "add it", "remove one of them"))


def test_iam_with_its_profile_reads() -> None:
    options = read_options({"aurora_ssl_iam": "1", "aurora_ssl_iam_profile": "prod"}, WHERE)
    assert (options.iam, options.iam_profile) == (True, "prod")
    assert options.given == {"iam": "true", "iam_profile": "prod"}


# --- the Options type ------------------------------------------------------------------------


def test_options_constructor() -> None:
    options = Options(bundle="b.pem", tls_server_name=HOST)
    assert (options.bundle, options.tls_server_name, options.insecure_local_dev) == (
        "b.pem",
        HOST,
        False,
    )
    with pytest.raises(TypeError, match="unknown options: bundel"):
        Options(bundel="b.pem")


def test_repr_shows_what_was_given_and_never_a_provider() -> None:
    options = read_options(
        {"aurora_ssl_bundle": "/b.pem", "aurora_ssl_password_provider": lambda t: "s3cret"}, WHERE
    )
    assert repr(options) == "Options(bundle='/b.pem')"


# --- helpers the faces share -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "ours"),
    [
        ("aurora_ssl_bundle", True),
        ("AURORA_SSL_BUNDLE", True),  # claims to be ours, so a misspelling is refused
        ("aurora_ssl_", True),
        ("aurora_sslbundle", False),
        ("sslmode", False),
        ("", False),
        (None, False),
        (42, False),
    ],
)
def test_is_ours(key: object, ours: bool) -> None:
    assert is_ours(key) is ours


def test_an_unknown_option_is_refused_with_the_options_of_its_source() -> None:
    with pytest.raises(InsecureConfigurationError) as url:
        read_options({PREFIX + "bundel": "b.pem"}, WHERE)
    listed = str(url.value).split("the options are ")[1].rstrip(".").split(", ")
    assert "aurora_ssl_bundle" in listed
    assert "aurora_ssl_server_check_at_startup" not in listed
    assert listed == sorted(listed)
    with pytest.raises(InsecureConfigurationError, match="SERVER_CHECK_AT_STARTUP"):
        read_options({"BUNDEL": "b.pem"}, "AURORA_SSL", django=True)


def test_password_conflict_names_both_and_never_the_password() -> None:
    message = password_conflict("the URL", "aurora_ssl_iam=true")
    assert "the URL has a password" in message
    assert "Remove the password from the URL" in message
    assert "aurora_ssl_iam=true" in message
    assert "\n" not in message


# --- split_url: a DATABASE_URL for libpq -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "driver", "rest", "ours"),
    [
        ("postgresql://u@h/db", "auto", "postgresql://u@h/db", {}),
        ("postgres://u@h/db?sslmode=verify-full", "auto", "postgres://u@h/db?sslmode=verify-full", {}),
        ("postgresql+psycopg://u:p@h:5432/db", "psycopg", "postgresql://u:p@h:5432/db", {}),
        ("postgresql+psycopg2://h/db", "psycopg2", "postgresql://h/db", {}),
        ("postgresql+psycopg_async://h/db", "psycopg", "postgresql://h/db", {}),
        ("postgres+asyncpg://h/db", "asyncpg", "postgresql://h/db", {}),
        ("POSTGRESQL+PG8000://h/db", "pg8000", "postgresql://h/db", {}),
        ("  postgresql://h/db  ", "auto", "postgresql://h/db", {}),
        (
            "postgresql+psycopg://h/db?a=1&plugin=aurora_ssl&aurora_ssl_bundle=%2Fb.pem&b=2",
            "psycopg",
            "postgresql://h/db?a=1&b=2",
            {"plugin": "aurora_ssl", "aurora_ssl_bundle": "/b.pem"},
        ),
        (
            "postgresql://h/db?aurora_ssl_iam=true&aurora_ssl_iam_profile=prod",
            "auto",
            "postgresql://h/db",
            {"aurora_ssl_iam": "true", "aurora_ssl_iam_profile": "prod"},
        ),
        # Keys are decoded as SQLAlchemy decodes them, so an encoded key of ours is ours...
        ("postgresql://h/db?aurora%5Fssl%5Fiam=1", "auto", "postgresql://h/db", {"aurora_ssl_iam": "1"}),
        # ...and a key that claims to be ours in another case is taken out (and then refused).
        ("postgresql://h/db?AURORA_SSL_IAM=1", "auto", "postgresql://h/db", {"AURORA_SSL_IAM": "1"}),
        ("postgresql://h/db?aurora_ssl_iam", "auto", "postgresql://h/db", {"aurora_ssl_iam": ""}),
        # A libpq connection string is libpq's, whole.
        ("host=h aurora_ssl_iam=1", "auto", "host=h aurora_ssl_iam=1", {}),
        ("", "auto", "", {}),
    ],
)  # fmt: skip
def test_split_url(url: str, driver: str, rest: str, ours: dict[str, str]) -> None:
    assert split_url(url) == (driver, rest, ours)


def test_split_url_keeps_a_repeated_key_for_the_reader_to_refuse() -> None:
    _, _, ours = split_url(
        "postgresql://h/db?aurora_ssl_bundle=a&aurora_ssl_bundle=b&aurora_ssl_bundle=c"
    )
    assert ours == {"aurora_ssl_bundle": ["a", "b", "c"]}
    with pytest.raises(InsecureConfigurationError, match="more than once"):
        read_options(ours, WHERE)


@pytest.mark.parametrize(
    "value", ["/tmp/a+b.pem", "/tmp/a%2Bb.pem", "/tmp/a%20b.pem", "/tmp/%C3%A9t%C3%A9.pem", "%26x"]
)
def test_split_url_reads_our_values_as_sqlalchemy_does(value: str) -> None:
    """The app (SQLAlchemy's plugin) and check/env read one URL: the same option values."""
    url = f"postgresql+psycopg://h/db?aurora_ssl_bundle={value}&plugin=aurora_ssl"
    _, _, ours = split_url(url)
    assert ours.pop("plugin") == "aurora_ssl"
    assert ours["aurora_ssl_bundle"] == make_url(url).query["aurora_ssl_bundle"]
    assert read_options(ours, WHERE).bundle == make_url(url).query["aurora_ssl_bundle"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True), (False, False), (1, True), (0, False),
        ("true", True), ("FALSE", False), (" yes ", True), ("No", False),
        ("on", True), ("off", False), ("1", True), ("0", False),
    ],
)  # fmt: skip
def test_parse_bool_accepts_the_documented_spellings(value: object, expected: bool) -> None:
    assert parse_bool(value, "x") is expected


@pytest.mark.parametrize("value", ["nope", "", "2", 2, None, "truee", 1.0, "y"])
def test_parse_bool_refuses_everything_else(value: object) -> None:
    with pytest.raises(InsecureConfigurationError, match=r"opt_name=.*true/false"):
        parse_bool(value, "opt_name")
