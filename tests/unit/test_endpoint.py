"""Host-name parsing and checks: table-driven, including names that only look like RDS
endpoints."""

from __future__ import annotations

import pytest

from aurora_ssl._endpoint import EndpointKind, host_problem, is_ip, is_region_name, parse_endpoint

K = EndpointKind


@pytest.mark.parametrize(
    ("host", "kind", "region", "partition", "identifier"),
    [
        (
            "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com",
            K.CLUSTER,
            "us-east-1",
            "aws",
            "mydb",
        ),
        (
            "mydb.cluster-ro-c9akciq32xyz.eu-west-2.rds.amazonaws.com",
            K.READER,
            "eu-west-2",
            "aws",
            "mydb",
        ),
        (
            "ep1.cluster-custom-c9akciq32xyz.ap-southeast-2.rds.amazonaws.com",
            K.CUSTOM,
            "ap-southeast-2",
            "aws",
            "ep1",
        ),
        (
            "db-1.c9akciq32xyz.ca-central-1.rds.amazonaws.com",
            K.INSTANCE,
            "ca-central-1",
            "aws",
            "db-1",
        ),
        (
            "p1.proxy-c9akciq32xyz.us-west-2.rds.amazonaws.com",
            K.PROXY,
            "us-west-2",
            "aws",
            "p1",
        ),
        (
            "ro.endpoint.proxy-c9akciq32xyz.us-west-2.rds.amazonaws.com",
            K.PROXY_ENDPOINT,
            "us-west-2",
            "aws",
            "ro",
        ),
        (
            "lim.shardgrp-c9akciq32xyz.us-east-2.rds.amazonaws.com",
            K.SHARD_GROUP,
            "us-east-2",
            "aws",
            "lim",
        ),
        (
            "db.cluster-c9akciq32xyz.cn-north-1.rds.amazonaws.com.cn",
            K.CLUSTER,
            "cn-north-1",
            "aws-cn",
            "db",
        ),
        (
            "db.c9akciq32xyz.cn-northwest-1.rds.amazonaws.com.cn",
            K.INSTANCE,
            "cn-northwest-1",
            "aws-cn",
            "db",
        ),
        (
            "db.cluster-c9akciq32xyz.us-gov-west-1.rds.amazonaws.com",
            K.CLUSTER,
            "us-gov-west-1",
            "aws-us-gov",
            "db",
        ),
        # Case and a trailing dot (fully qualified) do not change the answer.
        (
            "MyDB.Cluster-C9AKCIQ32XYZ.US-EAST-1.RDS.AMAZONAWS.COM.",
            K.CLUSTER,
            "us-east-1",
            "aws",
            "mydb",
        ),
        (
            "mydb.global-c9akciq32xyz.global.rds.amazonaws.com",
            K.GLOBAL,
            None,
            "aws",
            "mydb",
        ),
        (
            "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com",
            K.CLUSTER,
            "test-region-1",
            "aws",
            "demo",
        ),
    ],
)
def test_rds_names(
    host: str, kind: EndpointKind, region: str, partition: str, identifier: str
) -> None:
    endpoint = parse_endpoint(host)
    assert (endpoint.kind, endpoint.region, endpoint.partition, endpoint.identifier) == (
        kind,
        region,
        partition,
        identifier,
    )
    assert endpoint.kind.is_rds


@pytest.mark.parametrize(
    "host",
    [
        "db.example.com",
        "localhost",
        "127.0.0.1",
        "::1",
        "/var/run/postgresql",
        "",
        # Look-alikes must never be taken for RDS names (they would get trimmed trust).
        "rds.amazonaws.com.evil.test",
        "mydb.cluster-abc.us-east-1.rds.amazonaws.com.evil.test",
        "mydb.cluster-abc.us-east-1.rds.amazonaws.co",
        "a.b.cluster-abc.us-east-1.rds.amazonaws.com",
        "x.endpoint.cluster-abc.us-east-1.rds.amazonaws.com",
        "mydb.cluster-abc.useast1.rds.amazonaws.com",
        "cluster-abc.us-east-1.rds.amazonaws.com",
        "mydb.cluster-abc.us-east-1.rds.amazonaws.com.cn.evil",
        # A Global Database endpoint has "global" where the region is, and only there.
        "mydb.global-abc.us-east-1.rds.amazonaws.com",
        "mydb.cluster-abc.global.rds.amazonaws.com",
        "mydb.global-abc.global.rds.amazonaws.com.cn",
        "mydb.global-.global.rds.amazonaws.com",
        # Non-ASCII digits and letters are no region.
        "mydb.cluster-abc.us-east-\u0661.rds.amazonaws.com",
    ],
)
def test_other_names(host: str) -> None:
    endpoint = parse_endpoint(host)
    assert endpoint.kind is K.OTHER
    assert endpoint.region is None
    assert not endpoint.kind.is_rds


def test_proxy_kinds_are_proxies() -> None:
    assert parse_endpoint("p.proxy-abc.us-east-1.rds.amazonaws.com").kind.is_proxy
    assert parse_endpoint("e.endpoint.proxy-abc.us-east-1.rds.amazonaws.com").kind.is_proxy
    assert not parse_endpoint("p.cluster-abc.us-east-1.rds.amazonaws.com").kind.is_proxy


def test_global_endpoint_is_rds_but_has_no_region() -> None:
    endpoint = parse_endpoint("mydb.global-abc.global.rds.amazonaws.com")
    assert endpoint.kind.is_rds
    assert not endpoint.kind.is_proxy
    assert endpoint.region is None


def test_parsing_is_memoised_and_never_raises() -> None:
    assert parse_endpoint("db.example.com") is parse_endpoint("db.example.com")
    for odd in ["\x00", "..", "." * 300, "a" * 100_000, "\u00e9.rds.amazonaws.com"]:
        assert parse_endpoint(odd).kind is K.OTHER


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("10.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("fe80::1", True),
        ("db.example.com", False),
        ("1.2.3", False),
        ("/tmp", False),
        ("", False),
    ],
)
def test_is_ip(host: str, ip: bool) -> None:
    assert is_ip(host) is ip


@pytest.mark.parametrize(
    ("name", "region"),
    [
        ("us-east-1", True),
        ("us-gov-west-1", True),
        ("ap-southeast-7", True),
        ("test-region-1", True),
        ("useast1", False),
        ("us-east", False),
        ("Beta us-east-1", False),
        ("us-east-\u0661", False),
        ("", False),
    ],
)
def test_is_region_name(name: str, region: bool) -> None:
    assert is_region_name(name) is region


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("demo.cluster-abc.us-east-1.rds.amazonaws.com", None),
        ("db.example.com.", None),
        ("127.0.0.1", None),
        ("::1", None),
        ("a" * 63 + ".example.com", None),
        ("a" * 64 + ".example.com", "not a valid host name"),
        ("a." * 130 + "com", "253 characters in all"),
        ("db..example.com", "not a valid host name"),
        ("db example.com", "blanks or control characters"),
        ("db\texample.com", "blanks or control characters"),
        ("db.example.com\n", "blanks or control characters"),
        ("db\x7f.example.com", "blanks or control characters"),
        ("", "empty"),
        ("   ", "empty"),
        ("-bad.example.com", "not a valid host name"),
        ("/var/run/postgresql", "not a valid host name"),
        ("user@db.example.com", "not a valid host name"),
    ],
)
def test_host_problem(host: str, problem: str | None) -> None:
    found = host_problem(host, "The host")
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert found.startswith("The host")


def test_host_problem_never_echoes_a_long_value_whole() -> None:
    shown = str(host_problem("h" * 100_000))
    assert len(shown) < 1000
    assert "(100000 characters)" in shown
