#!/usr/bin/env python3
"""Storefront benchmark (issue 15, WEB-1).

Seeds a 2,000-product shop, starts ./shopd and, as the reference, nginx
(Debian's, as an ordinary user in a temporary directory) serving a static copy
of the same pages: index.html, its assets and every API answer the pages load
(captured from shopd by headless Chromium), gzip-precompressed for
gzip_static, ETags on. Then, for the storefront home and a product page:

  - bytes transferred on a first load (cold cache; all responses as sent,
    headers included, compressed where Chromium accepts it) and time to
    interactive in headless Chromium over loopback (bench/web_load.mjs says
    exactly what TTI means here), median of 7 loads alternating shopd and
    nginx;
  - GET / with wrk (-t1 -c64, 3 runs of 5 s alternating the two servers,
    median) on each;
  - the asset caching headers: strong ETag, a year's immutable cache, and
    If-None-Match answered 304.

usage: bench/web.py   (run by bench/run.py; prints a markdown section)
"""
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

OUT = os.path.join(run.OUT, "web")
LOADS = 7


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class StaticNginx:
    def __init__(self, www):
        self.port = run.free_port()
        conf = os.path.join(OUT, "nginx.conf")
        os.makedirs(os.path.join(OUT, "tmp"), exist_ok=True)
        with open(conf, "w") as f:
            f.write(f"""worker_processes auto;
pid {OUT}/nginx.pid;
error_log {OUT}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  include /etc/nginx/mime.types;
  types {{ text/javascript js; }}
  access_log off;
  client_body_temp_path {OUT}/tmp; proxy_temp_path {OUT}/tmp; fastcgi_temp_path {OUT}/tmp;
  uwsgi_temp_path {OUT}/tmp; scgi_temp_path {OUT}/tmp;
  gzip_static on; gzip_vary on; etag on;
  server {{
    listen 127.0.0.1:{self.port};
    root {www};
    location /assets/ {{ expires max; add_header Cache-Control immutable; }}
    location / {{ index index.html; try_files $uri.json $uri $uri/ =404; add_header Cache-Control no-cache; }}
  }}
}}
""")
        run.sh("nginx", "-c", conf, "-p", OUT, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        run.wait_http(self.url + "/")

    def stop(self):
        with open(os.path.join(OUT, "nginx.pid")) as f:
            os.kill(int(f.read()), signal.SIGQUIT)


def static_copy(base, www, product_id):
    """index.html and its assets as shopd serves them (uncompressed), the API
    answers the two pages load, and a .gz beside each file."""
    os.makedirs(www, exist_ok=True)
    _, _, html = get(base + "/")
    with open(os.path.join(www, "index.html"), "wb") as f:
        f.write(html)
    for asset in set(re.findall(rb'/assets/[^"]+', html)):
        name = asset.decode()
        _, _, body = get(base + name)
        path = os.path.join(www, name.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)
    # Modules the page's scripts import that it does not name itself:
    for js in [p for p in walk(www) if p.endswith(".js")]:
        for dep in re.findall(rb"from '\./([\w.]+)'", open(js, "rb").read()):
            dst = os.path.join(os.path.dirname(js), dep.decode())
            if not os.path.exists(dst):
                rel = os.path.relpath(dst, www)
                with open(dst, "wb") as f:
                    f.write(get(f"{base}/{rel}")[2])
    for page in ("/#/", f"/#/p/{product_id}"):
        subprocess.run(["node", os.path.join(run.BENCH, "web_load.mjs"), "capture", base + page, www],
                       check=True, capture_output=True)
    for p in walk(www):
        with open(p, "rb") as f, gzip.open(p + ".gz", "wb", 9) as g:
            g.write(f.read())


def walk(d):
    return [os.path.join(a, n) for a, _, ns in os.walk(d) for n in ns if not n.endswith(".gz")]


def measure(urls, selector):
    out = subprocess.run(["node", os.path.join(run.BENCH, "web_load.mjs"), "measure", str(LOADS), selector, *urls],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def summary(results):
    med = {k: run.statistics.median(r[k] for r in results) for k in ("ok_rps", "p50", "p99")}
    med["runs"] = [round(r["ok_rps"]) for r in results]
    return med


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    os.makedirs(run.OUT, exist_ok=True)
    db = os.path.join(OUT, "web.db")
    run.sh(run.SHOPD, "seed", "--products", "2000", "--users", "50", "--db", db, stdout=subprocess.DEVNULL,
           stderr=subprocess.DEVNULL)
    srv = run.Shopd(db, {"SHOPD_RATE_LIMIT": "off"})
    ngx = None
    try:
        _, _, body = get(srv.url + "/v1/products?sort=popularity&limit=1")
        pid = json.loads(body)["data"][0]["id"]
        www = os.path.join(OUT, "www")
        static_copy(srv.url, www, pid)
        ngx = StaticNginx(www)

        # Caching of an asset: strong ETag, long lifetime, 304 on revalidation.
        _, _, html = get(srv.url + "/")
        asset = re.search(rb'/assets/[^"]+\.js', html).group(0).decode()
        st, hd, _ = get(srv.url + asset, {"Accept-Encoding": "gzip"})
        etag = hd.get("ETag", "")
        st304, _, _ = get(srv.url + asset, {"Accept-Encoding": "gzip", "If-None-Match": etag})
        caching = (f"`{asset}`: {st}, `Content-Encoding: {hd.get('Content-Encoding', '-')}`, "
                   f"`ETag: {etag}` ({'strong' if etag and not etag.startswith('W/') else 'weak'}), "
                   f"`Cache-Control: {hd.get('Cache-Control', '')}`, `Vary: {hd.get('Vary', '')}`; "
                   f"If-None-Match → {st304}")

        rows = []
        for name, path, sel in (("home", "/#/", ".grid .card"), ("product page", f"/#/p/{pid}", "article.product h1")):
            m = measure([srv.url + path, ngx.url + path], sel)
            s, n = m[srv.url + path], m[ngx.url + path]
            rows.append(f"| {name} | {s['bytes'] / 1024:.1f} KB ({s['requests']} requests) | {n['bytes'] / 1024:.1f} KB |"
                        f" {s['content_ms']:.0f} | {s['tti_ms']:.0f} ({' / '.join(map(str, s['tti_runs']))}) |"
                        f" {n['tti_ms']:.0f} ({' / '.join(map(str, n['tti_runs']))}) | ≤ 150 KB, < 500 ms |")
            rows[-1] = rows[-1].replace(f"| {n['bytes'] / 1024:.1f} KB |", f"| {n['bytes'] / 1024:.1f} KB ({n['requests']} requests) |")
        # wrk on GET /, alternating shopd and nginx run by run (a shared
        # machine's load drifts): 3 runs of 5 s each after a 1 s warm-up.
        got = {"shopd": [], "nginx": []}
        run.wrk_once(srv.url + "/", 1)
        run.wrk_once(ngx.url + "/", 1)
        for _ in range(3):
            got["shopd"].append(run.wrk_once(srv.url + "/", 5))
            got["nginx"].append(run.wrk_once(ngx.url + "/", 5))
        w_s, w_n = (summary(got[k]) for k in ("shopd", "nginx"))
    finally:
        srv.stop()
        if ngx:
            ngx.stop()
    print("\n## Storefront in a browser (bench/web.py)\n")
    print(f"2,000-product seeded shop; headless Chromium (Debian) over loopback, cold cache, median of {LOADS}"
          " loads alternating shopd and the nginx static copy (same index.html, assets and captured API"
          " answers; gzip_static). TTI: navigation start until the page's API content is rendered and"
          " then the first idle callback (bench/web_load.mjs).\n")
    print("| page | shopd bytes, first load | nginx bytes | shopd content ms | shopd TTI ms (runs) |"
          " nginx TTI ms (runs) | target |\n|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n| GET / (index.html, {len(html):,} B) | req/s (median) | p50 ms | p99 ms | runs |\n|---|---|---|---|---|")
    for label, w in (("shopd", w_s), ("nginx static", w_n)):
        print(f"| {label} | {w['ok_rps']:,.0f} | {w['p50']:.2f} | {w['p99']:.2f} | {' / '.join(f'{r:,}' for r in w['runs'])} |")
    print(f"\ntarget GET / ≥ 50,000 req/s; shopd/nginx = {w_s['ok_rps'] / w_n['ok_rps']:.2f}×.\n")
    print(f"- asset caching: {caching}\n")


if __name__ == "__main__":
    main()
