#!/usr/bin/env bash
# bench/fanout.sh — NTF-4: time from a sale's start until every wishlister's
# notification has been handed to the provider.
#
#   bench/fanout.sh [USERS] [RUNS]     (defaults: 500000 users, 3 runs)
#
# Builds ./shopd and a tiny C webhook receiver, writes USERS customers who
# wishlisted one product straight into a fresh database (each with a push
# device and the default preferences: push + email, so 2 × USERS
# notifications), then for each provider — the file sink and a loopback
# webhook — starts shopd, triggers the fan-out (POST
# /v1/admin/notifications/fanout, the engine behind notify_flash_sale_started)
# and polls /metrics until shopd_notify_sent_total reaches 2 × USERS.
# Each run uses a new key on the same database, so rows accumulate; the
# figure reported is the median. Target: < 10 s for 500,000 users.
#
# Environment: SHOPD_NOTIFY_* and SHOPD_FANOUT_* tunables pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-500000}
RUNS=${2:-3}
EXPECT=$((USERS * 2))

make -s shopd
mkdir -p build/bench
cc -O2 -Wall -Wextra -Werror -o build/bench/fanout_sink bench/fanout_sink.c

work=$(mktemp -d /tmp/shopd-fanout-XXXXXX)
db=$work/shop.db
server=""
sink=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    [ -n "$sink" ] && kill "$sink" 2>/dev/null && wait "$sink" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

export SHOPD_RATE_LIMIT=off SHOPD_LOG_LEVEL=warn
./shopd migrate --db "$db" >/dev/null
./shopd user create --email bench-admin@example.com --password bench-password-1 --role admin --db "$db" >/dev/null

echo "fanout: writing $USERS wishlisting users into $db ..."
t0=$(now_ms)
sqlite3 "$db" <<SQL
PRAGMA synchronous=OFF;
BEGIN;
INSERT INTO categories (id, name, slug, path, depth, created_at) VALUES (1000000, 'Phones', 'bench-phones', '/1000000/', 0, 0);
INSERT INTO products (id, seller_id, category_id, title, description, brand, currency, status, created_at, updated_at)
  VALUES (1000000, 1, 1000000, 'Bench Phone 15', 'The phone everyone wants.', 'Acme', 'USD', 'published', 0, 0);
INSERT INTO variants (product_id, sku, price_cents, created_at, updated_at) VALUES (1000000, 'BENCH-PHONE', 99900, 0, 0);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $USERS)
  INSERT INTO users (id, email, name, password_hash, role, created_at)
  SELECT 1000 + i, 'fan' || i || '@example.com', 'Fan ' || i, 'x', 'customer', 0 FROM n;
INSERT INTO wishlist (user_id, product_id, created_at) SELECT id, 1000000, 0 FROM users WHERE id > 1000;
INSERT INTO devices (user_id, platform, token, created_at, updated_at)
  SELECT id, 'android', 'fcm-token-' || id || '-0123456789abcdef0123456789abcdef', 0, 0 FROM users WHERE id > 1000;
COMMIT;
SQL
echo "fanout: setup took $(( $(now_ms) - t0 )) ms"

start_server() { # extra env as arguments
    port=$(free_port)
    env "$@" ./shopd serve --port "$port" --db "$db" --access-log off >>"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
        sleep 0.05
    done
    echo "shopd did not start"; cat "$work/server.log"; exit 1
}
stop_server() { kill "$server"; wait "$server" || true; server=""; }

sent_total() {
    curl -sf "http://127.0.0.1:$port/metrics" |
        awk '/^shopd_notify_sent_total/ {s += $2} /^shopd_notify_dead_total/ {d = $2} END {printf "%d %d\n", s, d}'
}

# One run: triggers key $1 and prints the milliseconds until $EXPECT sent.
run_once() {
    local key=$1 token base t0 sent dead
    token=$(curl -sf "http://127.0.0.1:$port/v1/auth/login" -H 'Content-Type: application/json' \
        -d '{"email":"bench-admin@example.com","password":"bench-password-1"}' |
        /usr/bin/python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
    read -r base dead < <(sent_total)
    t0=$(now_ms)
    curl -sf "http://127.0.0.1:$port/v1/admin/notifications/fanout" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d "{\"product_id\":1000000,\"key\":\"$key\"}" >/dev/null
    while :; do
        read -r sent dead < <(sent_total)
        [ $((sent - base)) -ge "$EXPECT" ] && break
        if [ $(( $(now_ms) - t0 )) -gt 120000 ]; then echo "timeout: $((sent - base)) sent" >&2; break; fi
        sleep 0.02
    done
    echo $(( $(now_ms) - t0 ))
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

report() { # name, times...
    local name=$1; shift
    local m
    m=$(echo "$@" | median)
    printf 'fanout %-8s %d users, %d notifications: median %d ms (runs: %s) = %d notifications/s\n' \
        "$name" "$USERS" "$EXPECT" "$m" "$*" $((EXPECT * 1000 / (m > 0 ? m : 1)))
}

# ---- file sink ----
start_server SHOPD_NOTIFY_DIR="$work/sink"
times=()
for r in $(seq "$RUNS"); do
    times+=("$(run_once "file-$r")")
    lines=$(cat "$work"/sink/*.jsonl | wc -l)
    [ "$lines" -eq $((EXPECT * r)) ] || echo "fanout: file sink has $lines lines, expected $((EXPECT * r))" >&2
done
stop_server
report file "${times[@]}"

# ---- loopback webhook ----
sport=$(free_port)
build/bench/fanout_sink "$sport" "$work/sink.count" &
sink=$!
sleep 0.2
start_server SHOPD_NOTIFY_PROVIDER=webhook SHOPD_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$sport/notify"
times=()
for r in $(seq "$RUNS"); do
    times+=("$(run_once "webhook-$r")")
done
stop_server
kill "$sink"; wait "$sink" || true; sink=""
read -r received requests <"$work/sink.count"
[ "$received" -eq $((EXPECT * RUNS)) ] || echo "fanout: sink received $received, expected $((EXPECT * RUNS))" >&2
report webhook "${times[@]}"
echo "fanout: webhook sink received $received notifications in $requests requests"
