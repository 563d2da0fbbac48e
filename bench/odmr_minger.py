"""ODMR and Minger figures (issue 7). No reference server does either (Postfix and Dovecot
speak neither), so these are absolute numbers, run on their own:

    .venv/bin/python -m bench.odmr_minger [--messages 1000] [--queries 5000]

1. ODMR: a provider ``postroom serve`` holds N messages (4 KB) for a gateway domain; a
   customer ``postroom serve`` owns the domain; ``postroom atrn run-now`` on the customer
   collects them. Measured: wall time of the collection until every message is in the
   customer's mailboxes, and messages per second.
2. Minger: anonymous queries against the provider's Minger server, one at a time and 16 in
   flight: queries per second and p50/p99 latency.

Both servers run on loopback high ports with throwaway data directories, and stop at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.reference import free_port, wait_port

DOMAIN = "customer.bench"
BIN = str(Path(sys.executable).parent / "postroom")


class Serve:
    def __init__(self, root: Path, name: str, extra: list[str]) -> None:
        self.data = root / name
        self.smtp = free_port()
        self.args = [f"smtp.mx.port={self.smtp}", "smtp.submission.enabled=false",
                     "smtp.submissions.enabled=false", "imap.imap.enabled=false",
                     "imap.imaps.enabled=false", "pop3.pop3.enabled=false",
                     "pop3.pop3s.enabled=false", "multipop.enabled=false",
                     "sieve.managesieve.enabled=false",
                     "log.level=warning", "server.hostname=mail.bench.test",
                     "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]", *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [BIN, "serve", "--data-dir", str(self.data), "--domain", "bench.test"]
        for item in self.args:
            cmd += ["--set", item]
        log = (self.data.parent / f"{self.data.name}.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        wait_port(self.smtp, 60)

    def cli(self, *args: str, stdin: str = "") -> str:
        cmd = [BIN, *args, "--data-dir", str(self.data)]
        for item in self.args:
            cmd += ["--set", item]
        out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)


def message(i: int) -> bytes:
    body = ("x" * 76 + "\r\n") * 50  # about 4 KB
    return (f"From: far@example.org\r\nTo: u{i % 10}@{DOMAIN}\r\nSubject: bench {i}\r\n"
            f"Message-ID: <bench-{i}@odmr>\r\n\r\n{body}").encode()


def delivered(customer: Serve) -> int:
    with sqlite3.connect(customer.data / "postroom.db") as db:
        row = db.execute("SELECT coalesce(sum(m.message_count), 0) FROM mailboxes m JOIN "
                         "accounts a ON a.id = m.owner_id WHERE a.address LIKE ? AND "
                         "m.name = 'INBOX'", (f"%@{DOMAIN}",)).fetchone()
    return int(row[0])


def odmr(root: Path, count: int, queries: int) -> dict[str, float]:
    provider = Serve(root, "provider", [f"odmr.port={free_port()}",
                                        "minger.enabled=true", f"minger.port={free_port()}",
                                        "minger.allow_anonymous=true",
                                        "minger.rate_limit=10000000"])
    customer = Serve(root, "customer", ["odmr.enabled=false", "odmr.collect=false"])
    password = secrets.token_urlsafe(12)
    provider.start()
    customer.start()
    try:
        provider.cli("user", "add", "atrn@bench.test", "--password-stdin",
                     stdin=password + "\n")
        provider.cli("gateway", "add", DOMAIN, "--atrn-user", "atrn@bench.test")
        customer.cli("domain", "add", DOMAIN)
        for i in range(10):
            customer.cli("user", "add", f"u{i}@{DOMAIN}", "--password-stdin",
                         stdin=password + "\n")
        odmr_port = int(next(a.split("=")[1] for a in provider.args
                             if a.startswith("odmr.port=")))
        start = time.monotonic()
        with smtplib.SMTP("127.0.0.1", provider.smtp, timeout=60) as s:
            for i in range(count):
                s.sendmail("far@example.org", [f"u{i % 10}@{DOMAIN}"], message(i))
        accept = time.monotonic() - start
        customer.cli("atrn", "add", "p", "--host", "127.0.0.1", "--port", str(odmr_port),
                     "--user", "atrn@bench.test", "--password-stdin", "--no-verify-tls",
                     stdin=password + "\n")
        start = time.monotonic()
        customer.cli("atrn", "run-now", "p")
        deadline = time.monotonic() + 600
        while delivered(customer) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        took = time.monotonic() - start
        got = delivered(customer)
        minger_port = int(next(a.split("=")[1] for a in provider.args
                               if a.startswith("minger.port=")))
        return {"messages": count, "delivered": got, "smtp_accept_s": round(accept, 2),
                "atrn_collect_s": round(took, 2),
                "atrn_msgs_per_s": round(got / took, 1), "minger_port": minger_port,
                **minger(minger_port, queries)}
    finally:
        provider.stop()
        customer.stop()


def minger(port: int, queries: int = 5000) -> dict[str, float]:
    def one_at_a_time() -> list[float]:
        times = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            for i in range(queries):
                t = time.perf_counter()
                s.sendto(f"u{i % 10}@bench.test".encode(), ("127.0.0.1", port))
                s.recv(512)
                times.append(time.perf_counter() - t)
        return times

    async def in_flight(width: int) -> float:
        loop = asyncio.get_running_loop()
        done = 0

        class Proto(asyncio.DatagramProtocol):
            def __init__(self) -> None:
                self.waiter: asyncio.Future[None] | None = None

            def datagram_received(self, data: bytes, addr: object) -> None:
                if self.waiter and not self.waiter.done():
                    self.waiter.set_result(None)

        async def worker(n: int) -> None:
            nonlocal done
            transport, proto = await loop.create_datagram_endpoint(
                Proto, remote_addr=("127.0.0.1", port))
            for i in range(n):
                proto.waiter = loop.create_future()
                transport.sendto(f"w{i}@bench.test".encode())
                await asyncio.wait_for(proto.waiter, 2)
                done += 1
            transport.close()
        start = time.perf_counter()
        await asyncio.gather(*(worker(queries // width) for _ in range(width)))
        return done / (time.perf_counter() - start)

    times = one_at_a_time()
    per_s = asyncio.run(in_flight(16))
    qs = statistics.quantiles([t * 1000 for t in times], n=100)
    return {"minger_queries": queries, "minger_serial_qps": round(queries / sum(times), 0),
            "minger_p50_ms": round(qs[49], 3), "minger_p99_ms": round(qs[98], 3),
            "minger_16_in_flight_qps": round(per_s, 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="postroom-odmr-bench-") as tmp:
        result = odmr(Path(tmp), args.messages, args.queries)
    result.pop("minger_port", None)
    result["cpu_count"] = os.cpu_count() or 0
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(__file__).parent / "results" / f"{stamp}-odmr-minger.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:28} {value}")
    print(f"written to {out.relative_to(Path(__file__).parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
