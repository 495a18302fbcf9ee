"""What an endpoint host name tells us: AWS partition, region, and kind of endpoint.

The trust set is chosen from the *name* the client verifies, so parsing must be exact: a
name that merely contains ``rds.amazonaws.com`` somewhere (``rds.amazonaws.com.evil.test``)
is "other", never an RDS endpoint. Parsing is pure and cached; it never touches DNS.
"""

from __future__ import annotations

import enum
import functools
import re

from aurora_ssl._frozen import Frozen
from aurora_ssl.conninfo import is_unix_socket, split_hosts

__all__ = [
    "Endpoint",
    "EndpointKind",
    "Partition",
    "is_ip",
    "is_region_name",
    "is_unix_socket",
    "parse_endpoint",
    "split_hosts",
]


class EndpointKind(str, enum.Enum):
    """The kinds of RDS names; each maps to one trust decision."""

    CLUSTER = "cluster"
    READER = "cluster-ro"
    CUSTOM = "cluster-custom"
    INSTANCE = "instance"
    PROXY = "proxy"
    PROXY_ENDPOINT = "proxy-endpoint"
    SHARD_GROUP = "shard-group"
    OTHER = "other"

    @property
    def is_proxy(self) -> bool:
        """RDS Proxy presents an ACM certificate (Amazon Trust Services), not an RDS CA one."""
        return self in (EndpointKind.PROXY, EndpointKind.PROXY_ENDPOINT)

    @property
    def is_rds(self) -> bool:
        return self is not EndpointKind.OTHER


class Partition(str, enum.Enum):
    """AWS partitions; only ``aws`` is covered by the shipped global bundle."""

    AWS = "aws"
    AWS_CN = "aws-cn"
    AWS_US_GOV = "aws-us-gov"


class Endpoint(Frozen):
    """A parsed host name.

    Attributes:
        host: the name as given, lower-cased and without a trailing dot.
        kind: which kind of RDS endpoint, or ``OTHER`` (custom DNS, IP address, localhost).
        region: the AWS region for RDS names (``us-east-1``), else ``None``.
        partition: the AWS partition for RDS names, else ``None``.
        identifier: the leading label (cluster, instance, proxy or endpoint name), if RDS.
    """

    __slots__ = ("host", "identifier", "kind", "partition", "region")
    _fields = ("host", "kind", "region", "partition", "identifier")

    host: str
    kind: EndpointKind
    region: str | None
    partition: Partition | None
    identifier: str | None

    def __init__(
        self,
        host: str,
        kind: EndpointKind,
        region: str | None = None,
        partition: Partition | None = None,
        identifier: str | None = None,
    ) -> None:
        self._set(host=host, kind=kind, region=region, partition=partition, identifier=identifier)

    @property
    def is_ip_address(self) -> bool:
        return is_ip(self.host)

    @property
    def is_unix_socket(self) -> bool:
        """libpq treats a host starting with '/' (or '@', abstract namespace) as a socket."""
        return is_unix_socket(self.host)


# One label of an RDS name: letters, digits, hyphens (RDS identifiers never contain dots).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Region names: hyphenated words ending in a number ("us-east-1", "us-gov-west-1",
# "test-region-1" for the local test PKI).
_REGION_NAME = r"[a-z]{2,}(?:-[a-z]+)+-\d+"
_REGION = rf"(?P<region>{_REGION_NAME})"
_SUFFIX = r"\.rds\.amazonaws\.com(?P<cn>\.cn)?"
_RDS_NAME = (
    rf"^(?P<name>{_LABEL})"
    rf"(?:\.(?P<endpoint_of_proxy>endpoint))?"
    rf"\.(?P<middle>{_LABEL})"
    rf"\.{_REGION}{_SUFFIX}"
)


@functools.lru_cache(maxsize=1)
def _rds_name() -> re.Pattern[str]:
    # Compiled on first use: a fresh process that reuses a remembered trust selection never
    # parses a name, and compiling costs it about 0.3 ms (issue 12).
    return re.compile(_RDS_NAME, re.ASCII)  # "\d" must not match non-ASCII digits ("\u0661")


_MIDDLE_KINDS = (
    ("cluster-custom-", EndpointKind.CUSTOM),
    ("cluster-ro-", EndpointKind.READER),
    ("cluster-", EndpointKind.CLUSTER),
    ("shardgrp-", EndpointKind.SHARD_GROUP),
    ("proxy-", EndpointKind.PROXY),
)


@functools.lru_cache(maxsize=256)
def parse_endpoint(host: str) -> Endpoint:
    """Classify ``host``; anything not shaped exactly like an RDS name is ``OTHER``.

    Args:
        host: a host name, IP address or Unix socket directory, as libpq would get it.

    Returns:
        The parsed :class:`Endpoint`. Never raises: an unknown shape is simply ``OTHER``,
        which gets the full bundle (the safe superset).
    """
    normalized = host.strip().lower().rstrip(".")
    match = _rds_name().fullmatch(normalized)  # not match(): "$" allows a trailing "\n"
    if match is None:
        return Endpoint(host=normalized, kind=EndpointKind.OTHER)
    middle = match["middle"]
    kind = EndpointKind.INSTANCE
    for prefix, candidate in _MIDDLE_KINDS:
        if middle.startswith(prefix) and len(middle) > len(prefix):
            kind = candidate
            break
    if match["endpoint_of_proxy"]:
        if kind is not EndpointKind.PROXY:
            # "x.endpoint.<id>" only exists under a proxy; anything else is not an RDS shape.
            return Endpoint(host=normalized, kind=EndpointKind.OTHER)
        kind = EndpointKind.PROXY_ENDPOINT
    region = match["region"]
    if match["cn"]:
        partition = Partition.AWS_CN
    elif region.startswith("us-gov-"):
        partition = Partition.AWS_US_GOV
    else:
        partition = Partition.AWS
    return Endpoint(
        host=normalized,
        kind=kind,
        region=region,
        partition=partition,
        identifier=match["name"],
    )


def is_region_name(name: str) -> bool:
    """Whether ``name`` has the shape of an AWS region (``us-east-1``, ``us-gov-west-1``).

    AWS's bundle also names pre-release environments where a region would be ("Amazon RDS
    Beta us-east-1 Root CA ..."); no endpoint name has those, so reports list them apart.
    """
    return re.fullmatch(_REGION_NAME, name, re.ASCII) is not None


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (brackets allowed): the one test."""
    import ipaddress  # only warnings, reports and input checks ask; names need just "re"

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
