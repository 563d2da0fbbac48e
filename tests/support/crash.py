"""Shared by the kill -9 scenarios (tests/e2e/test_smtp_crash.py, test_durability.py) and
``make crash-test``: how many rounds to crash, and where to report what each scenario counted.

``make test`` runs 3 rounds; ``make crash-test`` sets ``POSTROOM_CRASH_ROUNDS=10`` and
``POSTROOM_CRASH_SUMMARY`` to a file that collects one JSON line per scenario, printed as the
summary at the end (python -m tests.support.crash)."""

from __future__ import annotations

import email
import imaplib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.tls import insecure_context

ROUNDS = int(os.environ.get("POSTROOM_CRASH_ROUNDS", "3"))
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["tests/e2e/test_smtp_crash.py", "tests/e2e/test_durability.py"]


def send_raw(port: int, mail_from: str, rcpts: list[str], body: bytes,
             on_sent: Callable[[], None]) -> bool:
    """One SMTP transaction on a fresh connection to 127.0.0.1, written by hand so that the
    moment the final dot leaves is known: ``on_sent`` runs then (a message may be stored from
    that moment on, whatever the reply), and the result says whether the reply was 250.
    Raises OSError when the server goes away (the kill)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        f = sock.makefile("rb")

        def reply() -> bytes:
            while True:
                line = f.readline()
                if not line:
                    raise OSError("closed")
                if line[3:4] != b"-":
                    return line
        reply()
        sock.sendall(b"EHLO crash.example\r\n")
        reply()
        sock.sendall(f"MAIL FROM:<{mail_from}>\r\n".encode()
                     + b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in rcpts) + b"DATA\r\n")
        for _ in range(len(rcpts) + 2):
            reply()
        sock.sendall(body + b"\r\n.\r\n")
        on_sent()
        ok = reply().startswith(b"250")
        sock.sendall(b"QUIT\r\n")
        return ok


def inbox_subjects(address: str, port: int, user: str, password: str) -> list[str]:
    """Subjects of every message in a user's INBOX, read over IMAP with STARTTLS."""
    imap = imaplib.IMAP4(address, port)
    imap.starttls(insecure_context())
    imap.login(user, password)
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    imap.logout()
    return [email.message_from_bytes(item[1])["Subject"] or ""
            for item in data if isinstance(item, tuple)]


def report(scenario: str, *, acknowledged: int, lost: int, duplicated: int) -> None:
    path = os.environ.get("POSTROOM_CRASH_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"scenario": scenario, "rounds": ROUNDS,
                                 "acknowledged": acknowledged, "lost": lost,
                                 "duplicated": duplicated}) + "\n")


def main() -> int:
    rounds = os.environ.setdefault("POSTROOM_CRASH_ROUNDS", "10")
    summary = ROOT / "var" / "crash-summary.jsonl"
    summary.parent.mkdir(exist_ok=True)
    summary.unlink(missing_ok=True)
    os.environ["POSTROOM_CRASH_SUMMARY"] = str(summary)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *SCENARIOS], cwd=ROOT)
    rows = [json.loads(line) for line in summary.read_text().splitlines()] \
        if summary.exists() else []
    parts = [f"{r['scenario']}: {r['acknowledged']:,} acknowledged, {r['lost']} lost, "
             f"{r['duplicated']} duplicated" for r in rows]
    verdict = "PASS" if result.returncode == 0 and len(rows) == 3 else "FAIL"
    print(f"crash-test: {rounds} SIGKILL rounds per scenario; " + "; ".join(parts)
          + f" -- {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
