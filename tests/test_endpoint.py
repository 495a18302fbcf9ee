"""Host-name parsing: table-driven, including names that only look like RDS endpoints."""

from __future__ import annotations

import pytest

from aurora_ssl.endpoint import EndpointKind, Partition, parse_endpoint

K = EndpointKind


@pytest.mark.parametrize(
    ("host", "kind", "region", "partition", "identifier"),
    [
        (
            "mydb.cluster-c9akciq32xyz.us-east-1.rds.amazonaws.com",
            K.CLUSTER,
            "us-east-1",
            Partition.AWS,
            "mydb",
        ),
        (
            "mydb.cluster-ro-c9akciq32xyz.eu-west-2.rds.amazonaws.com",
            K.READER,
            "eu-west-2",
            Partition.AWS,
            "mydb",
        ),
        (
            "ep1.cluster-custom-c9akciq32xyz.ap-southeast-2.rds.amazonaws.com",
            K.CUSTOM,
            "ap-southeast-2",
            Partition.AWS,
            "ep1",
        ),
        (
            "db-1.c9akciq32xyz.ca-central-1.rds.amazonaws.com",
            K.INSTANCE,
            "ca-central-1",
            Partition.AWS,
            "db-1",
        ),
        (
            "p1.proxy-c9akciq32xyz.us-west-2.rds.amazonaws.com",
            K.PROXY,
            "us-west-2",
            Partition.AWS,
            "p1",
        ),
        (
            "ro.endpoint.proxy-c9akciq32xyz.us-west-2.rds.amazonaws.com",
            K.PROXY_ENDPOINT,
            "us-west-2",
            Partition.AWS,
            "ro",
        ),
        (
            "lim.shardgrp-c9akciq32xyz.us-east-2.rds.amazonaws.com",
            K.SHARD_GROUP,
            "us-east-2",
            Partition.AWS,
            "lim",
        ),
        (
            "db.cluster-c9akciq32xyz.cn-north-1.rds.amazonaws.com.cn",
            K.CLUSTER,
            "cn-north-1",
            Partition.AWS_CN,
            "db",
        ),
        (
            "db.c9akciq32xyz.cn-northwest-1.rds.amazonaws.com.cn",
            K.INSTANCE,
            "cn-northwest-1",
            Partition.AWS_CN,
            "db",
        ),
        (
            "db.cluster-c9akciq32xyz.us-gov-west-1.rds.amazonaws.com",
            K.CLUSTER,
            "us-gov-west-1",
            Partition.AWS_US_GOV,
            "db",
        ),
        # Case and a trailing dot (fully qualified) do not change the answer.
        (
            "MyDB.Cluster-C9AKCIQ32XYZ.US-EAST-1.RDS.AMAZONAWS.COM.",
            K.CLUSTER,
            "us-east-1",
            Partition.AWS,
            "mydb",
        ),
        (
            "demo.cluster-abc123xyz.test-region-1.rds.amazonaws.com",
            K.CLUSTER,
            "test-region-1",
            Partition.AWS,
            "demo",
        ),
    ],
)
def test_rds_names(
    host: str, kind: EndpointKind, region: str, partition: Partition, identifier: str
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


@pytest.mark.parametrize(
    ("host", "socket", "ip"),
    [("/tmp", True, False), ("", True, False), ("10.1.2.3", False, True), ("[::1]", False, True)],
)
def test_socket_and_ip_detection(host: str, socket: bool, ip: bool) -> None:
    endpoint = parse_endpoint(host)
    assert endpoint.is_unix_socket is socket
    assert endpoint.is_ip_address is ip
