"""The benchmark still runs end to end (a tiny run: the numbers themselves are not judged)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("psycopg2", "psycopg")),
    reason="the benchmark uses both drivers (raw psycopg2 variants, psycopg 3's protocol trace)",
)
def test_benchmark_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    args = ["--rounds", "3", "--warmup", "1", "--storm", "12", "--storm-repeats", "1"]
    args += ["--import-runs", "2", "--json", str(out)]
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "connect.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    # 0: every target met, 1: some target missed (likely with 3 rounds); anything else broke.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert "ratios of medians" in result.stdout
    data = json.loads(out.read_text())
    kinds = {name.split()[-1] for name in data["variants"]}
    assert kinds == {"floor", "recipe", "ours"}
    assert data["check"]["round_trips_libpq_trace"] == 1
    assert data["storm"]["size"] == 12
