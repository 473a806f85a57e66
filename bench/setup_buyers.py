#!/usr/bin/env python3
"""Prepares a seeded database for the load benchmarks, writing straight into
it (the server is not running yet): a SQLite file, or a postgres:// URL.

  - products.txt   published product ids (product detail load)
  - variants.txt   1,000 variants of published products, given ample stock
  - buyers.csv     "token,address_id,card_id" per buyer with a one-line cart
                   (checkout load: every request is a different buyer)
  - shoppers.csv   tokens of users with empty carts (add-to-cart, get-cart)

The cards' gateway tokens go into the simulated gateway's books, which must
exist (the seed's server made them): where SHOPD_GATEWAY_DB says, if set.

Tokens are made here and stored as the server stores them (BLAKE2b-256 of
the token, hex), so the load generator can authenticate without logging in.
usage: setup_buyers.py DB OUTDIR BUYERS SHOPPERS
"""
import hashlib
import os
import re
import secrets
import sqlite3
import sys
import time


class Db:
    """The little of sqlite3's interface this script uses, over either backend."""

    def __init__(self, where):
        self.pg = where.startswith("postgres")
        if self.pg:
            import psycopg2
            import psycopg2.extras
            self.extras = psycopg2.extras
            self.con = psycopg2.connect(where)
        else:
            self.con = sqlite3.connect(where)
            self.con.execute("PRAGMA synchronous=OFF")
        self.tables = set()

    def execute(self, sql, params=()):
        if not self.pg:
            return self.con.execute(sql, params)
        cur = self.con.cursor()
        cur.execute(sql.replace("?", "%s"), params)
        return cur

    def executemany(self, sql, rows):
        if not self.pg:
            return self.con.executemany(sql, rows)
        m = re.match(r"(INSERT INTO (\w+) \([^)]*\) VALUES) (\(.*\))$", sql)
        cur = self.con.cursor()
        if m:  # one statement per 1,000 rows, not a round trip per row
            if re.match(r"INSERT INTO \w+ \(id,", sql):
                self.tables.add(m[2])
            self.extras.execute_values(cur, m[1] + " %s", rows,
                                       template=m[3].replace("?", "%s"), page_size=1000)
        else:
            self.extras.execute_batch(cur, sql.replace("?", "%s"), rows, page_size=1000)

    def commit(self):
        if self.pg:
            # Ids written by hand leave the identity sequences behind.
            cur = self.con.cursor()
            for t in self.tables:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'),"
                            f" (SELECT max(id) FROM {t})) WHERE EXISTS (SELECT 1 FROM {t})")
        self.con.commit()

    def close(self):
        if not self.pg:
            self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.con.close()


def main():
    db_path, out, nbuyers, nshoppers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    db = Db(db_path)
    now = int(time.time() * 1000)
    hash_ = db.execute("SELECT password_hash FROM users LIMIT 1").fetchone()[0]

    products = [r[0] for r in db.execute("SELECT id FROM products WHERE status = 'published'")]
    with open(os.path.join(out, "products.txt"), "w") as f:
        f.write("\n".join(map(str, products)) + "\n")
    variants = [r for r in db.execute(
        "SELECT v.id, v.price_cents FROM variants v JOIN products p ON p.id = v.product_id"
        " WHERE p.status = 'published' ORDER BY v.id LIMIT 1000")]
    wh = db.execute("SELECT min(id) FROM warehouses").fetchone()[0]
    db.executemany("UPDATE stock SET on_hand = 1000000000 WHERE variant_id = ? AND warehouse_id = ?",
                   [(v, wh) for v, _ in variants])
    with open(os.path.join(out, "variants.txt"), "w") as f:
        f.write("\n".join(str(v) for v, _ in variants) + "\n")

    def make_users(n, tag):
        base = (db.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]) + 1
        sbase = (db.execute("SELECT coalesce(max(id), 0) FROM sessions").fetchone()[0]) + 1
        users, sessions, tokens = [], [], []
        for i in range(n):
            uid = base + i
            tok = secrets.token_urlsafe(32)
            tokens.append(tok)
            users.append((uid, f"{tag}{uid}@bench.local", f"Bench {uid}", hash_, "customer", 0, now))
            sessions.append((sbase + i, hashlib.blake2b(tok.encode(), digest_size=32).hexdigest(), uid,
                             "user", now, now + 30 * 86400 * 1000))
        db.executemany("INSERT INTO users (id, email, name, password_hash, role, trusted, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)", users)
        db.executemany("INSERT INTO sessions (id, token_hash, user_id, kind, created_at, expires_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)", sessions)
        return [u[0] for u in users], tokens

    uids, tokens = make_users(nbuyers, "buyer")
    abase = db.execute("SELECT coalesce(max(id), 0) FROM addresses").fetchone()[0] + 1
    pbase = db.execute("SELECT coalesce(max(id), 0) FROM payment_methods").fetchone()[0] + 1
    cbase = db.execute("SELECT coalesce(max(id), 0) FROM carts").fetchone()[0] + 1
    db.executemany("INSERT INTO addresses (id, user_id, name, line1, city, region, postal_code,"
                   " country, is_default, created_at, updated_at) VALUES"
                   " (?, ?, 'Bench Buyer', '1 Pike St', 'Seattle', 'WA', '98101', 'US', 1, ?, ?)",
                   [(abase + i, u, now, now) for i, u in enumerate(uids)])
    # The simulated gateway's own books: where SHOPD_GATEWAY_DB says (the
    # server is told the same), else a file beside SQLite's, in PostgreSQL's
    # database.
    elsewhere = os.environ.get("SHOPD_GATEWAY_DB")
    gw = Db(elsewhere) if elsewhere else db if db.pg else Db(db_path + "-gateway.db")
    gw.executemany("INSERT INTO gw_sim_tokens (token, brand, last4, behavior, created_at)"
                   " VALUES (?, 'visa', '4242', 'ok', ?)", [(f"tok_bench_{u}", now) for u in uids])
    if gw is not db:
        gw.commit()
        gw.close()
    db.executemany("INSERT INTO payment_methods (id, user_id, gateway_token, brand, last4, exp_month,"
                   " exp_year, created_at) VALUES (?, ?, ?, 'visa', '4242', 12, 2031, ?)",
                   [(pbase + i, u, f"tok_bench_{u}", now) for i, u in enumerate(uids)])
    db.executemany("INSERT INTO carts (id, user_id, currency, created_at, updated_at)"
                   " VALUES (?, ?, 'USD', ?, ?)", [(cbase + i, u, now, now) for i, u in enumerate(uids)])
    db.executemany("INSERT INTO cart_lines (cart_id, variant_id, quantity, price_at_add_cents,"
                   " created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?)",
                   [(cbase + i, variants[i % len(variants)][0], variants[i % len(variants)][1], now, now)
                    for i in range(len(uids))])
    with open(os.path.join(out, "buyers.csv"), "w") as f:
        for i, tok in enumerate(tokens):
            f.write(f"{tok},{abase + i},{pbase + i}\n")

    _, shopper_tokens = make_users(nshoppers, "shopper")
    with open(os.path.join(out, "shoppers.csv"), "w") as f:
        f.write("\n".join(shopper_tokens) + "\n")
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
