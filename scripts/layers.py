"""Render the import layers declared in pyproject.toml (import-linter) for docs/development.md.

    python scripts/layers.py          # rewrite the diagram between the markers
    python scripts/layers.py --check  # exit 1 if the page differs (tests/docs/test_pages.py)

Why generated: the contracts are what CI enforces, so the picture a newcomer reads is made from
them and cannot drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "development.md"
START, END = "<!-- layers:start (scripts/layers.py) -->", "<!-- layers:end -->"


def diagram() -> str:
    """The contracts as text: layers top to bottom, then what each forbidden contract says."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["```text"]
    for contract in contracts["contracts"]:
        if contract["type"] == "layers":
            lines.append(f"{contract['name']}:")
            lines += [f"  {layer}" + ("\n    ↓" if i < len(contract["layers"]) - 1 else "")
                      for i, layer in enumerate(contract["layers"])]  # fmt: skip
        elif contract["type"] == "forbidden":
            lines.append(f"{contract['name']}:")
            lines.append(f"  {', '.join(contract['source_modules'])}")
            lines.append(f"    never import {', '.join(contract['forbidden_modules'])}")
        lines.append("")
    return "\n".join([*lines[:-1], "```"])


def render(page: str) -> str:
    head, _, rest = page.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{diagram()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    if START not in page or END not in page:
        print(f"{PAGE} lacks the markers {START} ... {END}")
        return 1
    wanted = render(page)
    if args.check:
        return 0 if wanted == page else 1
    PAGE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
