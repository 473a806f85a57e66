"""Black-box API tests: start the real shopd on a free port with a fresh
database and talk HTTP to it, as a client would.

Fixtures:
  server        one server per test module (fresh database)
  make_server   factory for servers with their own environment (short TTLs…)
Helpers on Server: request(), cli(), user(), shop(), product(), kill()/start(),
and database() / gateway_database(): the server's database (and the simulated gateway's
books) for the few tests that must look inside or set something up.
Every response is checked against docs/openapi.yaml (openapi_check.py).

The backend is SQLite unless SHOPD_TEST_PG names a PostgreSQL server
(postgres://user@host:port, no database: each server gets a fresh one,
dropped afterwards). `make test` runs the suite on both.

With SHOPD_TEST_PRISM=1 (`make api-prism`) every server a test gets from the
`server` and `make_server` fixtures sits behind Stoplight Prism's validating proxy
(tests/openapi/node_modules), an independent reading of docs/openapi.yaml:
requests go through it (server.port stays shopd's own, for raw sockets and
`direct=True`) and every violation it reports on a response fails the request,
as does a request the document forbids that the server accepted (2xx/3xx).
Prism runs without --errors: with it Prism answers bad requests itself, and
the tests that send them are there to see shopd's answer. Tests marked
`direct` (servers of their own, e.g. the fault sweeps) are skipped there:
nothing of theirs would go through Prism.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import openapi_check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SHOPD_BIN") or os.path.join(ROOT, "shopd")
PASSWORD = "correct-horse-9"

# Tables a full scan of is fine in the SQLite plan audits: they stay small
# whatever the shop's size. leases has a row per role, instances one per
# running process, outbox_horizon is a one-row view (CONSTANT is its row);
# this_tx and later_tx are the outbox reader's two index ranges, at most one
# batch each (shop/outbox.c); webhooks holds at most 100 subscriptions
# (shop/webhook.h).
SMALL_TABLES = {"categories", "warehouses", "settings", "flash_sales", "schema_migrations",
                "outbox_consumers", "flash_sale_stock", "leases", "instances", "outbox_horizon",
                "CONSTANT", "this_tx", "later_tx",
                "webhooks"}  # at most WEBHOOK_SUBS_MAX (100) subscriptions

PG_BASE = os.environ.get("SHOPD_TEST_PG", "").rstrip("/")
PRISM = os.environ.get("SHOPD_TEST_PRISM") == "1"
PRISM_BIN = os.path.join(ROOT, "tests", "openapi", "node_modules", ".bin", "prism")
BACKEND = "postgres" if PG_BASE else "sqlite"

# Fast password hashing in tests: the cost is a configuration, not a behaviour.
# Fraud scoring is off except where a test turns it on (test_fraud.py): every
# test buyer is a new account and every order comes from 127.0.0.1, which the
# rules rightly find suspicious.
BASE_ENV = {"SHOPD_PWHASH_MEMLIMIT": "65536", "SHOPD_PWHASH_OPSLIMIT": "1",
            "SHOPD_LOG_LEVEL": "warn", "SHOPD_FRAUD": "off"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "direct: the test's servers are its own (not from the server or make_server "
        "fixtures), so no request goes through Prism: the Prism stage skips it rather than "
        "repeat the plain run")


def pytest_collection_modifyitems(config, items):
    if not PRISM:
        return
    for item in items:
        if item.get_closest_marker("direct"):
            item.add_marker(pytest.mark.skip(reason="no request goes through Prism: the plain"
                                                    " run covers it"))


def uid():
    return uuid.uuid4().hex[:10]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.body = None
        ctype = headers.get("content-type", "")
        if raw and "json" in ctype:
            self.body = json.loads(raw)
        elif raw:
            self.body = raw.decode(errors="replace")

    def __getitem__(self, key):
        return self.body[key]

    def get(self, key, default=None):
        return self.body.get(key, default) if isinstance(self.body, dict) else default

    def __repr__(self):
        return f"<{self.status} {self.body!r}>"[:2000]


class Database:
    """A way into a shop's database on either backend, for tests that must
    look inside or set something up: SQL with `?` markers, the subset both
    backends speak. Each call is its own transaction."""

    def __init__(self, where):
        self.where = where
        self.pg = where.startswith("postgres")

    def _connect(self):
        if self.pg:
            import psycopg2
            con = psycopg2.connect(self.where)
            con.autocommit = False
            return con
        return sqlite3.connect(self.where, timeout=30)

    def _sql(self, sql):
        return sql.replace("%", "%%").replace("?", "%s") if self.pg else sql

    def _run(self, sql, params=(), many=False, fetch=True):
        con = self._connect()
        try:
            cur = con.cursor()
            if many:
                cur.executemany(self._sql(sql), params)
            else:
                cur.execute(self._sql(sql), tuple(params))
            rows = cur.fetchall() if fetch and cur.description else []
            m = re.search(r"INSERT INTO (\w+) \(id\b", sql, re.I)
            if self.pg and m:
                # Ids given by hand leave the identity's sequence behind.
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{m[1]}', 'id'),"
                            f" (SELECT max(id) FROM {m[1]}))")
            con.commit()
            return rows
        finally:
            con.close()

    def query(self, sql, params=()):
        """Every row, as tuples."""
        return self._run(sql, params)

    def one(self, sql, params=()):
        rows = self._run(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql, params=()):
        row = self.one(sql, params)
        return row[0] if row else None

    def execute(self, sql, params=()):
        self._run(sql, params, fetch=False)

    def executemany(self, sql, rows):
        self._run(sql, list(rows), many=True, fetch=False)

    def dump(self):
        """Everything in the database, as SQL text."""
        if self.pg:
            return subprocess.run(["pg_dump", "--no-owner", self.where], capture_output=True,
                                  text=True, check=True).stdout
        with sqlite3.connect(self.where) as con:
            return "\n".join(con.iterdump())


def pg_admin(sql):
    import psycopg2
    con = psycopg2.connect(PG_BASE + "/postgres")
    con.autocommit = True
    try:
        con.cursor().execute(sql)
    finally:
        con.close()


class Prism:
    """Stoplight Prism's validating proxy in front of one shopd."""

    def __init__(self, upstream_port, logdir):
        self.port = free_port()
        self.log = open(os.path.join(logdir, "prism.log"), "ab")
        self.proc = subprocess.Popen(
            [PRISM_BIN, "proxy", os.path.join(ROOT, "docs", "openapi.yaml"),
             f"http://127.0.0.1:{upstream_port}", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prism exited with {self.proc.returncode}, see {logdir}/prism.log")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("prism did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def prism_violations(method, path, status, headers):
    """Raises OpenAPIMismatch for what Prism found wrong with an exchange."""
    raw = headers.get("sl-violations")
    if not raw:
        return
    found = json.loads(raw)
    bad = [v for v in found if v["location"][:1] == ["response"]]
    if status < 400:  # the server accepted a request the document forbids
        bad += [v for v in found if v["location"][:1] == ["request"]]
    if bad:
        raise openapi_check.OpenAPIMismatch(
            f"{method} {path} -> {status}: Prism: " +
            "; ".join(f"{'/'.join(map(str, v['location']))}: {v['message']}" for v in bad))


def prism_can_carry(path, data, headers):
    """Whether Prism would forward the request as it is: it answers a body
    that is not JSON under a JSON content type itself (400 invalid_json), and
    re-encodes a query that is not UTF-8. Such requests go to shopd directly."""
    try:
        urllib.parse.unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if data and "json" in ctype:
        try:
            json.loads(data)
        except ValueError:
            return False
    return True


# The first line of a sanitizer's report: a leak at exit, a bad access, UB.
SANITIZER_REPORT = re.compile(r"ERROR: (?:LeakSanitizer|AddressSanitizer)[^\n]*"
                              r"|runtime error:[^\n]*|SUMMARY: UndefinedBehaviorSanitizer[^\n]*")


class Server:
    def __init__(self, env=None, db=None, prism=False):
        self.dir = tempfile.mkdtemp(prefix="shopd-test-")
        self.owns_db = False
        if db:
            self.db = db
        elif PG_BASE:
            name = "shop_" + uuid.uuid4().hex[:12]
            pg_admin(f"CREATE DATABASE {name}")
            self.db = f"{PG_BASE}/{name}"
            self.owns_db = True
        else:
            self.db = os.path.join(self.dir, "shop.db")
        self.port = free_port()
        self.env = {**os.environ, **BASE_ENV, **(env or {})}  # later wins
        # LeakSanitizer runs at every exit after SIGTERM, whatever the caller's
        # ASAN_OPTIONS say (a later option wins; inert in a release binary).
        self.env["ASAN_OPTIONS"] = ":".join(
            x for x in (self.env.get("ASAN_OPTIONS", ""), "detect_leaks=1") if x)
        self.exit_codes = []  # of every SIGTERM stop: each must be 0
        if PG_BASE:
            # The notification files go where the SQLite tests find them.
            self.env.setdefault("SHOPD_NOTIFY_DIR", os.path.join(self.dir, "notifications"))
        self.proc = None
        self.local = threading.local()
        self.check_openapi = True
        self.want_prism = prism and PRISM
        self.prism = None

    # ---- process -------------------------------------------------------
    def cli(self, *args, check=True):
        r = subprocess.run([BIN, *args, "--db", self.db], capture_output=True, text=True,
                           env=self.env, timeout=300)
        if check and r.returncode != 0:
            raise AssertionError(f"shopd {' '.join(args)} failed: {r.stderr}")
        return r

    def start(self, extra_args=()):
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--port", str(self.port), "--db", self.db,
                                      "--access-log", os.path.join(self.dir, "access.log"),
                                      *extra_args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"shopd exited with {self.proc.returncode}: {self.logtext()}")
            try:
                if self.request("GET", "/healthz", direct=True).status == 200:
                    if self.want_prism and self.prism is None:
                        self.prism = Prism(self.port, self.dir)
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("shopd did not become healthy")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("shopd did not stop on SIGTERM")
            if sig == signal.SIGTERM:
                self.exit_codes.append(self.proc.returncode)
        self.local = threading.local()
        return self.proc.returncode if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

    def logtext(self):
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")[-5000:]

    def sanitizer_reports(self):
        """The sanitizer reports (a leak, a bad access, undefined behaviour)
        in the server's output over all its runs."""
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return []
        return SANITIZER_REPORT.findall(text)

    def cleanup(self):
        """Stops the server (SIGTERM) and fails when any run of it exited
        with a nonzero status after SIGTERM or left a sanitizer report (a
        leak at exit) in its output."""
        self.stop()
        if self.prism:
            self.prism.stop()
        bad = [c for c in self.exit_codes if c != 0]
        reports = self.sanitizer_reports()
        if bad or reports:
            raise AssertionError(f"shopd exited with {bad} after SIGTERM, reports {reports[:5]}"
                                 f" (logs in {self.dir}):\n{self.logtext()}")
        if os.environ.get("SHOPD_TEST_KEEP"):
            return  # the directory (logs) and database stay, for a look afterwards
        if self.owns_db:
            pg_admin(f"DROP DATABASE IF EXISTS {self.db.rsplit('/', 1)[1]} WITH (FORCE)")
        shutil.rmtree(self.dir, ignore_errors=True)

    def database(self):
        """The shop's database (see Database)."""
        return Database(self.db)

    def gateway_database(self):
        """The simulated gateway's books: where SHOPD_GATEWAY_DB says, else a
        file beside SQLite's, the same database on PostgreSQL."""
        if self.env.get("SHOPD_GATEWAY_DB"):
            return Database(self.env["SHOPD_GATEWAY_DB"])
        return Database(self.db if self.db.startswith("postgres") else self.db + "-gateway.db")

    # ---- HTTP ----------------------------------------------------------
    def _conn(self, direct):
        name = "conn" if direct or not self.prism else "prism_conn"
        c = getattr(self.local, name, None)
        if c is None:
            port = self.port if direct or not self.prism else self.prism.port
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            setattr(self.local, name, c)
        return c

    def request(self, method, path, body=None, token=None, headers=None, raw=None, guest=None,
                check=None, direct=False):
        """An exchange with the server (through Prism when it runs, unless
        `direct`); `check=False` skips checking the answer against the
        document (for requests no client should send)."""
        h = {"Accept": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        if guest:
            h["X-Guest-Token"] = guest
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        direct = direct or check is False or not prism_can_carry(path, data, h)
        for attempt in range(2):
            c = self._conn(direct)
            try:
                c.request(method, path, body=data, headers=h)
                r = c.getresponse()
                payload = r.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                c.close()
                self.local.conn = self.local.prism_conn = None
                if attempt:
                    raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        resp = Response(r.status, hdrs, payload)
        if (self.check_openapi if check is None else check):
            openapi_check.check(method, path, r.status, hdrs, resp.body)
            if self.prism and not direct:
                prism_violations(method, path, r.status, hdrs)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- fixtures of a shop ---------------------------------------------
    def user(self, role="customer", email=None, password=PASSWORD, trusted=False):
        """Creates a user and logs in. Returns (token, user dict)."""
        email = email or f"{role}-{uid()}@example.com"
        if role == "customer":
            r = self.post("/v1/auth/register", {"email": email, "password": password,
                                                "name": "Test " + role})
            assert r.status == 201, r
            return r["token"], r["user"]
        args = ["user", "create", "--email", email, "--password", password, "--role", role]
        if trusted:
            args.append("--trusted")
        self.cli(*args)
        r = self.post("/v1/auth/login", {"email": email, "password": password})
        assert r.status == 200, r
        return r["token"], r["user"]


def wait_for(what, fn, timeout=30):
    """fn()'s first truthy answer, polled every 50 ms; fails naming `what`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def consumer_caught_up(db, consumer, where="1 = 1"):
    """True once the outbox consumer has read the last event that `where`
    selects. Both are compared as (txid, id), the order consumers read in:
    on PostgreSQL the highest id need not be the last event committed (rows
    are appended at commit, ids drawn then, txids at a transaction's first
    write), so an id alone can wait for ever."""
    last = db.one(f"SELECT txid, id FROM outbox WHERE {where} ORDER BY txid DESC, id DESC LIMIT 1")
    at = db.one("SELECT position_txid, position FROM outbox_consumers WHERE name = ?", (consumer,))
    return last is None or (at is not None and
                            tuple(int(x) for x in at) >= tuple(int(x) for x in last))


def at_once(fn, items, threads=64):
    """fn(item) for every item from `threads` threads released together (a
    barrier), for races; the answers in the items' order."""
    from concurrent.futures import ThreadPoolExecutor
    start = threading.Barrier(min(threads, len(items)))

    def go(item):
        try:
            start.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
        return fn(item)

    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(go, items))


def assert_problem(resp, status, field=None):
    """The response is an RFC 9457 problem with `status` (naming `field`)."""
    assert resp.status == status, resp
    assert resp.headers.get("content-type", "").startswith("application/problem+json"), resp.headers
    assert isinstance(resp.body, dict) and resp.body["status"] == status, resp
    for k in ("type", "title", "detail", "errors"):
        assert k in resp.body, resp
    if field is not None:
        fields = [e["field"] for e in resp.body["errors"]]
        assert field in fields, f"expected a problem naming {field!r}, got {resp.body}"


@pytest.fixture(scope="module")
def server():
    s = Server(prism=True).start()
    yield s
    s.cleanup()


@pytest.fixture
def make_server():
    made = []

    def make(env=None, start=True, prism=True):
        s = Server(env, prism=prism)
        made.append(s)
        return s.start() if start else s

    yield make
    errors = []
    for s in made:  # every server is stopped even when one of them fails
        try:
            s.cleanup()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
