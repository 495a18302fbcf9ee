"""Count code lines: no blank lines, no comment-only lines, no docstrings.

    python scripts/count_lines.py                      # the shipped packages, per module
    python scripts/count_lines.py --connect-path       # the connect path only
    python scripts/count_lines.py aurora_ssl/foo.py    # given files or directories
    python scripts/count_lines.py --shape              # modules, floors, cycles, public names

Why a script of our own: the size budgets of this project (docs/development.md) are stated in
these lines, and ``wc -l`` counts docstrings, which we want to keep writing freely.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import textwrap
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
    "aurora_ssl/sqlalchemy.py",
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


def _imports(path: Path, module: str) -> set[str]:
    """The shipped modules ``module`` imports, deferred imports included (an import inside a
    function is still a dependency), ``if TYPE_CHECKING:`` blocks excluded (never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in SHIPPED}


def shape() -> dict[str, object]:
    """The measures issue 17 asks for, from the source alone (nothing is imported)."""
    modules: dict[str, Path] = {}
    for path in python_files([ROOT / name for name in SHIPPED]):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: {i for i in _imports(p, m) if i in modules and i != m} for m, p in modules.items()}
    # Tarjan would do; the graph is small, so: a cycle is a pair that reach each other.
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += graph[node]
        reach[start] = seen
    cycles = sorted({tuple(sorted({a} | {b for b in reach[a] if a in reach[b]}))
                     for a in graph if a in reach[a]})  # fmt: skip
    floors: dict[str, int] = {}

    def floor(node: str, path: tuple[str, ...] = ()) -> int:
        if node not in floors:
            below = [floor(n, (*path, node)) for n in graph[node] if n not in path]
            floors[node] = 1 + max(below, default=0)
        return floors[node]

    deepest = [max(graph, key=floor)]
    while graph[deepest[-1]]:
        deepest.append(max(graph[deepest[-1]] - set(deepest), key=floor, default=None) or "")
        if not deepest[-1]:
            deepest.pop()
            break
    public: set[str] = set()
    for module, path in modules.items():
        if any(part.startswith("_") for part in module.split(".")):
            continue
        for statement in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in statement.targets
            ):
                public.update(ast.literal_eval(statement.value))
    long_functions = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = "\n".join(lines[function.lineno - 1 : function.end_lineno])
                if code_lines(textwrap.dedent(body)) > 60:
                    long_functions.append(f"{module}.{function.name}")
    return {
        "modules": len(modules),
        "code lines": sum(code_lines(p.read_text(encoding="utf-8")) for p in modules.values()),
        "import floors": max(floor(m) for m in graph),
        "deepest chain": " -> ".join(deepest),
        "import cycles": [" <-> ".join(c) for c in cycles] or 0,
        "public names (distinct, in __all__ of public modules)": len(public),
        "functions over 60 code lines": long_functions or 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--connect-path", action="store_true", help="the connect path only")
    parser.add_argument("--total", action="store_true", help="print the total only")
    parser.add_argument("--shape", action="store_true", help="the measures of the code's shape")
    args = parser.parse_args(argv)
    if args.shape:
        for name, value in shape().items():
            print(f"{name}: {value}")
        return 0
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
