#!/usr/bin/env bash
# Restarts the throw-away PostgreSQL server of start-postgres.sh (fast shutdown: open
# connections are cut, as in a real outage). The crash test runs it under load through
# VIGILO_TEST_POSTGRES_RESTART.
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA="${PGDATA:-/tmp/vigilo-pg-$PGPORT}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
cmd="$PGBIN/pg_ctl -D $PGDATA -w -m fast restart -l $PGDATA/server.log"
if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$cmd"; else bash -c "$cmd"; fi >/dev/null
