"""A real SMTP server (aiosmtpd) for authd's mail tests: listens on 127.0.0.1:PORT and writes
each message it accepts into DIR as NNNN.json (envelope, headers, decoded text and HTML parts,
and the raw message), renamed into place once complete. Prints "listening" once it accepts
connections, then a line "port N" (PORT 0 picks a free port: read it back from that line).
With --hold it first binds the port and prints "bound" and "port N", refusing connections (a
relay that is down, whose port nobody else can take meanwhile) until a line arrives on stdin;
then it listens and prints "listening" and "port N".

Options:
  --hold             bound but refusing connections until a line arrives on stdin
  --refuse N         the first N messages are refused with a 451 (try again later)
  --reject           every message is refused with a 550 (a permanent failure)
  --reject-sender    every MAIL FROM is refused with a 550 (a relay that refuses the sender)
  --delay SECONDS    each message takes this long to accept (a slow relay); sessions run in
                     parallel, as a real relay's do
  --starttls CERT KEY   offer STARTTLS with this certificate chain and key (PEM files)
  --implicit-tls CERT KEY   TLS from the first byte (smtps), with this chain and key
  --auth USER:PASS   offer AUTH (PLAIN, LOGIN) and accept only these credentials; over TLS
                     only unless --auth-in-clear is given too (a server that invites the
                     password in clear, for the test that authd never sends it)

What the sink saw is kept beside the mails: conversation.jsonl has one line per line the
client sent, {"conn": N, "tls": bool, "line": "..."} (mail bodies included, so a test can check
what travelled in clear), and stats.txt has (JSON) {"connections": N, "peak_sessions": N,
"auth_ok": N, "auth_failed": N}, rewritten as they change.

Run with the python of scripts/smtp-deps:  python scripts/smtp-sink.py PORT DIR [options]
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, folder, args):
        self.folder = folder
        self.refuse = args.refuse
        self.reject = args.reject
        self.reject_sender = args.reject_sender
        self.delay = args.delay
        self.count = 0
        self.stats = {"connections": 0, "peak_sessions": 0, "auth_ok": 0, "auth_failed": 0}
        self.sessions = 0
        self.conversation = open(os.path.join(folder, "conversation.jsonl"), "a")
        self.write_stats()

    def write_stats(self):
        name = os.path.join(self.folder, "stats.txt")
        with open(name + ".tmp", "w") as f:
            json.dump(self.stats, f)
        os.rename(name + ".tmp", name)

    def opened(self):
        self.stats["connections"] += 1
        self.sessions += 1
        self.stats["peak_sessions"] = max(self.stats["peak_sessions"], self.sessions)
        self.write_stats()
        return self.stats["connections"]

    def closed(self):
        self.sessions -= 1

    def heard(self, conn, tls, line):
        record = {"conn": conn, "tls": tls, "line": line.decode("utf-8", "replace")}
        self.conversation.write(json.dumps(record) + "\n")
        self.conversation.flush()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.reject_sender:
            return "550 5.7.1 sender refused by the test server"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
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


class Recording(SMTP):
    """aiosmtpd's server, noting each line the client sends and whether it came over TLS."""

    def __init__(self, sink, implicit_tls, **kwargs):
        super().__init__(sink, **kwargs)
        self.sink = sink
        self.implicit_tls = implicit_tls
        self.conn = None

    def connection_made(self, transport):
        first = self.conn is None
        super().connection_made(transport)
        if first:
            self.conn = self.sink.opened()
            reader = self._reader
            readuntil = reader.readuntil

            async def recorded(separator=b"\n"):
                line = await readuntil(separator)
                tls = self.implicit_tls or self._tls_protocol is not None
                self.sink.heard(self.conn, tls, line.rstrip(b"\r\n"))
                return line

            reader.readuntil = recorded

    def connection_lost(self, error):
        if self.conn is not None:
            self.sink.closed()
        super().connection_lost(error)


def tls_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("folder")
    parser.add_argument("--refuse", type=int, default=0)
    parser.add_argument("--reject", action="store_true")
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--reject-sender", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth", metavar="USER:PASS")
    parser.add_argument("--auth-in-clear", action="store_true")
    args = parser.parse_args()
    # aiosmtpd warns about its own deprecated attributes when AUTH runs, and prints a trace
    # for every failed TLS handshake (the tests make them on purpose): keep stderr quiet.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    sink = Sink(args.folder, args)

    options = {"hostname": "smtp.test"}
    if args.starttls:
        options["tls_context"] = tls_context(*args.starttls)
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, data):
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == user
                and data.password.decode() == password
            )
            sink.stats["auth_ok" if ok else "auth_failed"] += 1
            sink.write_stats()
            # handled=False: aiosmtpd answers 535 itself when the credentials are wrong.
            return AuthResult(success=ok, handled=False)

        options["authenticator"] = authenticator
        options["auth_require_tls"] = not args.auth_in_clear
    implicit = args.implicit_tls is not None
    ssl_context = tls_context(*args.implicit_tls) if implicit else None

    loop = asyncio.get_running_loop()
    # Bound first, listening later: a bound socket that does not listen refuses connections,
    # and nobody else can take its port meanwhile.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", args.port))
    if args.hold:
        os.write(1, b"bound\nport %d\n" % sock.getsockname()[1])
        await loop.run_in_executor(None, sys.stdin.readline)
    server = await loop.create_server(
        lambda: Recording(sink, implicit, **options),
        sock=sock,
        ssl=ssl_context,
    )
    port = server.sockets[0].getsockname()[1]
    # One write (one system call): a reader that takes only the first line and closes the
    # pipe then must not make the second line fail.
    try:
        os.write(1, b"listening\nport %d\n" % port)
    except BrokenPipeError:
        pass
    await server.serve_forever()


asyncio.run(main())
