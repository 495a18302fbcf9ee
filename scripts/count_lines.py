"""Count code lines: no blank lines, no comment-only lines, no docstrings.

    python scripts/count_lines.py                      # the shipped packages, per module
    python scripts/count_lines.py --connect-path       # the connect path only
    python scripts/count_lines.py aurora_ssl/foo.py    # given files or directories

Why a script of our own: the size budgets of this project (docs/development.md) are stated in
these lines, and ``wc -l`` counts docstrings, which we want to keep writing freely.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("aurora_ssl", "django_aurora_ssl")
#: The modules every connection runs through (docs/development.md says why each is there).
CONNECT_PATH = (
    "aurora_ssl/_options.py",
    "aurora_ssl/_libpq.py",
    "aurora_ssl/_endpoint.py",
    "aurora_ssl/_trust.py",
    "aurora_ssl/_policy.py",
    "aurora_ssl/_readback.py",
    "aurora_ssl/_connect.py",
    "aurora_ssl/sqlalchemy/_plugin.py",
    "django_aurora_ssl/backends/_connect.py",
)


def code_lines(source: str) -> int:
    """The number of lines holding code (docstrings, comments and blank lines excluded)."""
    docstring_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            value = first.value if isinstance(first, ast.Expr) else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                docstring_lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in skip or token.type == tokenize.ENDMARKER:
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstring_lines)


def python_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--connect-path", action="store_true", help="the connect path only")
    parser.add_argument("--total", action="store_true", help="print the total only")
    args = parser.parse_args(argv)
    if args.connect_path:
        paths = [ROOT / name for name in CONNECT_PATH if (ROOT / name).exists()]
    else:
        paths = args.paths or [ROOT / name for name in SHIPPED]
    total = 0
    files = python_files(paths)
    for path in files:
        count = code_lines(path.read_text(encoding="utf-8"))
        total += count
        if not args.total:
            print(f"{count:6d}  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"{total:6d}  total ({len(files)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
