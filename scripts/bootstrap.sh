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

# GeoDjango (the .postgis backend, tests/test_postgis.py): Django dlopens libgdal and libgeos_c
# (found via ldconfig, so no -dev package), and the server needs the PostGIS extension built
# for its own major version: the server the harness picks (same search order as
# aurora_ssl.testing: $AURORA_SSL_PG_BINDIR, pg_config --bindir, newest /usr/lib/postgresql/*).
pg_server_bindir() {
    if [ -n "${AURORA_SSL_PG_BINDIR:-}" ]; then echo "$AURORA_SSL_PG_BINDIR"; return; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/postgres" ]; then
        pg_config --bindir; return
    fi
    find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1
}
PG_BINDIR="$(pg_server_bindir)"
PG_MAJOR="$({ "$PG_BINDIR/postgres" --version 2>/dev/null || true; } | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p')"
if [ -x "$PG_BINDIR/pg_config" ]; then PG_SHAREDIR="$("$PG_BINDIR/pg_config" --sharedir)"; else
    PG_SHAREDIR="/usr/share/postgresql/$PG_MAJOR"; fi
LDCONFIG="$(command -v ldconfig || echo /sbin/ldconfig)"  # not on a non-root user's PATH
SHARED_LIBS="$("$LDCONFIG" -p 2>/dev/null || true)"
GIS_PACKAGES=()
if ! grep -q 'libgdal\.so' <<<"$SHARED_LIBS" || ! grep -q 'libgeos_c\.so' <<<"$SHARED_LIBS"; then
    # The runtime library is named per release (libgdal32, libgdal36, libgdal34t64): take the one
    # gdal-bin depends on (gdal-bin itself would pull python3-gdal and numpy; Django needs neither).
    LIBGDAL="$({ apt-cache depends gdal-bin 2>/dev/null || true; } \
        | sed -n 's/^ *Depends: \(libgdal[0-9][0-9a-z]*\)$/\1/p' | head -n 1)"
    GIS_PACKAGES+=("${LIBGDAL:-gdal-bin}")
fi
[ -f "$PG_SHAREDIR/extension/postgis.control" ] || GIS_PACKAGES+=("postgresql-$PG_MAJOR-postgis-3")
if [ "${#GIS_PACKAGES[@]}" -gt 0 ]; then
    echo "bootstrap: GDAL/PostGIS for PostgreSQL ${PG_MAJOR:-?} not found (${GIS_PACKAGES[*]})" >&2
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 && [ -n "$PG_MAJOR" ]; then
        echo "bootstrap: installing ${GIS_PACKAGES[*]}" >&2
        apt-get update -qq
        # Quiet (debconf chatters on stderr), but a failure shows apt's own words.
        if ! APT_OUT="$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends -o DPkg::Lock::Timeout=300 "${GIS_PACKAGES[@]}" 2>&1)"; then
            echo "$APT_OUT" >&2
            echo "bootstrap: installing ${GIS_PACKAGES[*]} failed (above)" >&2
            exit 1
        fi
    else
        # Not fatal: `make demo` needs no PostGIS; tests/test_postgis.py fails with this hint.
        echo "bootstrap: install them yourself, e.g. 'sudo apt-get install ${GIS_PACKAGES[*]}';" >&2
        echo "           until then the PostGIS tests fail (AURORA_SSL_ALLOW_NO_POSTGIS=1 skips them)" >&2
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
