#!/usr/bin/env python3
"""Import benchmark (CAT-6); the analytics one is bench/analytics.py.

A generated Shopify product CSV of 100,000 products (≈ 250,000
   rows: variants, extra image rows, quoted HTML descriptions with commas and
   newlines) into an empty shop with `shopd import products`; reports rows/s
   (target ≥ 20,000) and the importer's peak RSS (bounded: it holds one batch).

usage: bench/import.py [PRODUCTS]   (run by bench/run.py)
"""
import csv
import os
import random
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

PRODUCTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
HEADER = ["Title", "URL handle", "Description", "Vendor", "Product category", "Type", "Tags",
          "Published on online store", "Status", "SKU", "Option1 name", "Option1 value",
          "Option2 name", "Option2 value", "Option3 name", "Option3 value", "Price",
          "Compare-at price", "Inventory quantity", "Weight value (grams)", "Product image URL",
          "Image position", "Gift card", "SEO title"]
CATS = ["Home & Garden > Kitchen & Dining > Cookware", "Apparel & Accessories > Clothing > Shirts & Tops",
        "Electronics > Audio > Headphones", "Sporting Goods > Outdoor Recreation > Camping",
        "Toys & Games > Puzzles", "Health & Beauty > Personal Care > Cosmetics"]


def generate(path, n):
    rng = random.Random(7)
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(HEADER)
        for i in range(n):
            handle = f"bench-product-{i}"
            nv = rng.choice((1, 1, 2, 2, 3, 4))
            nimg = rng.choice((1, 2, 2, 3))
            for r in range(max(nv, nimg)):
                row = dict.fromkeys(HEADER, "")
                row["URL handle"] = handle
                if r == 0:
                    row.update({"Title": f"Bench Product {i}",
                                "Description": f"<p>Product {i}, sturdy, light.</p>\n<p>Line two, \"quoted\".</p>",
                                "Vendor": f"Brand {i % 300}", "Product category": CATS[i % len(CATS)],
                                "Type": "Gear", "Tags": "bench, generated",
                                "Published on online store": "TRUE", "Status": "active",
                                "Option1 name": "Size" if nv > 1 else "Title", "Gift card": "FALSE"})
                if r < nv:
                    row.update({"SKU": f"B{i}-{r}", "Option1 value": ["S", "M", "L", "XL"][r] if nv > 1
                                else "Default Title", "Price": f"{rng.randint(100, 50000) / 100:.2f}",
                                "Inventory quantity": str(rng.randint(0, 200)),
                                "Weight value (grams)": str(rng.randint(50, 5000))})
                if r < nimg:
                    row.update({"Product image URL": f"https://img.example.com/{i}/{r}.jpg",
                                "Image position": str(r + 1)})
                w.writerow([row[h] for h in HEADER])
                rows += 1
    return rows


def main():
    out = os.path.join(run.OUT, "import")
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "import.db")
    for f in (db + s for base in ("", "-gateway.db") for s in (base, base + "-wal", base + "-shm")):
        if os.path.exists(f):
            os.remove(f)
    csv_path = os.path.join(out, "products.csv")
    rows = generate(csv_path, PRODUCTS)
    env = dict(os.environ, SHOPD_LOG_LEVEL="warn")
    subprocess.run([run.SHOPD, "user", "create", "--email", "admin@bench.test", "--password",
                    "bench-password", "--role", "admin", "--db", db], check=True, env=env,
                   capture_output=True)
    for i in range(20):
        subprocess.run([run.SHOPD, "user", "create", "--email", f"seller{i}@bench.test", "--password",
                        "bench-password", "--role", "seller", "--db", db], check=True, env=env,
                       capture_output=True)
    t0 = time.time()
    p = subprocess.Popen([run.SHOPD, "import", "products", csv_path, "--db", db], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.time() - t0
    stdout = p.stdout.read()
    assert os.waitstatus_to_exitcode(status) == 0, p.stderr.read()[-2000:]
    m = re.search(r"([\d,]+) rows/s", stdout)
    rss_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    size_mb = os.path.getsize(csv_path) / 1e6
    con = sqlite3.connect(db)
    got = con.execute("SELECT count(*) FROM products").fetchone()[0]
    con.close()
    assert got == PRODUCTS, (got, PRODUCTS)

    print(f"\n## Import (bench/import.py)\n\n"
          f"- import: {PRODUCTS:,} products, {rows:,} rows ({size_mb:.0f} MB CSV) in {secs:.1f} s"
          f" = {rows / secs:,.0f} rows/s end to end ({m.group(1) if m else '?'} rows/s as the"
          f" importer counts; target ≥ 20,000), {cpu:.1f} s of CPU = {rows / cpu:,.0f} rows per"
          f" CPU-second, importer peak RSS {rss_mb:.0f} MB\n")


if __name__ == "__main__":
    main()
