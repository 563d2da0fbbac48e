"""Large messages do not live in memory: 20 messages of 50 MB received over SMTP at once and
delivered to a mailbox keep the server's resident memory within 300 MB of where it started.

The message is streamed to disk as it arrives (protocols/smtp), and local delivery describes
it by reading the file in chunks (services/delivery.py, mime/stream.py); nothing reads a
message whole. The server runs as its own process (``postroom serve``), as in production, and
its resident set (VmRSS) is sampled every 20 ms from /proc while the test sends and waits for
all 20 to be delivered."""

from __future__ import annotations

import imaplib
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.test_serve import read_until, start, stop
from tests.support.cli import run

COUNT = 20
SIZE = 50_000_000  # octets of message text per message (limits.max_message_size is 50 MiB)
LIMIT = 300 * 1024 * 1024
LINE = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def port_of(table: str, service: str) -> int:
    line = next(ln for ln in table.splitlines() if f" {service} " in ln)
    return int(next(c for c in line.replace("│", " ").split() if c.isdigit()))


def send(port: int, n: int, size: int, errors: list[str]) -> None:
    """One SMTP transaction whose DATA is written in 1 MB pieces, never held whole."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=300)
        f = s.makefile("rb")

        def reply() -> bytes:
            line = f.readline()
            while line[3:4] == b"-":
                line = f.readline()
            return line

        assert reply().startswith(b"220")
        for cmd in (b"EHLO sender.example", f"MAIL FROM:<big{n}@sender.example> "
                    f"SIZE={size}".encode(), b"RCPT TO:<alice@example.org>", b"DATA"):
            s.sendall(cmd + b"\r\n")
            answer = reply()
            assert answer[:1] in (b"2", b"3"), (cmd, answer)
        head = (f"From: big{n}@sender.example\r\nTo: alice@example.org\r\nSubject: big {n}"
                f"\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n").encode()
        s.sendall(head)
        left = size - len(head)
        piece = LINE * (1024 * 1024 // len(LINE))
        while left > len(piece):
            s.sendall(piece)
            left -= len(piece)
        s.sendall(LINE * (left // len(LINE)) + b".\r\n")
        answer = reply()
        assert answer.startswith(b"250"), answer
        s.sendall(b"QUIT\r\n")
        s.close()
    except Exception as exc:  # reported by the test thread
        errors.append(f"message {n}: {exc!r}")


def inbox_count(port: int, password: str) -> int:
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ssl._create_unverified_context())
    imap.login("alice@example.org", password)
    status = imap.status("INBOX", "(MESSAGES)")[1][0]
    imap.logout()
    assert isinstance(status, bytes)
    return int(status.split(b"MESSAGES ")[1].rstrip(b")"))


@pytest.mark.slow
def test_twenty_fifty_megabyte_messages_at_once(tmp_path: Path) -> None:
    data = tmp_path / "var"
    proc = start(data)
    try:
        table = read_until(proc, "Stop with")
        assert run(data, "user", "add", "alice@example.org", "--password",
                   "alice-pw-123").returncode == 0
        smtp, imaps = port_of(table, "smtp"), port_of(table, "imaps")
        errors: list[str] = []
        send(smtp, 0, 100_000, errors)  # warm-up: every code path loaded once
        deadline = time.monotonic() + 60
        while inbox_count(imaps, "alice-pw-123") < 1:
            assert time.monotonic() < deadline, "warm-up message not delivered"
            time.sleep(0.2)
        time.sleep(1.0)
        baseline = rss(proc.pid)
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss(proc.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        senders = [threading.Thread(target=send, args=(smtp, n, SIZE, errors))
                   for n in range(1, COUNT + 1)]
        started = time.monotonic()
        for t in senders:
            t.start()
        for t in senders:
            t.join(600)
        assert errors == []
        while inbox_count(imaps, "alice-pw-123") < COUNT + 1:
            assert time.monotonic() < started + 600, "not all delivered"
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
        growth = peak - baseline
        print(f"\n{COUNT} × {SIZE / 1e6:.0f} MB received and delivered in {elapsed:.1f} s; "
              f"resident memory {baseline / 2**20:.0f} MiB before, peak {peak / 2**20:.0f} "
              f"MiB, growth {growth / 2**20:.0f} MiB")
        assert growth < LIMIT, f"resident memory grew by {growth / 2**20:.0f} MiB"
    finally:
        if proc.poll() is None:
            stop(proc)
