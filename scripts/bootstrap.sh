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

# GeoDjango (the .postgis backend, tests/integration/django/test_postgis.py): Django dlopens libgdal and libgeos_c
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
# GDAL's runtime library is named per release (libgdal32, libgdal36, libgdal34t64): take the one
# gdal-bin depends on (gdal-bin itself would pull python3-gdal and numpy; Django needs neither).
libgdal_package() {
    local name
    name="$({ apt-cache depends gdal-bin 2>/dev/null || true; } \
        | sed -n 's/^ *Depends: \(libgdal[0-9][0-9a-z]*\)$/\1/p' | head -n 1)"
    echo "${name:-gdal-bin}"
}
PG_BINDIR="$(pg_server_bindir)"
PG_MAJOR="$({ "$PG_BINDIR/postgres" --version 2>/dev/null || true; } \
    | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p')"
if [ -x "$PG_BINDIR/pg_config" ]; then PG_SHAREDIR="$("$PG_BINDIR/pg_config" --sharedir)"; else
    PG_SHAREDIR="/usr/share/postgresql/$PG_MAJOR"; fi
LDCONFIG="$(command -v ldconfig || echo /sbin/ldconfig)"  # not on a non-root user's PATH
SHARED_LIBS="$("$LDCONFIG" -p 2>/dev/null || true)"
NEED_GDAL=0 NEED_POSTGIS=0
grep -q 'libgdal\.so' <<<"$SHARED_LIBS" && grep -q 'libgeos_c\.so' <<<"$SHARED_LIBS" || NEED_GDAL=1
[ -f "$PG_SHAREDIR/extension/postgis.control" ] || NEED_POSTGIS=1
gis_packages() {
    if [ "$NEED_GDAL" = 1 ]; then libgdal_package; fi
    if [ "$NEED_POSTGIS" = 1 ]; then echo "postgresql-$PG_MAJOR-postgis-3"; fi
}
# Names resolved after the update (a fresh machine may have no package lists yet). Quiet: apt's
# output (debconf chatters on stderr) is shown only on failure. errexit is off in here (called
# from an `if`), hence the explicit `|| return`.
install_gis() {
    local packages
    apt-get update -qq || return
    mapfile -t packages < <(gis_packages)
    echo "bootstrap: installing ${packages[*]}" >&3
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${packages[@]}"
}
if [ "$NEED_GDAL$NEED_POSTGIS" != 00 ]; then
    echo "bootstrap: GDAL/PostGIS for PostgreSQL ${PG_MAJOR:-?} not found" >&2
    # Never fatal: `make demo` needs no PostGIS, and tests/integration/django/test_postgis.py fails naming this script.
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 && [ -n "$PG_MAJOR" ]; then
        if ! APT_OUT="$(install_gis 3>&2 2>&1)"; then
            echo "$APT_OUT" >&2
            echo "bootstrap: installing GDAL/PostGIS failed (above); the PostGIS tests will fail" >&2
        fi
    else
        echo "bootstrap: install them yourself, e.g. 'sudo apt-get install $(gis_packages | xargs)';" >&2
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
    echo "bootstrap: installing aurora-ssl with its test and docs extras into $VENV" >&2
    "$VENV_PY" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV_PY" -m pip install -q --disable-pip-version-check -e "$ROOT[test,docs]"
    touch "$STAMP"
fi
export VENV_PY
