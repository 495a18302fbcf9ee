"""What libpq receives is what the policy decision, or the connection is refused.

The connection string is captured at the driver's own call into libpq (psycopg2's
``_connect``, psycopg 3's ``Connection._connect_gen``), before any network I/O, and parsed by
that driver's libpq. A property test throws keys with blanks, tabs, other cases and look-alike
characters, ``=`` and quotes in keys and values, ``None``, bytes and numbers at the two ways in
(SQLAlchemy's ``connect_args`` and ``connection_params``), and duplicate keys in connection
strings and URL queries. A fixed corpus of legitimate configurations that connects for real:
tests/integration/test_what_libpq_receives.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool

import aurora_ssl
from aurora_ssl._libpq import libpq_of
from aurora_ssl._policy import Policy
from aurora_ssl.errors import AuroraSSLError
from tests import drivers

HOST = "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com"
BASE = {"host": HOST, "hostaddr": "127.0.0.1", "port": "1", "user": "app", "dbname": "app"}
#: libpq keywords whose values are free text, and some that are checked.
KEYWORDS = [
    "application_name", "options", "user", "dbname", "password", "sslcert", "sslkey",
    "krbsrvname", "connect_timeout", "keepalives", "sslmode", "sslrootcert", "host",
    "hostaddr", "port", "gssencmode", "sslsni", "ssl_min_protocol_version",
]  # fmt: skip
LOOK_ALIKES = {"s": "\u0455", "o": "\u043e", "e": "\u0435", "l": "\u04cf"}


class CapturedError(Exception):
    """Raised by the patched libpq call, carrying the connection string it was given."""

    def __init__(self, conninfo: str) -> None:
        super().__init__("captured")
        self.conninfo = conninfo


@contextlib.contextmanager
def capture(driver: str) -> Iterator[None]:
    """Patch the driver's call into libpq to raise :class:`CapturedError` instead of connecting."""
    mp = pytest.MonkeyPatch()
    if driver == "psycopg2":
        import psycopg2

        def fake(dsn: str, *args: Any, **kwargs: Any) -> Any:
            raise CapturedError(dsn)

        mp.setattr(psycopg2, "_connect", fake)
    else:
        import psycopg

        def fake_gen(cls: Any, conninfo: str = "", **kwargs: Any) -> Any:
            raise CapturedError(conninfo)

        mp.setattr(psycopg.Connection, "_connect_gen", classmethod(fake_gen))
        # psycopg resolves host names itself when no hostaddr is given: every name is local.
        import socket

        def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 1))]

        mp.setattr(socket, "getaddrinfo", resolve)
    try:
        yield
    finally:
        mp.undo()


def mutated_key(key: str, change: str) -> str:
    if change == "blank":
        return key + " "
    if change == "tab":
        return key + "\t"
    if change == "newline":
        return "\n" + key
    if change == "upper":
        return key.upper()
    if change == "equals":
        return key + "=x"
    if change == "quote":
        return f"'{key}'"
    if change == "look-alike":
        return "".join(LOOK_ALIKES.get(c, c) for c in key)
    return key


keys = st.builds(
    mutated_key,
    st.sampled_from(KEYWORDS),
    st.sampled_from(
        ["none", "none", "blank", "tab", "newline", "upper", "equals", "quote", "look-alike"]
    ),
)
values = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab =\\'\"\t\n\u00e9\u2603\x00")), max_size=12),
    st.none(),
    st.binary(max_size=4),
    st.integers(min_value=-5, max_value=70000),
)
extra = st.dictionaries(keys, values, max_size=4)


def decided_or_refused(params: dict[str, Any], driver: str) -> dict[str, str] | None:
    try:
        return Policy(aurora_ssl.Options()).decide(params, "the test", driver=driver).params
    except AuroraSSLError:
        return None


def received(driver: str, connect: Any) -> str | None:
    """The connection string libpq got from ``connect()``; None when aurora-ssl refused, or
    when the driver's own Python code refused a value before calling libpq (psycopg 3 reads
    ``connect_timeout`` first): either way, nothing reached libpq or the network."""
    from sqlalchemy.exc import DBAPIError

    with capture(driver):
        try:
            connect()
        except CapturedError as got:
            return got.conninfo
        except AuroraSSLError:
            return None
        except (DBAPIError, __import__(driver).ProgrammingError) as error:
            if isinstance(getattr(error, "orig", error), __import__(driver).ProgrammingError):
                return None
            raise
    raise AssertionError("the driver was neither called nor refused")


def refused(params: dict[str, Any], driver: str, connect: Any) -> bool:
    try:
        connect()
    except AuroraSSLError:
        return True
    except Exception:  # noqa: BLE001 - anything else: not refused by aurora-ssl
        return False
    return False


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(given_params=extra)
def test_sqlalchemy_hands_libpq_exactly_what_was_decided(
    driver: str, given_params: dict[str, Any]
) -> None:
    params = {**BASE, **given_params}
    expected = decided_or_refused(params, driver)
    url = f"postgresql+{driver}://"

    def connect() -> None:
        engine = aurora_ssl.create_engine(url, connect_args=params, poolclass=NullPool)
        engine.connect()

    got = received(driver, connect)
    if expected is None:
        assert got is None
        with capture(driver):  # and it was aurora-ssl that refused
            assert refused(params, driver, connect)
    elif got is not None:
        assert libpq_of(driver).parse(got) == same_as_psycopg_resolves(expected, got, driver)


def same_as_psycopg_resolves(expected: dict[str, str], got: str, driver: str) -> dict[str, str]:
    """psycopg 3 fills an empty ``hostaddr`` with the address it resolved for the host (the
    name is still the one verified): the one difference allowed."""
    if driver == "psycopg" and expected.get("hostaddr") == "":
        return {**expected, "hostaddr": libpq_of(driver).parse(got)["hostaddr"]}
    return expected


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(given_params=extra, duplicate=st.sampled_from(["sslmode", "host", "application_name"]))
def test_connection_params_with_a_duplicated_dsn_key(
    driver: str, given_params: dict[str, Any], duplicate: str
) -> None:
    dsn = f"{duplicate}=first {duplicate}='second value'"
    params = {**BASE, **given_params, "dsn" if driver == "psycopg2" else "conninfo": dsn}
    params.pop(duplicate, None)
    try:
        result = aurora_ssl.connection_params(params, driver=driver)
    except AuroraSSLError:
        return
    libpq_keys = {k: v for k, v in result.items() if not k.startswith(("cursor", "context"))}
    got = received(driver, lambda: __import__(driver).connect(**libpq_keys))
    if got is None:  # the driver refused a value itself (psycopg: connect_timeout='')
        return
    assert libpq_of(driver).parse(got) == same_as_psycopg_resolves(libpq_keys, got, driver)
    assert libpq_keys[duplicate] in ("second value", "verify-full", HOST)


@pytest.mark.parametrize("driver", drivers.params("psycopg2", "psycopg"))
@pytest.mark.parametrize(
    "query",
    ["sslmode=verify-full&sslmode=disable", "sslmode=verify-full&sslmode%20=disable",
     "host=a&host=%2Ftmp", "application_name=a&application_name=b"],
)  # fmt: skip
def test_a_url_query_with_a_duplicate_key_is_refused_or_decided(driver: str, query: str) -> None:
    url = f"postgresql+{driver}://app@{HOST}:1/app?hostaddr=127.0.0.1&{query}"

    def connect() -> None:
        aurora_ssl.create_engine(url, poolclass=NullPool).connect()

    got = received(driver, connect)
    if got is not None:  # decision: sslmode and the destination are ours
        parsed = libpq_of(driver).parse(got)
        assert parsed["sslmode"] == "verify-full"
        assert not parsed["host"].startswith("/")
