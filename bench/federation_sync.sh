#!/usr/bin/env bash
# GRN federation sync at scale (issue 8, "Benchmarks"), on SQLite and PostgreSQL: node A
# publishes ITEMS signed early warnings (members only) through the store, then a fresh node B
# pins A and pulls them all with the real sync (signed requests, every item verified, pages
# stored with their cursor), RUNS times; before that, core's item verification and bare
# Ed25519 verification per second on one thread and on all cores
# (crates/vigilo-testkit/examples/federation_sync.rs). One JSON line per backend goes to
# $OUT/results.jsonl; written up in docs/benchmarks.md ("Federation sync").
#
#   bash bench/federation_sync.sh
#   BACKENDS=sqlite ITEMS=10000 RUNS=1 BUILD=0 bash bench/federation_sync.sh
#
# PostgreSQL: the throw-away server of .ci/start-postgres.sh (each node gets a new
# database). Needs jq. Nothing here runs in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ITEMS="${ITEMS:-100000}"
RUNS="${RUNS:-3}"
KIND="${KIND:-warning}"
AUDIENCE="${AUDIENCE:-members}"
BACKENDS="${BACKENDS:-sqlite postgres}"
OUT="${OUT:-/tmp/vigilo-federation-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"
mkdir -p "$OUT"

if [ "${BUILD:-1}" = 1 ]; then
    echo "== build (release)" >&2
    (cd "$ROOT" && cargo build --release -p vigilo-testkit --example federation_sync)
fi
BENCH="$CARGO_TARGET_DIR/release/examples/federation_sync"

for backend in $BACKENDS; do
    if [ "$backend" = postgres ]; then
        VIGILO_TEST_POSTGRES_URL="${VIGILO_TEST_POSTGRES_URL:-$(cd "$ROOT" && bash .ci/start-postgres.sh)}"
        export VIGILO_TEST_POSTGRES_URL
    fi
    echo "== $backend: $ITEMS items, $RUNS runs" >&2
    "$BENCH" --backend "$backend" --items "$ITEMS" --runs "$RUNS" \
        --kind "$KIND" --audience "$AUDIENCE" \
        | jq -c --arg commit "$(git -C "$ROOT" rev-parse --short HEAD)" '{commit: $commit} + .' \
        | tee -a "$OUT/results.jsonl"
done
