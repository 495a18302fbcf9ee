"""Property-based tests (hypothesis) of everything that reads user-supplied connection text.

Two kinds of property:

* robustness: any input either parses or raises one of our documented errors
  (:class:`InsecureConfigurationError` for configuration, :class:`AuroraSSLError` in general);
  never ``ValueError``/``IndexError``/``TypeError`` from deep inside;
* safety: no input ever makes the parameters we hand to libpq weaker than verify-full. The
  oracle is libpq itself (``PQconninfoParse`` through psycopg or psycopg2): whatever libpq
  would read from a string, and however it would merge our keyword arguments over it, the
  effective ``sslmode`` is ``verify-full``, ``gssencmode`` is ``disable`` and ``sslrootcert`` is
  the file we chose.

Runs without a server. The number of examples can be raised for a long local run with
``AURORA_SSL_FUZZ_EXAMPLES=5000``.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.endpoint import EndpointKind, Partition, parse_endpoint
from aurora_ssl.errors import AuroraSSLError, InsecureConfigurationError
from aurora_ssl.policy import PINNED_KEYS, WEAK_SSLMODES, check_params, connection_params
from tests import drivers

EXAMPLES = int(os.environ.get("AURORA_SSL_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# A us-east-1 cluster: its three roots are in the shipped bundle, so selection needs no server.
CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"

# libpq's keywords (libpq 17/18); unknown keywords make libpq refuse the whole string.
LIBPQ_KEYWORDS = (
    "service", "user", "password", "passfile", "channel_binding", "connect_timeout", "dbname",
    "host", "hostaddr", "port", "client_encoding", "options", "application_name",
    "fallback_application_name", "keepalives", "sslmode", "sslnegotiation", "sslcompression",
    "sslcert", "sslkey", "sslcertmode", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir",
    "sslsni", "requirepeer", "require_auth", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "gssencmode", "krbsrvname", "target_session_attrs",
    "load_balance_hosts",
)  # fmt: skip
SECURITY_KEYS = ("sslmode", "sslrootcert", "gssencmode", "ssl_min_protocol_version")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SSLMODE_SPELLINGS = st.sampled_from(SSLMODES).flatmap(
    lambda m: st.sampled_from([m, m.upper(), m.title(), f" {m}", m.replace("-", "_")])
)


# --- libpq as the oracle --------------------------------------------------------------------


def libpq_parse(dsn: str) -> dict[str, str] | None:
    """What libpq reads from ``dsn`` (``None`` if libpq refuses the string)."""
    try:
        from psycopg import conninfo as pg3

        try:
            return {k: str(v) for k, v in pg3.conninfo_to_dict(dsn).items()}
        except Exception:  # noqa: BLE001 - psycopg.ProgrammingError and friends: refused
            return None
    except ImportError:
        import psycopg2.extensions

        try:
            return dict(psycopg2.extensions.parse_dsn(dsn))
        except Exception:  # noqa: BLE001 - psycopg2.ProgrammingError: refused
            return None


def libpq_effective(params: Mapping[str, Any]) -> dict[str, str] | None:
    """The parameters libpq would use for ``connect(dsn, **kwargs)``: kwargs win over the DSN,
    exactly as psycopg2 (``make_dsn``) and psycopg 3 (``make_conninfo``) merge them."""
    kwargs = {k: v for k, v in params.items() if k not in ("dsn", "conninfo") and v is not None}
    dsn = str(params.get("dsn") or params.get("conninfo") or "")
    try:
        from psycopg import conninfo as pg3

        try:
            merged = pg3.make_conninfo(dsn, **kwargs)
        except Exception:  # noqa: BLE001 - libpq refuses the combination: cannot connect at all
            return None
    except ImportError:
        import psycopg2.extensions

        try:
            merged = psycopg2.extensions.make_dsn(dsn, **kwargs)
        except Exception:  # noqa: BLE001 - as above
            return None
    return libpq_parse(merged)


def libpq_would_be_weak(parsed: Mapping[str, str]) -> bool:
    """Would a connection with these parameters skip verify-full (or let GSSAPI replace TLS)?

    libpq compares sslmode and gssencmode values case-sensitively: "DISABLE" is not weak, it
    is an invalid value that fails every connection attempt.
    """
    mode = parsed.get("sslmode")
    gss = parsed.get("gssencmode")
    root = parsed.get("sslrootcert")
    return (
        mode in WEAK_SSLMODES
        or gss in ("prefer", "require")
        or (root is not None and root.strip().lower() == "system")
    )


def assert_strong(out: Mapping[str, Any]) -> None:
    """The output of connection_params is verify-full, however libpq reads it."""
    assert out["sslmode"] == "verify-full"
    assert out["gssencmode"] == "disable"
    # The complete set: nothing security-relevant is left for a service file or PG* to fill.
    assert out["sslsni"] == "1"
    assert {"host", "hostaddr", "port", "ssl_min_protocol_version"} <= set(out)
    assert Path(str(out["sslrootcert"])).is_file()
    effective = libpq_effective(out)
    if effective is not None:  # None: libpq refuses these parameters, nothing can connect
        assert effective.get("sslmode") == "verify-full", effective
        assert effective.get("gssencmode") == "disable", effective
        assert effective.get("sslrootcert") == str(out["sslrootcert"]), effective
        # libpq compares protocol names case-insensitively; an unknown name fails to connect.
        protocol = effective.get("ssl_min_protocol_version", "")
        assert protocol.lower() not in ("tlsv1", "tlsv1.1", "sslv3"), effective


# --- strategies -----------------------------------------------------------------------------

LABEL_CHARS = string.ascii_lowercase + string.digits
label = st.text(LABEL_CHARS + "-", min_size=1, max_size=20).filter(
    lambda s: s[0] != "-" and s[-1] != "-"
)
prefix_free_label = label.filter(lambda s: not s.startswith(("cluster-", "proxy-", "shardgrp-")))
region = st.builds(
    lambda words, n: "-".join(words) + f"-{n}",
    st.lists(st.text(string.ascii_lowercase, min_size=2, max_size=9), min_size=2, max_size=3),
    st.integers(min_value=1, max_value=19),
)
MIDDLE_PREFIXES = {
    "cluster-": EndpointKind.CLUSTER,
    "cluster-ro-": EndpointKind.READER,
    "cluster-custom-": EndpointKind.CUSTOM,
    "proxy-": EndpointKind.PROXY,
    "shardgrp-": EndpointKind.SHARD_GROUP,
    "": EndpointKind.INSTANCE,
}


@st.composite
def rds_names(draw: st.DrawFn) -> tuple[str, EndpointKind, str, Partition, str]:
    """A well-formed RDS endpoint name and what it must parse to."""
    name = draw(label)
    prefix = draw(st.sampled_from(sorted(MIDDLE_PREFIXES)))
    kind = MIDDLE_PREFIXES[prefix]
    middle = prefix + draw(label if prefix else prefix_free_label)
    reg = draw(region)
    china = draw(st.booleans())
    if kind is EndpointKind.PROXY and draw(st.booleans()):
        host = f"{name}.endpoint.{middle}.{reg}.rds.amazonaws.com"
        kind = EndpointKind.PROXY_ENDPOINT
    else:
        host = f"{name}.{middle}.{reg}.rds.amazonaws.com"
    if china:
        host += ".cn"
    if china:
        partition = Partition.AWS_CN
    elif reg.startswith("us-gov-"):
        partition = Partition.AWS_US_GOV
    else:
        partition = Partition.AWS
    spelled = draw(st.sampled_from([host, host.upper(), host + ".", f"  {host} "]))
    return spelled, kind, reg, partition, name


# Independent description of the RDS grammar, label by label (no shared regex).
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_REGION_RE = re.compile(r"[a-z]{2,}(-[a-z]+)+-[0-9]+", re.ASCII)


def oracle_is_rds(host: str) -> bool:
    """``host`` is already normalised (as ``Endpoint.host``): no stripping here."""
    labels = host.split(".")
    if labels[-1] == "cn":
        labels = labels[:-1]
    if labels[-3:] != ["rds", "amazonaws", "com"]:
        return False
    labels = labels[:-3]
    if len(labels) == 5 and labels[1] == "endpoint" and labels[2].startswith("proxy-"):
        labels = [labels[0], labels[2], labels[3]]
    return (
        len(labels) == 3
        and all(_LABEL_RE.fullmatch(x) for x in labels[:2])
        and _REGION_RE.fullmatch(labels[2]) is not None
    )


def conninfo_value(value: str) -> str:
    """Quote a value the way libpq's key=value syntax requires."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


# Values a fuzzer would not easily stumble on: weak modes, look-alike spellings, quoting.
tricky_value = st.one_of(
    SSLMODE_SPELLINGS,
    st.sampled_from(["system", "", " ", "'", "\\", "=", "a b", "x\\'y", "%", "+", "disable\x00"]),
    st.text(max_size=12),
)
kv_separator = st.sampled_from(["=", " = ", "=  ", "\t=\t"])
pair_gap = st.sampled_from([" ", "  ", "\t", "\n", " \r\n "])


@st.composite
def keyword_dsns(draw: st.DrawFn) -> str:
    """``key=value`` strings mixing libpq keywords, quoting styles and escapes."""
    parts = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        key = draw(st.sampled_from([*SECURITY_KEYS, "host", "dbname", "sslnegotiation"]))
        value = draw(tricky_value)
        style = draw(st.sampled_from(["quoted", "bare", "escaped-bare"]))
        if style == "quoted" or not value or any(c.isspace() or c in "'\\" for c in value):
            rendered = (
                conninfo_value(value)
                if style != "escaped-bare" or not value
                else ("".join("\\" + c if c.isspace() or c in "'\\" else c for c in value))
            )
        else:
            rendered = value
        parts.append(f"{key}{draw(kv_separator)}{rendered}")
    return draw(pair_gap).join(parts)


@st.composite
def uri_dsns(draw: st.DrawFn) -> str:
    """``postgresql://`` URIs with percent-encoded, repeated and odd query keys."""
    scheme = draw(st.sampled_from(["postgresql://", "postgres://", "POSTGRESQL://"]))
    user = draw(st.sampled_from(["", "u@", "u:p%40ss@", "%75ser:x@"]))
    host = draw(st.sampled_from([CLUSTER, f"{CLUSTER}:5432", "[::1]:5432", "h1,h2", ""]))
    query = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        key = draw(st.sampled_from([*SECURITY_KEYS, "host", "application_name"]))
        value = draw(tricky_value)
        encode_key = draw(st.booleans())
        k = "".join(f"%{ord(c):02X}" for c in key) if encode_key else key
        v = quote(value, safe=draw(st.sampled_from(["", "-", "+"])))
        query.append(f"{k}={v}")
    tail = ("?" + "&".join(query)) if query else ""
    return f"{scheme}{user}{host}/db{tail}"


any_dsn = st.one_of(keyword_dsns(), uri_dsns(), st.text(max_size=60))


# --- the host-name parser -------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=120))
@example("x.cluster-abc.us-east-1.rds.amazonaws.com\n.")
@example("x.cluster-abc.us-east-\u0661.rds.amazonaws.com")
@example("\u212a.cluster-abc.us-east-1.rds.amazonaws.com")
def test_any_text_parses_and_rds_means_exactly_an_rds_name(host: str) -> None:
    endpoint = parse_endpoint(host)
    assert endpoint.kind.is_rds == oracle_is_rds(endpoint.host), endpoint
    if endpoint.kind.is_rds:
        assert endpoint.region is not None
        assert endpoint.region.isascii()
        assert endpoint.host.endswith((".rds.amazonaws.com", ".rds.amazonaws.com.cn"))
        assert f".{endpoint.region}.rds.amazonaws.com" in endpoint.host
    else:
        assert endpoint.region is None
        assert endpoint.partition is None


@FUZZ
@given(rds_names())
def test_generated_rds_names_parse_to_their_parts(
    case: tuple[str, EndpointKind, str, Partition, str],
) -> None:
    host, kind, reg, partition, name = case
    endpoint = parse_endpoint(host)
    assert (endpoint.kind, endpoint.region, endpoint.partition, endpoint.identifier) == (
        kind,
        reg,
        partition,
        name,
    )


@FUZZ
@given(rds_names(), st.text(LABEL_CHARS + "-.", min_size=1, max_size=30))
def test_a_suffix_after_an_rds_name_is_never_rds(
    case: tuple[str, EndpointKind, str, Partition, str], suffix: str
) -> None:
    # "mydb.cluster-x.us-east-1.rds.amazonaws.com.evil.test" is the attacker's domain.
    host = case[0].strip().rstrip(".")
    assume(suffix.strip(".") not in ("", "cn") and not host.endswith(".cn"))
    assert parse_endpoint(f"{host}.{suffix.strip('.')}").kind is EndpointKind.OTHER


# --- the conninfo parser --------------------------------------------------------------------


def _parse_or_documented_error(dsn: str) -> dict[str, str] | None:
    try:
        parsed = parse_conninfo(dsn)
    except InsecureConfigurationError:
        return None
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())
    return parsed


# Pieces that make libpq's URI and keyword grammar interesting: userinfo and host separators,
# percent-escapes (of '/', '@', NUL), IPv6 brackets, quoting, escapes, duplicated keys, blanks.
_FRAGMENTS = st.one_of(
    st.sampled_from(
        ["@", "%2F", "%40", "%2f", "/", ":", ",", "[", "]", "[::1]", "?", "&", "=", "'", "\\",
         " ", "%", "%00", "%zz", "%20", "h", "db", "u", "p", "ssl=true", "5432", "sslmode=",
         "host=", "disable", "verify-full", "#"]
    ),
    st.text("ab%/@:,=&?'\\ ", max_size=4),
)  # fmt: skip
libpq_tricky_dsns = st.one_of(
    st.builds(
        lambda scheme, parts: scheme + "".join(parts),
        st.sampled_from(["postgresql://", "postgres://"]),
        st.lists(_FRAGMENTS, max_size=12),
    ),
    st.lists(
        st.builds(
            lambda key, blank, value: f"{key}{blank}={blank}{value}",
            st.sampled_from(["host", "port", "dbname", "user", "password", "sslmode", "hostaddr"]),
            st.sampled_from(["", " ", "\t"]),
            st.lists(_FRAGMENTS, max_size=4).map("".join),
        ),
        max_size=4,
    ).map(" ".join),
)


@FUZZ
@given(st.one_of(libpq_tricky_dsns, any_dsn))
@example("postgresql://u@x@host/db")  # libpq: userinfo ends at the FIRST '@'
@example("postgresql://%2Ftmp%2Fsock/db")  # a Unix socket, percent-encoded
@example("postgresql://u%40x:p%2F@h,[::1]:5433/db?host=other&ssl=true")
@example("host=a host=/tmp sslmode=verify-full sslmode=disable")  # duplicates: the last wins
@example("host='a\\'b' password=x\\ y")
@example("postgresql://h/db?sslmode= disable ")  # libpq 18 trims blanks, 17 does not
def test_our_reading_is_libpqs(dsn: str) -> None:
    """Differential: whatever each installed libpq reads from a string, parse_conninfo returns
    exactly that or refuses the string; and our own parser alone agrees with libpq 18."""
    from aurora_ssl.conninfo import _parse, libpq_parsers

    for name, parser in libpq_parsers():
        try:
            theirs: dict[str, str] | None = parser(dsn)
        except Exception:  # noqa: BLE001 - the drivers' ProgrammingError: libpq refuses it
            theirs = None
        try:
            mine: dict[str, str] | None = parse_conninfo(dsn, driver=name)
        except InsecureConfigurationError:
            mine = None
        if mine is not None:
            assert mine == theirs, (name, dsn)
        if theirs is not None and name == "psycopg":  # libpq 18, the grammar we follow
            assert _parse(dsn) == theirs, dsn


@FUZZ
@given(any_dsn)
@example("postgresql://[abc/db")
@example("postgresql://h/db?%zz=1")
@example("host='unterminated")
def test_conninfo_parses_or_raises_our_error(dsn: str) -> None:
    _parse_or_documented_error(dsn)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(LIBPQ_KEYWORDS),  # libpq refuses a string with an unknown keyword
        st.text(
            st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20
        ),
        max_size=6,
    )
)
def test_quoted_keyword_strings_round_trip(params: dict[str, str]) -> None:
    dsn = " ".join(f"{k}={conninfo_value(v)}" for k, v in params.items())
    assert parse_conninfo(dsn) == params


@FUZZ
@given(any_dsn)
@example("sslmode=disable sslmode=verify-full")
@example("postgresql://h/db?sslmode=verify-full&ssl%6dode=disable")
@example("sslmode=verify-full gssencmode=prefer")
@example("sslmode=\\disable")
def test_what_libpq_reads_as_weak_we_refuse(dsn: str) -> None:
    """Differential: if libpq itself would read a weaker setting, check_params refuses it."""
    seen = libpq_parse(dsn)
    try:
        check_params({"dsn": dsn}, "the fuzzed DSN")
    except InsecureConfigurationError:
        return
    assert seen is None or not libpq_would_be_weak(seen), (dsn, seen)


# --- check_params / connection_params -------------------------------------------------------

param_values = st.one_of(
    st.none(),
    tricky_value,
    st.integers(min_value=-2, max_value=70000),
    st.booleans(),
    any_dsn,
)
param_keys = st.one_of(
    st.sampled_from([*LIBPQ_KEYWORDS, "dsn", "conninfo", "SSLMODE", "sslMode"]),
    st.text(string.ascii_letters + "_", min_size=1, max_size=10),
)


@st.composite
def param_dicts(draw: st.DrawFn) -> dict[str, Any]:
    params: dict[str, Any] = draw(st.dictionaries(param_keys, param_values, max_size=8))
    if draw(st.booleans()):
        params["host"] = CLUSTER
    if draw(st.booleans()):
        params["sslmode"] = draw(st.one_of(SSLMODE_SPELLINGS, st.none()))
    if "sslrootcert" in params and draw(st.booleans()):
        params.pop("sslrootcert")  # mostly fuzz without a user file: selection then runs
    return params


@FUZZ
@given(param_dicts())
def test_check_params_raises_only_our_error(params: dict[str, Any]) -> None:
    try:
        check_params(params, "fuzz")
    except InsecureConfigurationError as exc:
        message = str(exc)
    else:
        return
    # A weaker setting is named with its origin; a malformed DSN says what is malformed.
    assert "fuzz" in message or "Malformed" in message


@FUZZ
@given(param_dicts())
@example({"host": CLUSTER, "dsn": "sslmode=disable sslmode=verify-full"})
@example({"host": CLUSTER, "dsn": "postgresql://h/db?sslmode=verify-full&gssencmode=require"})
@example({"host": CLUSTER, "conninfo": "sslrootcert=system"})
@example({"dsn": f"host={CLUSTER} sslmode=require"})
@example({"host": CLUSTER, "ssl_min_protocol_version": "TLSv1"})
@example({"host": CLUSTER, "application_name": "a\x00b"})  # libpq stops reading at a NUL
@example({"host": CLUSTER, "sslrootcert": "\x00"})
def test_connection_params_never_weaker_than_verify_full(params: dict[str, Any]) -> None:
    try:
        out = connection_params(params, origin="fuzz")
    except AuroraSSLError:
        return
    assert_strong(out)
    for key, value in params.items():  # user keys are kept, except the ones we own
        if key not in (*PINNED_KEYS, "dsn", "conninfo") and value is not None:
            assert out[key] == value
    assert "dsn" not in out  # merged: keywords only
    assert "conninfo" not in out


@FUZZ
@given(any_dsn)
def test_a_dsn_alone_never_yields_weaker_parameters(dsn: str) -> None:
    try:
        out = connection_params({"dsn": dsn, "host": CLUSTER}, origin="fuzz")
    except AuroraSSLError:
        return
    assert_strong(out)


# --- the SQLAlchemy URL path ----------------------------------------------------------------


class _CapturedError(Exception):
    """Raised by the last do_connect listener: parameters captured, do not connect."""


def _final_params(url: str, **kwargs: Any) -> dict[str, Any]:
    from sqlalchemy import event
    from sqlalchemy.pool import NullPool

    import aurora_ssl

    engine = aurora_ssl.create_engine(url, poolclass=NullPool, **kwargs)
    captured: dict[str, Any] = {}

    def capture(dialect: Any, rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        captured.update(cparams)
        raise _CapturedError

    event.listen(engine, "do_connect", capture)
    try:
        with pytest.raises(_CapturedError):
            engine.connect()
    finally:
        engine.dispose()
    return captured


query_values: Callable[[], st.SearchStrategy[str]] = lambda: st.one_of(  # noqa: E731
    SSLMODE_SPELLINGS, st.sampled_from(["system", "", "prefer", "require"]), st.text(max_size=8)
)
# Only the drivers installed here (the support matrix installs one libpq driver per session).
SYNC_DRIVERS = [f"postgresql+{name}" for name in drivers.installed("psycopg2", "psycopg")]
needs_a_driver = pytest.mark.skipif(not SYNC_DRIVERS, reason="no libpq driver installed")


def _assert_sqlalchemy_params_strong(
    drivername: str, query: dict[str, str], connect_args: dict[str, str]
) -> None:
    url = sqlalchemy_url(drivername, query)
    try:
        final = _final_params(url.render_as_string(hide_password=False), connect_args=connect_args)
    except AuroraSSLError:
        return
    assert_strong(final)


@needs_a_driver
@settings(parent=FUZZ, max_examples=max(50, EXAMPLES // 3))
@given(
    st.sampled_from(SYNC_DRIVERS or ["postgresql+psycopg2"]),
    st.dictionaries(st.sampled_from(SECURITY_KEYS), query_values(), max_size=3),
    st.dictionaries(st.sampled_from([*SECURITY_KEYS, "dsn"]), query_values(), max_size=2),
)
def test_sqlalchemy_urls_and_connect_args_never_yield_weaker_parameters(
    drivername: str, query: dict[str, str], connect_args: dict[str, str]
) -> None:
    _assert_sqlalchemy_params_strong(drivername, query, connect_args)


@needs_a_driver
@pytest.mark.parametrize(
    ("query", "connect_args"),
    [
        ({}, {"sslrootcert": "\x00"}),
        ({"sslmode": "verify-full\x00"}, {}),
        ({"application_name": "a\x00b"}, {}),
        ({}, {"dsn": "sslmode=verify-full application_name=x\x00"}),
    ],
)
@pytest.mark.parametrize("drivername", drivers.params("postgresql+psycopg2", "postgresql+psycopg"))
def test_sqlalchemy_nul_characters_are_refused(
    drivername: str, query: dict[str, str], connect_args: dict[str, str]
) -> None:
    with pytest.raises(InsecureConfigurationError, match="NUL"):
        _final_params(
            sqlalchemy_url(drivername, query).render_as_string(hide_password=False),
            connect_args=connect_args,
        )


def sqlalchemy_url(drivername: str, query: dict[str, str]) -> Any:
    from sqlalchemy.engine import URL

    return URL.create(drivername, "u", "pw", CLUSTER, 5432, "db", query=query)
