#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on 127.0.0.1 and a free port.
#
#   eval "$(infra/ci/postgres.sh start)"   # installs Debian's postgresql if missing, starts it,
#                                          # prints: export ALFLOW_TEST_POSTGRES_URL=...
#   infra/ci/postgres.sh stop              # stops it and deletes its data directory
#
# The tests read ALFLOW_TEST_POSTGRES_URL (a superuser URL: each test creates its own databases).
# Everything the server writes lives in $ALFLOW_PG_DIR (default /tmp/alflow-test-postgres).
set -euo pipefail

DIR="${ALFLOW_PG_DIR:-/tmp/alflow-test-postgres}"
DATA="$DIR/data"
USER_NAME=alflow
PASSWORD=alflow-test

log() { echo "postgres.sh: $*" >&2; }

bindir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$d" && -x "$d/pg_ctl" ]]; then echo "$d"; return; fi
    if command -v pg_ctl >/dev/null; then dirname "$(readlink -f "$(command -v pg_ctl)")"; fi
}

install() {
    if [[ -n "$(bindir)" ]]; then return; fi
    log "installing Debian's postgresql package"
    if [[ "$(id -u)" != 0 ]]; then log "not root: cannot apt-get install postgresql"; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends postgresql >&2
}

# initdb and postgres refuse to run as root: run them as the package's "postgres" user then.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    install
    local bin port
    bin="$(bindir)"
    if [[ -f "$DIR/url" ]] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        echo "export ALFLOW_TEST_POSTGRES_URL=$(cat "$DIR/url")"
        return
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    printf '%s\n' "$PASSWORD" >"$DIR/pwfile"
    if [[ "$(id -u)" == 0 ]]; then chown -R postgres: "$DIR"; fi
    as_owner "$bin/initdb" -D "$DATA" -U "$USER_NAME" --pwfile="$DIR/pwfile" \
        --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    port="$(free_port)"
    # fsync off: a test server, not a durable one (the crash tests kill clients, not the server)
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $DIR -c max_connections=200 -c fsync=off" \
        >/dev/null
    local url="postgresql+psycopg://$USER_NAME:$PASSWORD@127.0.0.1:$port/postgres"
    echo "$url" >"$DIR/url"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data: $DATA)"
    echo "export ALFLOW_TEST_POSTGRES_URL=$url"
}

stop() {
    local bin
    bin="$(bindir)"
    if [[ -n "$bin" && -d "$DATA" ]]; then
        as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
