#!/usr/bin/env bash
# Early warning at scale (issue 7), on SQLite and PostgreSQL:
#   1. intake: reports per second through POST /api/v1/incidents, one report per request
#      and per durable transaction (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on),
#      CONCURRENCY connections for SECONDS seconds, each narrative scrubbed on the way in;
#   2. the full signal run over REPORTS reports, PRODUCTS products and CODES codes, filled
#      through the real importer (examples/signal_bench.rs), median of RUNS runs.
# Results go to $OUT/results.jsonl and are written up in docs/benchmarks.md.
#
#   bash bench/early_warning.sh
#   BACKENDS=sqlite BUILD=0 REPORTS=100000 bash bench/early_warning.sh
#
# Needs curl and jq, and psql for PostgreSQL (the throw-away server of .ci/start-postgres.sh).
# Every server it starts is stopped on exit. Nothing here runs in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_LOAD="${SECONDS_LOAD:-20}"
CONCURRENCY="${CONCURRENCY:-8}"
REPORTS="${REPORTS:-1000000}"
PRODUCTS="${PRODUCTS:-5000}"
CODES="${CODES:-2000}"
RUNS="${RUNS:-3}"
BACKENDS="${BACKENDS:-sqlite postgres}"
PORT="${PORT:-18393}"
OUT="${OUT:-/tmp/vigilo-early-warning-bench}"
PROFILE="${PROFILE:-release}"
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
    echo "== build ($PROFILE)" >&2
    flag=""; [ "$PROFILE" = release ] && flag="--release"
    (cd "$ROOT" && cargo build $flag -p vigilo && cargo build $flag -p vigilo-testkit --example incident_load --example signal_bench)
fi
BIN="$CARGO_TARGET_DIR/$PROFILE"
VIGILO="$BIN/vigilo"

fresh_db() { # backend name -> url
    case "$1" in
        sqlite)
            rm -f "$OUT/$2".db*
            echo "sqlite://$OUT/$2.db" ;;
        postgres)
            local admin
            admin="$(cd "$ROOT" && bash .ci/start-postgres.sh)"
            psql -q "$admin" -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2" >&2
            echo "${admin%/*}/$2" ;;
    esac
}

for backend in $BACKENDS; do
    url="$(fresh_db "$backend" vigilo_ew_intake)"
    "$VIGILO" migrate --database "$url" >&2
    echo "bench-password-long" | "$VIGILO" user add bench --role reviewer --password-stdin --database "$url" >&2
    token="$("$VIGILO" token create bench --name bench --database "$url" 2>/dev/null)"
    VIGILO_LOG=warn "$VIGILO" serve --database "$url" --bind "127.0.0.1:$PORT" --no-jobs >"$OUT/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
    echo "== $backend: intake for $SECONDS_LOAD s, $CONCURRENCY connections" >&2
    load1=$(cut -d' ' -f1 /proc/loadavg)
    "$BIN/examples/incident_load" "http://127.0.0.1:$PORT" "$token" - --concurrency "$CONCURRENCY" --seconds "$SECONDS_LOAD" \
        | jq -c --arg b "$backend" --arg load "$load1" '{bench: "incident_intake", backend: $b, load_before: $load} + .' | tee -a "$OUT/results.jsonl"
    stop_server
    echo "== $backend: signal run over $REPORTS reports" >&2
    url="$(fresh_db "$backend" vigilo_ew_signals)"
    "$VIGILO" migrate --database "$url" >&2
    load1=$(cut -d' ' -f1 /proc/loadavg)
    "$BIN/examples/signal_bench" "$url" --reports "$REPORTS" --products "$PRODUCTS" --codes "$CODES" --runs "$RUNS" \
        | jq -c --arg b "$backend" --arg load "$load1" '{bench: "signal_run", backend: $b, load_before: $load} + .' | tee -a "$OUT/results.jsonl"
done
