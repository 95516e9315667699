#!/usr/bin/env bash
# Installs (from Debian's packages, when missing) and starts a throw-away PostgreSQL
# server on 127.0.0.1:${PGPORT:-55432}, then prints the URL for VIGILO_TEST_POSTGRES_URL.
# Used by .ci/run and by developers: export VIGILO_TEST_POSTGRES_URL=$(bash .ci/start-postgres.sh)
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA="${PGDATA:-/tmp/vigilo-pg-$PGPORT}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing PostgreSQL from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
run_as_postgres() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
if [ ! -f "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
    run_as_postgres "$PGBIN/initdb -D $PGDATA -A trust -U postgres -E UTF8 --locale=C.UTF-8" >&2
fi
if ! run_as_postgres "$PGBIN/pg_ctl -D $PGDATA status" >/dev/null 2>&1; then
    run_as_postgres "$PGBIN/pg_ctl -D $PGDATA -w -l $PGDATA/server.log \
        -o '-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' start" >&2
fi
echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
