"""A real ephemail for the tests: the binary the Rust build made, on free ports, with its
embedded PostgreSQL in a fresh data directory; mail goes to it over SMTP (smtplib)."""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]


def ephemail_binary() -> str:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return os.environ.get("EPHEMAIL_BIN", str(target / "debug" / "ephemail"))


def two_free_ports() -> tuple[int, int]:
    # Held open together while they are picked: a probe closed before the next one opens can
    # be handed the same port twice.
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return first.getsockname()[1], second.getsockname()[1]


class EphemailServer:
    def __init__(self, *extra_args: str):
        # Under /tmp and world-readable: as root, the cluster runs as the `postgres` user.
        self.data_dir = tempfile.mkdtemp(prefix="ephemail-sdk-py-", dir="/tmp")
        os.chmod(self.data_dir, 0o755)
        self.smtp_port, self.http_port = two_free_ports()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.extra_args = extra_args
        self.api_key: Optional[str] = None
        self.run()

    def run(self) -> None:
        args = [ephemail_binary(), "serve", "--data-dir", self.data_dir, "--smtp-addr",
                f"127.0.0.1:{self.smtp_port}", "--http-addr", f"127.0.0.1:{self.http_port}", *self.extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        env={**os.environ, "RUST_LOG": "warn"})
        ready = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                # The admin key of tenant `dev` is printed once, at the first start.
                key = re.match(r"api key\s+(\S+)", line)
                if key:
                    self.api_key = key.group(1)
                if "ephemail is ready" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 90
        while not ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ephemail did not start (exit {self.process.poll()})")

    def halt(self) -> None:
        self.process.terminate()
        self.process.wait(60)

    def restart(self) -> None:
        self.halt()
        self.run()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def send(self, to: str, subject: str = "Hello", text: str = "Hello.", *,
             attachment: Optional[tuple[str, bytes]] = None) -> None:
        message = EmailMessage()
        message["From"] = "Sender <sender@example.com>"
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        if attachment:
            message.add_attachment(attachment[1], maintype="application", subtype="octet-stream",
                                   filename=attachment[0])
        self.send_raw(to, message.as_bytes())

    def send_raw(self, to: str, raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", self.smtp_port) as smtp:
            smtp.sendmail("sender@example.com", [to], raw)


@pytest.fixture(scope="session")
def server() -> Iterator[EphemailServer]:
    # Private targets allowed: the webhook test's receiver is on 127.0.0.1.
    started = EphemailServer("--webhook-allow-private")
    # What the plugin's `ephemail` fixture and the clients read by default.
    os.environ["EPHEMAIL_URL"] = started.url
    os.environ["EPHEMAIL_API_KEY"] = started.api_key or ""
    yield started
    started.stop()
