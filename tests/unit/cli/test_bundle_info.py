"""``aurora-ssl bundle info``: the bundle's age from its certificates; environments apart.

Age: a file's time says when it was copied or installed, not how current AWS's roots in it
are, so the age and the expiry come from the certificates (the newest notBefore, the earliest
notAfter), whatever the file's time says.

AWS's global bundle holds roots named "Amazon RDS Beta us-east-1 Root CA ..." and "... Preview
us-east-2 ...". No endpoint name has "Beta" where its region is, so region trimming never picks them (a name
that is not an RDS endpoint trusts the whole bundle, them included); listing them as regions
made operators count 34 regions where AWS serves 32.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

import pytest
from cryptography import x509

from aurora_ssl._endpoint import is_region_name, parse_endpoint
from aurora_ssl._trust import SHIPPED_BUNDLE, select_trust
from aurora_ssl.cli import main
from aurora_ssl.testing import TestPKI
from tests.certs import make_cert_pem as make_certificate_pem
from tests.fix_cli import Capture, run_cli

NOW = datetime.datetime.now(datetime.timezone.utc)


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
    assert re.search(r"^count: +102$", out, re.MULTILINE)
    assert re.search(r"^regions: +af-south-1, ", out, re.MULTILINE)
    assert re.search(r"^environments: +Beta, Preview$", out, re.MULTILINE)


@pytest.mark.usefixtures("fresh_caches")
def test_region_trimming_never_selects_an_environments_roots() -> None:
    for region in shipped_regions():
        selection = select_trust(f"db.cluster-abc.{region}.rds.amazonaws.com")
        assert selection.scope == f"region:{region}"
        assert not [s for s in selection.subjects if " Beta " in s or " Preview " in s], region
    # "beta" in a region's place is no RDS name: the full bundle, as for any other name
    assert parse_endpoint("db.cluster-abc.beta.rds.amazonaws.com").region is None


def shipped_regions() -> list[str]:
    from aurora_ssl._bundles import load_bundle

    return [r for r in load_bundle(SHIPPED_BUNDLE).regions if is_region_name(r)]


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


def _info(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, object], str]:
    assert main(["bundle", "info", "--format", "json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main(["bundle", "info", *args]) == 0
    return data, capsys.readouterr().out


@pytest.mark.parametrize("file_time", ["just copied", "a year old"])
def test_age_and_expiry_come_from_the_certificates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, file_time: str
) -> None:
    shipped = Path(SHIPPED_BUNDLE).read_bytes()
    copy = tmp_path / "bundle.pem"
    copy.write_bytes(shipped)
    if file_time == "a year old":
        os.utime(copy, (NOW.timestamp() - 365 * 86400,) * 2)
    newest = max(c.not_valid_before_utc for c in x509.load_pem_x509_certificates(shipped))
    data, text = _info(capsys, "--bundle", str(copy))
    assert "modified" not in data
    assert data["newest_not_before"] == f"{newest:%Y-%m-%d}"
    assert data["age_days"] == (NOW - newest).days > 365  # AWS's G1 roots are from 2021-2024
    assert data["earliest_expiry"] == "2061-05-18"
    assert re.search(rf"^newest_not_before: +{newest:%Y-%m-%d}$", text, re.MULTILINE)
    assert re.search(r"^earliest_expiry: +2061-05-18$", text, re.MULTILINE)

    # One root made yesterday, valid for 30 days: the bundle is a day old and expires with it.
    copy.write_bytes(
        shipped + make_certificate_pem("Amazon RDS zz-new-1 Root CA ECC384 G1", days=30)
    )
    os.utime(copy, (NOW.timestamp() - 365 * 86400,) * 2)
    data, text = _info(capsys, "--bundle", str(copy))
    assert data["newest_not_before"] == f"{NOW - datetime.timedelta(days=1):%Y-%m-%d}"
    assert data["age_days"] == 1
    assert data["earliest_expiry"] == f"{NOW + datetime.timedelta(days=30):%Y-%m-%d}"
    assert re.search(r"^age_days: +1$", text, re.MULTILINE)


def test_bundle_info(pki: TestPKI, capsys: Capture) -> None:
    code, out, _ = run_cli(
        capsys, "bundle", "info", "--bundle", str(pki.bundle_path), "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["origin"] == "argument"
    assert data["count"] == 103
    assert "test-region-1" in data["regions"]
    assert set(data["certificates"][0]) == {"subject", "region", "not_after", "sha256"}
    code, out, _ = run_cli(capsys, "bundle", "info")
    assert code == 0
    assert re.search(r"^origin: +shipped$", out, re.MULTILINE)
    assert re.search(r"^count: +102$", out, re.MULTILINE)
    # one line per certificate: its expiry, name and fingerprint as openssl prints it
    assert re.search(
        r"^certificates: +2061-05-18  Amazon RDS .+  SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$",
        out,
        re.MULTILINE,
    )


def test_bundle_missing_file(capsys: Capture, tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "bundle", "info", "--bundle", str(tmp_path / "none.pem"))
    assert code == 1
    assert out == ""
    assert "does not exist" in err
