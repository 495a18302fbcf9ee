"""What a host name tells us: the kind of RDS endpoint, its region and AWS partition.

Trust is chosen from the *name* the client verifies, so parsing must be exact: a name that
merely contains ``rds.amazonaws.com`` (``rds.amazonaws.com.evil.test``) is ``OTHER``, never an
RDS endpoint. Pure and cached; never touches DNS.
"""

from __future__ import annotations

import enum
import functools


class EndpointKind(str, enum.Enum):
    """The kinds of RDS names; each maps to one trust decision."""

    CLUSTER = "cluster"
    READER = "cluster-ro"
    CUSTOM = "cluster-custom"
    INSTANCE = "instance"
    PROXY = "proxy"
    PROXY_ENDPOINT = "proxy-endpoint"
    SHARD_GROUP = "shard-group"
    GLOBAL = "global"
    OTHER = "other"

    @property
    def is_proxy(self) -> bool:
        """RDS Proxy presents an ACM certificate (Amazon Trust Services), not an RDS CA one."""
        return self in (EndpointKind.PROXY, EndpointKind.PROXY_ENDPOINT)

    @property
    def is_rds(self) -> bool:
        return self is not EndpointKind.OTHER


class Endpoint:
    """A parsed host name.

    Attributes:
        host: the name as given, lower-cased and without a trailing dot.
        kind: which kind of RDS endpoint, or ``OTHER`` (custom DNS, IP address, localhost).
        region: the AWS region of an RDS name (``us-east-1``); ``None`` for ``OTHER`` and for
            a Global Database endpoint, which can point at any region.
        partition: ``aws``, ``aws-cn`` or ``aws-us-gov`` for RDS names, else ``None``.
        identifier: the leading label (cluster, instance, proxy or endpoint name), if RDS.
    """

    __slots__ = ("host", "identifier", "kind", "partition", "region")

    def __init__(
        self,
        host: str,
        kind: EndpointKind,
        region: str | None = None,
        partition: str | None = None,
        identifier: str | None = None,
    ) -> None:
        self.host, self.kind, self.region = host, kind, region
        self.partition, self.identifier = partition, identifier

    def __repr__(self) -> str:
        return f"Endpoint({self.host!r}, {self.kind.name}, region={self.region!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Endpoint) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


_RDS_SUFFIX = ["rds", "amazonaws", "com"]
#: What a label of an RDS name is made of (lower-case: names are compared lower-cased), and
#: of any DNS name a host may be.
_RDS_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_DNS_CHARACTERS = _RDS_CHARACTERS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_MIDDLE_KINDS = (
    ("cluster-custom-", EndpointKind.CUSTOM),
    ("cluster-ro-", EndpointKind.READER),
    ("cluster-", EndpointKind.CLUSTER),
    ("shardgrp-", EndpointKind.SHARD_GROUP),
    ("proxy-", EndpointKind.PROXY),
    ("global-", EndpointKind.GLOBAL),
)


@functools.lru_cache(maxsize=256)
def parse_endpoint(host: str) -> Endpoint:
    """Classify ``host``; anything not shaped exactly like an RDS name is ``OTHER``.

    RDS names are ``NAME[.endpoint].MIDDLE.(REGION|global).rds.amazonaws.com[.cn]``, each label
    lower-case ASCII letters, digits and inner hyphens. Never raises: an unknown shape is
    ``OTHER``, which gets the full bundle (the safe superset).
    """
    normalized = host.strip().lower().rstrip(".")
    other = Endpoint(normalized, EndpointKind.OTHER)
    labels = normalized.split(".")
    cn = labels[-1] == "cn"
    head = labels[: -4 if cn else -3]  # NAME, [endpoint], MIDDLE, REGION or global
    if labels[len(head) :][:3] != _RDS_SUFFIX or len(head) not in (3, 4):
        return other
    name, middle, place = head[0], head[-2], head[-1]
    rds_labels = _is_label(name, _RDS_CHARACTERS) and _is_label(middle, _RDS_CHARACTERS)
    if not rds_labels or head[1:-2] not in ([], ["endpoint"]):
        return other
    kind = next(
        (k for prefix, k in _MIDDLE_KINDS if middle.startswith(prefix) and middle != prefix),
        EndpointKind.INSTANCE,
    )
    if len(head) == 4:
        if kind is not EndpointKind.PROXY:  # "x.endpoint.<id>" exists only under a proxy
            return other
        kind = EndpointKind.PROXY_ENDPOINT
    if kind is EndpointKind.GLOBAL:
        return other if place != "global" or cn else Endpoint(normalized, kind, None, "aws", name)
    if not is_region_name(place):
        return other
    partition = "aws-cn" if cn else "aws-us-gov" if place.startswith("us-gov-") else "aws"
    return Endpoint(normalized, kind, place, partition, name)


def _is_label(label: str, characters: frozenset[str]) -> bool:
    """One to 63 of ``characters``, a ``-`` neither first nor last."""
    return 0 < len(label) <= 63 and set(label) <= characters and "-" not in (label[0], label[-1])


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (brackets allowed)."""
    import ipaddress  # only input checks and warnings ask

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_problem(host: str, what: str = "host") -> str | None:
    """What is wrong with ``host`` as one TCP host name or IP address, or ``None``.

    A bad value otherwise surfaces far from its cause (a 64-character label makes Python's
    resolver raise ``UnicodeError``); messages never echo an overlong value whole.
    """
    name = host[:-1] if host.endswith(".") else host
    valid = len(name) <= 253 and all(_is_label(label, _DNS_CHARACTERS) for label in name.split("."))
    if valid or is_ip(host):  # ipaddress is imported only for what is no DNS name
        return None
    shown = host if len(host) <= 100 else f"{host[:100]}... ({len(host)} characters)"
    if not host.strip():
        return f"{what} is empty; give the endpoint's host name."
    if any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in host):
        return f"{what} {shown!r} contains blanks or control characters; remove them."
    return (
        f"{what} {shown!r} is not a valid host name (labels of at most 63 letters, digits "
        "and hyphens between dots, 253 characters in all); check the endpoint name."
    )


def is_region_name(name: str) -> bool:
    """Whether ``name`` has the shape of an AWS region, hyphenated lower-case words ending in a
    number: "us-east-1", "us-gov-west-1", "test-region-1" (AWS's bundle also names pre-release
    environments, "Beta" and "Preview", where a region would be)."""
    *words, number = name.split("-")
    return (
        len(words) >= 2
        and len(words[0]) >= 2
        and all(word.isascii() and word.isalpha() and word.islower() for word in words)
        and number.isascii()
        and number.isdigit()
    )
