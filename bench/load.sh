#!/usr/bin/env bash
# Mixed load (issue 10, "Load"): CLIENTS concurrent clients for SECONDS seconds against a
# release server on loopback, on SQLite and PostgreSQL: public search and product pages,
# incident intake, monitoring batches and reviewer pages (vigilo_testkit::load). Prints one
# JSON line per backend with p50/p99 per route, errors, shed requests and the server's
# resident memory every 10 s; appends them to $OUT/results.jsonl. Written up in
# docs/reliability.md. CI runs a 15-second version (crates/vigilo/tests/reliability.rs).
#
#   bash bench/load.sh
#   BACKENDS=sqlite SECONDS_LOAD=60 BUILD=0 bash bench/load.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_LOAD="${SECONDS_LOAD:-300}"
CLIENTS="${CLIENTS:-200}"
BACKENDS="${BACKENDS:-sqlite postgres}"
PORT="${PORT:-18394}"
OUT="${OUT:-/tmp/vigilo-load-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"
mkdir -p "$OUT"
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT INT TERM

if [ "${BUILD:-1}" = 1 ]; then
    echo "== build (release)" >&2
    (cd "$ROOT" && cargo build --release -p vigilo && cargo build --release -p vigilo-testkit --example mixed_load)
fi
VIGILO="$CARGO_TARGET_DIR/release/vigilo"
LOAD="$CARGO_TARGET_DIR/release/examples/mixed_load"

for backend in $BACKENDS; do
    case "$backend" in
        sqlite)
            rm -f "$OUT"/load.db*
            url="sqlite://$OUT/load.db" ;;
        postgres)
            admin="$(cd "$ROOT" && bash .ci/start-postgres.sh)"
            psql -q "$admin" -c "DROP DATABASE IF EXISTS vigilo_load_bench" -c "CREATE DATABASE vigilo_load_bench" >&2
            url="${admin%/*}/vigilo_load_bench" ;;
    esac
    echo "== $backend: demo data (pilot deployments reporting daily, no reports yet)" >&2
    (cd "$OUT" && "$VIGILO" demo --database "$url" --pilot-frequency day --pilot-without-reports --seed-only >&2)
    token="$("$VIGILO" token create admin --name load --database "$url" 2>/dev/null)"
    (cd "$OUT" && VIGILO_LOG=warn exec "$VIGILO" serve --database "$url" --bind "127.0.0.1:$PORT") >"$OUT/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
    echo "== $backend: $CLIENTS clients for $SECONDS_LOAD s" >&2
    load1=$(cut -d' ' -f1 /proc/loadavg)
    "$LOAD" "http://127.0.0.1:$PORT" "$token" --clients "$CLIENTS" --seconds "$SECONDS_LOAD" --pid "$SERVER_PID" \
        | jq -c --arg b "$backend" --arg load "$load1" '{bench: "mixed_load", backend: $b, load_before: $load} + .' \
        | tee -a "$OUT/results.jsonl"
    stop_server
done
