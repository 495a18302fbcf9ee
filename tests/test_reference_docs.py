"""The reference tables are the code's: check ids and JSON keys are tested against what the
code emits, and the docs render them from the same registries (docs/hooks.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from aurora_ssl import Options, connection_params
from aurora_ssl._diagnostics import (
    REPORT_FIELDS,
    REPORT_KEYS,
    ConnectionReport,
    Finding,
    Verdict,
    check_connection,
)
from aurora_ssl._policy import policy_for
from aurora_ssl.testing import AuroraLikeServer, TestPKI
from django_aurora_ssl import _checks
from django_aurora_ssl._check_ids import CHECKS
from tests import drivers

ROOT = Path(__file__).resolve().parent.parent


def _emitted_check_ids() -> set[str]:
    """Every ``id="aurora_ssl.X"`` literal in the checks module's code (not its docstrings)."""
    tree = ast.parse(Path(_checks.__file__).read_text())
    found: set[str] = set()
    pattern = re.compile(r"aurora_ssl\.[EW]\d{3}")
    for node in ast.walk(tree):
        # id="aurora_ssl.E001" keywords, and ("aurora_ssl.W005", hint) table entries
        values = [node.value] if isinstance(node, ast.keyword) and node.arg == "id" else []
        values += node.elts if isinstance(node, ast.Tuple) else []
        found.update(
            value.value
            for value in values
            if isinstance(value, ast.Constant)
            and isinstance(value.value, str)
            and pattern.fullmatch(value.value)
        )
    return found


def test_every_emitted_check_id_is_registered_and_every_registered_one_emitted() -> None:
    assert _emitted_check_ids() == set(CHECKS)


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
        trust=policy_for(settings).trust(tls_server.host),
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
    assert _flatten(data) | _flatten(failed) == set(REPORT_FIELDS)


def test_the_docs_hook_renders_every_id_and_key() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = "<!-- aurora-ssl: check-ids -->\n<!-- aurora-ssl: report-keys -->"
    rendered = hooks.on_page_markdown(page)
    for check_id in CHECKS:
        assert f"`{check_id}`" in rendered
    for key in REPORT_FIELDS:
        assert f"`{key}`" in rendered
    assert "<!--" not in rendered
