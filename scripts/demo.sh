#!/usr/bin/env bash
# `make demo`: aurora-ssl's main job, end to end, on a fresh machine.
#
#   1. creates .venv (if missing) and installs aurora-ssl with its test extras;
#   2. starts a local Aurora-like PostgreSQL over TLS (python -m aurora_ssl.testing serve);
#   3. runs the example Django project against it: migrate, check_aurora_ssl (must pass),
#      an ORM write/read, then the same query through aurora_ssl.create_engine (SQLAlchemy);
#   4. starts an "interception" server (a foreign CA issuing a certificate with the very same
#      names) and shows check_aurora_ssl refusing it, with its reason.
#
# Every server it starts is stopped on exit, on error and on Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"

STATE="$ROOT/.aurora-ssl-demo"
SERVER_PIDS=()

cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted; stopping the servers" >&2; exit 130' INT TERM

rm -rf "$STATE"
mkdir -p -m 700 "$STATE"
export AURORA_SSL_CACHE_DIR="$STATE/cache"
export PYTHONUNBUFFERED=1

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
manage() { "$VENV_PY" example_project/manage.py "$@"; }

# start_server SCENARIO: run the server in the background, wait for its env file.
start_server() {
    local scenario="$1" env_file="$STATE/$1.env" log="$STATE/$1.log"
    # In its own process group (job control on), so Ctrl-C reaches only this script, whose
    # trap then stops the servers in order.
    set -m
    "$VENV_PY" -m aurora_ssl.testing serve --scenario "$scenario" --env-file "$env_file" \
        >"$log" 2>&1 &
    SERVER_PIDS+=("$!")
    set +m
    local pid="$!" waited=0
    until [ -s "$env_file" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "demo: the $scenario server did not start:" >&2
            cat "$log" >&2
            exit 1
        fi
        if [ "$waited" -ge 600 ]; then
            echo "demo: the $scenario server did not start within 60 s" >&2
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# load_env SCENARIO: export the settings of that server (its env file is written to be sourced).
load_env() {
    set -a
    # shellcheck source=/dev/null
    . "$STATE/$1.env"
    set +a
}

step "Starting a local Aurora-like PostgreSQL 15 over TLS (scenario: good)"
start_server good
load_env good
echo "endpoint: $AURORA_SSL_DEMO_HOST (port $AURORA_SSL_DEMO_PORT, connecting via $AURORA_SSL_DEMO_HOSTADDR)"

step "Django: manage.py migrate (over verify-full TLS)"
manage migrate --noinput

step "Django: manage.py check_aurora_ssl"
manage check_aurora_ssl

step "Django: ORM write and read (example_project/notes)"
manage demo_notes

step "SQLAlchemy: the same query through aurora_ssl.create_engine"
"$VENV_PY" example_project/sqlalchemy_example.py

step "A refusal: a server whose certificate comes from a foreign CA with identical names"
start_server interception
load_env interception
echo "endpoint: $AURORA_SSL_DEMO_HOST (port $AURORA_SSL_DEMO_PORT): same names, foreign CA"
set +e
manage check_aurora_ssl
status=$?
set -e
if [ "$status" -eq 0 ]; then
    echo "demo: FAILED: check_aurora_ssl accepted the interception server" >&2
    exit 1
fi
printf '\n\033[1mdemo: OK\033[0m: verified TLS for Django and SQLAlchemy; the impostor was refused (exit status %s).\n' "$status"
