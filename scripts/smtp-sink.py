"""A real SMTP server (aiosmtpd) for authd's mail tests: listens on 127.0.0.1:PORT (0: a port
the system picks) and writes each message it accepts into DIR as NNNN.json (envelope, headers,
decoded text and HTML parts, and the raw message), renamed into place once complete. Prints
"listening PORT" once it accepts connections. With --refuse N, the first N messages are refused
with a 451 (try again later); with --reject, every message is refused with a 550 (a permanent
failure). With --hold, it binds the port and prints "bound PORT" but refuses connections (a
server that is down) until a line arrives on stdin; then it listens and prints "listening PORT".

Run with the python of scripts/smtp-deps:  python scripts/smtp-sink.py PORT DIR [--refuse N]
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import socket
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, folder, refuse, reject):
        self.folder = folder
        self.refuse = refuse
        self.reject = reject
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.reject:
            return "550 5.7.1 rejected by the test server"
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.count += 1
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts.setdefault(part.get_content_subtype(), part.get_content())
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in message.items()},
            "content_type": message.get_content_type(),
            "text": parts.get("plain"),
            "html": parts.get("html"),
            "raw": raw.decode("utf-8", "replace"),
        }
        name = os.path.join(self.folder, "%04d.json" % self.count)
        with open(name + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(name + ".tmp", name)
        return "250 OK"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("folder")
    parser.add_argument("--refuse", type=int, default=0)
    parser.add_argument("--reject", action="store_true")
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    sink = Sink(args.folder, args.refuse, args.reject)
    # Bound first, listening later: a bound socket that does not listen refuses connections,
    # and nobody else can take its port meanwhile.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    loop = asyncio.get_running_loop()
    if args.hold:
        print("bound", port, flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
    server = await loop.create_server(lambda: SMTP(sink, hostname="smtp.test"), sock=sock)
    print("listening", port, flush=True)
    await server.serve_forever()


asyncio.run(main())
