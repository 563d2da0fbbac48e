"""SMTP delivery throughput with the content filters off and on (spamd, clamd, both).

``python -m bench.filters [--messages 200] [--connections 10]``: starts a private spamd and
clamd as the test suite does (tests/support/daemons.py: offline, loopback), then for each
configuration a fresh ``postroom serve`` in its own process, and sends the messages over the
connections with smtplib from threads. Prints messages per second per configuration and, from
the server's mail log (``filter`` lines, ``ms=``), how long each check took per message, so
the report can say where the time goes. Not part of the timed test suite.
"""

from __future__ import annotations

import argparse
import re
import smtplib
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.postroom_server import Postroom
from postroom.app import Services
from tests.support.daemons import Clamd, Spamd

BODY = ("Hello team,\r\n\r\nThe minutes of Tuesday's meeting are below. Please send "
        "corrections before Friday.\r\n\r\n" + "- item: the budget line for the garden "
        "project stays as agreed\r\n" * 40)
CHECKS = {"off": [], "spamd": ["spamd"], "clamav": ["clamav"], "both": ["spamd", "clamav"]}


class FilteredPostroom(Postroom):
    def __init__(self, root: Path, extra: list[str]) -> None:
        super().__init__(root)
        self.extra = extra

    def overrides(self) -> list[str]:
        return [*super().overrides(), "log.level=info",
                f"log.file={self.root / 'mail.log'}", *self.extra]


def message(n: int) -> bytes:
    return (f"From: sender{n}@example.net\r\nTo: user@bench.test\r\nSubject: minutes {n}\r\n"
            f"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <bench-{n}@example.net>"
            f"\r\n\r\n{BODY}").encode()


def send_all(port: int, messages: int, connections: int) -> tuple[float, list[int]]:
    codes: list[int] = []
    guard = threading.Lock()
    per = [messages // connections + (1 if i < messages % connections else 0)
           for i in range(connections)]

    def worker(first: int, count: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
            s.ehlo("bench.example")
            for i in range(first, first + count):
                s.mail(f"sender{i}@example.net")
                s.rcpt("user@bench.test")
                try:
                    code, _ = s.data(message(i))
                except smtplib.SMTPDataError as exc:
                    code = exc.smtp_code
                with guard:
                    codes.append(code)

    threads, first = [], 0
    for count in per:
        threads.append(threading.Thread(target=worker, args=(first, count)))
        first += count
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, codes


def check_times(log: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if " filter " not in line:
            continue
        check, ms = re.search(r"check=(\S+)", line), re.search(r" ms=(\d+)", line)
        if check and ms:
            out.setdefault(check.group(1), []).append(int(ms.group(1)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    spamd, clamd = Spamd(), Clamd()
    spamd.start()
    clamd.start()
    try:
        for name, checks in CHECKS.items():
            names = ",".join(f'"{c}"' for c in ["size", "smuggling", "loop", "sender", *checks])
            with tempfile.TemporaryDirectory(prefix="postroom-bench-filters-") as tmp:
                server = FilteredPostroom(Path(tmp), [
                    f"pipeline.checks=[{names}]", f"pipeline.spamd.address={spamd.address}",
                    f"pipeline.clamav.address={clamd.address}"])

                async def fill(services: Services) -> None:
                    await services.directory.add_domain("bench.test")
                    acc = await services.directory.add_account("user@bench.test",
                                                               "pw-bench-12345")
                    await services.mailboxes.ensure_defaults(acc.id, acc.domain_id)
                server.populate(fill)
                server.start()
                try:
                    elapsed, codes = send_all(server.smtp_port, args.messages,
                                              args.connections)
                finally:
                    server.stop()
                times = check_times(Path(tmp) / "mail.log")
            ok = sum(1 for c in codes if c == 250)
            detail = "  ".join(
                f"{check}: median {statistics.median(v):.0f} ms, p90 "
                f"{sorted(v)[int(len(v) * 0.9) - 1]:.0f} ms"
                for check, v in sorted(times.items()) if v)
            print(f"{name:<7} {args.messages / elapsed:7.1f} msg/s  ({ok}/{len(codes)} "
                  f"accepted in {elapsed:.1f} s)  {detail}", flush=True)
        scans = [float(x) for x in re.findall(r"scantime=([\d.]+)", spamd.log.read_text())]
        if scans:
            print(f"spamd's own scan time (its log): median {statistics.median(scans):.2f} s "
                  f"over {len(scans)} scans, with --max-children=2", flush=True)
    finally:
        spamd.cleanup()
        clamd.cleanup()


if __name__ == "__main__":
    main()
