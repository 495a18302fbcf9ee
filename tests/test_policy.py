"""The verify-full policy on parameters alone (no server): what is refused, what is added."""

from __future__ import annotations

from pathlib import Path

import pytest

from aurora_ssl.conninfo import parse_conninfo
from aurora_ssl.errors import InsecureConfigurationError
from aurora_ssl.policy import Settings, check_params, connection_params, validate_settings
from tests.certs import make_cert_pem

CLUSTER = "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com"

pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca", "REQUIRE"])
@pytest.mark.parametrize(
    ("make", "origin_text"),
    [
        (lambda m: {"sslmode": m}, "connect kwargs"),
        (lambda m: {"dsn": f"host={CLUSTER} sslmode={m}"}, "the DSN string in connect kwargs"),
        (lambda m: {"dsn": f"postgresql://u:p@{CLUSTER}/db?sslmode={m}"}, "the DSN string"),
        (lambda m: {"conninfo": f"sslmode='{m}' host={CLUSTER}"}, "the DSN string"),
    ],
)
def test_weaker_sslmodes_are_refused_and_named(make, origin_text: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InsecureConfigurationError) as info:
        check_params(make(mode), "connect kwargs")
    assert f"sslmode={mode}" in str(info.value)
    assert origin_text in str(info.value)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sslrootcert": "system"}, "sslrootcert=system"),
        ({"sslrootcert": "  "}, "sslrootcert is empty"),
        ({"gssencmode": "prefer"}, "gssencmode=prefer"),
        ({"gssencmode": "require"}, "gssencmode=require"),
        ({"ssl_min_protocol_version": "TLSv1.1"}, "ssl_min_protocol_version=TLSv1.1"),
        ({"sslmode": "verify_full"}, "not a libpq sslmode"),
        ({"sslkeylogfile": "/tmp/keys"}, "sslkeylogfile"),
    ],
)
def test_other_weakenings_are_refused(params: dict[str, str], fragment: str) -> None:
    with pytest.raises(InsecureConfigurationError, match=fragment):
        connection_params({"host": CLUSTER, **params})


def test_parameters_are_added_and_user_keys_kept() -> None:
    result = connection_params(
        {
            "host": CLUSTER,
            "user": "app",
            "dbname": "db",
            "application_name": "x",
            "sslmode": "verify-full",
        }
    )
    assert result["sslmode"] == "verify-full"
    assert result["gssencmode"] == "disable"
    assert result["ssl_min_protocol_version"] == "TLSv1.2"
    assert result["sslsni"] == "1"
    assert result["application_name"] == "x"
    assert "us-east-1" in Path(result["sslrootcert"]).name


def test_stricter_user_choice_is_kept() -> None:
    result = connection_params({"host": CLUSTER, "ssl_min_protocol_version": "TLSv1.3"})
    assert result["ssl_min_protocol_version"] == "TLSv1.3"


def test_user_root_file_is_kept(tmp_path: Path) -> None:
    own = tmp_path / "own.pem"
    own.write_bytes(make_cert_pem("Own Root"))
    assert connection_params({"host": CLUSTER, "sslrootcert": str(own)})["sslrootcert"] == str(own)


@pytest.mark.parametrize("host", [None, "", "/var/run/postgresql", "@abstract"])
def test_no_tcp_host_is_refused(host: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    with pytest.raises(InsecureConfigurationError, match="Unix socket"):
        connection_params({"host": host} if host is not None else {})


def test_host_from_dsn_and_pghost(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "us-east-1" in connection_params({"dsn": f"host={CLUSTER} dbname=x"})["sslrootcert"]
    monkeypatch.setenv("PGHOST", CLUSTER.replace("us-east-1", "eu-west-1"))
    assert "eu-west-1" in connection_params({"dbname": "x"})["sslrootcert"]


def test_environment_cannot_weaken(monkeypatch: pytest.MonkeyPatch) -> None:
    # The explicit parameters we pass take precedence over libpq's environment variables;
    # the integration tests prove the connection side, this proves we always pass them.
    monkeypatch.setenv("PGSSLMODE", "disable")
    monkeypatch.setenv("PGSSLROOTCERT", "/nonexistent")
    monkeypatch.setenv("PGGSSENCMODE", "require")
    result = connection_params({"host": CLUSTER})
    assert (result["sslmode"], result["gssencmode"]) == ("verify-full", "disable")
    assert Path(result["sslrootcert"]).is_file()


def test_tls_server_name_resolves_connect_host() -> None:
    result = connection_params({"host": "localhost"}, Settings(tls_server_name=CLUSTER))
    assert result["host"] == CLUSTER
    assert result["hostaddr"] in ("127.0.0.1", "::1")
    assert "us-east-1" in result["sslrootcert"]


def test_tls_server_name_with_unresolvable_host() -> None:
    with pytest.raises(InsecureConfigurationError, match=r"Cannot resolve no-such-host\.invalid"):
        connection_params({"host": "no-such-host.invalid"}, Settings(tls_server_name=CLUSTER))


def test_insecure_opt_out_refused_for_aws_endpoints() -> None:
    with pytest.raises(InsecureConfigurationError, match="only for local development"):
        validate_settings(Settings(insecure_local_dev=True), [CLUSTER])
    validate_settings(Settings(insecure_local_dev=True), ["localhost", "db"])  # allowed


def test_insecure_opt_out_passes_params_through() -> None:
    params = {"host": "localhost", "sslmode": "disable"}
    assert connection_params(params, Settings(insecure_local_dev=True)) == params


# --- connection strings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("host=a port=5432 dbname=x", {"host": "a", "port": "5432", "dbname": "x"}),
        (
            "host = a   user='b c' password='it\\'s'",
            {"host": "a", "user": "b c", "password": "it's"},
        ),
        ("password=a\\ b", {"password": "a b"}),
        (
            "postgresql://u%40x:p%3Ass@h1:5432,h2:5433/d%20b?sslmode=verify-full&application_name=a",
            {
                "user": "u@x",
                "password": "p:ss",
                "host": "h1,h2",
                "port": "5432,5433",
                "dbname": "d b",
                "sslmode": "verify-full",
                "application_name": "a",
            },
        ),
        ("postgres://[::1]:6432/db", {"host": "::1", "port": "6432", "dbname": "db"}),
        ("", {}),
    ],
)
def test_parse_conninfo(dsn: str, expected: dict[str, str]) -> None:
    assert parse_conninfo(dsn) == expected


@pytest.mark.parametrize("dsn", ["host", "host='unterminated", "=x"])
def test_malformed_conninfo_is_refused_without_echoing_values(dsn: str) -> None:
    with pytest.raises(InsecureConfigurationError, match="Malformed connection string") as info:
        parse_conninfo(dsn + " password=SeCrEt-Value")
    assert "SeCrEt-Value" not in str(info.value)
