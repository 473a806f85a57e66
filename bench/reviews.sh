#!/usr/bin/env bash
# reviews.sh — load benchmark of a product's first page of reviews (ENG-1),
# printed beside plain product detail measured in the same run.
#
#   bench/reviews.sh [--bin ./shopd] [--products 1000] [--reviews 50] [--runs 3]
#                    [--duration 10s] [--threads N]
#
# Seeds a fresh SQLite shop (`shopd seed`), then writes --reviews approved
# reviews per product straight into the database (distinct authors, ratings
# and helpful counts drawn at random) and recounts products.rating_* from
# them, as the review writes would have. Then, against the optimised binary:
#
#   product detail     GET /v1/products/{id} of products without reviews (the
#                      reference) and with them (the cached page blob,
#                                                      with rating and top_reviews)
#   reviews, 1st page  GET /v1/products/{id}/reviews  (20 most helpful, as
#                                                      anyone sees it: kept rendered
#                                                      until the product changes)
#   reviews, newest    GET /v1/products/{id}/reviews?sort=newest (not kept:
#                                                      one index range per request)
#
# over every product id at random. Each: a 3 s warm-up, then --runs runs of
# `wrk -t1 -c64 -d<duration> --latency`; medians as a Markdown table. The
# target for the reviews page is 30,000 req/s.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=./shopd PRODUCTS=1000 REVIEWS=50 RUNS=3 DURATION=10s THREADS=0
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --products) PRODUCTS="$2"; shift 2 ;;
    --reviews) REVIEWS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "reviews.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "reviews.sh: wrk is not installed" >&2; exit 2; }
[ -x "$BIN" ] || { echo "reviews.sh: no $BIN (make shopd)" >&2; exit 2; }

OUT=$(mktemp -d /tmp/shopd-bench-reviews.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; fi
    rm -rf "$OUT"
}
trap cleanup EXIT
DB="$OUT/shop.db"

"$BIN" seed --products "$PRODUCTS" --users $((REVIEWS * 2 + 40)) --db "$DB" >/dev/null 2>&1
python3 - "$DB" "$REVIEWS" "$OUT/ids.txt" "$OUT/plain_ids.txt" <<'PY'
import random, sqlite3, sys, time
db, per, ids_file, plain_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rnd = random.Random(12)
c = sqlite3.connect(db)
users = [u for (u,) in c.execute("SELECT id FROM users WHERE role = 'customer'")]
if len(users) < per:
    sys.exit(f"reviews.sh: {len(users)} customers, need {per}")
prods = [p for (p,) in c.execute("SELECT id FROM products WHERE status = 'published'")]
# Every other product keeps no reviews: plain product detail, the reference.
prods, plain = prods[0::2], prods[1::2]
now = int(time.time() * 1000)
rows = []
for p in prods:
    for k, u in enumerate(rnd.sample(users, per)):
        rating = rnd.choice([1, 2, 3, 4, 4, 5, 5, 5])
        at = now - rnd.randrange(86400000 * 365)
        rows.append((p, u, rating, f"Review {k} of product {p}",
                     "Solid build, works as described. " * rnd.randint(1, 6),
                     rnd.random() < 0.4, int(rnd.paretovariate(1.5)) - 1, at, at))
c.executemany("INSERT INTO reviews (product_id, user_id, status, rating, title, body, verified,"
              " helpful_count, created_at, updated_at) VALUES (?, ?, 'approved', ?, ?, ?, ?, ?, ?, ?)",
              rows)
c.execute("""UPDATE products SET
    rating_count = (SELECT count(*) FROM reviews r WHERE r.product_id = products.id AND r.status = 'approved'),
    rating_sum = (SELECT coalesce(sum(rating), 0) FROM reviews r WHERE r.product_id = products.id AND r.status = 'approved'),
    rating_1 = (SELECT count(*) FROM reviews r WHERE r.product_id = products.id AND r.status = 'approved' AND rating = 1),
    rating_2 = (SELECT count(*) FROM reviews r WHERE r.product_id = products.id AND r.status = 'approved' AND rating = 2),
    rating_3 = (SELECT count(*) FROM reviews r WHERE r.product_id = products.id AND r.status = 'approved' AND rating = 3),
    rating_4 = (SELECT count(*) FROM reviews r WHERE r.product_id = products.id AND r.status = 'approved' AND rating = 4),
    rating_5 = (SELECT count(*) FROM reviews r WHERE r.product_id = products.id AND r.status = 'approved' AND rating = 5)""")
c.commit()
c.execute("ANALYZE")
c.close()
with open(ids_file, "w") as f:
    f.write("\n".join(map(str, prods)) + "\n")
with open(plain_file, "w") as f:
    f.write("\n".join(map(str, plain)) + "\n")
print(f"seeded {len(prods)} products x {per} reviews = {len(rows)} reviews", file=sys.stderr)
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SHOPD_RATE_LIMIT=off SHOPD_LOG_LEVEL=warn "$BIN" serve --db "$DB" --port "$port" --threads "$THREADS" \
    --access-log off >"$OUT/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
URL="http://127.0.0.1:$port"
first=$(head -1 "$OUT/ids.txt")
curl -sf "$URL/v1/products/$first/reviews" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["data"]) == 20 and d["next_cursor"], d' \
    || { echo "reviews.sh: the reviews page is not what it should be" >&2; exit 1; }

run_wrk() { # script duration ids [query] → "req/s p50_ms p99_ms non2xx"
    wrk -t1 -c64 -d"$2" --latency -s "bench/lua/$1" "$URL" -- "$OUT/$3" ${4:+"$4"} 2>/dev/null | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"\n\s+50%\s+(\S+)", t).group(1))
p99 = ms(re.search(r"\n\s+99%\s+(\S+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {bad.group(1) if bad else 0}")'
}

echo "| scenario | req/s (median) | p50 ms | p99 ms | target | runs |"
echo "|---|---|---|---|---|---|"
REF="$OUT/ref.txt"
for s in "product detail, no reviews:products.lua:plain_ids.txt:0:" \
         "product detail with rating and top reviews:products.lua:ids.txt:0.9:" \
         "reviews, first page:reviews.lua:ids.txt:30000:" \
         "reviews, newest (not cached):reviews.lua:ids.txt:0:?sort=newest"; do
    IFS=: read -r name script ids target query <<<"$s"
    run_wrk "$script" 3s "$ids" "$query" >/dev/null
    for _ in $(seq 1 "$RUNS"); do run_wrk "$script" "$DURATION" "$ids" "$query"; done | python3 -c '
import statistics, sys
name, target, ref_file = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
bad = int(sum(r[3] for r in rows))
if name.endswith("no reviews"):
    open(ref_file, "w").write(str(med(0)))
    goal = "reference"
elif 0 < target < 1:  # a share of the reference measured just before
    ref = float(open(ref_file).read())
    goal = f">= {target:.0%} of the reference: {med(0) / ref:.0%}, " + ("met" if med(0) >= target * ref and not bad else "**not met**")
else:
    goal = "—" if not target else (f">= {target:,.0f} req/s: " + ("met" if med(0) >= target and not bad else "**not met**"))
print(f"| {name} | {med(0):,.0f} | {med(1):.2f} | {med(2):.2f} | {goal} | "
      + " / ".join(f"{r[0]:,.0f}" for r in rows) + " |" + (f" non-2xx: {bad}" if bad else ""))
' "$name" "$target" "$REF"
done
