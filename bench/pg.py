#!/usr/bin/env python3
"""bench/pg.py — shopd on PostgreSQL, one process and several (STO-2, STO-3).

Part of `make bench` (bench/run.py runs it and appends what it prints to
RESULTS.md); runs alone too. It starts a durable PostgreSQL of its own in
bench/out/pg (fsync and synchronous_commit on, pg_stat_statements loaded),
seeds the same shop as the SQLite benchmark (100,000 products), and
measures with wrk (-t1 -c64 -d<duration>s, median of <runs>):

  checkout      POST /v1/orders by distinct buyers, 1 process and 3 behind
                haproxy, set up as bench/run.py's plain checkout (fraud
                scoring off; the simulated gateway's books in a SQLite file,
                not in the shop's database), beside the raw ceiling of this PostgreSQL for the
                checkout-like transaction of bench/sqlite_ceiling.c (pgbench
                with bench/pg_ceiling.sql), beside PostgreSQL alone running
                shopd's own order (bench/pg_checkout.sql: its statements,
                one order a pass) and the same rows written set-wise
                (bench/pg_checkout_setwise.sql), and the statements and CPU
                an order costs here (PostgreSQL's by kind of process); the
                3 processes get cores / 3 writer connections each, as
                scripts/cluster.sh gives them; and add to cart, 1 process
  reads         GET /v1/products/{random id} and uncached search through
                haproxy with 1, 2 and 3 processes, and 1 process direct

Every process of a run talks to PostgreSQL over its Unix socket.
PG_BENCH_STATEMENTS=1 lists every statement of each checkout scenario on
stderr: calls and execution time per order (pg_stat_statements).

usage: bench/pg.py [--runs N] [--duration S] [--only checkout,reads]
"""
import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402  (wrk helpers, the Shopd process)

ROOT = common.ROOT
BENCH = common.BENCH
OUT = os.path.join(common.OUT, "pg")
PRODUCTS = 100000


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


class Postgres:
    """A durable PostgreSQL in OUT/server (scripts/pgtmp.sh)."""

    def __init__(self):
        self.dir = os.path.join(OUT, "server")
        env = dict(os.environ, PGTMP_PRELOAD="pg_stat_statements")
        env.pop("PGTMP_FSYNC", None)
        base = sh(os.path.join(ROOT, "scripts", "pgtmp.sh"), "start", self.dir, env=env,
                  capture_output=True, text=True).stdout.strip()
        self.port = base.rsplit(":", 1)[1]
        self.admin = self.url("postgres")

    def url(self, db):
        return f"postgresql://postgres@/{db}?host={self.dir}&port={self.port}"

    def psql(self, db, sql):
        return sh("psql", "-qAt", self.url(db), "-c", sql, capture_output=True,
                  text=True).stdout.strip()

    def backends_cpu(self):
        """CPU seconds of this cluster's processes so far: the postmaster and
        its children (other PostgreSQL servers on a shared machine are not
        this benchmark's)."""
        return sum(self.cpu_by_kind().values())

    def cpu_by_kind(self):
        """The same, by kind of process: "connections" (the backends that
        run statements), "autovacuum", the server's own ("walwriter",
        "checkpointer", … as each names itself), and "ended": children the
        postmaster has reaped (autovacuum workers, mostly)."""
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
            master = f.readline().strip()
        kinds, tick = {}, os.sysconf("SC_CLK_TCK")
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if pid != master and fields[1] != master:
                continue
            # A child that has exited but is not yet reaped has no title.
            word = (title.removeprefix("postgres: ").split() or [""])[0]
            kind = ("postmaster" if pid == master
                    else "autovacuum" if word.startswith("autovacuum")
                    else word if word in ("checkpointer", "background", "walwriter", "logical",
                                          "stats")
                    else "connections")
            kinds[kind] = kinds.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
            if pid == master:  # children that have ended (autovacuum workers), as reaped
                kinds["ended"] = (int(fields[13]) + int(fields[14])) / tick
        return kinds

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "pgtmp.sh"), "stop", self.dir])


class Haproxy:
    def __init__(self, backends):
        self.port = common.free_port()
        cfg = os.path.join(OUT, f"haproxy-{self.port}.cfg")
        with open(os.path.join(ROOT, "deploy", "haproxy.cfg")) as f:
            text = f.read()
        text = text.replace("bind 127.0.0.1:8080", f"bind 127.0.0.1:{self.port}")
        text = text.replace("deploy/errors/", os.path.join(ROOT, "deploy", "errors") + "/")
        text = re.sub(r"^    server shopd.*\n", "", text, flags=re.M)
        text += "".join(f"    server shopd{i} 127.0.0.1:{b.port}\n" for i, b in enumerate(backends))
        with open(cfg, "w") as f:
            f.write(text)
        self.pidfile = cfg + ".pid"
        sh("haproxy", "-f", cfg, "-D", "-p", self.pidfile)
        self.url = f"http://127.0.0.1:{self.port}"
        common.wait_http(self.url + "/readyz")

    def stop(self):
        with open(self.pidfile) as f:
            os.kill(int(f.read().split()[0]), signal.SIGTERM)


def row(name, m, target="", ref=None):
    return common.fmt_row(name, m, target, ref)


def search_paths(pg, path):
    """1,000 one- and two-word queries from the catalog's titles."""
    titles = pg.psql("shop", "SELECT title FROM products WHERE status = 'published'"
                             " ORDER BY id LIMIT 20000").splitlines()
    rnd = random.Random(4242)
    words = [w for t in titles for w in t.lower().split() if w.isalpha()]
    with open(path, "w") as f:
        for _ in range(1000):
            q = " ".join(rnd.sample(words, rnd.choice([1, 2])))
            f.write("/v1/search?" + urllib.parse.urlencode({"q": q}) + "\n")


def checkout(pg, url, runs, dur, first, per_run, label, notes, procs):
    """One checkout scenario against `url`; `procs` are the shopd processes."""
    pg.psql("shop", "SELECT pg_stat_statements_reset()")
    cpu0 = sum(p.cpu_seconds() for p in procs)
    kinds0 = pg.cpu_by_kind()
    pcpu0 = sum(kinds0.values())
    m = common.wrk_median(url, runs, dur, "checkout.lua",
                          lambda i: [os.path.join(OUT, "buyers.csv"), str(first + (i + 1) * per_run)],
                          warmup=2)
    orders = m["requests"]
    statements = int(pg.psql("shop", "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
                                     " WHERE query NOT LIKE '%pg_stat_statements%'") or 0)
    cpu = sum(p.cpu_seconds() for p in procs) - cpu0
    kinds = pg.cpu_by_kind()
    pcpu = sum(kinds.values()) - pcpu0
    spent = {k: v - kinds0.get(k, 0.0) for k, v in kinds.items() if v - kinds0.get(k, 0.0) > 0}
    top = pg.psql("shop", "SELECT round(total_exec_time::numeric / " + str(max(1, orders)) +
                  " * 1000) || ' us ' || left(regexp_replace(query, '\s+', ' ', 'g'), 60)"
                  " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 3").splitlines()
    notes.append(f"{label}: {m['non2xx']} non-2xx answers; {statements / max(1, orders):.0f}"
                 f" statements per order (pg_stat_statements, background work included);"
                 f" CPU per order {cpu * 1e6 / max(1, orders):.0f} us in shopd and"
                 f" {pcpu * 1e6 / max(1, orders):.0f} us in PostgreSQL ("
                 + ", ".join(f"{k} {v * 1e6 / max(1, orders):.0f}"
                             for k, v in sorted(spent.items(), key=lambda kv: -kv[1]))
                 + "); the costliest statements"
                 f" per order: {'; '.join(f'`{t}`' for t in top)}")
    if os.environ.get("PG_BENCH_STATEMENTS"):
        listing = pg.psql("shop", "SELECT round(calls::numeric / " + str(max(1, orders)) + ", 2)"
                          " || ' ' || round(total_exec_time::numeric / " + str(max(1, orders)) +
                          " * 1000) || 'us ' || left(regexp_replace(query, '\s+', ' ', 'g'), 150)"
                          " FROM pg_stat_statements ORDER BY calls DESC")
        print(f"{label}: calls per order, exec time per order, statement\n{listing}", file=sys.stderr)
    return m


def same_order_ceilings(pg, runs, notes):
    """PostgreSQL's own figure for an order's statements as shopd runs them
    (bench/pg_checkout.sql: one order a pass, 16 clients) and for the same
    rows written set-wise (bench/pg_checkout_setwise.sql: 16 orders a
    statement, 2 clients, as shopd has 2 writer connections here), in a copy
    of the shop's database as shopd's runs left it (in the shop's own, the
    replays' events would wait for the read benchmark's processes to consume
    them while it measures), alternating; orders/s and PostgreSQL's CPU an
    order. Each order is a buyer of its own, made by
    bench/pg_checkout_init.sql: runs x (one order a pass + set-wise) of them.
    No shopd process may be connected to the shop's database."""
    shapes = [("an order's statements as shopd sends them, one order a pass, 16 clients",
               "pg_checkout.sql", 16, 1, 600),
              ("the same rows written set-wise, 16 orders a statement, 2 clients",
               "pg_checkout_setwise.sql", 2, 16, 600)]
    pool = sum(c * g * t for _, _, c, g, t in shapes)
    pg.psql("postgres", "CREATE DATABASE replay TEMPLATE shop")
    sh("psql", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"buyers={pool * runs}", pg.url("replay"),
       "-f", os.path.join(BENCH, "pg_checkout_init.sql"),
       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pg.psql("replay", "CHECKPOINT")
    seen = {name: [] for name, *_ in shapes}
    base = 0
    for _ in range(runs):
        for name, script, clients, g, passes in shapes:
            cpu0 = pg.backends_cpu()
            out = sh("pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
                     "-t", str(passes), "-D", "k=0", "-D", f"clients={clients}",
                     "-D", f"base={base}", "-D", f"g={g}", "-f", os.path.join(BENCH, script),
                     pg.url("replay"), capture_output=True, text=True).stdout
            orders = clients * g * passes
            base += orders
            if "failed transactions: 0 " not in out:
                raise RuntimeError(f"pgbench {script}: transactions failed\n{out}")
            rate = float(re.search(r"tps = ([\d.]+)", out).group(1)) * g
            seen[name].append((rate, (pg.backends_cpu() - cpu0) * 1e6 / orders))
    for name, *_ in shapes:
        rate = statistics.median(r for r, _ in seen[name])
        cpu = statistics.median(c for _, c in seen[name])
        notes.append(f"PostgreSQL alone, shopd's order ({name}; pgbench, bench/pg_checkout*.sql,"
                     f" the background work after an order left out): {rate:,.0f} orders/s,"
                     f" {cpu:,.0f} us of PostgreSQL CPU an order"
                     f" (runs {' / '.join(f'{r:,.0f}' for r, _ in seen[name])})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    want = lambda n: not only or n in only  # noqa: E731
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    runs, dur = a.runs, a.duration
    rows, notes = [], []
    pg = Postgres()
    procs, proxies = [], []
    try:
        pg.psql("postgres", "CREATE DATABASE shop")
        pg.psql("postgres", "CREATE DATABASE ceiling")
        pg.psql("shop", "CREATE EXTENSION pg_stat_statements")
        url = pg.url("shop")
        # Checkout runs as bench/run.py's plain checkout, the SQLite figure it
        # is set beside: fraud scoring off (run.py measures it on apart), and
        # the simulated gateway's books in a SQLite file of their own, as a
        # real gateway's are not in the shop's database. The seed makes the
        # file, setup_buyers.py puts the cards' tokens in it, and the three
        # processes share it: one gateway for the shop.
        gateway = {"SHOPD_GATEWAY_DB": os.path.join(OUT, "gateway.db")}
        t0 = time.time()
        sh(common.SHOPD, "seed", "--products", str(PRODUCTS), "--users", "1000", "--db", url,
           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **gateway))
        notes.append(f"seed: {PRODUCTS:,} products in {time.time() - t0:.1f} s")
        per_run = 25000
        configs = 2
        warm = 10000  # buyers of the warm-up, before the first run's
        sh(sys.executable, os.path.join(BENCH, "setup_buyers.py"), url, OUT,
           str(warm + per_run * (runs + 1) * configs), "20000", env=dict(os.environ, **gateway))
        # Start every run from the same footing: statistics fresh, nothing left
        # for autovacuum to do, and the seed's WAL already checkpointed.
        pg.psql("shop", "VACUUM ANALYZE")
        pg.psql("shop", "CHECKPOINT")
        env = {"SHOPD_RATE_LIMIT": "off"}
        cenv = dict(env, SHOPD_FRAUD="off", **gateway)

        if want("checkout"):
            notes.append("checkout as bench/run.py's plain checkout: fraud scoring off, the"
                         " simulated gateway's books in a SQLite file (SHOPD_GATEWAY_DB)")
            one = common.Shopd(url, cenv)
            procs = [one]
            # A shop that has taken orders, not an empty one: PostgreSQL plans
            # a statement on a table it last saw empty as a scan of it (cheap
            # while empty), and keeps that plan until autovacuum analyzes the
            # table, up to a minute later. Take some orders, then analyze.
            common.wrk_once(one.url, 5, "checkout.lua", [os.path.join(OUT, "buyers.csv"), "0"])
            pg.psql("shop", "ANALYZE")
            m = checkout(pg, one.url, runs, dur, warm, per_run, "1 process", notes, procs)
            rows.append(row("POST /v1/orders, 1 process", m, "≥ 3,000 orders/s"))
            cpu0, pcpu0 = one.cpu_seconds(), pg.backends_cpu()
            c = common.wrk_median(one.url, runs, dur, "cart_add.lua",
                                  lambda i: [os.path.join(OUT, "shoppers.csv"),
                                             os.path.join(OUT, "variants.txt")])
            rows.append(row("POST /v1/cart/lines (20,000 shoppers), 1 process", c))
            notes.append(f"add to cart: CPU per request {(one.cpu_seconds() - cpu0) * 1e6 / max(1, c['requests']):.0f}"
                         f" us in shopd and {(pg.backends_cpu() - pcpu0) * 1e6 / max(1, c['requests']):.0f}"
                         f" us in PostgreSQL")
            one.stop()
            # As scripts/cluster.sh runs them: the machine's cores shared
            # among the processes' writer connections.
            wenv = dict(cenv, SHOPD_PG_WRITERS=str(max(1, (os.cpu_count() or 2) // 3)))
            procs = [common.Shopd(url, wenv) for _ in range(3)]
            hp = Haproxy(procs)
            proxies = [hp]
            first = warm + per_run * (runs + 1)
            m = checkout(pg, hp.url, runs, dur, first, per_run, "3 processes", notes, procs)
            rows.append(row("POST /v1/orders, 3 processes behind haproxy", m, "≥ 3,000 orders/s"))
            hp.stop()
            proxies = []
            for p in procs:
                p.stop()
            procs = []
            with open(os.path.join(BENCH, "pg_ceiling_init.sql")) as f:
                sh("psql", "-q", pg.url("ceiling"), input=f.read(), text=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tps = []
            for _ in range(runs):
                out = sh("pgbench", "-n", "-M", "prepared", "-c", "16", "-j", "2", "-T", str(dur),
                         "-f", os.path.join(BENCH, "pg_ceiling.sql"), pg.url("ceiling"),
                         capture_output=True, text=True).stdout
                tps.append(float(re.search(r"tps = ([\d.]+)", out).group(1)))
            notes.append(f"raw PostgreSQL ceiling (pgbench -M prepared -c16, bench/pg_ceiling.sql:"
                         f" the checkout-like transaction of bench/sqlite_ceiling.c, 8 statements,"
                         f" one commit each): {statistics.median(tps):,.0f}/s"
                         f" (runs {' / '.join(f'{t:,.0f}' for t in tps)})")
            same_order_ceilings(pg, runs, notes)

        if want("reads"):
            paths = os.path.join(OUT, "search.txt")
            search_paths(pg, paths)
            products = os.path.join(OUT, "products.txt")
            renv = dict(env, SHOPD_SEARCH_CACHE="0")
            procs = [common.Shopd(url, renv) for _ in range(3)]
            # Each process renders a product page once from the database and
            # keeps it: warm every cache with one pass over the catalog first.
            for p in procs:
                common.wrk_once(p.url, 10, "products.lua", [products])
            m = common.wrk_median(procs[0].url, runs, dur, "products.lua", lambda i: [products],
                                  warmup=3)
            rows.append(row("GET /v1/products/{random id}, 1 process, direct", m))
            ref = m["ok_rps"]
            s = common.wrk_median(procs[0].url, runs, dur, "../search.lua", lambda i: [paths],
                                  warmup=3)
            rows.append(row("GET /v1/search (cache off), 1 process, direct", s))
            sref = s["ok_rps"]
            for n in (1, 2, 3):
                hp = Haproxy(procs[:n])
                proxies = [hp]
                m = common.wrk_median(hp.url, runs, dur, "products.lua", lambda i: [products],
                                      warmup=2)
                rows.append(row(f"GET /v1/products/{{random id}}, {n} behind haproxy", m,
                                "vs 1 direct", ref))
                s = common.wrk_median(hp.url, runs, dur, "../search.lua", lambda i: [paths],
                                      warmup=2)
                rows.append(row(f"GET /v1/search (cache off), {n} behind haproxy", s,
                                "vs 1 direct", sref))
                hp.stop()
                proxies = []
    finally:
        for h in proxies:
            h.stop()
        for p in procs:
            p.stop()
        pg.stop()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"## PostgreSQL (bench/pg.py)\n\nCommit `{commit}`, PostgreSQL 15 in bench/out/pg on this"
          f" 2-core machine (fsync and synchronous_commit on), shopd over its Unix socket, wrk"
          f" -t1 -c64 -d{dur}s --latency, median of {runs} runs. PostgreSQL, shopd, haproxy and wrk"
          f" share the 2 cores.\n\n"
          "| scenario | req/s (2xx, median) | p50 ms | p99 ms | ratio | target / reference | runs |\n"
          "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
          + "".join(f"- {n}\n" for n in notes))


if __name__ == "__main__":
    main()
