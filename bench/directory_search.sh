#!/usr/bin/env bash
# Directory search under load (issue 4): p50/p90/p99 latency and throughput of
# GET /api/v1/directory with COUNT synthetic entries, 100 concurrent connections,
# on SQLite and PostgreSQL, on loopback. Results are recorded in docs/benchmarks.md.
#
#   bash bench/directory_search.sh                 # both backends, 2 rounds
#   BACKENDS=sqlite ROUNDS=1 bash bench/directory_search.sh
#   BUILD=0 CARGO_TARGET_DIR=/some/dir bash bench/directory_search.sh   # binaries built already
#
# Query types: the fixed paths of queries.tsv one at a time and mixed (after the first
# request these are answered from the search cache), and `random`: two random words
# per request (bench/directory/random_terms.lua), mostly cache misses. Each result
# line records the one-minute load average at its end (the machine is shared).
#
# Needs wrk (apt-get install -y wrk), curl, jq, psql. Starts the throw-away PostgreSQL
# of .ci/start-postgres.sh and (re)creates a database vigilo_bench in it; the SQLite
# file and all raw output go to $OUT (REUSE=1 skips seeding and reuses both databases).
# Every server it starts is stopped on exit. Nothing here runs in CI: it takes about
# 9 minutes after the build.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COUNT="${COUNT:-100000}"
SEED="${SEED:-1}"
CONNECTIONS="${CONNECTIONS:-100}"
THREADS="${THREADS:-2}"
MIX_DURATION="${MIX_DURATION:-30s}"      # the mixed run, per round
QUERY_DURATION="${QUERY_DURATION:-10s}"  # each query type alone, per round
WARMUP="${WARMUP:-3s}"        # per run, same paths, on a fresh server
ROUNDS="${ROUNDS:-2}"
BACKENDS="${BACKENDS:-sqlite postgres}"
PORT="${PORT:-18391}"
OUT="${OUT:-/tmp/vigilo-directory-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
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
    (cd "$ROOT" && cargo build --release -p vigilo -p vigilo-store --bins --examples)
fi
VIGILO="$CARGO_TARGET_DIR/release/vigilo"
SEEDER="$CARGO_TARGET_DIR/release/examples/seed_directory"

database_url() {
    case "$1" in
        sqlite) echo "sqlite://$OUT/directory.db" ;;
        postgres)
            local admin
            admin="$(cd "$ROOT" && bash .ci/start-postgres.sh)"
            echo "${admin%/*}/vigilo_bench"
            ;;
    esac
}

seed() {
    local backend="$1" url="$2"
    case "$backend" in
        sqlite) rm -f "$OUT/directory.db" "$OUT/directory.db-wal" "$OUT/directory.db-shm" ;;
        postgres)
            local admin="${url%/*}/postgres"
            psql -q "$admin" -c "DROP DATABASE IF EXISTS vigilo_bench" -c "CREATE DATABASE vigilo_bench" >&2
            ;;
    esac
    echo "== seed $backend: $COUNT entries, seed $SEED" >&2
    "$SEEDER" --database "$url" --count "$COUNT" --seed "$SEED" >&2
}

start_server() {
    local url="$1"
    "$VIGILO" serve --database "$url" --bind "127.0.0.1:$PORT" --no-jobs >"$OUT/server-$BACKEND.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server-$BACKEND.log" >&2; exit 1; }
        sleep 0.2
    done
    echo "server did not become ready" >&2
    exit 1
}

# The query mix: name and path. Percent-encoded UTF-8 for the Vietnamese words.
write_paths() {
    local base="http://127.0.0.1:$PORT/api/v1/directory"
    local cursor
    cursor="$(curl -fsS "$base" | jq -r .next_cursor)"
    [ -n "$cursor" ] && [ "$cursor" != null ] || { echo "no next_cursor on the first page" >&2; exit 1; }
    cat >"$OUT/queries.tsv" <<EOF
empty	/api/v1/directory
word_lao	/api/v1/directory?q=lao
vi_phrase	/api/v1/directory?q=s%C3%A0ng%20l%E1%BB%8Dc%20lao
facet	/api/v1/directory?clinical_area=radiology
text_facet	/api/v1/directory?q=tim%20m%E1%BA%A1ch&domestic=1
cursor_page2	/api/v1/directory?cursor=$cursor
maker	/api/v1/directory?q=H%E1%BA%A3i%20%C4%90%C4%83ng
EOF
    cut -f2 "$OUT/queries.tsv" >"$OUT/paths-mix.txt"
    : >"$OUT/paths-random.txt"  # random_terms.lua makes its own paths
    while IFS=$'\t' read -r name path; do
        # Every path must answer 200 before it is timed.
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT$path"
        echo "$path" >"$OUT/paths-$name.txt"
    done <"$OUT/queries.tsv"
}

script_for() {
    if [ "$1" = random ]; then echo "$ROOT/bench/directory/random_terms.lua"; else echo "$ROOT/bench/directory/rotate.lua"; fi
}

load() {
    local label="$1" paths="$2" duration="$3" script="$4"
    local line
    line="$(PATHS="$paths" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --timeout 10s \
        -s "$script" "http://127.0.0.1:$PORT" | tee -a "$OUT/wrk-$BACKEND.log" | grep '^RESULT')"
    echo "$BACKEND $label ${line#RESULT } load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/results.txt"
}

: >"$OUT/results.txt"
for BACKEND in $BACKENDS; do
    URL="$(database_url "$BACKEND")"
    [ "${REUSE:-0}" = 1 ] || seed "$BACKEND" "$URL"
    start_server "$URL"
    write_paths
    stop_server
    for round in $(seq 1 "$ROUNDS"); do
        echo "== $BACKEND round $round" >&2
        # A fresh server per run: requests still running when wrk stops (slow text
        # searches are not cancelled when the client goes) must not load the next run.
        for name in mix $(cut -f1 "$OUT/queries.tsv") random; do
            duration="$QUERY_DURATION"
            [ "$name" = mix ] && duration="$MIX_DURATION"
            start_server "$URL"
            # One request per path first: a cold server computes the cached counts of
            # text-free searches once instead of 100 times at once (see docs/benchmarks.md).
            while read -r path; do curl -fsS -o /dev/null "http://127.0.0.1:$PORT$path"; done <"$OUT/paths-$name.txt"
            PATHS="$OUT/paths-$name.txt" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout 10s \
                -s "$(script_for "$name")" "http://127.0.0.1:$PORT" >/dev/null
            load "$name r$round" "$OUT/paths-$name.txt" "$duration" "$(script_for "$name")"
            stop_server
        done
    done
done

# Medians over rounds, per backend and query.
echo
echo "backend query rounds p50_ms p90_ms p99_ms rps errors(non-2xx+socket) load1"
awk '
{
    key = $1 " " $2
    for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    n[key]++
    p50[key, n[key]] = v["p50_ms"]; p90[key, n[key]] = v["p90_ms"]; p99[key, n[key]] = v["p99_ms"]
    rps[key, n[key]] = v["rps"]; ld[key, n[key]] = v["load1"]
    err[key] += v["err_connect"] + v["err_read"] + v["err_write"] + v["err_status"] + v["err_timeout"]
    if (!(key in seen)) { seen[key] = 1; order[++k] = key }
}
function median(a, key, m,    i, j, t, x) {
    for (i = 1; i <= m; i++) x[i] = a[key, i] + 0
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
    return (m % 2) ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
}
END {
    for (i = 1; i <= k; i++) {
        key = order[i]; m = n[key]
        printf "%s %d %.1f %.1f %.1f %.0f %d %.1f\n", key, m, median(p50, key, m), median(p90, key, m), median(p99, key, m), median(rps, key, m), err[key], median(ld, key, m)
    }
}' "$OUT/results.txt" | tee "$OUT/summary.txt"
