"""``aurora-ssl bundle info``: AWS's pre-release environments are not listed as regions.

AWS's global bundle holds roots named "Amazon RDS Beta us-east-1 Root CA ..." and "... Preview
us-east-2 ...". No endpoint name has "Beta" where its region is, so region trimming never picks them (a name
that is not an RDS endpoint trusts the whole bundle, them included); listing them as regions
made operators count 34 regions where AWS serves 32.
"""

from __future__ import annotations

import json

import pytest

from aurora_ssl.cli import main
from aurora_ssl.endpoint import is_region_name, parse_endpoint
from aurora_ssl.trust import select_trust


def test_the_shipped_bundle_lists_regions_and_environments_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bundle", "info", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["environments"] == ["Beta", "Preview"]
    assert len(data["regions"]) == 32
    assert all(is_region_name(r) for r in data["regions"])
    assert {"us-east-1", "eu-west-1", "us-west-2"} <= set(data["regions"])
    assert main(["bundle", "info"]) == 0
    out = capsys.readouterr().out
    assert "102 certificate(s), 32 region(s)" in out
    assert "also:      Beta, Preview (AWS pre-release environments, not regions" in out


@pytest.mark.usefixtures("fresh_caches")
def test_region_trimming_never_selects_an_environments_roots() -> None:
    for region in shipped_regions():
        selection = select_trust(f"db.cluster-abc.{region}.rds.amazonaws.com")
        assert selection.scope == f"region:{region}"
        assert not [s for s in selection.subjects if " Beta " in s or " Preview " in s], region
    # "beta" in a region's place is no RDS name: the full bundle, as for any other name
    assert parse_endpoint("db.cluster-abc.beta.rds.amazonaws.com").region is None


def shipped_regions() -> list[str]:
    from aurora_ssl.trust import load_bundle, shipped_bundle_path

    return [r for r in load_bundle(shipped_bundle_path()).regions if is_region_name(r)]


@pytest.mark.parametrize(
    ("name", "shaped"),
    [
        ("us-east-1", True),
        ("us-gov-west-1", True),
        ("test-region-1", True),
        ("Beta", False),
        ("us-east", False),
        ("us-east-\u0661", False),  # a non-ASCII digit is not a region number
        ("", False),
    ],
)
def test_region_shape(name: str, shaped: bool) -> None:
    assert is_region_name(name) is shaped
