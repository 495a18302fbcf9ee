"""The verify-full policy on parameters alone (no server): what is refused, what is added, and
what the driver is handed (one connection string, checked as libpq reads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aurora_ssl import Options, connection_params
from aurora_ssl._libpq import PYTHON_KEYWORDS, libpq_of
from aurora_ssl._policy import PINNED_KEYS, Policy, refuse_insecure_for_aws
from aurora_ssl.errors import InsecureConfigurationError
from tests import drivers
from tests.certs import make_cert_pem

CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"

pytestmark = pytest.mark.usefixtures("fresh_caches")


def decide(params: dict[str, Any], driver: str, *args: Any, options: Options | None = None) -> Any:
    return Policy(options or Options()).decide(params, "connect kwargs", driver=driver, args=args)


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca", "REQUIRE"])
@pytest.mark.parametrize(
    ("make", "origin_text"),
    [
        (lambda m: ({"host": CLUSTER, "sslmode": m}, ()), "in connect kwargs"),
        (lambda m: ({"dsn": f"host={CLUSTER} sslmode={m}"}, ()), "in dsn in connect kwargs"),
        (
            lambda m: ({"dsn": f"postgresql://u:p@{CLUSTER}/db?sslmode={m}"}, ()),
            "in dsn in connect kwargs",
        ),
        (
            lambda m: ({"conninfo": f"sslmode='{m}' host={CLUSTER}"}, ()),
            "in conninfo in connect kwargs",
        ),
        (
            lambda m: ({}, (f"host={CLUSTER} sslmode={m}",)),
            "in the connection string in connect kwargs",
        ),
    ],
)
def test_weaker_sslmodes_are_refused_and_named(
    make: Any, origin_text: str, mode: str, driver: str
) -> None:
    params, args = make(mode)
    with pytest.raises(InsecureConfigurationError) as info:
        decide(params, driver, *args)
    assert f"sslmode={mode} {origin_text}" in str(info.value)
    assert "verify-full" in str(info.value)
    assert "p@" not in str(info.value)  # the URI's password is not echoed


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sslrootcert": "system"}, "sslrootcert=system"),
        ({"sslrootcert": "  "}, "sslrootcert="),
        ({"gssencmode": "prefer"}, "gssencmode=prefer"),
        ({"gssencmode": "require"}, "gssencmode=require"),
        ({"ssl_min_protocol_version": "TLSv1.1"}, "ssl_min_protocol_version=TLSv1.1"),
        ({"sslmode": "verify_full"}, r"sslmode=verify_full .*or is no sslmode"),
        ({"sslkeylogfile": "/tmp/keys"}, "sslkeylogfile"),
        ({"sslsni": "0"}, "sslsni=0"),
        ({"sslnegotiation": "requiredirect"}, "sslnegotiation=requiredirect"),
        ({"dbname": "dbname=app sslmode=disable"}, "holds a connection string"),
        ({"port": "abc"}, "is not a port number"),
        ({"port": "0"}, "is not a port number"),
        ({"port": "65536"}, "is not a port number"),
        ({"port": "\u0665"}, "is not a port number"),
        ({"port": "5432,-1"}, "is not a port number"),
    ],
)
def test_other_weakenings_are_refused(params: dict[str, str], fragment: str) -> None:
    if "sslkeylogfile" in params:  # a libpq 18 keyword: psycopg 3's libpq
        pytest.importorskip("psycopg")
        driver = "psycopg"
    else:
        driver = drivers.libpq_driver()
    with pytest.raises(InsecureConfigurationError, match=fragment):
        connection_params({"host": CLUSTER, **params}, driver=driver)


def test_parameters_are_added_and_user_keys_kept(driver: str) -> None:
    result = connection_params(
        {
            "host": CLUSTER,
            "user": "app",
            "dbname": "db",
            "application_name": "x",
            "sslmode": "verify-full",
            "keepalives_idle": 30,  # an int: libpq gets text
        },
        driver=driver,
    )
    assert result["sslmode"] == "verify-full"
    assert result["gssencmode"] == "disable"
    assert result["ssl_min_protocol_version"] == "TLSv1.2"
    assert result["sslsni"] == "1"
    assert result["port"] == "5432"
    assert result["hostaddr"] == ""
    assert result["application_name"] == "x"
    assert result["keepalives_idle"] == "30"
    assert Path(result["sslrootcert"]).name == "us-east-1.pem"
    libpq = libpq_of(driver)
    assert {k for k in PINNED_KEYS if libpq.knows(k)} <= set(result)


def test_stricter_user_choice_is_kept(driver: str) -> None:
    result = connection_params(
        {"host": CLUSTER, "ssl_min_protocol_version": "TLSv1.3", "sslnegotiation": "direct"},
        driver=driver,
    )
    assert result["ssl_min_protocol_version"] == "TLSv1.3"
    assert result["sslnegotiation"] == "direct"


def test_user_root_file_is_kept(tmp_path: Path, driver: str) -> None:
    own = tmp_path / "own.pem"
    own.write_bytes(make_cert_pem("Own Root"))
    result = connection_params({"host": CLUSTER, "sslrootcert": str(own)}, driver=driver)
    assert result["sslrootcert"] == str(own)


@pytest.mark.parametrize("host", [None, "", "/var/run/postgresql", "@abstract", f"{CLUSTER},/tmp"])
def test_no_tcp_host_is_refused(
    host: str | None, monkeypatch: pytest.MonkeyPatch, driver: str
) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    with pytest.raises(InsecureConfigurationError, match="Unix socket"):
        connection_params({"host": host} if host is not None else {}, driver=driver)


def test_host_from_dsn_and_pghost(monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    result = connection_params({"dsn": f"host={CLUSTER} dbname=x"}, driver=driver)
    assert "us-east-1" in result["sslrootcert"]
    assert "dsn" not in result  # merged into the parameters
    monkeypatch.setenv("PGHOST", CLUSTER.replace("us-east-1", "eu-west-1"))
    result = connection_params({"dbname": "x"}, driver=driver)
    assert result["host"] == CLUSTER.replace("us-east-1", "eu-west-1")  # now explicit
    assert "eu-west-1" in result["sslrootcert"]


def test_environment_cannot_weaken(monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    # The explicit parameters we pass take precedence over libpq's environment variables;
    # the integration tests prove the connection side, this proves we always pass them.
    monkeypatch.setenv("PGSSLMODE", "disable")
    monkeypatch.setenv("PGSSLROOTCERT", "/nonexistent")
    monkeypatch.setenv("PGGSSENCMODE", "require")
    monkeypatch.setenv("PGSSLNEGOTIATION", "direct")
    result = connection_params({"host": CLUSTER}, driver=driver)
    assert (result["sslmode"], result["gssencmode"]) == ("verify-full", "disable")
    assert Path(result["sslrootcert"]).is_file()
    assert result["sslnegotiation"] == "postgres"


def test_tls_server_name_resolves_connect_host(driver: str) -> None:
    result = connection_params(
        {"host": "localhost"}, Options(tls_server_name=CLUSTER), driver=driver
    )
    assert result["host"] == CLUSTER
    assert result["hostaddr"] in ("127.0.0.1", "::1")
    assert "us-east-1" in result["sslrootcert"]


def test_tls_server_name_with_unresolvable_host_or_a_list(driver: str) -> None:
    options = Options(tls_server_name=CLUSTER)
    with pytest.raises(InsecureConfigurationError, match=r"Cannot resolve no-such-host\.invalid"):
        connection_params({"host": "no-such-host.invalid"}, options, driver=driver)
    with pytest.raises(InsecureConfigurationError, match="needs one host"):
        connection_params({"host": "localhost,localhost"}, options, driver=driver)


def test_insecure_opt_out_refused_for_aws_endpoints() -> None:
    with pytest.raises(InsecureConfigurationError, match="only for local development"):
        refuse_insecure_for_aws(Options(insecure_local_dev=True), [CLUSTER])
    with pytest.raises(InsecureConfigurationError, match="only for local development"):
        refuse_insecure_for_aws(Options(insecure_local_dev=True), ["db.example.amazonaws.com"])
    refuse_insecure_for_aws(Options(insecure_local_dev=True), ["localhost", "db"])  # allowed
    refuse_insecure_for_aws(Options(), [CLUSTER])  # no opt-out, nothing to refuse


def test_insecure_opt_out_passes_params_through(
    driver: str, caplog: pytest.LogCaptureFixture
) -> None:
    params = {"host": "localhost", "sslmode": "disable", "password": "pw-Q7"}
    with caplog.at_level("WARNING", logger="aurora_ssl"):
        assert connection_params(params, Options(insecure_local_dev=True), driver=driver) == params
    assert "INSECURE" in caplog.text
    assert "pw-Q7" not in caplog.text
    for given in ({"host": CLUSTER}, {"dsn": f"host={CLUSTER} password=pw-Q7"}):
        with pytest.raises(InsecureConfigurationError, match="only for local development") as info:
            connection_params(given, Options(insecure_local_dev=True), driver=driver)
        assert "pw-Q7" not in str(info.value)


# --- keys: libpq keywords as that libpq spells them, the driver's own, nothing else ---------


@pytest.mark.parametrize(
    "key",
    [
        "sslmode ",
        " sslmode",
        "sslmode\t",
        "sslmode\n",
        "SSLMODE",
        "SslMode",
        "host ",
        "ѕslmode",  # noqa: RUF001 - CYRILLIC SMALL LETTER DZE
        "sslmοde",  # noqa: RUF001 - GREEK SMALL LETTER OMICRON
        "ssl_mode",
        "sslmode=disable",
        "sslmode'",
        "",
        "no_such_keyword",
        "ssl",  # asyncpg's, not libpq's
    ],
)
def test_a_key_libpq_does_not_spell_so_is_refused(key: str, driver: str) -> None:
    """``{"sslmode": "verify-full", "sslmode ": "disable"}``: both drivers would write
    ``sslmode =disable`` after the real one, and libpq would read the later one."""
    with pytest.raises(InsecureConfigurationError) as info:
        decide({"host": CLUSTER, "sslmode": "verify-full", key: "disable"}, driver)
    message = str(info.value)
    assert repr(key) in message
    assert "neither a libpq keyword" in message
    assert "connect kwargs" in message


def test_a_non_string_key_is_refused(driver: str) -> None:
    with pytest.raises(InsecureConfigurationError, match="neither a libpq keyword"):
        decide({"host": CLUSTER, 1: "x"}, driver)  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("value", "kind"), [(b"app", "bytes"), (True, "bool"), (["a"], "list"), (object(), "object")]
)
def test_values_must_be_text_or_numbers(value: object, kind: str, driver: str) -> None:
    with pytest.raises(InsecureConfigurationError, match=f"user in connect kwargs is a {kind}"):
        decide({"host": CLUSTER, "user": value}, driver)


def test_none_values_are_dropped_and_numbers_become_text(driver: str) -> None:
    decision = decide({"host": CLUSTER, "user": None, "port": 6432, "connect_timeout": 2.5}, driver)
    assert "user" not in decision.params
    assert (decision.params["port"], decision.params["connect_timeout"]) == ("6432", "2.5")


def test_the_drivers_own_keywords_are_passed_as_keywords() -> None:
    for driver, own in PYTHON_KEYWORDS.items():
        if not drivers.is_installed(driver):
            continue
        given = dict.fromkeys(own, None)
        decision = decide({"host": CLUSTER, **given}, driver)
        assert decision.driver_kwargs == given
        assert not own & set(decision.params)
        assert not any(f"{k}=" in decision.conninfo for k in own)


@pytest.mark.driver("psycopg2")
def test_psycopg2s_database_keyword_is_dbname() -> None:
    decision = decide({"host": CLUSTER, "database": "app"}, "psycopg2")
    assert decision.params["dbname"] == "app"
    assert "database" not in decision.params


@pytest.mark.driver("psycopg")
def test_psycopg2s_keywords_are_refused_for_psycopg() -> None:
    for key in ("database", "connection_factory"):
        with pytest.raises(InsecureConfigurationError, match=f"'{key}' in connect kwargs"):
            decide({"host": CLUSTER, key: "x"}, "psycopg")


def test_unexpected_positional_arguments_are_refused(driver: str) -> None:
    with pytest.raises(InsecureConfigurationError, match="Unexpected positional arguments"):
        decide({}, driver, f"host={CLUSTER}", "more")
    with pytest.raises(InsecureConfigurationError, match="Unexpected positional arguments"):
        decide({}, driver, {"host": CLUSTER})


# --- what the driver is handed: one string, parsed back as checked ---------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"options": "-c search_path='a b' -c statement_timeout=5s"},
        {"application_name": "naïve app ✓"},
        {"password": "it's a \\ back'slash"},
        {"user": " leading and trailing "},
        {"dbname": ""},
        {"host": f"{CLUSTER},{CLUSTER.replace('cluster-', 'cluster-ro-')}", "port": "5432,5433"},
    ],
)
def test_the_connection_string_parses_to_what_was_decided(
    extra: dict[str, str], driver: str
) -> None:
    decision = decide({"host": CLUSTER, **extra}, driver)
    libpq = libpq_of(driver)
    assert libpq.parse(decision.conninfo) == decision.params
    for key, value in extra.items():
        assert decision.params[key] == value


def test_with_password_adds_only_the_password(driver: str) -> None:
    decision = decide({"host": CLUSTER, "user": "app"}, driver)
    conninfo = decision.with_password("pw' \\x")
    assert libpq_of(driver).parse(conninfo) == {**decision.params, "password": "pw' \\x"}
    assert "password" not in decision.params
    assert "pw" not in decision.conninfo


def test_a_nul_in_a_value_is_refused(driver: str) -> None:
    with pytest.raises(InsecureConfigurationError, match=r"'application_name' .* NUL"):
        decide({"host": CLUSTER, "application_name": "a\x00b"}, driver)
    with pytest.raises(InsecureConfigurationError, match="NUL"):
        decide({"dsn": f"host={CLUSTER}\x00 sslmode=disable"}, driver)


def test_a_uri_value_with_blanks_is_read_as_libpq_reads_it(driver: str) -> None:
    """libpq 18 trims blanks in URI parameters, 17 keeps them; checked by the driver's libpq,
    ``sslmode= disable `` is refused either way."""
    with pytest.raises(InsecureConfigurationError, match="sslmode="):
        decide({"dsn": f"postgresql://{CLUSTER}/app?sslmode= disable "}, driver)


@pytest.mark.parametrize("dsn", ["host", "host='unterminated", "=x", "postgresql://[::1/"])
def test_malformed_conninfo_is_refused_without_echoing_values(dsn: str, driver: str) -> None:
    with pytest.raises(InsecureConfigurationError, match="cannot parse") as info:
        decide({"dsn": dsn + " password=SeCrEt-Value"}, driver)
    assert "SeCrEt-Value" not in str(info.value)
    assert f"libpq of {driver}" in str(info.value)


@pytest.mark.parametrize(
    "dbname", ["host=h password=SeCrEt-Value", "postgresql://u:SeCrEt-Value@h/app"]
)
def test_a_refused_value_never_echoes_a_password(dbname: str, driver: str) -> None:
    with pytest.raises(InsecureConfigurationError, match="holds a connection string") as info:
        decide({"host": CLUSTER, "dbname": dbname}, driver)
    assert "SeCrEt" not in str(info.value)


# --- an older libpq -------------------------------------------------------------------------


def _older_libpq(monkeypatch: pytest.MonkeyPatch, *unknown: str) -> None:
    """Check with a libpq that lacks ``unknown`` keywords (as an older one does)."""
    from aurora_ssl import _policy
    from aurora_ssl._libpq import Libpq

    real = libpq_of(drivers.libpq_driver())

    def parse(text: str) -> dict[str, str]:
        parsed = real.parse(text)
        if set(parsed) & set(unknown):
            raise ValueError("invalid connection option")
        return parsed

    monkeypatch.setattr(_policy, "libpq_of", lambda driver: Libpq("old", parse, lambda: 120000))


@pytest.mark.driver("libpq")
def test_keys_an_older_libpq_lacks_are_not_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq 15 and 16 refuse a whole string with sslnegotiation or sslkeylogfile in it, and
    negotiate only the standard way anyway: those keys are left out for them."""
    _older_libpq(monkeypatch, "sslnegotiation", "sslkeylogfile")
    decision = decide({"host": CLUSTER}, drivers.libpq_driver())
    assert "sslnegotiation" not in decision.params
    assert "sslkeylogfile" not in decision.params
    assert decision.params["sslmode"] == "verify-full"
    with pytest.raises(InsecureConfigurationError, match="neither a libpq keyword"):
        decide({"host": CLUSTER, "sslnegotiation": "direct"}, drivers.libpq_driver())


@pytest.mark.driver("libpq")
def test_a_libpq_older_than_13_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ssl_min_protocol_version, TLS 1.0 and 1.1 cannot be refused."""
    _older_libpq(monkeypatch, "ssl_min_protocol_version", "sslnegotiation", "sslkeylogfile")
    with pytest.raises(InsecureConfigurationError, match="older than 13") as info:
        decide({"host": CLUSTER}, drivers.libpq_driver())
    assert "psycopg2-binary" in str(info.value)
