#!/usr/bin/env python3
"""authd's benchmark driver; run it through `bench/run`, which builds what it needs first.

Starts the release `authd` on a fresh database per backend, drives it with `wrk` (and a paced
Python probe for W4), seeds `users` and `sessions` directly (every user with a session), runs
pgbench beside W2 on PostgreSQL, counts what a login writes (W7), and prints one table of
absolute figures and ratios against the targets of the performance issues. Every load aims at 127.0.0.1
and is bounded in time.
"""

import argparse
import datetime
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_AUTHD runs another build of the server (e.g. a patched copy) through the same bench.
AUTHD = os.environ.get("BENCH_AUTHD") or os.path.join(ROOT, "target", "release", "authd")
BCRYPT_TIME = os.path.join(ROOT, "target", "release", "examples", "bcrypt_verify_time")
LUA = os.path.join(ROOT, "bench", "lua")
COST = 12
PASSWORD = "bench-password"  # the password of the hash the example prints
BENCH_EMAIL = "bench@bench.test"  # the logged-in user, always the last row
CORES = os.cpu_count() or 1
LOGIN_ACCOUNTS = 1000  # W3 logs in as user1..user1000 (seeded), never as the probe's user
# The niceness of authd's hashing threads (crates/web/src/hashing/mod.rs); the bcrypt limit is timed
# at the same niceness.
# BENCH_HASHING_NICE (for experiments) renices authd's hashing threads to another value first.
# "idle" puts them in SCHED_IDLE instead (what authd did before).
HASHING_NICE = os.environ.get("BENCH_HASHING_NICE", "0")
HASHING_NICE = HASHING_NICE if HASHING_NICE in ("idle", "batch") else int(HASHING_NICE)
HOGS = 2  # W6: CPU-bound processes at normal priority beside authd


def log(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# CPU accounting: how much of the machine went to processes outside the benchmark (noise).

def _jiffies_total():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, sum(fields[:8])


def _proc_jiffies(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return 0


def _postgres_jiffies():
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        total += _proc_jiffies(pid)
    return total


class CpuWindow:
    """Measures, over a `with` block, the cores used by the server (`server`, in cores) and the
    share of the machine used by everything outside the benchmark (`other`, 0..1): not the
    server, not this process or its children (wrk, the bcrypt example), not PostgreSQL."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def _sample(self):
        busy, total = _jiffies_total()
        t = os.times()
        ours = (t.user + t.system + t.children_user + t.children_system) * CLK_TCK
        server = _proc_jiffies(self.server_pid)
        return busy, total, server + ours + _postgres_jiffies(), server, time.monotonic()

    def __enter__(self):
        self.start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        busy = end[0] - self.start[0]
        total = max(end[1] - self.start[1], 1)
        ours = end[2] - self.start[2]
        self.other = max(0.0, (busy - ours) / total)
        self.server = (end[3] - self.start[3]) / CLK_TCK / max(end[4] - self.start[4], 1e-3)
        return False


CLK_TCK = os.sysconf("SC_CLK_TCK")


def wait_for_quiet(server_pid, limit, max_wait):
    """Waits (at most `max_wait` s) until processes outside the benchmark use under `limit` of
    the machine over one second; returns the last share seen."""
    deadline = time.monotonic() + max_wait
    while True:
        with CpuWindow(server_pid) as c:
            time.sleep(1.0)
        if c.other < limit or time.monotonic() >= deadline:
            return c.other


def measured(what, server_pid, args, body):
    """Runs `body()` (which returns a result dict) after waiting for a quiet machine, and again
    (up to `args.retries` times) when other processes took more than `args.noise` of the
    machine meanwhile; keeps the least disturbed run. Adds `other` and `server` to it."""
    best = None
    for attempt in range(args.retries + 1):
        before = wait_for_quiet(server_pid, args.noise, args.quiet_wait)
        with CpuWindow(server_pid) as c:
            r = body()
        if "other" not in r:  # the body may have measured only its load phase
            r["other"], r["server"] = c.other, c.server
        if best is None or r["other"] < best["other"]:
            best = r
        if r["other"] <= args.noise:
            break
        log(f"  {what}: other processes took {r['other']:.0%} of the machine (before: "
            f"{before:.0%}); " + ("trying again" if attempt < args.retries else "keeping the "
                                  "least disturbed run"))
    return best


# ---------------------------------------------------------------------------------------------
# The server.

class Server:
    def __init__(self, database_url, extra, log_path):
        self.log_path = log_path
        self.log_file = open(log_path, "w")
        args = [AUTHD, "--bind", "127.0.0.1:0", "--database-url", database_url,
                "--bcrypt-cost", str(COST), "--shutdown-grace", "2"] + extra
        env = dict(os.environ, RUST_LOG="warn,authd=info")
        self.proc = subprocess.Popen(args, stdout=self.log_file, stderr=self.log_file, env=env)
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline and self.proc.poll() is None:
            with open(log_path) as f:
                m = re.search(r"authd listening address=127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            with open(log_path) as f:
                raise RuntimeError("authd did not start:\n" + f.read()[-2000:])
        if "BENCH_HASHING_NICE" in os.environ:
            self.renice_hashing(HASHING_NICE)
        self.peak_kib = 0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()

    def renice_hashing(self, nice):
        """Sets the niceness of authd's hashing threads (by thread name)."""
        task_dir = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(task_dir):
            with open(f"{task_dir}/{tid}/comm") as f:
                if f.read().startswith("authd-hashing"):
                    cmd = (["chrt", f"--{nice}", "-p", "0", tid] if nice in ("idle", "batch")
                           else ["renice", "-n", str(nice), "-p", tid])
                    subprocess.run(cmd, check=True, capture_output=True)

    def _read_hwm(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
            if m:
                self.peak_kib = max(self.peak_kib, int(m.group(1)))
        except OSError:
            pass

    def _sample_rss(self):
        while self._sampling:
            self._read_hwm()
            time.sleep(0.25)

    def request(self, method, path, body=None, cookie=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie:
            headers["Cookie"] = f"session_id={cookie}"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp, data

    def stop(self):
        self._read_hwm()
        self._sampling = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


def register_and_log_in(server):
    """Registers the bench user through the API (so it is the last row) and returns a real
    session cookie."""
    body = f"email={BENCH_EMAIL.replace('@', '%40')}&password={PASSWORD}"
    resp, data = server.request("POST", "/users", body)
    if resp.status != 200:
        raise RuntimeError(f"POST /users answered {resp.status}: {data!r}")
    resp, data = server.request("POST", "/sessions", body)
    if resp.status != 200:
        raise RuntimeError(f"POST /sessions answered {resp.status}: {data!r}")
    m = re.search(r"session_id=([^;]+)", resp.getheader("Set-Cookie") or "")
    if not m:
        raise RuntimeError("POST /sessions set no session cookie")
    resp, data = server.request("GET", "/profile", cookie=m.group(1))
    if resp.status != 200 or BENCH_EMAIL.encode() not in data:
        raise RuntimeError(f"GET /profile with the new cookie answered {resp.status}: {data!r}")
    return m.group(1)


# ---------------------------------------------------------------------------------------------
# Seeding: the bench user (and its sessions) is deleted, rows user{a}..user{b} are inserted in
# batches with one precomputed hash, each with one live session of its own (a random 64-hex
# token digest, as SHA-256 gives, and a random 32-hex public id, both under their unique
# indexes), then the bench user registers again through the API (the last row, the newest
# session).

SESSION_SECS = 365 * 24 * 3600  # seeded sessions expire in a year: all alive during the bench


class SqliteSeeder:
    def __init__(self, path):
        self.path = path

    def seed(self, first, last, hashed):
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM sessions WHERE user_id IN "
                     "(SELECT id FROM users WHERE email = ?)", (BENCH_EMAIL,))
        conn.execute("DELETE FROM users WHERE email = ?", (BENCH_EMAIL,))
        conn.execute("COMMIT")
        now = int(time.time())
        batch = 100_000
        for a in range(first, last + 1, batch):
            b = min(a + batch - 1, last)
            conn.execute("BEGIN IMMEDIATE")
            top = conn.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]
            conn.execute(
                "WITH RECURSIVE n(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM n WHERE x < ?) "
                "INSERT INTO users (email, hashed_password) "
                "SELECT 'user' || x || '@bench.test', ? FROM n",
                (a, b, hashed))
            conn.execute(
                "INSERT INTO sessions (public_id, token_digest, user_id, created_at, "
                "last_seen_at, expires_at) "
                "SELECT lower(hex(randomblob(16))), lower(hex(randomblob(32))), id, ?, ?, ? "
                "FROM users WHERE id > ? ORDER BY id",
                (now, now, now + SESSION_SECS, top))
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    def count(self):
        conn = sqlite3.connect(self.path, timeout=30)
        n = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        s = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        last = conn.execute("SELECT email FROM users ORDER BY id DESC LIMIT 1").fetchone()[0]
        conn.close()
        return n, s, last

    counts_at_exit = False  # the WAL is read while a connection keeps it

    def start_counting(self):
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    def write_counters(self):
        """Commits and pages in the WAL since `start_counting`."""
        commits, pages = sqlite_wal_commits(self.path)
        return {"commits": commits, "pages": pages}


class PostgresSeeder:
    def __init__(self, url):
        self.url = url

    def psql(self, sql):
        out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.url,
                              "-c", sql], check=True, capture_output=True, text=True, timeout=600)
        return out.stdout.strip()

    def seed(self, first, last, hashed):
        self.psql("DELETE FROM sessions WHERE user_id IN "
                  f"(SELECT id FROM users WHERE email = '{BENCH_EMAIL}')")
        self.psql(f"DELETE FROM users WHERE email = '{BENCH_EMAIL}'")
        now = int(time.time())
        batch = 250_000
        for a in range(first, last + 1, batch):
            b = min(a + batch - 1, last)
            # One statement per batch: the users, then a session for each new user.
            self.psql("WITH u AS (INSERT INTO users (email, hashed_password) "
                      f"SELECT 'user' || g || '@bench.test', '{hashed}' "
                      f"FROM generate_series({a}, {b}) g RETURNING id) "
                      "INSERT INTO sessions (public_id, token_digest, user_id, created_at, "
                      "last_seen_at, expires_at) "
                      "SELECT md5(random()::text || id), "
                      "encode(sha256((random()::text || id)::bytea), 'hex'), "
                      f"id, {now}, {now}, {now + SESSION_SECS} FROM u ORDER BY id")
        # What autovacuum does within about a minute of a bulk load; done now so W2 measures the
        # steady plan. Before it, the lookup's ORDER BY id LIMIT 1 makes PostgreSQL walk the
        # primary key (about 21 lookups/s at 1,000,000 rows here): see bench/README.md.
        self.psql("VACUUM ANALYZE users")
        self.psql("VACUUM ANALYZE sessions")
        # And write the load's dirty pages out now, not during the next workload.
        self.psql("CHECKPOINT")

    def count(self):
        n = int(self.psql("SELECT count(*) FROM users"))
        s = int(self.psql("SELECT count(*) FROM sessions"))
        last = self.psql("SELECT email FROM users ORDER BY id DESC LIMIT 1")
        return n, s, last

    # A backend sends its statistics when it exits (when idle, within 10 s): read them once
    # authd's connections are closed.
    counts_at_exit = True

    def start_counting(self):
        time.sleep(11)  # what the running server did lately reaches the statistics

    def write_counters(self):
        """Transactions committed in this database (reads included: PostgreSQL counts every
        statement outside BEGIN as one) and rows inserted, updated and deleted."""
        time.sleep(1)
        row = self.psql(
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = "
            "current_database()), sum(n_tup_ins), sum(n_tup_upd), sum(n_tup_del) "
            "FROM pg_stat_user_tables").split("|")
        return dict(zip(("transactions", "inserted", "updated", "deleted"),
                        (int(x or 0) for x in row)))


# ---------------------------------------------------------------------------------------------
# Load generators.

def wrk(server, path, seconds, connections, threads=1, script=None, headers=(), env=None):
    """Runs wrk against 127.0.0.1 for `seconds`; returns (req/s, requests, non-2xx, errors)."""
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(round(seconds))}s",
            "--timeout", "10s"]
    for h in headers:
        args += ["-H", h]
    if script:
        args += ["-s", os.path.join(LUA, script)]
    args.append(f"http://127.0.0.1:{server.port}{path}")
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60,
                         env=dict(os.environ, **(env or {})))
    text = out.stdout + out.stderr
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed: {text}")
    n = re.search(r"(\d+) requests in", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rate": float(m.group(1)),
        "requests": int(n.group(1)) if n else 0,
        "bad": int(bad.group(1)) if bad else 0,
        "errors": sum(int(x) for x in errs.groups()) if errs else 0,
        "text": text,
    }


def probe(server, cookie, seconds, interval=0.020):
    """One GET /profile every `interval` on a persistent connection; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Cookie": f"session_id={cookie}"}
    # One untimed request opens the connection.
    conn.request("GET", "/profile", headers=headers)
    conn.getresponse().read()
    times, bad = [], 0
    start = time.perf_counter()
    k = 0
    while True:
        due = start + k * interval
        if due - start >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = time.perf_counter()
        conn.request("GET", "/profile", headers=headers)
        resp = conn.getresponse()
        resp.read()
        times.append((time.perf_counter() - t) * 1000.0)
        if resp.status != 200:
            bad += 1
        k += 1
    conn.close()
    times.sort()
    pct = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
    return {"n": len(times), "p50": pct(0.50), "p99": pct(0.99), "max": times[-1], "bad": bad}


def bcrypt_limit(idle=True):
    """The machine's login limit now: cores ÷ median time of one verify, with one timing thread
    per core (so the verify is timed with every core busy, as in a login storm). With `idle`,
    the timing threads run at the hashing threads' niceness (HASHING_NICE): on a quiet machine
    that changes nothing, and when other processes take CPU the limit shrinks as much as
    authd's share does, so the ratio still measures authd's own overhead."""
    cmd = [BCRYPT_TIME, str(COST), str(CORES), "3"]
    if idle and HASHING_NICE in ("idle", "batch"):
        cmd = ["chrt", f"--{HASHING_NICE}", "0"] + cmd
    elif idle and HASHING_NICE > 0:
        cmd = ["nice", "-n", str(HASHING_NICE)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout
    kv = dict(p.split("=", 1) for p in out.split())
    median = float(kv["median_ms"])
    return {"median_ms": median, "limit": CORES * 1000.0 / median, "hash": kv["hash"]}


def timed_logins(server, n):
    """`n` sequential logins of seeded users (not the probe's, whose session they would end);
    latencies in ms, sorted."""
    times = []
    for k in range(n):
        body = f"email=user{k % LOGIN_ACCOUNTS + 1}%40bench.test&password={PASSWORD}"
        t = time.perf_counter()
        resp, data = server.request("POST", "/sessions", body)
        times.append((time.perf_counter() - t) * 1000.0)
        if resp.status != 200:
            raise RuntimeError(f"W6 login answered {resp.status}: {data!r}")
    return sorted(times)


def w6(server, n):
    """W6: `n` logins one at a time on the idle server, then again with HOGS busy-loop processes
    at normal priority running beside authd (as other services on the host would)."""
    pct = lambda ts, p: ts[min(len(ts) - 1, int(round(p * (len(ts) - 1))))]
    with CpuWindow(server.proc.pid) as idle_cpu:
        idle = timed_logins(server, n)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(HOGS)]
    try:
        with CpuWindow(server.proc.pid) as loaded_cpu:
            time.sleep(0.5)  # the hogs are running
            loaded = timed_logins(server, n)
            for h in hogs:  # reaped inside the window, so their CPU counts as ours
                h.kill()
                h.wait()
    finally:
        for h in hogs:
            if h.poll() is None:
                h.kill()
                h.wait()
    return {
        "idle_p50": pct(idle, 0.5), "idle_p90": pct(idle, 0.9),
        "loaded_p50": pct(loaded, 0.5), "loaded_p90": pct(loaded, 0.9),
        "idle_m": {"other": idle_cpu.other, "server": idle_cpu.server},
        "other": max(idle_cpu.other, loaded_cpu.other), "server": loaded_cpu.server,
    }


PAGES = ("/login", "/signup", "/forgot", "/reset?token=bench", "/account")


def w8_pages(server, cookie, n=500):
    """W8: each page of issue 13 fetched `n` times, one at a time, on a persistent connection
    (after one untimed fetch), on the otherwise idle server: p50/p99/max in ms and the size on
    the wire. `/account` with the bench user's session (two lookups: the session, the session
    list); the others without any cookie, so each answer also makes a new visitor cookie."""
    pct = lambda ts, p: ts[min(len(ts) - 1, int(round(p * (len(ts) - 1))))]
    out = {}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for path in PAGES:
        headers = {"Cookie": f"session_id={cookie}"} if path == "/account" else {}
        conn.request("GET", path, headers=headers)
        size = len(conn.getresponse().read())
        times, bad = [], 0
        for _ in range(n):
            t = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            times.append((time.perf_counter() - t) * 1000.0)
            bad += resp.status != 200
        times.sort()
        out[path] = {"p50": pct(times, 0.5), "p99": pct(times, 0.99), "max": times[-1],
                     "bytes": size, "bad": bad}
    conn.close()
    return out


# ---------------------------------------------------------------------------------------------
# Overload from several addresses (W9) and one address holding connections (W10). The clients
# bind their own source address: Linux accepts any 127.x.y.z on loopback, so authd sees distinct
# client addresses without --trusted-proxies.

FLOOD_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
FLOOD_CONNECTIONS = 45  # per flooding address
FIFTH_ADDRESS = "127.0.0.6"
SLOW_ADDRESS = "127.0.0.2"
SLOW_CONNECTIONS = 530


def log_lines(server, start):
    """(WARN lines, ERROR lines, their first texts) that authd wrote after byte `start` of its
    log."""
    with open(server.log_path, errors="replace") as f:
        f.seek(start)
        lines = f.read().splitlines()
    warn = [l for l in lines if " WARN " in l]
    error = [l for l in lines if " ERROR " in l]
    return len(warn), len(error), (warn[:1] + error[:1])


def login_from(server, source, k, password, timeout=60):
    """One login of user{k} on a fresh connection from `source`: (ms, status)."""
    body = f"email=user{k}%40bench.test&password={password}"
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request("POST", "/sessions", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return (time.perf_counter() - t) * 1000.0, status


def w9_overload(server, seconds):
    """W9 (issue 17, item 2): 4 addresses flood POST /sessions, 45 connections each, every
    request a wrong password of a seeded account (a full cost-12 verify), each connection
    sending its next login as soon as the last is answered (whatever the answer); after 2 s,
    a fifth address logs in with the right password, one login at a time on a fresh connection,
    for `seconds` (and 3 times before the flood, on the idle server). Returns the fifth address's times and answers, the flood's answers, and the
    WARN and ERROR lines authd logged meanwhile."""
    stop = threading.Event()
    lock = threading.Lock()
    answers = {}

    def flood(source, n):
        conn, k = None, n
        while not stop.is_set():
            k = k % LOGIN_ACCOUNTS + 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60,
                                                      source_address=(source, 0))
                conn.request("POST", "/sessions", body=f"email=user{k}%40bench.test&password=x",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError:
                status = 0
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                answers[status] = answers.get(status, 0) + 1
        if conn is not None:
            conn.close()

    # The same login on the idle server first: what bcrypt alone takes on this machine now.
    idle = sorted(login_from(server, FIFTH_ADDRESS, LOGIN_ACCOUNTS - k, PASSWORD)[0]
                  for k in range(3))
    with open(server.log_path) as f:
        log_start = f.seek(0, 2)
    threads = [threading.Thread(target=flood, args=(a, i * 1000 + j), daemon=True)
               for i, a in enumerate(FLOOD_ADDRESSES) for j in range(FLOOD_CONNECTIONS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(2.0)  # the flood fills the hashing queue
    times, statuses = [], []
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end or len(times) < 5:
        k += 1
        ms, status = login_from(server, FIFTH_ADDRESS, k, PASSWORD)
        times.append(ms)
        statuses.append(status)
        time.sleep(0.2)
    flood_secs = time.monotonic() - started
    stop.set()
    for t in threads:  # each ends once its request in flight is answered (the queue drains)
        t.join(timeout=120)
    warn, error, examples = log_lines(server, log_start)
    ok = sorted(t for t, s in zip(times, statuses) if s == 200)
    return {"times": sorted(times), "ok": len(ok), "n": len(times), "idle": idle,
            "refused": sum(s != 200 for s in statuses), "answers": answers,
            "warn": warn, "error": error, "examples": examples, "secs": flood_secs}


def w10_slow_connections(server, seconds):
    """W10 (issue 17, item 6): 530 connections from one address that each send half a request
    head and then nothing, each opened again as soon as authd closes it; meanwhile, from
    127.0.0.1, GET /healthz one at a time and, beside it, logins of seeded accounts one at a
    time, each on a fresh connection, for `seconds` (at least 3 of each); and 3 of each before,
    on the idle server. Returns their times and answers and how
    often authd closed a slow connection."""
    import selectors
    stop = threading.Event()
    counts = {"opened": 0, "closed": 0, "failed": 0}
    head = b"GET /healthz HTTP/1.1\r\nHost: authd\r\n"  # and never the blank line

    def slow_flood():
        sel = selectors.DefaultSelector()

        def open_one():
            sock = socket.socket()
            sock.setblocking(False)
            try:
                sock.bind((SLOW_ADDRESS, 0))
                sock.connect_ex(("127.0.0.1", server.port))
            except OSError:
                counts["failed"] += 1
                sock.close()
                return False
            sel.register(sock, selectors.EVENT_WRITE, "connecting")
            return True

        pending = SLOW_CONNECTIONS
        while not stop.is_set():
            while pending and open_one():
                pending -= 1
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                if key.data == "connecting":
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        sel.unregister(sock)
                        sock.close()
                        counts["failed"] += 1
                        pending += 1
                        continue
                    try:
                        sock.send(head)
                    except OSError:
                        pass
                    counts["opened"] += 1
                    sel.modify(sock, selectors.EVENT_READ, "open")
                else:
                    try:
                        data = sock.recv(4096)
                    except OSError:
                        data = b""
                    if not data:  # closed by authd (408 first, or at once)
                        sel.unregister(sock)
                        sock.close()
                        counts["closed"] += 1
                        pending += 1
            if pending and counts["failed"]:
                time.sleep(0.001)  # out of ports or backlog: do not spin
        for key in list(sel.get_map().values()):
            key.fileobj.close()

    # The same probes on the idle server first.
    idle_health = []
    for _ in range(3):
        t = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
        idle_health.append((time.perf_counter() - t) * 1000.0)
    idle_logins = [login_from(server, "127.0.0.1", LOGIN_ACCOUNTS - k, PASSWORD)[0]
                   for k in range(3)]
    flooder = threading.Thread(target=slow_flood, daemon=True)
    flooder.start()
    while counts["opened"] < SLOW_CONNECTIONS and flooder.is_alive():
        time.sleep(0.05)
    time.sleep(0.5)
    # Two probes side by side, so neither rides on a slot the other just got.
    health, logins = [], []
    end = time.monotonic() + seconds

    def probe_health():
        while time.monotonic() < end or len(health) < 3:
            t = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except OSError:
                status = 0
            finally:
                conn.close()
            health.append(((time.perf_counter() - t) * 1000.0, status))
            time.sleep(0.2)

    def probe_logins():
        k = 0
        while time.monotonic() < end or len(logins) < 3:
            k += 1
            logins.append(login_from(server, "127.0.0.1", k, PASSWORD))
            time.sleep(0.2)

    probes = [threading.Thread(target=probe_health), threading.Thread(target=probe_logins)]
    for t in probes:
        t.start()
    for t in probes:
        t.join()
    stop.set()
    flooder.join(timeout=30)
    return {"health": health, "logins": logins, "idle": {"GET /healthz": sorted(idle_health),
            "login": sorted(idle_logins)}, **counts}


# ---------------------------------------------------------------------------------------------
# The cost of a login in database writes.

def sqlite_wal_commits(path):
    """(commits, pages) in the SQLite WAL file since it was last truncated: every frame whose
    header gives a database size ends a transaction (one commit, one fsync with
    synchronous = FULL). Only frames carrying the WAL header's salts count."""
    try:
        with open(path + "-wal", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0, 0
    if len(data) < 32:
        return 0, 0
    page_size, salts = struct.unpack(">I", data[8:12])[0], data[16:24]
    commits = pages = 0
    off = 32
    while off + 24 + page_size <= len(data) and data[off + 8:off + 16] == salts:
        pages += 1
        commits += struct.unpack(">I", data[off + 4:off + 8])[0] != 0
        off += 24 + page_size
    return commits, pages


def login_writes(name, database_url, seeder, workdir, args, n):
    """W7: `n` sequential logins of seeded users on an authd with the bench's flags (login
    throttling off) and on one with authd's defaults (throttling on: 10 failures), counting
    what the database wrote; per login. What an authd start and stop costs by itself (its
    migration check) is measured too and taken off."""
    seeder.start_counting()

    def run(extra, logins):
        server = Server(database_url, extra + args.server_flag,
                        os.path.join(workdir, f"authd-{name}-w7.log"))
        try:
            before = seeder.write_counters()
            timed_logins(server, logins)
            after = None if seeder.counts_at_exit else seeder.write_counters()
        finally:
            server.stop()
        after = after or seeder.write_counters()
        return {k: after[k] - before[k] for k in before}

    off = run(["--max-failed-logins", "0"], n)
    idle = run([], 0)
    on = run([], n)
    per = lambda d: {k: max(0, d[k] - idle[k]) / n for k in d}
    return {"throttling off (bench flags)": per(off), "throttling on (defaults)": per(on)}


def w11(server, n):
    """W11, on an authd with the defaults (throttling on): `n` failed logins of seeded accounts
    and `n` of addresses nobody has, interleaved, one at a time (each address fails once); then
    an address locked by 10 failures, tried `n` times. Medians in ms. The tests check that both
    failures run one verify at the configured cost and commit the same writes, and that a
    throttled login runs no bcrypt; this is what that costs in time."""
    pct = lambda ts, p: ts[min(len(ts) - 1, int(round(p * (len(ts) - 1))))]

    def timed(email, status):
        body = f"email={email.replace('@', '%40')}&password=wrong-{os.getpid()}"
        t = time.perf_counter()
        resp, data = server.request("POST", "/sessions", body)
        took = (time.perf_counter() - t) * 1000.0
        if resp.status != status:
            raise RuntimeError(f"W11 login of {email} answered {resp.status}: {data!r}")
        return took

    tag = f"{os.getpid()}-{int(time.time())}"
    known, unknown = [], []
    for k in range(n):
        known.append(timed(f"user{(k + 500) % LOGIN_ACCOUNTS + 1}@bench.test", 401))
        unknown.append(timed(f"nobody{k}-{tag}@bench.test", 401))
    locked = f"locked-{tag}@bench.test"
    for _ in range(10):
        timed(locked, 401)
    throttled = [timed(locked, 429) for _ in range(n)]
    known, unknown, throttled = sorted(known), sorted(unknown), sorted(throttled)
    return {"known": pct(known, 0.5), "unknown": pct(unknown, 0.5),
            "throttled": pct(throttled, 0.5)}


# ---------------------------------------------------------------------------------------------
# The database's own ceiling: pgbench's point select, interleaved with authd's W2.

def pgbench_vs_w2(server, admin_url, cookie, args, rounds, secs):
    """`pgbench -S -M prepared` on a scratch scale-10 database with as many clients as wrk has
    connections, and W2 on authd, `rounds` times each, interleaved, `secs` seconds each.
    Returns the mean rates, their ratio and the range of the per-round ratios."""
    base, _, query = admin_url.partition("?")
    db = f"authd_bench_{os.getpid()}_pgbench"
    url = base.rsplit("/", 1)[0] + f"/{db}" + ("?" + query if query else "")
    psql = lambda u, sql: subprocess.run(["psql", "-X", "-q", u, "-c", sql], check=True,
                                         capture_output=True, timeout=600)
    psql(admin_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {db}")
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", url], check=True,
                       capture_output=True, timeout=600)
        psql(url, "VACUUM ANALYZE")
        psql(url, "CHECKPOINT")

        def one_round():
            out = subprocess.run(
                ["pgbench", "-n", "-S", "-M", "prepared", "-c", str(args.connections),
                 "-j", "1", "-T", str(secs), url],
                capture_output=True, text=True, timeout=secs + 120)
            m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
            if out.returncode != 0 or not m:
                raise RuntimeError(f"pgbench failed: {out.stdout}{out.stderr}")
            return float(m.group(1))

        def body():
            pg, au, others, servers = [], [], [], []
            for _ in range(rounds):
                pg.append(one_round())
                # The noise is taken over authd's rounds only, once pgbench's own server
                # processes are gone: a process that exits within the window leaves /proc, so
                # its time would show as the machine taken by others.
                time.sleep(1.0)
                with CpuWindow(server.proc.pid) as c:
                    r = wrk(server, "/profile", secs, args.connections,
                            headers=[f"Cookie: session_id={cookie}"])
                others.append(c.other)
                servers.append(c.server)
                if r["bad"] or r["errors"]:
                    raise RuntimeError(f"W2 beside pgbench: {r['bad']} non-2xx, "
                                       f"{r['errors']} socket errors")
                au.append(r["rate"])
            ratios = [a / p for a, p in zip(au, pg)]
            return {"pgbench": statistics.mean(pg), "rate": statistics.mean(au),
                    "ratio": statistics.mean(au) / statistics.mean(pg),
                    "lo": min(ratios), "hi": max(ratios), "pg_all": pg, "au_all": au,
                    "other": max(others), "server": statistics.mean(servers)}

        return measured("W2 beside pgbench", server.proc.pid, args, body)
    finally:
        psql(admin_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def best_of(n, run):
    """The highest-rate result of `n` runs of a throughput workload: interference from other
    processes only ever lowers a rate, so the best run is the least disturbed."""
    results = [run() for _ in range(max(n, 1))]
    return max(results, key=lambda r: r["rate"])


# ---------------------------------------------------------------------------------------------
# One backend, all workloads.

class Results:
    def __init__(self):
        self.rows = []  # (backend, workload, result, target, ratio, verdict, authd CPU, other)

    def add(self, backend, workload, result, target="", ratio=None, ok=None, m=None):
        # Throughputs also say what one request cost authd: its cores ÷ its rate.
        per = ""
        if m is not None and m.get("rate") and workload.startswith(("W1", "W2")):
            per = f"{m['server'] / m['rate'] * 1e6:.1f}"
        self.rows.append((backend, workload, result, target,
                          "" if ratio is None else f"{ratio:.2f}",
                          "" if ok is None else ("PASS" if ok else "FAIL"),
                          "" if m is None else f"{m['server']:.2f}",
                          per,
                          "" if m is None else f"{m['other'] * 100:.0f}%"))


def run_backend(name, database_url, seeder, args, res, workdir, hashed, admin_url=None):
    dur = args.duration
    extra = ["--max-failed-logins", "0"] + args.server_flag
    log(f"[{name}] starting authd on {database_url}")
    server = Server(database_url, extra, os.path.join(workdir, f"authd-{name}.log"))
    pid = server.proc.pid
    log(f"[{name}] authd pid {pid} on port {server.port}")
    limits = []

    def check(r, what):
        if r["bad"] or r["errors"]:
            raise RuntimeError(f"{what}: {r['bad']} non-2xx answers, {r['errors']} socket "
                               "errors; the figures would not be of the intended path\n"
                               + r["text"])
        return r

    def limit_now():
        lim = bcrypt_limit()
        limits.append(lim)
        return lim["limit"]

    try:
        wanted = args.workloads.__contains__
        # W1: the framework floor.
        w1 = {}
        for path in ("/", "/healthz") if wanted("W1") else ():
            r = measured(f"W1 GET {path}", pid, args, lambda: best_of(args.repeats, lambda: check(
                wrk(server, path, dur, args.connections), f"W1 GET {path}")))
            w1[path] = r["rate"]
            res.add(name, f"W1 GET {path}", f"{r['rate']:,.0f} req/s", m=r)
            log(f"[{name}] W1 GET {path}: {r['rate']:,.0f} req/s")

        # W2: the session lookup at three table sizes, every user holding one session.
        w2 = {}
        seeded = 0
        cookie = None
        for size in args.sizes:
            if size > 1:
                t = time.time()
                seeder.seed(seeded + 1, size - 1, hashed)
                seeded = size - 1
                log(f"[{name}] seeded to {seeded:,} users and sessions in "
                    f"{time.time() - t:.1f} s")
            cookie = register_and_log_in(server)
            n, sessions, last = seeder.count()
            if n != size or sessions != size or last != BENCH_EMAIL:
                raise RuntimeError(f"{n} users, {sessions} sessions, last {last!r}; "
                                   f"expected {size} of each")
            if not wanted("W2"):
                continue
            what = f"W2 at {size:,} session" + ("s" if size > 1 else "")
            r = measured(what, pid, args, lambda: best_of(args.repeats, lambda: check(
                wrk(server, "/profile", dur, args.connections,
                    headers=[f"Cookie: session_id={cookie}"]), what)))
            w2[size] = r["rate"]
            label = f"W2 GET /profile, {size:,} session" + ("s" if size > 1 else "")
            log(f"[{name}] {label}: {r['rate']:,.0f} req/s")
            if size == args.sizes[-1]:
                ratio1 = r["rate"] / w2[args.sizes[0]]
                res.add(name, label, f"{r['rate']:,.0f} req/s", "≥ 0.9 × W2 at 1 session",
                        ratio1, ratio1 >= 0.9, r)
                if "/" in w1:
                    # The framework floor is the yardstick on SQLite, where the lookup is in
                    # process; on PostgreSQL it is the database's own rate (pgbench, below).
                    ratio2 = r["rate"] / w1["/"]
                    if name == "sqlite":
                        res.add(name, "", "", "≥ 0.5 × W1 GET /", ratio2, ratio2 >= 0.5)
                    else:
                        res.add(name, "", "", f"(× W1 GET /: {ratio2:.2f}, no target)")
            else:
                res.add(name, label, f"{r['rate']:,.0f} req/s", m=r)

        # W2 against the database's own ceiling: pgbench's point select, interleaved.
        if wanted("W2") and admin_url and not shutil.which("pgbench"):
            res.add(name, "W2 vs pgbench: pgbench not found", "", "≥ 0.7 × pgbench", ok=False)
        elif wanted("W2") and admin_url:
            secs = 3 if args.quick else args.pgbench_secs
            r = pgbench_vs_w2(server, admin_url, cookie, args, args.pgbench_rounds, secs)
            res.add(name, f"pgbench -S -M prepared, -c {args.connections}, scale 10",
                    f"{r['pgbench']:,.0f} tx/s")
            res.add(name, f"W2 GET /profile beside it ({args.pgbench_rounds} × {secs} s)",
                    f"{r['rate']:,.0f} req/s", "≥ 0.7 × pgbench", r["ratio"],
                    r["ratio"] >= 0.7, r)
            log(f"[{name}] W2 beside pgbench: authd "
                + "/".join(f"{x:,.0f}" for x in r["au_all"]) + " req/s, pgbench "
                + "/".join(f"{x:,.0f}" for x in r["pg_all"]) + f" tx/s; ratio {r['ratio']:.3f} "
                f"(rounds {r['lo']:.2f}–{r['hi']:.2f})")

        # W7: what a login writes.
        if wanted("W7"):
            for label, c in login_writes(name, database_url, seeder, workdir, args,
                                         args.logins).items():
                text = ", ".join(f"{v:.2f} {k}" for k, v in c.items())
                res.add(name, f"W7 per login, {label}", text)
                log(f"[{name}] W7 per login, {label}: {text}")

        # W3: the login storm, between two measurements of the bcrypt limit.
        storm_env = {"BENCH_ACCOUNTS": str(LOGIN_ACCOUNTS), "BENCH_PASSWORD": PASSWORD}

        def w3():
            before = limit_now()
            with CpuWindow(pid) as c:
                r = check(wrk(server, "/sessions", dur, args.login_connections,
                              script="login.lua", env=storm_env), "W3 logins")
            r["other"], r["server"] = c.other, c.server
            r["limit"] = (before + limit_now()) / 2
            return r

        if wanted("W3"):
            r = measured("W3", pid, args, w3)
            ratio = r["rate"] / r["limit"]
            res.add(name, f"W3 POST /sessions, cost {COST}", f"{r['rate']:.2f} logins/s",
                    f"≥ 0.95 × limit {r['limit']:.2f}/s", ratio, ratio >= 0.95, r)
            log(f"[{name}] W3: {r['rate']:.2f} logins/s, limit {r['limit']:.2f}/s, "
                f"ratio {ratio:.3f}, authd used {r['server']:.2f} cores")

        # W4: the paced probe, on the idle server, then under a login storm.
        def w4_idle():
            p = probe(server, cookie, dur)
            if p["bad"]:
                raise RuntimeError(f"W4 idle probe: {p['bad']} answers were not 200")
            return p

        if wanted("W4"):
            idle = measured("W4 idle", pid, args, w4_idle)
            res.add(name, "W4 probe p50/p99/max, idle",
                    f"{idle['p50']:.2f}/{idle['p99']:.2f}/{idle['max']:.2f} ms", m=idle)
            log(f"[{name}] W4 idle: p50 {idle['p50']:.2f} p99 {idle['p99']:.2f} "
                f"max {idle['max']:.2f} ms ({idle['n']} probes)")

        def w4_busy():
            before = limit_now()
            out = {}

            def storm():
                out["r"] = wrk(server, "/sessions", dur + 3, args.login_connections,
                               script="login.lua", env=storm_env)

            st = threading.Thread(target=storm)
            with CpuWindow(pid) as c:
                st.start()
                time.sleep(1.5)  # the storm fills the hashing queue first
                p = probe(server, cookie, dur)
                st.join()
            p["other"], p["server"] = c.other, c.server
            check(out["r"], "W4 storm")
            if p["bad"]:
                raise RuntimeError(f"W4 busy probe: {p['bad']} answers were not 200")
            p["rate"] = out["r"]["rate"]
            p["limit"] = (before + limit_now()) / 2
            return p

        if wanted("W4"):
            busy = measured("W4 busy", pid, args, w4_busy)
            ratio = busy["rate"] / busy["limit"]
            res.add(name, "W4 probe p50/p99/max, login storm",
                    f"{busy['p50']:.2f}/{busy['p99']:.2f}/{busy['max']:.2f} ms", "p99 ≤ 10 ms",
                    busy["p99"] / 10.0, busy["p99"] <= 10.0, busy)
            res.add(name, "W4 logins during the probe", f"{busy['rate']:.2f} logins/s",
                    f"≥ 0.9 × limit {busy['limit']:.2f}/s", ratio, ratio >= 0.9)
            log(f"[{name}] W4 busy: p50 {busy['p50']:.2f} p99 {busy['p99']:.2f} "
                f"max {busy['max']:.2f} ms ({busy['n']} probes); logins {busy['rate']:.2f}/s "
                f"= {ratio:.3f} of {busy['limit']:.2f}/s")

        # W5: registrations, between two measurements of the bcrypt limit.
        if wanted("W5"):
            run = [0]

            def w5():
                run[0] += 1
                before = limit_now()
                with CpuWindow(pid) as c:
                    r = check(wrk(server, "/users", dur, args.login_connections,
                                  script="register.lua",
                                  env={"BENCH_RUN": f"{name}{os.getpid()}x{run[0]}",
                                       "BENCH_PASSWORD": PASSWORD}), "W5 registrations")
                r["other"], r["server"] = c.other, c.server
                r["limit"] = (before + limit_now()) / 2
                return r

            r = measured("W5", pid, args, w5)
            ratio = r["rate"] / r["limit"]
            res.add(name, "W5 POST /users", f"{r['rate']:.2f} registrations/s",
                    f"≥ 0.95 × limit {r['limit']:.2f}/s", ratio, ratio >= 0.95, r)
            log(f"[{name}] W5: {r['rate']:.2f}/s = {ratio:.3f} of {r['limit']:.2f}/s, "
                f"authd used {r['server']:.2f} cores")

        # W6: one login at a time, on the idle machine and beside CPU-bound processes.
        if wanted("W6"):
            r = measured("W6", pid, args, lambda: w6(server, args.logins))
            ratio = r["loaded_p50"] / r["idle_p50"]
            res.add(name, f"W6 login p50/p90, idle", f"{r['idle_p50']:.0f}/{r['idle_p90']:.0f} ms",
                    m=r["idle_m"])
            res.add(name, f"W6 login p50/p90, {HOGS} CPU hogs beside",
                    f"{r['loaded_p50']:.0f}/{r['loaded_p90']:.0f} ms", "p50 ≤ 3 × idle p50",
                    ratio, ratio <= 3.0, r)
            log(f"[{name}] W6: login p50 {r['idle_p50']:.0f} ms idle, {r['loaded_p50']:.0f} ms "
                f"beside {HOGS} CPU hogs (p90 {r['idle_p90']:.0f} / {r['loaded_p90']:.0f} ms), "
                f"ratio {ratio:.2f}")

        # W8: the pages, one request at a time (issue 13: p99 under 5 ms, under 30 KB).
        if wanted("W8") and cookie:
            m = measured("W8", pid, args, lambda: {"pages": w8_pages(server, cookie)})
            for path, r in m["pages"].items():
                ok = r["p99"] <= 5.0 and r["bytes"] < 30 * 1024 and not r["bad"]
                res.add(name, f"W8 GET {path}", f"p50/p99 {r['p50']:.2f}/{r['p99']:.2f} ms, "
                        f"{r['bytes']:,} B", "p99 ≤ 5 ms, < 30 KB", r["p99"] / 5.0, ok, m)
                log(f"[{name}] W8 GET {path}: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
                    f"max {r['max']:.2f} ms, {r['bytes']} bytes, {r['bad']} not 200")

        # W9: four addresses flood logins; a login from a fifth.
        if wanted("W9"):
            r = measured("W9", pid, args, lambda: w9_overload(server, dur))
            t = r["times"]
            worst = t[-1]
            ok = r["ok"] == r["n"] and worst <= 3000.0
            res.add(name, "W9 login from a 5th address, idle server",
                    f"p50 {r['idle'][1]:,.0f} ms")
            res.add(name, f"W9 login from a 5th address, 4 × {FLOOD_CONNECTIONS} flooding",
                    f"{r['ok']}/{r['n']} ok, p50/max {t[len(t) // 2]:,.0f}/{worst:,.0f} ms",
                    "all ok, max ≤ 3 s", worst / 3000.0, ok, r)
            a = r["answers"]
            flood = ", ".join(f"{k or 'no answer'}: {v:,}" for k, v in sorted(a.items()))
            per_sec = r["warn"] / max(r["secs"], 1e-3)
            res.add(name, "W9 log lines during the flood",
                    f"{r['warn']} WARN, {r['error']} ERROR in {r['secs']:.0f} s",
                    "0 ERROR, ≤ 1 WARN/s", per_sec, r["error"] == 0 and per_sec <= 1.05)
            log(f"[{name}] W9: fifth-address logins {r['ok']}/{r['n']} ok, times (ms) "
                + ", ".join(f"{x:.0f}" for x in t) + f"; flood answers {flood}; "
                f"log: {r['warn']} WARN, {r['error']} ERROR lines, e.g. {r['examples']}")

        # W10: one address holds connections; /healthz and a login from another.
        if wanted("W10"):
            r = measured("W10", pid, args, lambda: w10_slow_connections(server, dur))
            for what, samples in (("GET /healthz", r["health"]), ("login", r["logins"])):
                res.add(name, f"W10 {what} from another address, idle server",
                        f"p50 {r['idle'][what][1]:,.0f} ms")
                t = sorted(ms for ms, _ in samples)
                good = sum(status == 200 for _, status in samples)
                res.add(name, f"W10 {what} from another address, {SLOW_CONNECTIONS} slow "
                        "connections from one",
                        f"{good}/{len(t)} ok, p50/max {t[len(t) // 2]:,.0f}/{t[-1]:,.0f} ms",
                        "all ok, max ≤ 1 s", t[-1] / 1000.0,
                        good == len(t) and t[-1] <= 1000.0, r)
                log(f"[{name}] W10 {what}: " + ", ".join(f"{ms:.0f} ms {s}" for ms, s in samples))
            log(f"[{name}] W10 slow connections: {r['opened']:,} opened, {r['closed']:,} closed "
                f"by authd, {r['failed']:,} connects failed")

        # W11: what a failed login costs, known address or not, and a throttled one.
        if wanted("W11"):
            w11_server = Server(database_url, args.server_flag,
                                os.path.join(workdir, f"authd-{name}-w11.log"))
            try:
                r = measured("W11", w11_server.proc.pid, args,
                             lambda: w11(w11_server, args.logins))
            finally:
                w11_server.stop()
            ratio = r["unknown"] / r["known"]
            res.add(name, "W11 failed login p50, unknown ÷ known address",
                    f"{r['unknown']:.0f} / {r['known']:.0f} ms", "0.8–1.25", ratio,
                    0.8 <= ratio <= 1.25, r)
            share = r["throttled"] / r["known"]
            res.add(name, "W11 throttled login p50 ÷ failed login p50",
                    f"{r['throttled']:.1f} / {r['known']:.0f} ms", "≤ 0.25", share / 0.25,
                    share <= 0.25, r)
            log(f"[{name}] W11: failed login p50 {r['known']:.1f} ms known, {r['unknown']:.1f} ms "
                f"unknown (ratio {ratio:.2f}); throttled {r['throttled']:.2f} ms ({share:.3f})")
    finally:
        server.stop()
    mib = server.peak_kib / 1024
    res.add(name, "peak RSS of authd (VmHWM)", f"{mib:.1f} MiB", "≤ 64 MiB", mib / 64,
            mib <= 64)
    log(f"[{name}] peak RSS {mib:.1f} MiB")
    return limits


def print_table(res, header):
    cols = ("backend", "workload", "result", "target", "ratio", "verdict", "authd CPU",
            "authd µs/req", "other CPU")
    rows = [cols] + res.rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    line = lambda r: "| " + " | ".join(r[i].ljust(widths[i]) for i in range(len(cols))) + " |"
    print()
    for h in header:
        print(h)
    print()
    print(line(cols))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in res.rows:
        print(line(r))
    fails = [r for r in res.rows if r[5] == "FAIL"]
    print()
    print(f"{sum(r[5] == 'PASS' for r in res.rows)} targets pass, {len(fails)} fail.")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 s per workload instead of 10")
    p.add_argument("--duration", type=int, default=None, help="seconds per workload")
    p.add_argument("--connections", type=int, default=16, help="wrk connections for W1/W2")
    p.add_argument("--login-connections", type=int, default=8,
                   help="wrk connections for W3/W4/W5")
    p.add_argument("--backend", choices=("all", "sqlite", "postgres"), default="all")
    p.add_argument("--postgres-url", default=None,
                   help="URL of a PostgreSQL database to create the bench database from")
    p.add_argument("--no-w5", action="store_true", help="skip W5 (registrations)")


    p.add_argument("--pgbench-rounds", type=int, default=3,
                   help="PostgreSQL: rounds of pgbench and W2, interleaved (default 3)")
    p.add_argument("--pgbench-secs", type=int, default=6,
                   help="PostgreSQL: seconds of each pgbench and W2 round (default 6; 3 with "
                        "--quick)")
    p.add_argument("--workloads", default="W1,W2,W3,W4,W5,W6,W7,W8,W9,W10,W11",
                   help="comma-separated workloads to run (default all; the table is seeded to "
                        "--sizes either way, e.g. --workloads W4,W6 --sizes 1,2000)")
    p.add_argument("--logins", type=int, default=20,
                   help="W6, W11: sequential logins timed (default 20)")
    p.add_argument("--noise", type=float, default=0.10,
                   help="share of the machine other processes may use during a workload before "
                        "it is run again (default 0.10)")
    p.add_argument("--retries", type=int, default=2,
                   help="extra tries of a workload disturbed by other processes (default 2)")
    p.add_argument("--quiet-wait", type=float, default=20,
                   help="seconds to wait at most for a quiet machine before each workload")
    p.add_argument("--repeats", type=int, default=2,
                   help="runs of each W1/W2 workload, keeping the fastest (default 2)")
    p.add_argument("--server-flag", action="append", default=[],
                   help="extra authd flag (repeat; e.g. --server-flag=--hashing-threads=3)")
    p.add_argument("--sizes", default="1,100000,1000000",
                   help="W2 table sizes, ascending, the first 1 (for experiments; W3–W5 need "
                        f"at least {LOGIN_ACCOUNTS + 1} rows)")
    args = p.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.workloads = {w.strip().upper() for w in args.workloads.split(",") if w.strip()}
    if args.no_w5:
        args.workloads.discard("W5")
    args.duration = args.duration or (3 if args.quick else 10)

    started = datetime.datetime.now(datetime.timezone.utc)
    workdir = tempfile.mkdtemp(prefix="authd-bench-")
    res = Results()
    limits = []
    notes = []
    # The plain limit (normal priority) on a machine as quiet as it gets, for the header; and one
    # precomputed hash of PASSWORD for every seeded row.
    plain_other = wait_for_quiet(os.getpid(), args.noise, args.quiet_wait)
    plain = bcrypt_limit(idle=False)
    hashed = plain["hash"]
    try:
        if args.backend in ("all", "sqlite"):
            path = os.path.join(workdir, "bench.db")
            try:
                limits += run_backend("sqlite", path, SqliteSeeder(path), args, res, workdir,
                                      hashed)
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                log(f"[sqlite] aborted: {e}")
                notes.append(f"SQLITE RUN ABORTED: {str(e).splitlines()[0]}")
                res.add("sqlite", "run aborted (see the notes)", "", ok=False)
        if args.backend in ("all", "postgres"):
            if not args.postgres_url:
                notes.append("PostgreSQL skipped: scripts/postgres-up failed (see above).")
            else:
                db = f"authd_bench_{os.getpid()}"
                admin = args.postgres_url
                # The admin URL's options (scripts/postgres-up: sslmode=disable) hold for the
                # bench database too: before, they were dropped and libpq's default `prefer`
                # put TLS on the loopback connection.
                base, _, query = admin.partition("?")
                base, query = base.rsplit("/", 1)[0], ("?" + query if query else "")
                subprocess.run(["psql", "-X", "-q", admin, "-c", f"CREATE DATABASE {db}"],
                               check=True, timeout=60)
                try:
                    url = f"{base}/{db}{query}"
                    limits += run_backend("postgres", url, PostgresSeeder(url), args, res,
                                          workdir, hashed, admin)
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    log(f"[postgres] aborted: {e}")
                    notes.append(f"POSTGRESQL RUN ABORTED: {str(e).splitlines()[0]}")
                    res.add("postgres", "run aborted (see the notes)", "", ok=False)
                finally:
                    subprocess.run(["psql", "-X", "-q", admin, "-c",
                                    f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], timeout=60)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ms = [l["median_ms"] for l in limits]
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            model = m.group(1).strip() if m else model
    except OSError:
        pass
    header = [
        f"authd bench, {started:%Y-%m-%d %H:%M} UTC, {platform.node()}: {CORES} cores ({model}), "
        f"{platform.system()} {platform.release()}",
        f"{args.duration} s per workload (W1/W2: best of {args.repeats}); wrk {args.connections} "
        "connections for W1/W2, "
        f"{args.login_connections} for W3–W5; W3–W5 on {args.sizes[-1]:,} users, each with a session; "
        f"authd flags: --bcrypt-cost {COST} --max-failed-logins 0 {' '.join(args.server_flag)}",
        f"bcrypt limit = {CORES} cores ÷ median time of one cost-{COST} verify, timed with "
        f"{CORES} threads (bcrypt_verify_time example). At normal priority at the start: "
        f"{plain['median_ms']:.1f} ms, limit {plain['limit']:.2f}/s (other CPU "
        f"{plain_other:.0%}). Each login workload's limit is the mean of two timings at the "
        f"hashing threads' niceness ({HASHING_NICE}), just before and after it: "
        + (f"{min(ms):.1f}–{max(ms):.1f} ms, limit {CORES * 1000 / max(ms):.2f}–"
           f"{CORES * 1000 / min(ms):.2f}/s over {len(ms)} measurements" if ms else "not measured"),
        "authd CPU: cores the server used during the workload; authd µs/req: that CPU time per "
        "request of a throughput workload (W1, W2); other CPU: share of the machine "
        f"used meanwhile by processes outside the benchmark (noise; a workload above "
        f"{args.noise:.0%} is run again, up to {args.retries} times, keeping the quietest)",
    ] + notes
    print_table(res, header)
    return 1 if any(r[5] == "FAIL" for r in res.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
