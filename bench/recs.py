#!/usr/bin/env python3
"""Recommendations benchmark (issue 13, ENG-4).

Seeds 100,000 products, writes 1,000,000 behaviour events straight into
rec_events (views, adds to cart and orders by 20,000 users with tastes:
each user sticks mostly to a few categories), restarts shopd so the model
is built from them (build time and memory per product from /metrics), then
with wrk (-t1 -c64, 3 runs, median):

  - GET /v1/recommendations over 200 users' tokens
  - GET /v1/products/{id}/frequently-bought-together over bought products
  - GET /v1/products/{id} with recommendations, alternating run by run with
    a second server on the same database started with SHOPD_SHED_LEVEL=1
    (plain product detail): the ratio is the median of the pairs' ratios,
    beside each server's CPU time per request
  - POST /v1/events (views) while a second wrk reads frequently bought
    together: events accepted per second, the server's CPU time per event,
    and whether the writer kept up (events written to the database over the
    same window); then the same in batches of 20 views a request (a
    storefront's beacon; its events/s is 20 × its requests/s) from 64
    connections (more than the writer takes: the rest is refused with 503)
    and from 8 (a load it sustains).

usage: bench/recs.py [--quick]   (run by bench/run.py; prints a markdown section)
"""
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import json
import statistics
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

QUICK = "--quick" in sys.argv
PRODUCTS = 20000 if QUICK else 100000
EVENTS = 200000 if QUICK else 1000000
USERS = 20000
REAL_USERS = 200
DUR = 5 if QUICK else 10
RUNS = 1 if QUICK else 3


def metric(srv, name):
    with urllib.request.urlopen(srv.url + "/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def login(url, email, password):
    req = urllib.request.Request(url + "/v1/auth/login", json.dumps(
        {"email": email, "password": password}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def seed_events(db, real_ids):
    """1M events: 80% views, 12% adds to cart, the rest purchases in orders
    of 1–4 products. Users favour 3 categories; products within a category
    are Zipf-popular."""
    rnd = random.Random(13)
    con = sqlite3.connect(db)
    by_cat = {}
    for pid, cat in con.execute("SELECT id, category_id FROM products WHERE status = 'published'"):
        by_cat.setdefault(cat, []).append(pid)
    cats = sorted(by_cat)
    for c in cats:
        rnd.shuffle(by_cat[c])
    weights = {c: [1.0 / (i + 1) ** 0.9 for i in range(len(by_cat[c]))] for c in cats}
    keys = list(real_ids) + [10_000_000 + i for i in range(USERS - len(real_ids))]
    tastes = {u: rnd.sample(cats, min(3, len(cats))) for u in keys}
    now = int(time.time() * 1000)
    span = 30 * 86_400_000
    rows, order = [], 90_000_000
    t = now - span
    step = span / EVENTS
    while len(rows) < EVENTS:
        u = rnd.choice(keys)
        cat = rnd.choice(tastes[u])
        session = rnd.choices(by_cat[cat], weights[cat], k=rnd.randint(2, 6))
        for pid in session:
            rows.append((1, u, pid, None, int(t)))
            t += step
        x = rnd.random()
        if x < 0.35:
            rows.append((2, u, session[0], None, int(t)))
            t += step
        if x < 0.2:
            order += 1
            for pid in set(session[:rnd.randint(1, 4)]):
                rows.append((3, u, pid, order, int(t)))
                t += step
    con.executemany("INSERT INTO rec_events (kind, user_key, product_id, order_id, created_at)"
                    " VALUES (?, ?, ?, ?, ?)", rows[:EVENTS])
    con.commit()
    bought = [r[0] for r in con.execute(
        "SELECT product_id FROM rec_events WHERE kind = 3 GROUP BY product_id"
        " ORDER BY count(*) DESC LIMIT 20000")]
    con.close()
    return bought


def detail_pairs(srv, plain_srv, ids):
    """Product detail on both servers, run by run in turn (A B A B …), after a
    warm-up of each: medians, and the median of the pairs' ratios."""
    res = {"with": [], "plain": []}
    for s in (srv, plain_srv):
        run.wrk_once(s.url, 2, "products.lua", [ids])
    for _ in range(RUNS):
        for key, s in (("with", srv), ("plain", plain_srv)):
            c0 = s.cpu_seconds()
            m = run.wrk_once(s.url, DUR, "products.lua", [ids])
            m["cpu_us"] = 1e6 * (s.cpu_seconds() - c0) / max(m["total"], 1)
            res[key].append(m)
    out = []
    for key in ("with", "plain"):
        v = res[key]
        med = {k: statistics.median(r[k] for r in v) for k in ("rps", "ok_rps", "p50", "p99", "cpu_us")}
        med["runs"] = [round(r["ok_rps"]) for r in v]
        out.append(med)
    ratio = statistics.median(a["ok_rps"] / max(b["ok_rps"], 1)
                              for a, b in zip(res["with"], res["plain"]))
    return out[0], out[1], ratio


def ingest(srv, out, per, conns, name, rows, lines):
    """One window of POST /v1/events (`per` events a request) while a second
    wrk reads frequently bought together: a row for each, and a line with
    what was written and the server's CPU."""
    w0, t0, c0 = metric(srv, "shopd_recs_events_written_total"), time.time(), srv.cpu_seconds()
    d0 = metric(srv, "shopd_recs_events_dropped_total")
    reader = {}
    th = threading.Thread(target=lambda: reader.update(run.wrk_once(
        srv.url, DUR, "recs_fbt.lua", [os.path.join(out, "bought.txt")], connections=16)))
    th.start()
    ev = run.wrk_once(srv.url, DUR, "recs_events.lua",
                      [os.path.join(out, "tokens.txt"), os.path.join(out, "products.txt"), str(per)],
                      connections=conns)
    th.join()
    cpu = srv.cpu_seconds() - c0
    time.sleep(0.5)
    w1, t1 = metric(srv, "shopd_recs_events_written_total"), time.time()
    for m in (ev, reader):
        m["runs"] = [round(m["ok_rps"])]
    events = ev["total"] * per
    rows.append(run.fmt_row(name, ev, "≥ 50,000 events/s" + (f" ({per} a request)" if per > 1 else "")))
    rows.append(run.fmt_row("  … GET frequently-bought-together meanwhile (16 conn.)", reader, "—"))
    lines.append(f"- {name}: {ev['ok_rps'] * per:,.0f} events/s accepted; written to rec_events"
                 f" in the window {(w1 - w0):,.0f} in {t1 - t0:.1f} s ({(w1 - w0) / (t1 - t0):,.0f}/s);"
                 f" refused (503, Retry-After: the buffer was full)"
                 f" {metric(srv, 'shopd_recs_events_dropped_total') - d0:.0f}; server CPU"
                 f" {cpu:.1f} s for {events:,} events in {ev['total']:,} requests and"
                 f" {reader['total']:,} reads ({1e6 * cpu / max(events + reader['total'], 1):.1f}"
                 f" µs an event or read)")


def main():
    out = os.path.join(run.OUT, "recs")
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "recs.db")
    for f in (db + s for base in ("", "-gateway.db") for s in (base, base + "-wal", base + "-shm")):
        if os.path.exists(f):
            os.remove(f)
    subprocess.run([run.SHOPD, "seed", "--products", str(PRODUCTS), "--users",
                    str(REAL_USERS + 20), "--db", db], check=True, stdout=subprocess.DEVNULL)
    con = sqlite3.connect(db)
    real = con.execute("SELECT id, email FROM users WHERE role = 'customer' ORDER BY id LIMIT ?",
                       (REAL_USERS,)).fetchall()
    published = [r[0] for r in con.execute(
        "SELECT id FROM products WHERE status = 'published' ORDER BY id")]
    con.close()
    bought = seed_events(db, [r[0] for r in real])
    with open(os.path.join(out, "bought.txt"), "w") as f:
        f.write("\n".join(map(str, bought)) + "\n")
    with open(os.path.join(out, "products.txt"), "w") as f:
        f.write("\n".join(map(str, published)) + "\n")
    env = {"SHOPD_RATE_LIMIT": "off", "SHOPD_FRAUD": "off"}

    srv = run.Shopd(db, env)
    plain_srv = run.Shopd(db, dict(env, SHOPD_SHED_LEVEL="1"))
    lines = []
    try:
        build_ms = metric(srv, "shopd_recs_build_ms")
        nprod = metric(srv, "shopd_recs_products")
        mem = metric(srv, "shopd_recs_bytes")
        users = metric(srv, "shopd_recs_users")
        tokens = [login(srv.url, email, "shopd-demo-password")["token"] for _, email in real]
        with open(os.path.join(out, "tokens.txt"), "w") as f:
            f.write("\n".join(tokens) + "\n")
        lines.append(f"- model built from {EVENTS:,} events over {int(nprod):,} products and"
                     f" {int(users):,} users in {build_ms / 1000:.2f} s; {mem / 2**20:.1f} MiB,"
                     f" {mem / max(nprod, 1):.0f} bytes per product")
        pers = run.wrk_median(srv.url, RUNS, DUR, "recs_personal.lua",
                              lambda i: [os.path.join(out, "tokens.txt")], warmup=2)
        fbt = run.wrk_median(srv.url, RUNS, DUR, "recs_fbt.lua",
                             lambda i: [os.path.join(out, "bought.txt")], warmup=2)
        detail, plain, ratio = detail_pairs(srv, plain_srv, os.path.join(out, "bought.txt"))
        plain_srv.stop()  # it follows rec_events too: not while ingesting
        plain_srv = None
        rows = [run.fmt_row("GET /v1/recommendations (200 users)", pers, "≥ 30,000/s, p99 < 10 ms"),
                run.fmt_row("GET /v1/products/{id}/frequently-bought-together", fbt,
                            "≥ 30,000/s, p99 < 10 ms"),
                run.fmt_row("GET /v1/products/{id} with recommendations", detail, "≥ 90% of plain"),
                run.fmt_row("GET /v1/products/{id} plain (SHOPD_SHED_LEVEL=1), alternating", plain,
                            "—")]
        lines.append(f"- product detail with recommendations is {100 * ratio:.0f}% of plain"
                     f" (median of {RUNS} alternating pairs); server CPU per request"
                     f" {detail['cpu_us']:.1f} µs with, {plain['cpu_us']:.1f} µs plain;"
                     f" product pages kept: {metric(srv, 'shopd_recs_page_bytes') / 2**20:.1f} MiB")
        # Ingestion while serving: one event a request (64 connections), then
        # batches of 20 from 64 connections (more than the writer takes: the
        # rest is refused with 503) and from 8 (a load it sustains).
        for per, conns, name in (
                (1, 64, "POST /v1/events (views) while serving"),
                (20, 64, "POST /v1/events, batches of 20 views, 64 connections, while serving"),
                (20, 8, "POST /v1/events, batches of 20 views, 8 connections, while serving")):
            ingest(srv, out, per, conns, name, rows, lines)
    finally:
        srv.stop()
        if plain_srv:
            plain_srv.stop()
    print("\n## Recommendations (bench/recs.py)\n\n"
          "| scenario | req/s (2xx, median) | p50 ms | p99 ms | vs nginx | target | runs |\n"
          "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
