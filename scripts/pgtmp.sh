#!/usr/bin/env bash
# A throwaway PostgreSQL server in a directory of its own, for tests, the
# benchmark and `make cluster`. No root needed (as root, the server runs as
# the `postgres` user the Debian package created).
#
#   scripts/pgtmp.sh start DIR [PORT]   initdb if DIR is new, start, print the base URL
#   scripts/pgtmp.sh stop DIR           stop (fast shutdown)
#   scripts/pgtmp.sh url DIR            the base URL of a running server
#   scripts/pgtmp.sh run [--durable] -- CMD ...
#                                       start one in a temporary directory, run CMD
#                                       with SHOPD_TEST_PG set to its base URL, stop it,
#                                       and exit with CMD's status
#
# The base URL names no database: append one (createdb happens in the tests).
# Servers are tuned for a small shared box: trust auth on loopback only, C
# collation, deadlock_timeout 50 ms. PGTMP_FSYNC=off (the default for `run`
# without --durable) skips disk flushes: tests are not about power loss. The
# benchmark and the cluster keep fsync and synchronous_commit on.
# PGTMP_PRELOAD=lib[,lib] sets shared_preload_libraries of a new server (the
# benchmark loads pg_stat_statements to count statements per order).
set -euo pipefail

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [[ -x $d/initdb ]] && { echo "$d"; return; }; done
  echo "pgtmp: no PostgreSQL server found (scripts/install-deps.sh installs postgresql)" >&2
  exit 1
}
BIN=$(bindir)

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1 port=${2:-}
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust --no-locale -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    [[ -n $port ]] || port=$(free_port)
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 256MB
fsync = ${PGTMP_FSYNC:-on}
synchronous_commit = on
full_page_writes = ${PGTMP_FSYNC:-on}
deadlock_timeout = 50ms
max_wal_size = 2GB
checkpoint_timeout = 15min
log_min_messages = warning
logging_collector = off
shared_preload_libraries = '${PGTMP_PRELOAD:-}'
EOF
  fi
  as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { tail -20 "$dir/server.log" >&2; exit 1; }
  url "$dir"
}

url() {
  local port
  port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$1/data/postgresql.conf" | tail -1)
  echo "postgres://postgres@127.0.0.1:$port"
}

stop() {
  [[ -f $1/data/postmaster.pid ]] || return 0
  as_pg "$BIN/pg_ctl" -D "$1/data" -m fast -w -t 60 stop >/dev/null || true
}

run() {
  local durable=0
  [[ ${1:-} == --durable ]] && { durable=1; shift; }
  [[ ${1:-} == -- ]] && shift
  local dir
  dir=$(mktemp -d /tmp/shopd-pg-XXXXXX)
  chmod 755 "$dir"
  ((durable)) || export PGTMP_FSYNC=off
  local base
  base=$(start "$dir")
  trap 'stop "'"$dir"'"; rm -rf "'"$dir"'"' EXIT
  local rc=0
  SHOPD_TEST_PG="$base" "$@" || rc=$?
  exit $rc
}

cmd=${1:-}
shift || true
case $cmd in
  start) start "$@" ;;
  stop) stop "$@" ;;
  url) url "$@" ;;
  run) run "$@" ;;
  *) sed -n '2,19p' "$0" >&2; exit 2 ;;
esac
