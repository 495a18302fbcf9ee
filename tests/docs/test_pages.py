"""The documentation pages stay pages: a sane size, and the benchmark tables as generated.

Why: a script once replaced an empty string in docs/benchmarks.md, writing a paragraph between
every character (4.9 KB became 3.7 MB, site and search index included). The benchmark now
writes its own tables between markers (``benchmarks/connect.py --write-docs``) and keeps the
numbers they are made from in benchmarks/last-run.json; any hand edit or stray replacement
between the markers, or a table the numbers do not give, fails here.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from benchmarks import report
from tests import ROOT

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


# -- words -----------------------------------------------------------------------------------
# docs/development.md "Words": each concept has one name; the words below were retired because
# a newcomer had to learn them. They may appear in that one sentence of development.md only.

RETIRED_WORDS = {
    "faces": re.compile(r"\bfaces?\b", re.IGNORECASE),
    "materialise": re.compile(r"\bmateriali[sz]\w*", re.IGNORECASE),
    "judge": re.compile(r"\bjudg\w*", re.IGNORECASE),
    "adopt": re.compile(r"\badopt\w*", re.IGNORECASE),
    "announce": re.compile(r"\bannounc\w*", re.IGNORECASE),
    "preflight": re.compile(r"\bpre-?flight\w*", re.IGNORECASE),
    "Frozen": re.compile(r"\bFrozen\b"),
}
#: The sentence of docs/development.md that names them (its parenthesis is exempt).
WORDS_SENTENCE = re.compile(r"(Words retired because[^(]*)\([^)]*\)")
#: The modules whose ``__all__`` is the public API (docs/reference/api.md).
PUBLIC_MODULES = {
    "aurora_ssl": "aurora_ssl/__init__.py",
    "aurora_ssl.sqlalchemy": "aurora_ssl/sqlalchemy.py",
    "aurora_ssl.credentials": "aurora_ssl/credentials/__init__.py",
    "aurora_ssl.testing": "aurora_ssl/testing/__init__.py",
    "aurora_ssl.aws_wrapper": "aurora_ssl/aws_wrapper.py",
    "django_aurora_ssl": "django_aurora_ssl/__init__.py",
    "django_aurora_ssl.signals": "django_aurora_ssl/signals.py",
}


def public_names() -> dict[str, list[str]]:
    """``module -> __all__``, read from the source (no import: the AWS wrapper's module needs
    the wrapper installed, which the support matrix does not always have)."""
    found: dict[str, list[str]] = {}
    for module, path in PUBLIC_MODULES.items():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        values = [
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        assert len(values) == 1, f"{path} must define __all__ once"
        found[module] = list(values[0])
    return found


def retired_words_in(text: str) -> list[str]:
    return sorted({m.group(0) for p in RETIRED_WORDS.values() for m in p.finditer(text)})


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_uses_a_retired_word(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    if page == ROOT / "docs" / "development.md":
        assert WORDS_SENTENCE.search(text), "development.md names the retired words once"
        text = WORDS_SENTENCE.sub(r"\1", text, count=1)
    found = retired_words_in(text)
    assert not found, f"{page.relative_to(ROOT)} uses retired words {found} (see 'Words')"


def words_of_name(name: str) -> str:
    """``connection_verified`` -> ``connection verified``, ``FrozenThing`` -> ``frozen thing``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").lower()


def test_no_public_name_holds_a_retired_word() -> None:
    found = [
        f"{module}.{name}"
        for module, names in public_names().items()
        for name in names
        if retired_words_in(words_of_name(name)) or "frozen" in words_of_name(name).split()
    ]
    assert not found, f"public names with a retired word: {found}"


def test_the_word_check_catches_each_form() -> None:
    caught = ["the SQLAlchemy face", "Faces", "materialize", "judged", "Judgement", "adopt("]
    caught += ["announces", "pre-flight", "preflight", "Frozen"]
    for text in caught:
        assert retired_words_in(text), text
    for text in ("interface", "surface", "frozenset", "frozen=True", "adaptation", "judo"):
        assert not retired_words_in(text), text
    assert words_of_name("PolicyJudge_adoptIt") == "policy judge adopt it"
