"""The reference tables are the code's: check ids and JSON keys are tested against what the
code emits; the docs render the check ids from the code's registry (docs/hooks.py), and the
report's keys are a table of their own page (docs/reference/json.md) that a real report must
match exactly."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from aurora_ssl import Options, connection_params
from aurora_ssl._diagnostics._inspection import Finding, Verdict
from aurora_ssl._diagnostics._report import REPORT_KEYS, ConnectionReport, check_connection
from aurora_ssl._policy import Policy
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from django_aurora_ssl import _checks
from tests import ROOT, drivers


def _emitted_check_ids() -> set[str]:
    """Every check id literal in the checks module's code, but for the keys of the table of
    ids itself (and the docstrings): the ids messages are made with."""
    tree = ast.parse(Path(_checks.__file__).read_text())
    table = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "CHECKS"
    )
    assert isinstance(table, ast.Dict)
    keys = {id(key) for key in table.keys}
    pattern = re.compile(r"aurora_ssl\.[EW]\d{3}")
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and pattern.fullmatch(node.value)
        and id(node) not in keys
    }


def test_every_emitted_check_id_is_registered_and_every_registered_one_emitted() -> None:
    assert _emitted_check_ids() == set(_checks.CHECKS)


def test_the_database_check_maps_real_verdicts_and_warning_codes() -> None:
    """Its tables are keyed by the report's strings (no diagnostics import at startup)."""
    from aurora_ssl._diagnostics._inspection import WarningCode

    assert set(_checks._FAILURES) <= {verdict.value for verdict in Verdict}
    assert set(_checks._WARNINGS) <= {code.value for code in WarningCode}


def documented_report_keys() -> list[str]:
    """The report's keys as docs/reference/json.md lists them (its first table), in order."""
    page = (ROOT / "docs" / "reference" / "json.md").read_text()
    first = page.split("\n\n| key |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", first, re.MULTILINE)


def _flatten(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        name = f"{prefix}{key}"
        keys.add(name)
        if isinstance(value, dict) and key != "effective":  # effective: libpq's own keys
            keys |= _flatten(value, f"{name}.")
        if isinstance(value, list) and value and isinstance(value[0], dict):
            keys |= _flatten(value[0], f"{name}[].")
    return keys


@pytest.mark.driver("libpq")
def test_a_real_report_has_exactly_the_documented_keys(
    tls_server: AuroraLikeServer, pki: TestPKI
) -> None:
    dbapi = drivers.libpq_module()
    settings = Options(bundle=str(pki.bundle_path))
    params = connection_params(tls_server.params(), settings, driver=drivers.libpq_driver())
    verified = check_connection(
        lambda: dbapi.connect(**params),
        label="t",
        host=tls_server.host,
        trust=Policy(settings).trust(tls_server.host),
        close=lambda c: c.close(),
        expected=lambda: params,
    )
    assert verified.verdict is Verdict.VERIFIED, verified.to_text()
    data = verified.to_dict()
    assert tuple(data) == REPORT_KEYS
    # The list items' keys, from a report with an error and a warning of each kind.
    failed = ConnectionReport(
        **{**verified.__dict__, "errors": (Finding("X", "m"),), "warnings": (Finding("w", "m"),)}
    ).to_dict()
    documented = documented_report_keys()
    assert _flatten(data) | _flatten(failed) == set(documented)
    assert [key for key in documented if "." not in key and "[" not in key] == list(REPORT_KEYS)


def test_the_checks_page_lists_every_check_id_and_the_hook_adds_its_hint() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = (ROOT / "docs" / "reference" / "checks.md").read_text()
    assert hooks.ROW.findall(page) == list(_checks.CHECKS)  # each id once, in the code's order
    rendered = hooks.on_page_markdown(page)
    for check_id, hint in _checks.CHECKS.items():
        (row,) = [line for line in rendered.splitlines() if line.startswith(f"| `{check_id}` |")]
        assert row.endswith(f" | {hint.format(alias='ALIAS')} |"), row
    assert "<!--" not in rendered
