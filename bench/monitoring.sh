#!/usr/bin/env bash
# Monitoring at pilot scale (issue 6), on SQLite and PostgreSQL:
#   1. intake: rows per second through POST /api/v1/monitoring/reports, durable commits
#      (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on), CONCURRENCY connections
#      sending BATCH-row JSON batches, into the demo pilot's 19,926 daily-reporting
#      deployments (3,321 stations x 6 tools), PERIODS days each;
#   2. the national KPI table for QUARTER by province (GET /api/v1/kpis), median of 5,
#      and on PostgreSQL the same sums as one SQL statement run by psql, as a ratio;
#   3. the quarterly report (`vigilo report --period QUARTER`) when the binary has it.
# Results go to $OUT/results.jsonl and are written up in docs/benchmarks.md.
#
#   bash bench/monitoring.sh                       # both backends, 30 days each (~600k rows)
#   PERIODS=500 bash bench/monitoring.sh           # the full ~10 million rows
#   BACKENDS=sqlite BUILD=0 CARGO_TARGET_DIR=/some/dir bash bench/monitoring.sh
#
# Needs curl, jq and psql; starts the throw-away PostgreSQL of .ci/start-postgres.sh.
# Every server it starts is stopped on exit. Nothing here runs in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PERIODS="${PERIODS:-30}"
BATCH="${BATCH:-1000}"
CONCURRENCY="${CONCURRENCY:-4}"
QUARTER="${QUARTER:-2025-Q3}"
BACKENDS="${BACKENDS:-sqlite postgres}"
PORT="${PORT:-18392}"
OUT="${OUT:-/tmp/vigilo-monitoring-bench}"
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
    (cd "$ROOT" && cargo build $flag -p vigilo && cargo build $flag -p vigilo-testkit --example ingest_load)
fi
BIN="$CARGO_TARGET_DIR/$PROFILE"
VIGILO="$BIN/vigilo"
LOAD="$BIN/examples/ingest_load"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for backend in $BACKENDS; do
    case "$backend" in
        sqlite)
            rm -f "$OUT"/pilot.db*
            url="sqlite://$OUT/pilot.db" ;;
        postgres)
            admin="$(cd "$ROOT" && bash .ci/start-postgres.sh)"
            psql -q "$admin" -c "DROP DATABASE IF EXISTS vigilo_pilot_bench" -c "CREATE DATABASE vigilo_pilot_bench" >&2
            url="${admin%/*}/vigilo_pilot_bench" ;;
    esac
    echo "== $backend: seed the pilot's deployments (daily reporting, no reports yet)" >&2
    (cd "$OUT" && "$VIGILO" demo --database "$url" --pilot-frequency day --pilot-without-reports --seed-only >&2)
    token="$("$VIGILO" token create admin --name bench --database "$url" 2>/dev/null)"
    VIGILO_LOG=warn "$VIGILO" serve --database "$url" --bind "127.0.0.1:$PORT" --no-jobs >"$OUT/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
    echo "== $backend: intake, $PERIODS periods per deployment" >&2
    load1=$(cut -d' ' -f1 /proc/loadavg)
    "$LOAD" "http://127.0.0.1:$PORT" "$token" --concurrency "$CONCURRENCY" --batch "$BATCH" --periods "$PERIODS" \
        | jq -c --arg b "$backend" --arg load "$load1" '{bench: "intake", backend: $b, load_before: $load} + .' | tee -a "$OUT/results.jsonl"
    echo "== $backend: national KPI table for $QUARTER" >&2
    times=""
    for _ in 1 2 3 4 5; do
        t=$(curl -fs -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" \
            "http://127.0.0.1:$PORT/api/v1/kpis?period=$QUARTER&level=province")
        times="$times $t"
    done
    api=$(echo $times | tr ' ' '\n' | median)
    rows=$(curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/api/v1/kpis?period=$QUARTER&level=province" | jq '.rows | length')
    sql_median=null
    if [ "$backend" = postgres ]; then
        q="SELECT province_code, COUNT(*), COUNT(DISTINCT facility_id), SUM(uses), SUM(positives), SUM(tp), SUM(fp), SUM(fn), SUM(tn), SUM(overrides), SUM(escalations), SUM(downtime_minutes) FROM monitoring_reports WHERE period_anchor >= '$(date -d "${QUARTER%-Q*}-$(printf %02d $(( (${QUARTER#*-Q} - 1) * 3 + 1 )))-01" +%F)' AND period_anchor < '$(date -d "${QUARTER%-Q*}-$(printf %02d $(( (${QUARTER#*-Q} - 1) * 3 + 1 )))-01 +3 months" +%F)' GROUP BY 1"
        times=""
        for _ in 1 2 3 4 5; do
            s=$(date +%s.%N); psql -q "$url" -c "$q" >/dev/null; e=$(date +%s.%N)
            times="$times $(echo "$e - $s" | bc -l)"
        done
        sql_median=$(echo $times | tr ' ' '\n' | median)
    fi
    jq -nc --arg b "$backend" --argjson api "$api" --argjson sql "$sql_median" --argjson rows "$rows" --arg q "$QUARTER" \
        '{bench: "kpi_table", backend: $b, period: $q, groups: $rows, api_median_s: $api, sql_median_s: $sql, ratio: (if $sql == null then null else ($api / $sql) end)}' | tee -a "$OUT/results.jsonl"
    stop_server
    if "$VIGILO" report --help >/dev/null 2>&1; then
        echo "== $backend: quarterly report" >&2
        times=""
        for _ in 1 2 3; do
            s=$(date +%s.%N); "$VIGILO" report --period "$QUARTER" --format html --database "$url" >/dev/null; e=$(date +%s.%N)
            times="$times $(echo "$e - $s" | bc -l)"
        done
        jq -nc --arg b "$backend" --argjson t "$(echo $times | tr ' ' '\n' | median)" --arg q "$QUARTER" \
            '{bench: "quarterly_report", backend: $b, period: $q, median_s: $t}' | tee -a "$OUT/results.jsonl"
    fi
done
