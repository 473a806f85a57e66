#!/usr/bin/env python3
"""bench/fanout_probe.py — the rest of the shop while a fan-out runs.

    fanout_probe.py PORT PATH SECONDS [RATE]

Requests GET PATH at a fixed RATE (default 200/s) over 4 keep-alive
connections for SECONDS and prints "p50_ms p99_ms max_ms count errors".
A fixed rate (not as fast as possible) so the probe measures latency
without itself competing for the two cores."""
import http.client
import sys
import threading
import time

port, path, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 200.0
lat, errors, lock = [], [0], threading.Lock()
WORKERS = 4


def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    period = WORKERS / rate
    t_next = time.monotonic() + k * period / WORKERS
    end = time.monotonic() + seconds
    while t_next < end:
        delay = t_next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t0 = time.monotonic()
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            ok = r.status == 200
        except (OSError, http.client.HTTPException):
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            ok = False
        with lock:
            if ok:
                lat.append((time.monotonic() - t0) * 1000)
            else:
                errors[0] += 1
        t_next += period


threads = [threading.Thread(target=run, args=(k,)) for k in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
lat.sort()
if not lat:
    print("0 0 0 0", errors[0])
else:
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"{pick(0.5):.2f} {pick(0.99):.2f} {lat[-1]:.2f} {len(lat)} {errors[0]}")
