"""bench/smtp-probe.py: a probe SMTP client for bench/subscriptions.

    python3 bench/smtp-probe.py PORT MESSAGE ADDRESSES OUT TAG

Until SIGTERM, sends MESSAGE (a file; its Subject replaced by `probe TAG-N`) one mail per
connection, one at a time, PAUSE_MS (default 10) apart, each to the next address of the file
ADDRESSES (one a line, in turn, from a random start). For every mail it appends to OUT
`address<TAB>subject<TAB>t250<TAB>data_to_250`: t250 is when the `250` after DATA was read, in
nanoseconds of CLOCK_MONOTONIC (time.monotonic_ns, the clock of the subscribers clients), and
data_to_250 the microseconds from sending the end of DATA (`.`) to reading that `250`.
"""

import os
import random
import re
import signal
import socket
import sys
import time

port, message_file, address_file, out_file, tag = sys.argv[1:6]
pause = int(os.environ.get("PAUSE_MS", "10")) / 1000
addresses = [line.strip() for line in open(address_file) if line.strip()]
message = open(message_file, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
message = b"".join(b"." + line if line.startswith(b".") else line
                   for line in message.splitlines(keepends=True))
if not message.endswith(b"\r\n"):
    message += b"\r\n"

stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)


class Session:
    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def reply(self, expect):
        """Reads one (possibly multi-line) reply; fails unless its code starts with `expect`."""
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            if line[3:4] != b"-":
                if not line.startswith(expect):
                    raise RuntimeError(f"expected {expect!r}, got {line!r}")
                return

    def command(self, line, expect):
        self.sock.sendall(line + b"\r\n")
        self.reply(expect)


n = 0
start = random.randrange(len(addresses))
with open(out_file, "a") as out:
    while not stopping:
        address = addresses[(start + n) % len(addresses)]
        subject = f"probe {tag}-{n}"
        body = re.sub(rb"(?m)^Subject: .*\r\n", f"Subject: {subject}\r\n".encode(), message, count=1)
        session = Session()
        session.reply(b"220")
        session.command(b"EHLO probe.test", b"250")
        session.command(b"MAIL FROM:<probe@example.test>", b"250")
        session.command(f"RCPT TO:<{address}>".encode(), b"250")
        session.command(b"DATA", b"354")
        session.sock.sendall(body)
        sent = time.monotonic_ns()
        session.sock.sendall(b".\r\n")
        session.reply(b"250")
        t250 = time.monotonic_ns()
        session.command(b"QUIT", b"221")
        session.sock.close()
        out.write(f"{address}\t{subject}\t{t250}\t{(t250 - sent) / 1000:.0f}\n")
        n += 1
        time.sleep(pause)
