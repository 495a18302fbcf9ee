"""Reports show what libpq really used, and refuse what is weaker than verify-full (issue 8).

Before, a check said VERIFIED while libpq wrote the TLS session keys to a file: the report
looked at the handshake only. These connections are real; the weakening is done the way a
later hook or a connection factory would do it, after aurora-ssl set the parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aurora_ssl import Options as Settings
from aurora_ssl import connection_params
from aurora_ssl._diagnostics._inspection import Verdict
from aurora_ssl._diagnostics._report import REPORT_KEYS, check_connection
from aurora_ssl._policy import PINNED_KEYS as READ_BACK_KEYS
from aurora_ssl.cli import main
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from tests import drivers


def _report(server: AuroraLikeServer, pki: TestPKI, change: dict[str, Any]) -> Any:
    psycopg = pytest.importorskip("psycopg")  # libpq 18: has sslkeylogfile
    params = connection_params(
        server.params(), Settings(bundle=str(pki.bundle_path)), driver="psycopg"
    )
    return check_connection(
        lambda: psycopg.connect(**{**params, **change}),
        label="t",
        host=server.host,
        close=lambda c: c.close(),
        secrets=[server.password],
        expected=lambda: params,
    )


def test_a_connection_writing_its_keys_to_a_file_is_not_verified(
    tls_server: AuroraLikeServer, pki: TestPKI, tmp_path: Path
) -> None:
    keylog = tmp_path / "keys.log"
    report = _report(tls_server, pki, {"sslkeylogfile": str(keylog)})
    assert keylog.exists()  # the weakening really happened: libpq wrote the keys
    assert report.verdict is Verdict.REFUSED
    assert report.effective["sslkeylogfile"] == str(keylog)
    assert "session keys" in report.errors[0].message
    assert "libpq used:" in report.to_text()


def test_a_swapped_trust_file_is_not_verified(tls_server: AuroraLikeServer, pki: TestPKI) -> None:
    report = _report(tls_server, pki, {"sslrootcert": str(pki.root_path)})
    assert report.verdict is Verdict.REFUSED
    assert "sslrootcert" in report.errors[0].message
    assert tls_server.password not in json.dumps(report.to_dict())


def test_the_unchanged_connection_is_verified_and_reports_what_libpq_used(
    tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    report = _report(tls_server, pki, {})
    assert report.verdict is Verdict.VERIFIED, report.to_text()
    data = report.to_dict()
    assert tuple(data) == REPORT_KEYS
    assert set(data["effective"]) == set(READ_BACK_KEYS)
    assert data["effective"]["sslmode"] == "verify-full"
    assert data["effective"]["sslkeylogfile"] == ""


@pytest.mark.driver("libpq")
def test_aurora_ssl_check_reports_the_effective_values(
    tls_server: AuroraLikeServer, pki: TestPKI, capsys: pytest.CaptureFixture[str]
) -> None:
    url = tls_server.url(drivers.libpq_drivername())
    code = main(["check", url, "--bundle", str(pki.bundle_path), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    effective = json.loads(out)["connections"][0]["effective"]
    assert effective["sslmode"] == "verify-full"
    assert effective["host"] == tls_server.host
    assert effective["hostaddr"] == tls_server.hostaddr
    assert effective["sslrootcert"].endswith(".pem")
    assert tls_server.password not in out


@pytest.mark.driver("libpq")
@pytest.mark.parametrize("inspect", [True, False])
def test_a_refused_certificate_is_explained_by_an_inspection_only_when_asked(
    interception_server: AuroraLikeServer, pki: TestPKI, inspect: bool
) -> None:
    """libpq says only "certificate verify failed"; the inspection a report makes on purpose
    finds the look-alike CA (a CA of the trusted name whose key did not sign)."""
    from aurora_ssl._policy import Policy

    settings = Settings(bundle=str(pki.bundle_path))
    params = connection_params(
        interception_server.params(), settings, driver=drivers.libpq_driver()
    )
    report = check_connection(
        lambda: drivers.libpq_module().connect(**params),
        label="t",
        host=interception_server.host,
        trust=Policy(settings).trust(interception_server.host),
        settings=settings,
        close=lambda c: c.close(),
        expected=lambda: params,
        inspect=inspect,
    )
    assert report.verdict is Verdict.REFUSED
    assert [e.code for e in report.errors] == ["UntrustedCertificateError"]
    assert ("its key did not sign this certificate" in report.errors[0].message) is inspect
    assert "certificate verify failed" in str(report.errors[0].cause)
