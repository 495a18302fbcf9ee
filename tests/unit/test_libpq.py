"""libpq as the policy asks it (``aurora_ssl._libpq``): its parser, its keywords, the one
string we hand it, and service files read as libpq reads them. Table-driven; no server.

Each test runs on every libpq here: the one psycopg2 links, psycopg 3's, and the system's
(psql's) through ctypes. libpq itself is the oracle: ``PQconninfoParse`` for strings, and
``PQconndefaults`` (which applies ``PGSERVICE``) for service files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora_ssl._libpq import (
    PYTHON_KEYWORDS,
    Libpq,
    libpq_of,
    read_service,
    render,
    service_name,
    system_library,
    system_options,
)
from aurora_ssl.errors import InsecureConfigurationError
from tests import drivers

LIBPQS = [
    pytest.param("psycopg2", marks=pytest.mark.driver("psycopg2")),
    pytest.param("psycopg", marks=pytest.mark.driver("psycopg")),
    pytest.param(
        "system",
        marks=pytest.mark.skipif(system_library() is None, reason="no system libpq (psql's)"),
    ),
]


@pytest.fixture(params=LIBPQS)
def libpq(request: pytest.FixtureRequest) -> Libpq:
    return libpq_of(str(request.param))


# --- render and parse: what we write is what libpq reads -------------------------------------

VALUES = [
    "plain",
    "",
    " ",
    " leading and trailing ",
    "it's",
    "'",
    "''",
    "\\",
    "back\\slash",
    "\\'",
    "ends with a backslash\\",
    "quote'and\\both ",
    "tab\there",
    "new\nline",
    "=",
    "a=b c=d",
    "host=/tmp sslmode=disable",
    "naïve ✓ 日本語",
    "emoji 🐘",
    "-c search_path='a b' -c statement_timeout=5s",
    "/my dir/it's.pem",
    "postgresql://u:p@h/db?sslmode=disable",
]


@pytest.mark.parametrize("value", VALUES)
def test_render_then_parse_gives_back_every_value(libpq: Libpq, value: str) -> None:
    params = {"host": "h", "application_name": value, "sslrootcert": value, "options": value}
    conninfo = render(params)
    assert libpq.parse(conninfo) == params


def test_render_keeps_the_order_and_quotes_every_value() -> None:
    assert render({"host": "h", "port": "5432", "user": "it's"}) == (
        "host='h' port='5432' user='it\\'s'"
    )


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_TEXT, min_size=1, max_size=4))
def test_any_text_survives_the_trip(values: list[str]) -> None:
    keys = ["host", "user", "application_name", "options"]
    params = dict(zip(keys, values, strict=False))
    for name in [d for d in ("psycopg2", "psycopg") if drivers.is_installed(d)] + (
        ["system"] if system_library() is not None else []
    ):
        assert libpq_of(name).parse(render(params)) == params, name


@pytest.mark.parametrize(
    ("conninfo", "expected"),
    [
        ("host=a port=5432 dbname=x", {"host": "a", "port": "5432", "dbname": "x"}),
        ("host = a   user='b c'", {"host": "a", "user": "b c"}),
        ("host=a host=b", {"host": "b"}),  # the later one wins: why keys are checked as libpq spells them
        ("host=a host =b", {"host": "b"}),  # blanks around '=' are libpq's
        (
            "postgresql://u%40x@h1:5432,h2:5433/d%20b?sslmode=verify-full",
            {"user": "u@x", "host": "h1,h2", "port": "5432,5433", "dbname": "d b",
             "sslmode": "verify-full"},
        ),
        ("postgres://[::1]:6432/db", {"host": "::1", "port": "6432", "dbname": "db"}),
        ("postgresql://%2Ftmp/app", {"host": "/tmp", "dbname": "app"}),
        ("", {}),
    ],
)  # fmt: skip
def test_parse_is_libpqs(libpq: Libpq, conninfo: str, expected: dict[str, str]) -> None:
    assert libpq.parse(conninfo) == expected


@pytest.mark.parametrize(
    "conninfo",
    ["host", "host='unterminated", "=x", "nosuchkey=1", "postgresql://[::1/", "a b"],
)
def test_what_libpq_refuses_is_refused_without_echoing_it(libpq: Libpq, conninfo: str) -> None:
    with pytest.raises(InsecureConfigurationError, match="cannot parse") as info:
        libpq.parse(f"password=SeCrEt-Value {conninfo}")
    assert "SeCrEt" not in str(info.value)
    assert libpq.name in str(info.value)


# --- knows: a libpq keyword, spelled exactly so -------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "sslmode ",
        " sslmode",
        "sslmode\t",
        "sslmode\n",
        "sslmode\x00",
        "SSLMODE",
        "Sslmode",
        "ѕslmode",  # noqa: RUF001 - CYRILLIC SMALL LETTER DZE
        "sslmοde",  # noqa: RUF001 - GREEK SMALL LETTER OMICRON
        "ssl\u200bmode",  # ZERO WIDTH SPACE
        "sslｍode",  # noqa: RUF001 - FULLWIDTH LATIN SMALL LETTER M
        "ssl_mode",
        "ssl-mode",
        "sslmode=",
        "sslmode='x'",
        "'sslmode'",
        "",
        "_",
        "nosuchkeyword",
        "ssl",  # asyncpg's, not libpq's
        "database",  # psycopg2's Python name for dbname
        "cursor_factory",
    ],
)
def test_knows_refuses_anything_libpq_does_not_spell_so(libpq: Libpq, key: str) -> None:
    assert libpq.knows(key) is False


@pytest.mark.parametrize(
    "key",
    ["host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "sslrootcert",
     "gssencmode", "ssl_min_protocol_version", "sslsni", "options", "application_name",
     "keepalives", "service", "target_session_attrs"],
)  # fmt: skip
def test_knows_every_keyword_of_libpq_13_and_later(libpq: Libpq, key: str) -> None:
    assert libpq.knows(key) is True


def test_knows_follows_the_libpq_version() -> None:
    """sslkeylogfile is libpq 18's: known to psycopg 3's libpq, not to psycopg2's (17)."""
    pytest.importorskip("psycopg")
    pytest.importorskip("psycopg2")
    import psycopg
    import psycopg2.extensions

    for name, version in (("psycopg", psycopg.pq.version()),
                          ("psycopg2", psycopg2.extensions.libpq_version())):  # fmt: skip
        assert libpq_of(name).knows("sslkeylogfile") is (version >= 180000)
        assert libpq_of(name).knows("sslnegotiation") is (version >= 170000)


def test_knows_agrees_with_libpqs_own_table() -> None:
    """Every keyword PQconndefaults lists is known; a few made-up ones are not."""
    library = system_library()
    if library is None:
        pytest.skip("no system libpq")
    system = libpq_of("system")
    for keyword, _, _, _ in system_options(library):
        assert system.knows(keyword), keyword


def test_libpq_of() -> None:
    if drivers.is_installed("psycopg"):
        assert libpq_of("psycopg_async").name == "psycopg"
    with pytest.raises(InsecureConfigurationError, match="asyncpg is not a libpq driver"):
        libpq_of("asyncpg")


def test_the_drivers_own_keywords_are_no_libpq_keywords(libpq: Libpq) -> None:
    for own in PYTHON_KEYWORDS.values():
        assert not any(libpq.knows(k) for k in own)


# --- the system libpq through ctypes (psql's) --------------------------------------------------


def test_the_system_libpq_through_ctypes() -> None:
    library = system_library()
    if library is None:
        pytest.skip("no system libpq")
    rows = system_options(library)
    table = {keyword: (envvar, dispchar) for keyword, envvar, _, dispchar in rows}
    assert table["host"] == ("PGHOST", "")
    assert table["sslmode"][0] == "PGSSLMODE"
    assert table["password"] == ("PGPASSWORD", "*")
    assert table["keepalives"][0] is None  # no variable can set it
    parsed = {k: v for k, _, v, _ in system_options(library, "host=h port='6432'") if v is not None}
    assert parsed == {"host": "h", "port": "6432"}
    with pytest.raises(ValueError, match="refused"):
        system_options(library, "nosuchkey=1")
    with pytest.raises(InsecureConfigurationError, match="cannot parse"):
        libpq_of("system").parse("host=h\x00 sslmode=disable")


# --- service files, read as libpq reads them ---------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No PG* variable of the session, and a HOME without a service file."""
    import os

    for name in [n for n in os.environ if n.startswith("PG")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def _libpq_reads(name: str, driver: str) -> dict[str, str]:
    """What libpq takes from the service ``name`` (``PQconndefaults`` applies PGSERVICE),
    less what it takes without it (its compiled defaults)."""

    def defaults() -> dict[str, str]:
        if driver == "system":
            rows = system_options(system_library())
            return {k: v for k, _, v, _ in rows if v is not None}
        from psycopg import pq

        return {
            o.keyword.decode(): o.val.decode()
            for o in pq.Conninfo.get_defaults()
            if o.val is not None
        }

    import os

    before = defaults()
    os.environ["PGSERVICE"] = name
    try:
        during = defaults()
    finally:
        del os.environ["PGSERVICE"]
    return {k: v for k, v in during.items() if before.get(k) != v and k != "service"}


ORACLES = [
    pytest.param(
        "system", marks=pytest.mark.skipif(system_library() is None, reason="no system libpq")
    ),
    pytest.param("psycopg", marks=pytest.mark.driver("psycopg")),
]

SERVICE_FILES = {
    "plain": "[a]\nhost=db.example.com\nport=6543\ndbname=app\n",
    "first-wins": "[a]\nhost=first.example.com\nhost=second.example.com\n",
    "blanks": "  [a]  \n\n   # an indented comment\n\tapplication_name= spaced value \t\r\n",
    "equals-in-value": "[a]\noptions=-c search_path=a,b -c x=y\n",
    "quotes-kept": "[a]\napplication_name='quoted'\nuser=\"dq\"\n",
    "sections": "[other]\nsslmode=disable\n[ab]\nhost=wrong\n[a]\nhost=right\n[b]\nport=1\n",
    "header-junk": "[a] trailing words\nhost=h\n",
    "crlf": "[a]\r\nhost=h\r\nport=6000\r\n",
    "control-in-value": "[a]\napplication_name=a\x0bb\x1cc\u2028d\n",
    "non-ascii": "[a]\napplication_name=naïve ✓\n",
    "empty-value": "[a]\nhost=h\napplication_name=\n",
}


@pytest.mark.parametrize("oracle", ORACLES)
@pytest.mark.parametrize("case", sorted(SERVICE_FILES))
def test_a_service_file_is_read_as_libpq_reads_it(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, oracle: str, case: str
) -> None:
    path = tmp_path / "pg_service.conf"
    path.write_text(SERVICE_FILES[case], encoding="utf-8", newline="")
    clean_env.setenv("PGSERVICEFILE", str(path))
    values, origin = read_service("a", {}, {"PGSERVICEFILE": str(path)})
    assert origin == f"the service 'a' in {path}"
    theirs = _libpq_reads("a", oracle)
    assert values == theirs


@pytest.mark.parametrize("oracle", ORACLES)
def test_the_user_file_hides_the_system_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, oracle: str
) -> None:
    user, system = tmp_path / "user.conf", tmp_path / "pg_service.conf"
    user.write_text("[a]\nhost=from-user\n")
    system.write_text("[a]\nhost=from-system\nsslmode=disable\n[b]\nhost=only-system\n")
    environ = {"PGSERVICEFILE": str(user), "PGSYSCONFDIR": str(tmp_path)}
    for key, value in environ.items():
        clean_env.setenv(key, value)
    for name in ("a", "b"):
        values, _ = read_service(name, {}, environ)
        assert values == _libpq_reads(name, oracle)
    assert read_service("b", {}, environ)[1] == f"the service 'b' in {system}"


def test_the_home_service_file_and_servicefile_keyword(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pg_service.conf").write_text("[a]\nhost=from-home\n")
    other = tmp_path / "other.conf"
    other.write_text("[a]\nhost=from-keyword\n")
    assert read_service("a", {}, {"HOME": str(home)})[0] == {"host": "from-home"}
    # libpq 18's servicefile= outranks PGSERVICEFILE and the home file.
    environ = {"HOME": str(home), "PGSERVICEFILE": str(home / ".pg_service.conf")}
    assert read_service("a", {"servicefile": str(other)}, environ)[0] == {"host": "from-keyword"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[a]\nservice=b\n", "line 2: a nested service"),
        ("[a]\nhost=h\nno equals sign\n", "line 3: a line without '='"),
        ("[b]\nhost=h\n", "not defined in"),
        ("", "not defined in"),
    ],
)
def test_what_libpq_refuses_in_a_service_file_is_refused(
    tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "pg_service.conf"
    path.write_text(text + "password=SeCrEt\n")
    with pytest.raises(InsecureConfigurationError, match=words) as info:
        read_service("a", {}, {"PGSERVICEFILE": str(path)})
    assert "SeCrEt" not in str(info.value)
    assert str(path) in str(info.value)


def test_an_unreadable_service_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InsecureConfigurationError, match="Cannot read the service file"):
        read_service("a", {}, {"PGSERVICEFILE": str(tmp_path)})  # a directory


def test_a_service_nowhere_to_be_found_names_what_to_set() -> None:
    with pytest.raises(InsecureConfigurationError, match="PGSERVICEFILE or PGSYSCONFDIR"):
        read_service("a", {}, {"HOME": "/nonexistent"})


@pytest.mark.parametrize(
    ("params", "environ", "name"),
    [
        ({"service": "a"}, {}, "a"),
        ({}, {"PGSERVICE": "b"}, "b"),
        ({"service": "a"}, {"PGSERVICE": "b"}, "a"),  # the parameter outranks the variable
        ({}, {}, None),
        ({"service": ""}, {"PGSERVICE": ""}, None),
    ],
)
def test_service_name(params: dict[str, str], environ: dict[str, str], name: str | None) -> None:
    assert service_name(params, environ) == name
