#!/usr/bin/env bash
# Shared set-up for `make demo` and `make test`: PostgreSQL server binaries and the venv.
# Sourced, not run: it leaves $VENV_PY pointing at the project's virtualenv python.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AURORA_SSL_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

have_pg_server() {
    if [ -n "${AURORA_SSL_PG_BINDIR:-}" ] && [ -x "$AURORA_SSL_PG_BINDIR/postgres" ]; then return 0; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/postgres" ]; then return 0; fi
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

if ! have_pg_server || ! compgen -G "/usr/share/postgresql/*/extension/sslinfo.control" >/dev/null; then
    echo "bootstrap: PostgreSQL server binaries (with contrib/sslinfo) not found; installing them" >&2
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
    else
        echo "bootstrap: install them yourself, e.g. 'sudo apt-get install postgresql postgresql-contrib'" >&2
        echo "           (or set AURORA_SSL_PG_BINDIR to a PostgreSQL bin directory)" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
VENV_PY="$VENV/bin/python"
# Re-install when pyproject.toml changed since the last install (cheap no-op otherwise).
STAMP="$VENV/.aurora-ssl-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    echo "bootstrap: installing aurora-ssl with its test extras into $VENV" >&2
    "$VENV_PY" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV_PY" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"
    touch "$STAMP"
fi
export VENV_PY
