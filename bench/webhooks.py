#!/usr/bin/env python3
"""Webhook throughput (OPS-4): deliveries per second from shopd to a loopback
receiver (bench/fanout_sink.c: keep-alive, answers 200 at once), end to end:
the outbox consumer queues one delivery per event, the worker claims, signs
(HMAC-SHA256), POSTs over libcurl multi and records the answers.

N events are written straight into the outbox while the server is stopped;
the clock runs from the restart until the receiver has counted N deliveries.
Median of 3 runs. Target: >= 10,000 deliveries/s.

usage: bench/webhooks.py [--events N]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "shopd")
SINK = os.path.join(ROOT, "build", "bench", "fanout_sink")
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
from conftest import free_port  # noqa: E402


def req(port, method, path, body=None, token=None):
    r = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                               data=json.dumps(body).encode() if body is not None else None,
                               headers={"Content-Type": "application/json",
                                        **({"Authorization": "Bearer " + token} if token else {})})
    with urllib.request.urlopen(r, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def serve(db, port, env, log):
    p = subprocess.Popen([BIN, "serve", "--port", str(port), "--db", db, "--access-log", "off"],
                         env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("shopd did not start")


def one_run(n, tmp):
    import sqlite3
    db = os.path.join(tmp, f"shop{time.time_ns()}.db")
    port, sink_port = free_port(), free_port()
    count = os.path.join(tmp, "count")
    env = {**os.environ, "SHOPD_RATE_LIMIT": "off", "SHOPD_LOG_LEVEL": "warn",
           "SHOPD_WEBHOOK_INFLIGHT": "512", "SHOPD_WEBHOOK_CONCURRENCY": "512"}
    log = open(os.path.join(tmp, "server.log"), "ab")
    sink = subprocess.Popen([SINK, str(sink_port), count])
    p = serve(db, port, env, log)
    subprocess.run([BIN, "user", "create", "--email", "bench@example.com", "--password",
                    "correct-horse-9", "--role", "admin", "--db", db], check=True,
                   capture_output=True)
    tok = req(port, "POST", "/v1/auth/login", {"email": "bench@example.com",
                                               "password": "correct-horse-9"})["token"]
    req(port, "POST", "/v1/admin/webhooks", {"url": f"http://127.0.0.1:{sink_port}/hook",
                                             "events": ["*"]}, tok)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    p.wait()
    now = int(time.time() * 1000)
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO outbox (topic, aggregate_id, payload, origin, created_at)"
                    " VALUES ('stock.changed', ?, ?, 0, ?)",
                    ((i, json.dumps({"variant_id": i, "available": 7}), now + 1000)
                     for i in range(n)))
    con.commit()
    con.close()
    with open(count, "w") as f:
        f.write("0")
    t0 = time.time()
    p = serve(db, port, env, log)
    got = 0
    while time.time() - t0 < 120:
        try:
            got = int((open(count).read().split() or ["0"])[0])
        except (OSError, ValueError):
            pass
        if got >= n:
            break
        time.sleep(0.01)
    dt = time.time() - t0
    p.send_signal(signal.SIGTERM)
    p.wait()
    sink.send_signal(signal.SIGTERM)
    sink.wait()
    return got / dt, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50000)
    a = ap.parse_args()
    os.makedirs(os.path.dirname(SINK), exist_ok=True)
    subprocess.run(["cc", "-O2", "-o", SINK, os.path.join(ROOT, "bench", "fanout_sink.c")],
                   check=True)
    tmp = tempfile.mkdtemp(prefix="shopd-bench-webhooks-")
    try:
        runs = [one_run(a.events, tmp) for _ in range(3)]
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(tmp)
    rates = [r for r, _ in runs]
    print(f"- webhooks (OPS-4): {statistics.median(rates):,.0f} deliveries/s to a loopback"
          f" receiver, {a.events:,} events each signed and POSTed (runs:"
          f" {', '.join(f'{r:,.0f}' for r in rates)}); target >= 10,000/s."
          f" Command: `bench/webhooks.py`\n")


if __name__ == "__main__":
    main()
