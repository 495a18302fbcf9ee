"""The documentation pages stay pages: a sane size, and the benchmark tables as generated.

Why: a script once replaced an empty string in docs/benchmarks.md, writing a paragraph between
every character (4.9 KB became 3.7 MB, site and search index included). The benchmark now
writes its own tables between markers (``benchmarks/connect.py --write-docs``) and keeps the
numbers they are made from in benchmarks/last-run.json; any hand edit or stray replacement
between the markers, or a table the numbers do not give, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 60 * 1024
PAGES = sorted([*ROOT.glob("docs/**/*.md"), ROOT / "README.md"])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_size_is_sane(page: Path) -> None:
    size = page.stat().st_size
    assert size <= MAX_BYTES, f"{page.relative_to(ROOT)} is {size} bytes (at most {MAX_BYTES})"


NUMBERS = json.loads(report.LAST_RUN.read_text(encoding="utf-8"))
BLOCKS = report.doc_blocks(NUMBERS)


@pytest.mark.parametrize("page", list(BLOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmark_table_is_what_the_benchmark_writes(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    start, end = report.between_markers(text, page)
    assert text[start:end] == BLOCKS[page]


def test_markers_are_required_once_and_in_order(tmp_path: Path) -> None:
    where = tmp_path / "page.md"
    good = f"a\n{report.TABLE_START}\nold\n{report.TABLE_END}\nb"
    assert good[slice(*report.between_markers(good, where))] == "\nold\n"
    for bad in (
        "no markers at all",
        good + report.TABLE_START,
        f"{report.TABLE_END}\n{report.TABLE_START}",
    ):
        with pytest.raises(ValueError, match=r"page\.md"):
            report.between_markers(bad, where)


def test_the_recorded_numbers_render_the_tables_of_a_run() -> None:
    """recorded() keeps what the tables read: a run's tables and its record's are the same."""
    run = json.loads(json.dumps(NUMBERS))  # a run has more than the record keeps
    run["cold"]["groups"]["psycopg2"]["wall_ms"] = 99.0
    run["round_trips"]["probes"] = {"unused": {}}
    assert report.doc_blocks(report.recorded(run)) == report.doc_blocks(NUMBERS)
    assert report.recorded(run) == NUMBERS


def test_the_layer_diagram_is_generated_from_the_contracts() -> None:
    pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    from scripts import layers

    page = layers.PAGE.read_text(encoding="utf-8")
    assert layers.render(page) == page, "run python scripts/layers.py"
