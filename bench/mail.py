#!/usr/bin/env python3
"""The mail figures of issue 17, against any authd binary (this one or an older build):

  flood    1,100 throw-away accounts each ask for a reset from one client address (or from
           --spread addresses), then a real user asks from another address; the relay (aiosmtpd,
           scripts/smtp-sink.py) takes 0.2 s per mail. Prints how long until the real user's
           mail arrived, or that it did not within --wait seconds.
  restart  authd with the relay down gets a reset request, is stopped (SIGTERM) and started
           again with the relay up. Prints whether, and how soon after the restart, the mail
           arrived.

  bench/mail.py flood   [--authd target/debug/authd] [--spread N] [--wait 120]
  bench/mail.py restart [--authd target/debug/authd] [--wait 60]

The binary is given as is (build it first: `cargo build -p authd`). Everything runs on
127.0.0.1 with a fresh SQLite file in a temporary folder, bcrypt cost 4.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_with_aiosmtpd():
    out = subprocess.run([os.path.join(ROOT, "scripts/smtp-deps")], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


class Sink:
    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="authd-sink-")
        self.proc = subprocess.Popen(
            [python_with_aiosmtpd(), os.path.join(ROOT, "scripts/smtp-sink.py"), "0",
             self.dir, *extra],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "listening"
        self.port = int(self.proc.stdout.readline().split()[1])

    def mails(self):
        names = sorted(n for n in os.listdir(self.dir) if n[:4].isdigit() and n.endswith(".json"))
        out = []
        for name in names:
            with open(os.path.join(self.dir, name)) as f:
                out.append(json.load(f))
        return out

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Authd:
    def __init__(self, binary, database, smtp_url, extra=()):
        self.log = []
        args = [binary, "--bind", "127.0.0.1:0", "--database-url", database,
                "--smtp-url", smtp_url, "--mail-from", "authd <no-reply@authd.test>",
                "--public-url", "https://authd.test", "--trusted-proxies", "127.0.0.1",
                *extra]
        env = dict(os.environ, AUTHD_BCRYPT_COST="4", RUST_LOG="info")
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env=env)
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise SystemExit("authd exited before listening:\n" + "".join(self.log))
            self.log.append(line)
            if "address=" in line:
                self.url = "http://" + line.split("address=")[1].split()[0]
                break
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def post(self, path, form, client="203.0.113.9"):
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"X-Forwarded-For": client})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        self.reader.join(timeout=5)


def wait_for_mail(sink, to, seconds):
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if any(mail["rcpt_tos"] == [to] for mail in sink.mails()):
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def flood(args):
    sink = Sink(["--delay", "0.2"])
    folder = tempfile.mkdtemp(prefix="authd-bench-")
    authd = Authd(args.authd, os.path.join(folder, "authd.db"),
                  f"smtp://127.0.0.1:{sink.port}?tls=none")
    try:
        assert authd.post("/users", {"email": "bob@x.io", "password": "pw"}) == 200
        emails = [f"throwaway{n}@x.io" for n in range(1100)]
        client = lambda n: f"198.51.{100 + n // 250}.{n % 250 + 1}" if args.spread else "198.51.100.7"
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            registered = list(pool.map(
                lambda n: authd.post("/users", {"email": emails[n], "password": "pw"},
                                     client(n % max(args.spread, 1))),
                range(len(emails))))
            assert all(s == 200 for s in registered), set(registered)
            started = time.monotonic()
            answers = list(pool.map(
                lambda n: authd.post("/reset_password", {"email": emails[n]},
                                     client(n % max(args.spread, 1))),
                range(len(emails))))
        took = time.monotonic() - started
        accepted = sum(1 for s in answers if s == 200)
        assert authd.post("/reset_password", {"email": "bob@x.io"}) == 200
        arrived = wait_for_mail(sink, "bob@x.io", args.wait)
        where = f"{args.spread} addresses" if args.spread else "one address"
        print(f"flood: 1100 resets from {where} in {took:.1f} s, {accepted} answered 200 "
              f"({len(answers) - accepted} refused); relay 0.2 s per mail; the real user's "
              f"reset mail " + (f"arrived after {arrived:.1f} s" if arrived is not None
                                else f"did not arrive within {args.wait} s"))
        return 0 if arrived is not None else 1
    finally:
        authd.stop()
        sink.stop()


def restart(args):
    folder = tempfile.mkdtemp(prefix="authd-bench-")
    database = os.path.join(folder, "authd.db")
    first = Authd(args.authd, database, "smtp://127.0.0.1:1?tls=none")
    assert first.post("/users", {"email": "bob@x.io", "password": "pw"}) == 200
    assert first.post("/reset_password", {"email": "bob@x.io"}) == 200
    time.sleep(1)
    first.stop()
    said = [line.strip() for line in first.log if "outbox" in line or "authd stopped" in line]
    sink = Sink()
    second = Authd(args.authd, database, f"smtp://127.0.0.1:{sink.port}?tls=none")
    try:
        arrived = wait_for_mail(sink, "bob@x.io", args.wait)
        print("restart: at the stop authd said: " + (" | ".join(said) or "nothing"))
        print("restart: the mail queued before the restart " +
              (f"arrived {arrived:.1f} s after the restart" if arrived is not None
               else f"did not arrive within {args.wait} s after it"))
        return 0 if arrived is not None else 1
    finally:
        second.stop()
        sink.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=["flood", "restart"])
    parser.add_argument("--authd", default=os.path.join(ROOT, "target/debug/authd"))
    parser.add_argument("--spread", type=int, default=0,
                        help="flood from this many client addresses instead of one")
    parser.add_argument("--wait", type=int, default=120)
    args = parser.parse_args()
    sys.exit(flood(args) if args.workload == "flood" else restart(args))


if __name__ == "__main__":
    main()
