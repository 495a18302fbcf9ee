"""The one way to mask secrets (aurora_ssl._redaction): every value outside an allowlist.

Table-driven: each row is an input form a message of ours may echo, the secret it carries
(which must be gone), and what must stay visible (so masking does not hide the useful part).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora_ssl._endpoint import host_problem
from aurora_ssl._redaction import (
    MASK,
    SHOWN_KEYS,
    is_secret_key,
    mask_conninfo,
    mask_text,
    mask_url,
    shorten,
)

SECRET = "Zq9+Sekrit/pw%40:@x"
ENCODED = quote(SECRET, safe="")


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("PASSWORD", True),
        ("sslpassword", True),
        ("passfile", True),
        ("oauth_client_secret", True),
        ("aws_session_token", True),
        ("auth_token", True),
        ("client_secret", True),
        ("host", False),
        ("sslrootcert", False),
        ("user", False),
        ("sslmode", False),
        ("dbname", False),
        ("application_name", False),
        ("options", False),
        ("database", False),  # SQLAlchemy's and psycopg2's name for dbname
        # Outside the allowlist, whatever the name: libpq 18's password equivalents, a key
        # a later libpq may add, the TLS key log.
        ("scram_client_key", True),
        ("scram_server_key", True),
        ("sslkeylogfile", True),
        ("a_future_keyword", True),
        ("dsn", True),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(
    ("url", "hidden", "kept"),
    [
        (
            f"postgresql://app:{ENCODED}@db.example.com:5432/app",
            ENCODED,
            "@db.example.com:5432/app",
        ),
        (
            f"postgresql+psycopg://app:{ENCODED}@h/app?sslmode=require&password=p2&x=1",
            "p2",
            "sslmode=require&password=********&x=********",
        ),
        ("postgresql://h/db?sslpassword=k3y&host=h2", "k3y", "host=h2"),
        ("postgres://h/db?aws_token=t0k&passfile=/home/u/.pgpass", "t0k", "passfile=********"),
        ("postgresql+asyncpg://u:pw1@h1:5432,h2:5433/db", "pw1", "h1:5432,h2:5433/db"),
        ("postgresql://u:pa/ss@h/db", "pa/ss", "postgresql://u:"),
        ("postgresql://h/db?oauth_client_secret=s3c#frag", "s3c", "#frag"),
    ],
)
def test_mask_url(url: str, hidden: str, kept: str) -> None:
    shown = mask_url(url)
    assert hidden not in shown.replace(MASK, "")
    assert kept in shown


@pytest.mark.parametrize(
    ("dsn", "hidden", "kept"),
    [
        ("host=h password=pw1 sslmode=require", "pw1", "sslmode=require"),
        ("host=h password='p w\\'1' dbname=app", "p w", "dbname=app"),
        ("host=h password = pw2", "pw2", "host=h"),
        ("host='unterminated password=pw3", "pw3", "host="),  # malformed: still masked
        ("sslpassword=k3y sslkey=/k.pem", "k3y", "sslkey=/k.pem"),
        ("oauth_client_secret=s3c host=h", "s3c", "host=h"),
        ("scram_client_key=c1 scram_server_key=s1 host=h", "c1", "host=h"),
        ("host=h scram_server_key='s 2'", "s 2", "host=h"),
        ("host=h a_future_keyword=f7", "f7", "host=h"),
        (f"postgresql://u:{ENCODED}@h/db", ENCODED, "@h/db"),
        ("dbname='postgresql://u:pw4@h/db' host=h", "pw4", "host=h"),
    ],
)
def test_mask_conninfo(dsn: str, hidden: str, kept: str) -> None:
    shown = mask_conninfo(dsn)
    assert hidden not in shown.replace(MASK, "")
    assert kept in shown


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("user=bob,password=pw1 refused", "pw1", "refused"),
        ("{'password': 'p w2', 'user': 'u'}", "p w2", "'user': 'u'"),
        ('{"token": "t0k", "host": "h"}', "t0k", '"host": "h"'),
        ("connecting to postgresql://u:pw3@h/db?sslmode=verify-full.", "pw3", "@h/db?sslmode="),
        ("postgresql://u@h/db?scram_client_key=k3y&x=1", "k3y", "x=********"),
        ("warning for postgresql://h/db?password=pw4&sslmode=disable", "pw4", "sslmode=disable"),
        ("<PGconn host=h password=pw5 sslmode=prefer>", "pw5", "sslmode=prefer>"),
    ],
)
def test_mask_text(text: str, hidden: str, kept: str) -> None:
    shown = mask_text(text)
    assert hidden not in shown.replace(MASK, "")
    assert kept in shown


def test_mask_text_known_secrets_in_every_encoding() -> None:
    text = f"raw {SECRET} quoted {ENCODED} plus {quote(SECRET)}"
    shown = mask_text(text, [SECRET])
    for form in (SECRET, ENCODED):
        assert form not in shown
    assert shown.startswith("raw ********")


@pytest.mark.parametrize(
    "form",
    [
        lambda big: mask_text(f"Cannot resolve {big} now"),
        lambda big: mask_conninfo(f"host={big} port=5432"),
        lambda big: mask_url(f"postgresql://u@{big}/db?application_name={big}"),
        lambda big: str(host_problem(big)),
    ],
)
def test_a_100kb_value_is_never_echoed_whole(form: object) -> None:
    big = "h" * 100_000
    shown = form(big)  # type: ignore[operator]
    assert len(shown) < 1000
    assert "(100000 characters)" in shown or "characters long" in shown


def test_shorten() -> None:
    assert shorten("x" * 256) == "x" * 256
    assert shorten("x" * 257) == "x" * 100 + "... (257 characters)"


def test_nothing_raises_on_odd_input() -> None:
    for text in ["", "=", "'", "\\", "password=", "postgresql://", "postgresql://@", "a=b=c"]:
        mask_text(text)
        mask_conninfo(text)
        mask_url(text)


def _libpq_keywords() -> list[tuple[str, str, str]]:
    """(libpq, keyword, dispchar) for every libpq here: the system's and each driver's."""
    rows = []
    from aurora_ssl._libpq import system_library, system_options

    library = system_library()
    if library is not None:
        rows += [("system", key, disp) for key, _, _, disp in system_options(library)]
    try:
        from psycopg import pq
    except ImportError:
        pass
    else:
        rows += [
            ("psycopg", o.keyword.decode(), (o.dispchar or b"").decode())
            for o in pq.Conninfo.get_defaults()
        ]
    return rows


def test_every_secret_or_debug_keyword_of_libpq_is_masked() -> None:
    """libpq marks its secrets (``*``: password, sslpassword, scram_*_key) and debug options
    (``D``) in its defaults table; each one is masked, in every form we show."""
    rows = _libpq_keywords()
    assert rows, "no libpq to ask"
    hidden = [(lib, key) for lib, key, disp in rows if disp in ("*", "D")]
    assert "password" in {key for _, key in hidden}
    assert len(hidden) >= 3
    for lib, key in hidden:
        assert is_secret_key(key), f"{key} ({lib}) is shown"
        assert "Q7s" not in mask_conninfo(f"host=h {key}=Q7s")
        assert "Q7s" not in mask_url(f"postgresql://h/db?{key}=Q7s")


def test_no_shown_key_is_secret_in_any_libpq() -> None:
    """The allowlist never names a keyword some libpq marks secret or debug-only."""
    assert "password" not in SHOWN_KEYS
    assert not [(lib, key) for lib, key, disp in _libpq_keywords() if key in SHOWN_KEYS and disp]


def test_the_insecure_warning_masks_every_secret(caplog: pytest.LogCaptureFixture) -> None:
    from aurora_ssl._policy import warn_insecure

    with caplog.at_level("WARNING", logger="aurora_ssl"):
        warn_insecure("host=h scram_client_key=c1k3y scram_server_key=s3k password=pw9")
        # The SQLAlchemy plugin passes the engine's URL: every query value off the allowlist.
        warn_insecure("postgresql+psycopg://u:***@h/db?scram_client_key=c2k3y&a_new_key=f7")
    assert caplog.text.count("INSECURE") == 2
    assert "host=h" in caplog.text
    assert "@h/db?" in caplog.text
    for secret in ("c1k3y", "s3k", "pw9", "c2k3y", "f7"):
        assert secret not in caplog.text


# ------------------------------------------------------------------ property: every form

_PASSWORDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="*\x00"), min_size=1, max_size=30
).map(lambda s: "Q7" + s + "Z9")  # distinctive: never a substring of the rest of the text


def _conninfo_quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@settings(max_examples=300, deadline=None)
@given(password=_PASSWORDS, key=st.sampled_from(["password", "sslpassword", "auth_token"]))
def test_no_form_of_a_secret_survives(password: str, key: str) -> None:
    encoded = quote(password, safe="")
    forms = {
        "conninfo": mask_conninfo(f"host=h {key}={_conninfo_quoted(password)} sslmode=require"),
        "userinfo": mask_url(f"postgresql+psycopg://app:{encoded}@h:5432/db?sslmode=require"),
        "query": mask_url(f"postgresql://app@h/db?x=1&{key}={encoded}&y=2"),
        "text": mask_text(f"failed for postgresql://app@h/db?{key}={encoded}: {key}={encoded}"),
        "repr": mask_text(repr({key: password, "host": "h"})),
    }
    for where, shown in forms.items():
        for form in (password, encoded, repr(password)[1:-1]):
            assert form not in shown, f"{form!r} survives in the {where} form: {shown!r}"
