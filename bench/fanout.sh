#!/usr/bin/env bash
# bench/fanout.sh — NTF-4: time from a sale's start until every wishlister's
# notification has been handed to the provider.
#
#   bench/fanout.sh [USERS] [RUNS]     (defaults: 500000 users, 3 runs)
#
# Builds ./shopd and a tiny C webhook receiver, writes USERS customers who
# wishlisted one product straight into a fresh database (each with a push
# device and the default preferences, push + email: 2 × USERS
# notifications; CHANNELS=push gives every user email off: USERS
# notifications), then for each provider — the file sink and a loopback
# webhook — starts shopd, triggers the fan-out (POST
# /v1/admin/notifications/fanout: the engine behind notify_flash_sale_started)
# and polls /metrics until shopd_notify_sent_total has grown by the number
# of notifications. A last file-sink run measures GET /v1/products/{id} at a
# fixed 200 requests/s during the fan-out against the same probe idle.
#
# Each run uses a new key on the same database, so rows accumulate; figures
# are medians. Target: < 10 s for 500,000 users. Progress goes to stderr,
# the results (markdown) to stdout. SHOPD_NOTIFY_* and SHOPD_FANOUT_*
# tunables pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-500000}
RUNS=${2:-3}
CHANNELS=${CHANNELS:-both}
PER_USER=$([ "$CHANNELS" = push ] && echo 1 || echo 2)
EXPECT=$((USERS * PER_USER))
log() { echo "fanout: $*" >&2; }

make -s shopd >&2
mkdir -p build/bench
cc -O2 -Wall -Wextra -Werror -o build/bench/fanout_sink bench/fanout_sink.c

work=$(mktemp -d /tmp/shopd-fanout-XXXXXX)
db=$work/shop.db
server=""
sink=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi
    if [ -n "$sink" ]; then kill "$sink" 2>/dev/null; wait "$sink" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

export SHOPD_RATE_LIMIT=off SHOPD_LOG_LEVEL=warn
./shopd migrate --db "$db" >/dev/null 2>&1
./shopd user create --email bench-admin@example.com --password bench-password-1 --role admin \
    --db "$db" >/dev/null

log "writing $USERS wishlisting users into $db ..."
t0=$(now_ms)
prefs=""
[ "$CHANNELS" = push ] &&
    prefs="INSERT INTO notification_prefs SELECT id, 1, 0, 0, 0 FROM users WHERE id > 1000;"
sqlite3 "$db" <<SQL
PRAGMA synchronous=OFF;
BEGIN;
INSERT INTO categories (id, name, slug, path, depth, created_at)
  VALUES (1000000, 'Phones', 'bench-phones', '/1000000/', 0, 0);
INSERT INTO products (id, seller_id, category_id, title, description, brand, currency, status,
                      created_at, updated_at)
  VALUES (1000000, 1, 1000000, 'Bench Phone 15', 'The phone everyone wants.', 'Acme', 'USD',
          'published', 0, 0);
INSERT INTO variants (product_id, sku, price_cents, created_at, updated_at)
  VALUES (1000000, 'BENCH-PHONE', 99900, 0, 0);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $USERS)
  INSERT INTO users (id, email, name, password_hash, role, created_at)
  SELECT 1000 + i, 'fan' || i || '@example.com', 'Fan ' || i, 'x', 'customer', 0 FROM n;
INSERT INTO wishlist (user_id, product_id, created_at) SELECT id, 1000000, 0 FROM users WHERE id > 1000;
INSERT INTO devices (user_id, platform, token, created_at, updated_at)
  SELECT id, 'android', 'fcm-token-' || id || '-0123456789abcdef0123456789abcdef', 0, 0
  FROM users WHERE id > 1000;
$prefs
COMMIT;
SQL
log "setup took $(($(now_ms) - t0)) ms"

start_server() { # extra environment as arguments
    port=$(free_port)
    env "$@" ./shopd serve --port "$port" --db "$db" --access-log off >>"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
        sleep 0.05
    done
    echo "shopd did not start" >&2
    cat "$work/server.log" >&2
    exit 1
}
stop_server() { kill "$server"; wait "$server" || true; server=""; }

cpu_ms() { # the server's user + system CPU so far
    awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$server/stat"
}

sent_total() {
    curl -sf "http://127.0.0.1:$port/metrics" | awk '/^shopd_notify_sent_total/ {s += $2} END {print s + 0}'
}

# One run: triggers key $1 and prints the milliseconds until $EXPECT are sent,
# and the server's CPU milliseconds meanwhile.
run_once() {
    local key=$1 token base t0 sent c0
    token=$(curl -sf "http://127.0.0.1:$port/v1/auth/login" -H 'Content-Type: application/json' \
        -d '{"email":"bench-admin@example.com","password":"bench-password-1"}' |
        /usr/bin/python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
    base=$(sent_total)
    c0=$(cpu_ms)
    t0=$(now_ms)
    curl -sf "http://127.0.0.1:$port/v1/admin/notifications/fanout" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"product_id\":1000000,\"key\":\"$key\"}" >/dev/null
    while :; do
        sent=$(sent_total)
        [ $((sent - base)) -ge "$EXPECT" ] && break
        if [ $(($(now_ms) - t0)) -gt 120000 ]; then
            log "timeout: $((sent - base)) of $EXPECT sent"
            break
        fi
        sleep 0.02
    done
    echo "$(($(now_ms) - t0)) $(($(cpu_ms) - c0))"
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

report() { # label; then the globals times=() and cpus=()
    local m c
    m=$(echo "${times[@]}" | median)
    c=$(echo "${cpus[@]}" | median)
    printf -- '- %s: **%d ms** median (runs: %s ms) = %d notifications/s, shopd CPU %d ms; target < 10,000 ms\n' \
        "$1" "$m" "$(echo "${times[@]}" | tr ' ' ',')" $((EXPECT * 1000 / (m > 0 ? m : 1))) "$c"
}

printf '\n### Notification fan-out (NTF-4)\n\n'
printf -- '- %d users wishlisting one product, each with a device; %s = %d notifications per run;\n' \
    "$USERS" "$([ "$CHANNELS" = push ] && echo "push only" || echo "push + email")" "$EXPECT"
printf -- '  time from POST /v1/admin/notifications/fanout until shopd_notify_sent_total has grown by that (`bench/fanout.sh %d %d`);\n' "$USERS" "$RUNS"
printf -- '  load average at the start: %s (other work on this shared 2-core box stretches wall times; CPU does not)\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- file sink ----
start_server SHOPD_NOTIFY_DIR="$work/sink"
times=()
cpus=()
for r in $(seq "$RUNS"); do
    read -r ms cpu < <(run_once "file-$r")
    times+=("$ms")
    cpus+=("$cpu")
    log "file run $r: $ms ms, CPU $cpu ms"
    lines=$(cat "$work"/sink/*.jsonl | wc -l)
    [ "$lines" -eq $((EXPECT * r)) ] || log "the file sink has $lines lines, expected $((EXPECT * r))"
done
report "file sink (JSON lines)"

# ---- the product page meanwhile ----
probe_s=$(( ($(echo "${times[@]}" | median) + 999) / 1000 ))
idle=$(/usr/bin/python3 bench/fanout_probe.py "$port" /v1/products/1000000 "$probe_s")
/usr/bin/python3 bench/fanout_probe.py "$port" /v1/products/1000000 "$probe_s" >"$work/probe" &
probe=$!
read -r during_ms _ < <(run_once "file-probe")
wait "$probe"
read -r i50 i99 _ <<<"$idle"
read -r d50 d99 dmax dn derr <"$work/probe"
printf -- '- GET /v1/products/{id} at 200/s for %d s: idle p50 %s ms, p99 %s ms; during a fan-out (%d ms): p50 %s ms, p99 %s ms, max %s ms (%d answers, %d errors)\n' \
    "$probe_s" "$i50" "$i99" "$during_ms" "$d50" "$d99" "$dmax" "$dn" "$derr"
stop_server

# ---- loopback webhook ----
sport=$(free_port)
build/bench/fanout_sink "$sport" "$work/sink.count" &
sink=$!
sleep 0.2
start_server SHOPD_NOTIFY_PROVIDER=webhook SHOPD_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$sport/notify"
times=()
cpus=()
for r in $(seq "$RUNS"); do
    read -r ms cpu < <(run_once "webhook-$r")
    times+=("$ms")
    cpus+=("$cpu")
    log "webhook run $r: $ms ms, CPU $cpu ms"
done
stop_server
kill "$sink"
wait "$sink" || true
sink=""
read -r received requests <"$work/sink.count"
[ "$received" -eq $((EXPECT * RUNS)) ] || log "the sink received $received, expected $((EXPECT * RUNS))"
report "loopback webhook (${SHOPD_NOTIFY_WEBHOOK_CONNS:-8} keep-alive connections, ${SHOPD_NOTIFY_WEBHOOK_BATCH:-100} per POST)"
printf -- '- the webhook receiver counted %d notifications in %d POSTs\n' "$received" "$requests"
