#!/usr/bin/env bash
# search.sh — load benchmark of search, suggest and browse with wrk.
#
#   bench/search.sh [--db PATH] [--bin ./shopd] [--threads N] [--runs 3] [--duration 10s]
#   bench/search.sh [--db PATH] --url URL [--nocache-url URL]
#
# PATH (default bench/out/bench.db, which bench/run.py seeds) is a database
# seeded with `./shopd seed --products 100000`; the
# queries are generated from its vocabulary (titles, brands, categories):
#
#   search, cache off   1,000 distinct queries of 1–3 words, 20 % with filters,
#                       10 % with a typo, each as often (SHOPD_SEARCH_CACHE=0)
#   search, cache on    10,000 distinct queries drawn Zipf-like (p ∝ 1/rank)
#   suggest             1,000 distinct prefixes (cache on)
#   browse              GET /v1/products?category=…&sort=price_asc&limit=20
#                       over every category (cache on)
#   suggest and browse are also run with the cache off, for reference.
#   filtered browse     300 listings with a brand, rating, price or in-stock
#                       filter (30 % in a category), every sort, cache off
#
# Each scenario: a 3 s warm-up, then --runs runs of
# `wrk -t1 -c64 -d<duration> --latency`; the median req/s, p50 and p99 are
# printed as a Markdown table (bench/run.py appends it to RESULTS.md), with
# the index build time and memory per product read from /metrics. Without --url the script starts the optimised binary twice on
# the database (result cache on; and off, for the cache-off scenario) and
# stops both at the end (--threads N is passed to them as serve --threads);
# with --url it uses that server (cache on) and, for the cache-off
# scenarios, --nocache-url or a server it starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=./shopd DB=bench/out/bench.db URL="" NOCACHE_URL="" RUNS=3 DURATION=10s STARTED="" THREADS=0
PIDS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --db) DB="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    --url) URL="$2"; shift 2 ;;
    --nocache-url) NOCACHE_URL="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "search.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -f "$DB" ] || { echo "search.sh: no database $DB; seed one (./shopd seed --products 100000 --db $DB) or pass --db" >&2; exit 2; }
command -v wrk >/dev/null || { echo "search.sh: wrk is not installed" >&2; exit 2; }

OUT=$(mktemp -d /tmp/shopd-bench-search.XXXXXX)
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$OUT"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts the binary on the database (in this shell, so cleanup can stop it);
# sets STARTED to its URL.
start() { # env assignments…
    local port; port=$(free_port)
    env SHOPD_RATE_LIMIT=off "$@" SHOPD_LOG_LEVEL=info "$BIN" serve --db "$DB" --port "$port" --threads "$THREADS" \
        --access-log off \
        >"$OUT/server-$port.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 600); do
        if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            STARTED="http://127.0.0.1:$port"
            return
        fi
        sleep 0.1
    done
    echo "search.sh: shopd did not start; see $OUT/server-$port.log" >&2
    cat "$OUT/server-$port.log" >&2
    exit 1
}

if [ -z "$URL" ]; then start; URL=$STARTED; fi
if [ -z "$NOCACHE_URL" ]; then start SHOPD_SEARCH_CACHE=0; NOCACHE_URL=$STARTED; fi

# ---- workloads from the database's vocabulary --------------------------------
python3 - "$DB" "$OUT" <<'PY'
import random, re, sqlite3, sys, urllib.parse
db, out = sys.argv[1], sys.argv[2]
rnd = random.Random(4242)
c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
cats = {i: p for i, p in c.execute("SELECT id, parent_id FROM categories")}
prods = c.execute("SELECT p.id, p.title, p.brand, p.category_id,"
                  " (SELECT min(price_cents) FROM variants v WHERE v.product_id = p.id)"
                  " FROM products p WHERE p.status = 'published'").fetchall()
if not prods:
    sys.exit("search.sh: the database has no published products (run ./shopd seed)")
word = re.compile(r"^[a-z]+$")

def words(title):
    return [w for w in title.lower().split() if word.match(w)]

def typo(w):
    i = rnd.randrange(len(w) - 1)
    k = rnd.randrange(3)
    if k == 0:
        t = w[:i] + w[i + 1:]                      # a letter missing
    elif k == 1:
        t = w[:i] + w[i + 1] + w[i] + w[i + 2:]    # two letters swapped
    else:
        t = w[:i] + rnd.choice("aeiourstln") + w[i + 1:]  # a wrong letter
    return t if t != w else w[:-1]

def query():
    pid, title, brand, cat, price = rnd.choice(prods)
    ws = words(title) or [brand.lower()]
    n = min(len(ws), rnd.choice([1, 1, 2, 2, 3]))
    start = rnd.randrange(len(ws) - n + 1)
    q = ws[start:start + n]
    if rnd.random() < 0.10:
        long = [i for i, w in enumerate(q) if len(w) >= 5]
        if long:
            i = rnd.choice(long)
            q[i] = typo(q[i])
    params = {"q": " ".join(q)}
    if rnd.random() < 0.20:
        for f in rnd.sample(["category", "price", "in_stock", "brand", "sort"], rnd.choice([1, 2])):
            if f == "category":
                params["category"] = cats[cat] if cats[cat] and rnd.random() < 0.5 else cat
            elif f == "price":
                params["min_price"] = max(0, (price or 0) // 2)
                params["max_price"] = (price or 0) * 2 + 100
            elif f == "in_stock":
                params["in_stock"] = "true"
            elif f == "brand":
                params["brand"] = brand
            else:
                params["sort"] = rnd.choice(["price_asc", "price_desc", "newest", "rating"])
    return "/v1/search?" + urllib.parse.urlencode(params)

def distinct(n, make):
    seen, out_ = set(), []
    while len(out_) < n:
        x = make()
        if x not in seen:
            seen.add(x)
            out_.append(x)
    return out_

def write(name, lines):
    with open(f"{out}/{name}", "w") as f:
        f.write("\n".join(lines) + "\n")

write("nocache.txt", distinct(1000, query))
write("zipf.txt", distinct(10000, query))   # file order = popularity rank

def prefix():
    ws = words(rnd.choice(prods)[1])
    if not ws:
        return None
    if len(ws) > 1 and rnd.random() < 0.3:
        p = ws[0] + " " + ws[1][:rnd.randint(1, len(ws[1]))]
    else:
        p = ws[0][:rnd.randint(2, max(2, min(len(ws[0]), 7)))]
    return "/v1/search/suggest?" + urllib.parse.urlencode({"q": p})
write("suggest.txt", [p for p in distinct(1001, prefix) if p][:1000])
write("browse.txt", [f"/v1/products?category={i}&sort=price_asc&limit=20" for i in sorted(cats)])

# Listings with filters, most over the whole catalog (a generator of its own:
# the files above stay what they were).
frnd = random.Random(77)
brands = sorted({b for _, _, b, _, _ in prods if b})
def listing():
    params = {}
    kind = frnd.randrange(5)
    if kind == 0:
        params["brand"] = frnd.choice(brands)
    elif kind == 1:
        params["min_rating"] = frnd.choice(["3", "4", "4.5"])
    elif kind == 2:
        price = frnd.choice(prods)[4] or 0
        params["min_price"], params["max_price"] = price // 2, price + price // 2 + 100
    elif kind == 3:
        params["in_stock"] = "true"
    else:
        params["brand"], params["in_stock"] = frnd.choice(brands), "true"
    if frnd.random() < 0.3:
        params["category"] = frnd.choice(sorted(cats))
    params["sort"] = frnd.choice(["popularity", "price_asc", "price_desc", "newest", "rating"])
    params["limit"] = 20
    return "/v1/products?" + urllib.parse.urlencode(params)
write("browse_filtered.txt", distinct(300, listing))
PY

# ---- running wrk ------------------------------------------------------------------
# Prints "req/s p50_ms p99_ms non2xx" for one run.
run_wrk() { # url file mode duration
    wrk -t1 -c64 -d"$4" --latency -s bench/search.lua "$1" -- "$2" "$3" 2>"$OUT/wrk.err" | python3 -c '
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

scenario() { # name url file mode target_rps target_p99_ms
    local name="$1" url="$2" file="$3" mode="$4"
    run_wrk "$url" "$file" "$mode" 3s >/dev/null # warm-up
    local results=()
    for _ in $(seq 1 "$RUNS"); do results+=("$(run_wrk "$url" "$file" "$mode" "$DURATION")"); done
    printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
name, target_rps, target_p99 = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
rps = statistics.median(r[0] for r in rows)
p50 = statistics.median(r[1] for r in rows)
p99 = statistics.median(r[2] for r in rows)
bad = int(sum(r[3] for r in rows))
ok = rps >= target_rps and (target_p99 == "-" or p99 < float(target_p99)) and bad == 0
goal = f">= {target_rps:,.0f} req/s" + ("" if target_p99 == "-" else f", p99 < {target_p99} ms")
verdict = ("met" if ok else "**not met**") if target_rps > 0 else "reference"
target = goal if target_rps > 0 else "—"
runs = " / ".join(f"{r[0]:,.0f}" for r in rows)
print(f"| {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {target} | {verdict} | {runs} |"
      + (f" non-2xx: {bad}" if bad else ""))
' "$name" "$5" "$6"
}

metric() { curl -sf "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

products=$(metric "$URL" shopd_search_products)
bytes=$(metric "$URL" shopd_search_index_bytes)
build_ms=$(metric "$URL" shopd_search_build_ms)
echo "## Search, suggest and browse (bench/search.sh)"
echo
echo "Commit \`$(git rev-parse --short HEAD 2>/dev/null || echo '?')\`, $(nproc) cores, $(basename "$DB")." \
     "Index: ${products} products built in ${build_ms} ms, $((bytes / 1024 / 1024)) MiB," \
     "$((bytes / (products > 0 ? products : 1))) bytes per product." \
     "wrk -t1 -c64 -d$DURATION --latency, median of $RUNS runs; server threads:" \
     "$([ "$THREADS" = 0 ] && echo default || echo "$THREADS")."
echo
echo "| scenario | req/s (median) | p50 ms | p99 ms | target | | runs |"
echo "|---|---|---|---|---|---|---|"
scenario "GET /v1/search, cache off (1,000 queries)" "$NOCACHE_URL" "$OUT/nocache.txt" uniform 3000 20
scenario "GET /v1/search, cache on (Zipf, 10,000)" "$URL" "$OUT/zipf.txt" zipf 15000 10
scenario "GET /v1/search/suggest (1,000 prefixes)" "$URL" "$OUT/suggest.txt" uniform 20000 -
scenario "GET /v1/products?category=…&sort=price_asc" "$URL" "$OUT/browse.txt" uniform 10000 -
scenario "suggest, cache off" "$NOCACHE_URL" "$OUT/suggest.txt" uniform 0 -
scenario "browse, cache off" "$NOCACHE_URL" "$OUT/browse.txt" uniform 0 -
scenario "filtered browse, cache off (300 listings)" "$NOCACHE_URL" "$OUT/browse_filtered.txt" uniform 0 -
echo
if [ -s "$OUT/wrk.err" ]; then echo "wrk said: $(head -3 "$OUT/wrk.err")"; echo; fi
