#!/usr/bin/env bash
# Several shopd processes, one shop: PostgreSQL in a directory of its own,
# N shopd processes on it and haproxy in front (deploy/haproxy.cfg), all on
# loopback. No root needed (as root, PostgreSQL runs as `postgres`).
#
#   scripts/cluster.sh up [N]      start everything, serve until Ctrl-C, then stop it all
#   scripts/cluster.sh start [N]   start everything in the background (N = 3)
#   scripts/cluster.sh stop        stop haproxy, the shopd processes, PostgreSQL
#   scripts/cluster.sh status      what runs where
#
# Settings (environment): CLUSTER_DIR (default data/cluster; the database,
# logs and pid files live there and survive a stop), PORT (haproxy's, default
# 8080; shopd k listens on PORT+k), SHOPD (the binary, default ./shopd),
# SEED_PRODUCTS (demo products for a new database, default 2000; 0: none).
# Every other SHOPD_* variable reaches the shopd processes;
# SHOPD_TRUSTED_PROXIES defaults to 127.0.0.1 (haproxy), so that they see
# each client's address, not haproxy's; SHOPD_STOP_DRAIN_MS to 3000, so that
# a process told to stop serves on until haproxy's health check (1 s, twice)
# has taken it out; SHOPD_PG_WRITERS to the machine's cores shared among the
# N processes (at least 1): all N share this machine's cores, and more writer
# connections than cores cost PostgreSQL more CPU per order (docs/SCALING.md).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${CLUSTER_DIR:-data/cluster}
PORT=${PORT:-8080}
SHOPD=${SHOPD:-./shopd}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

wait_ready() {
  local url=$1 i
  for i in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cluster: $url did not become ready" >&2
  return 1
}

pids() { cat "$DIR"/shopd-*.pid 2>/dev/null || true; }

start() {
  local n=${1:-3}
  [[ -f $DIR/haproxy.pid ]] && { echo "cluster: already running (scripts/cluster.sh stop)" >&2; exit 1; }
  local base url
  base=$(scripts/pgtmp.sh start "$DIR/pg")
  # The processes talk to it over its Unix socket: cheaper than loopback TCP.
  url="postgresql://postgres@/shop?host=$DIR/pg&port=${base##*:}"
  psql -qAt "$base/postgres" -c "SELECT 1 FROM pg_database WHERE datname = 'shop'" | grep -q 1 ||
    psql -q "$base/postgres" -c "CREATE DATABASE shop" >/dev/null
  echo "$url" >"$DIR/url"
  "$SHOPD" migrate --db "$url" >/dev/null
  if [[ ${SEED_PRODUCTS:-2000} -gt 0 ]]; then
    "$SHOPD" seed --if-empty --products "${SEED_PRODUCTS:-2000}" --users 50 --db "$url" >/dev/null
  fi
  local k writers=$(($(nproc) / n))
  ((writers >= 1)) || writers=1
  for k in $(seq 1 "$n"); do
    SHOPD_PG_WRITERS=${SHOPD_PG_WRITERS:-$writers} \
      SHOPD_NOTIFY_DIR=${SHOPD_NOTIFY_DIR:-$DIR/notifications} \
      SHOPD_TRUSTED_PROXIES=${SHOPD_TRUSTED_PROXIES:-127.0.0.1} \
      SHOPD_STOP_DRAIN_MS=${SHOPD_STOP_DRAIN_MS:-3000} \
      "$SHOPD" serve --port $((PORT + k)) --db "$url" --access-log "$DIR/access-$k.log" \
      >>"$DIR/shopd-$k.log" 2>&1 &
    echo $! >"$DIR/shopd-$k.pid"
  done
  for k in $(seq 1 "$n"); do wait_ready "http://127.0.0.1:$((PORT + k))/readyz"; done
  # The repo's configuration with this cluster's ports and one line per process.
  sed -e "s/bind 127.0.0.1:8080/bind 127.0.0.1:$PORT/" -e '/^    server shopd/d' \
    -e "s|deploy/errors/|$PWD/deploy/errors/|" \
    deploy/haproxy.cfg >"$DIR/haproxy.cfg"
  for k in $(seq 1 "$n"); do
    echo "    server shopd$k 127.0.0.1:$((PORT + k))" >>"$DIR/haproxy.cfg"
  done
  haproxy -f "$DIR/haproxy.cfg" -D -p "$DIR/haproxy.pid"
  wait_ready "http://127.0.0.1:$PORT/readyz"
  echo "cluster: $n shopd processes on $url behind http://127.0.0.1:$PORT (logs in $DIR)"
}

stop() {
  if [[ -f $DIR/haproxy.pid ]]; then
    kill "$(cat "$DIR/haproxy.pid")" 2>/dev/null || true
    rm -f "$DIR/haproxy.pid"
  fi
  local p
  for p in $(pids); do kill -TERM "$p" 2>/dev/null || true; done
  for p in $(pids); do
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  done
  rm -f "$DIR"/shopd-*.pid
  scripts/pgtmp.sh stop "$DIR/pg"
  echo "cluster: stopped"
}

status() {
  [[ -f $DIR/url ]] && echo "database: $(cat "$DIR/url")"
  local f
  for f in "$DIR"/shopd-*.pid; do
    [[ -f $f ]] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$(basename "$f" .pid): running"; else
      echo "$(basename "$f" .pid): stopped"; fi
  done
  [[ -f $DIR/haproxy.pid ]] && echo "haproxy: http://127.0.0.1:$PORT" || true
}

cmd=${1:-}
shift || true
case $cmd in
  start) start "$@" ;;
  stop) stop ;;
  status) status ;;
  up)
    start "$@"
    trap 'stop; exit 0' INT TERM
    echo "cluster: Ctrl-C stops it"
    while :; do sleep 1; done
    ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
