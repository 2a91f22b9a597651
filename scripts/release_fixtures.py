#!/usr/bin/env python3
"""Drives a previous release's authd to write the upgrade fixtures; see scripts/release-fixtures,
which builds that release and calls this:

    release_fixtures.py AUTHD_BINARY OUT_DIR POSTGRES_URL SCHEMA REV
"""

import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

AUTHD, OUT, PG_URL, SCHEMA, REV = sys.argv[1:6]
# Cara registers as Cara@X.io: stored lower-cased.
PASSWORDS = {
    "ann@x.io": "ann-pw",
    "bob@x.io": "bob-pw",
    "cara@x.io": "cara-pw",
    "dan@x.io": "dan-pw",
    "eve@x.io": "eve-pw",
    "fay@x.io": "fay-pw",
}


class Server:
    """The release's authd on 127.0.0.1:0, its address read from its log."""

    def __init__(self, database_url, extra=()):
        args = [AUTHD, "--bind", "127.0.0.1:0", "--database-url", database_url,
                "--bcrypt-cost", "4", "--max-sessions-per-user", "2", *extra]
        env = dict(os.environ, RUST_LOG="info")
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=env, text=True)
        self.log = []
        for line in self.proc.stderr:
            self.log.append(line)
            found = re.search(r"address=(\S+)", line)
            if found:
                self.host, port = found.group(1).rsplit(":", 1)
                self.port = int(port)
                break
        else:
            raise RuntimeError("authd exited before listening:\n" + "".join(self.log))
        self.reader = threading.Thread(target=lambda: self.log.extend(self.proc.stderr))
        self.reader.start()

    def request(self, method, path, form=None, cookie=None, agent="release-fixtures"):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"User-Agent": agent}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie:
            headers["Cookie"] = "session_id=" + cookie
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read().decode()
        cookie = None
        for name, value in res.getheaders():
            if name.lower() == "set-cookie" and value.startswith("session_id="):
                cookie = value[len("session_id="):].split(";")[0]
        conn.close()
        return res.status, data, cookie

    def expect(self, status, method, path, **kw):
        got, data, cookie = self.request(method, path, **kw)
        if got != status:
            raise RuntimeError(f"{method} {path}: {got} {data}")
        return data, cookie

    def stop(self):
        self.proc.terminate()
        if self.proc.wait(timeout=60) != 0:
            raise RuntimeError("authd did not stop cleanly:\n" + "".join(self.log))
        self.reader.join()


def drive(server):
    """Everything the fixture holds; answers what the tests need to know."""
    for email, password in PASSWORDS.items():
        typed = "Cara@X.io" if email == "cara@x.io" else email
        server.expect(200, "POST", "/users", form={"email": typed, "password": password})
    login = lambda email, agent: server.expect(
        200, "POST", "/sessions", form={"email": email, "password": PASSWORDS[email]},
        agent=agent)[1]
    live = []
    for agent in ("fixture-a", "fixture-b"):
        live.append({"email": "ann@x.io", "cookie": login("ann@x.io", agent),
                     "user_agent": agent})
    live.append({"email": "bob@x.io", "cookie": login("bob@x.io", "fixture-bob"),
                 "user_agent": "fixture-bob"})
    for _ in range(2):
        server.expect(401, "POST", "/sessions", form={"email": "bob@x.io", "password": "no"})
    data, _ = server.expect(200, "POST", "/reset_password", form={"email": "cara@x.io"})
    token = json.loads(data)["reset_token"]
    dan = login("dan@x.io", "fixture-dan")
    server.expect(200, "PUT", "/profile/password", cookie=dan,
                  form={"password": "dan-pw", "new_password": "dan-new-pw"})
    live.append({"email": "dan@x.io", "cookie": dan, "user_agent": "fixture-dan"})
    eve = login("eve@x.io", "fixture-eve")
    server.expect(302, "DELETE", "/sessions", cookie=eve)
    fay = login("fay@x.io", "fixture-fay")
    server.expect(200, "DELETE", "/profile", cookie=fay, form={"password": "fay-pw"})
    passwords = {e: p for e, p in PASSWORDS.items() if e not in ("eve@x.io", "fay@x.io")}
    passwords["eve@x.io"] = "eve-pw"
    passwords["dan@x.io"] = "dan-new-pw"
    return {
        "release": REV,
        "passwords": passwords,
        "live_sessions": live,
        "dead_sessions": [eve, fay],
        "deleted": ["fay@x.io"],
        "reset": {"email": "cara@x.io", "token": token},
        "failed_logins": {"bob@x.io": 2},
    }


def write_manifest(name, manifest):
    manifest["written_at"] = int(time.time())
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


def sqlite_fixture():
    work = tempfile.mkdtemp()
    try:
        path = os.path.join(work, "authd.sqlite")
        server = Server(path)
        manifest = drive(server)
        server.stop()
        # One self-contained file: the WAL folded in, rollback-journal mode (authd switches it
        # back to WAL when it opens it).
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        shutil.copy(path, os.path.join(OUT, "authd.sqlite"))
        write_manifest("sqlite.json", manifest)
    finally:
        shutil.rmtree(work)


def psql(sql):
    subprocess.run(["psql", PG_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def postgres_fixture():
    psql(f"SET client_min_messages = warning; DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    try:
        server = Server(PG_URL, ["--db-schema", SCHEMA])
        manifest = drive(server)
        server.stop()
        dump = subprocess.run(
            ["pg_dump", PG_URL, f"--schema={SCHEMA}", "--inserts", "--no-owner",
             "--no-privileges", "--no-comments"],
            check=True, capture_output=True, text=True).stdout
        # psql's meta-commands (`\restrict KEY`) are not SQL, and their random keys would make
        # every regeneration differ.
        lines = [line for line in dump.splitlines() if not line.startswith("\\")]
        with open(os.path.join(OUT, "postgres.sql"), "w") as f:
            f.write("\n".join(lines) + "\n")
        manifest["schema"] = SCHEMA
        write_manifest("postgres.json", manifest)
    finally:
        psql(f"SET client_min_messages = warning; DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


os.makedirs(OUT, exist_ok=True)
sqlite_fixture()
postgres_fixture()
