#!/usr/bin/env bash
# The whole test suite, as the README gives it (`make test`) and as CI runs it (.ci/run):
# lint, types, then pytest against real PostgreSQL servers over real TLS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
echo "== ruff" >&2
"$VENV_PY" -m ruff check aurora_ssl django_aurora_ssl tests example_project benchmarks docs scripts conftest.py
echo "== mypy" >&2
"$VENV_PY" -m mypy
echo "== import contracts (import-linter)" >&2
"$(dirname "$VENV_PY")/lint-imports" --no-cache
echo "== docs (mkdocs build --strict)" >&2
site="$(mktemp -d)"
"$VENV_PY" -m mkdocs build --strict --quiet --site-dir "$site"
rm -rf "$site"
echo "== pytest" >&2
# Two workers (pytest-xdist), each with its own servers; a file's tests stay on one worker
# (a documentation page's examples share one namespace). About 2.5 min here, 3.6 serially.
"$VENV_PY" -m pytest -n 2 --dist loadfile "$@"
