"""The POP3 workload: each of N clients logs in to its own 1,000-message mailbox and RETRs
every message in turn, as fetchmail or a mail client downloading a maildrop does (issue 8,
workload 3). Nothing is deleted, so every round sees the same mailboxes.

Measured: messages and megabytes per second over all clients, RETR latency p50/p99, and the
time to log in (USER/PASS, lock and listing).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench import data
from bench.reference import Dovecot
from postroom.app import Services

TIMEOUT = 60.0


def account(k: int) -> str:
    return f"pop{k:02d}@{data.DOMAIN}"


def mail(k: int, count: int) -> list[data.Mail]:
    return list(data.account_mail(1000 + k, count))


async def fill_postroom(services: Services, clients: int, messages: int) -> None:
    for k in range(clients):
        await data.fill_account(services, account(k), iter(mail(k, messages)))


def fill_dovecot(dovecot: Dovecot, clients: int, messages: int) -> None:
    for k in range(clients):
        address = account(k)
        dovecot.add_user(address, data.password(address))
        data.fill_maildir(dovecot.maildir(address), iter(mail(k, messages)))


class _Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    async def cmd(self, line: str) -> bytes:
        self.w.write(line.encode() + b"\r\n")
        await self.w.drain()
        reply = await asyncio.wait_for(self.r.readline(), TIMEOUT)
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"{line.split()[0]}: {reply!r}")
        return reply

    async def body(self) -> int:
        size = 0
        while True:
            line = await asyncio.wait_for(self.r.readline(), TIMEOUT)
            if line == b".\r\n":
                return size
            size += len(line)


async def _download(port: int, address: str) -> dict[str, Any]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    c = _Client(reader, writer)
    await asyncio.wait_for(reader.readline(), TIMEOUT)
    await c.cmd(f"USER {address}")
    await c.cmd(f"PASS {data.password(address)}")
    count = int((await c.cmd("STAT")).split()[1])
    login = time.perf_counter() - started
    latencies = []
    octets = 0
    for n in range(1, count + 1):
        t0 = time.perf_counter()
        await c.cmd(f"RETR {n}")
        octets += await c.body()
        latencies.append(time.perf_counter() - t0)
    await c.cmd("QUIT")
    writer.close()
    return {"login": login, "latencies": latencies, "octets": octets, "count": count}


async def retr_all(port: int, clients: int) -> dict[str, Any]:
    started = time.perf_counter()
    results = await asyncio.gather(*(_download(port, account(k)) for k in range(clients)))
    elapsed = time.perf_counter() - started
    latencies = sorted(x for r in results for x in r["latencies"])
    messages = sum(r["count"] for r in results)
    return {
        "seconds": elapsed, "messages": messages,
        "messages_per_s": messages / elapsed,
        "mb_per_s": sum(r["octets"] for r in results) / elapsed / 1e6,
        "retr_p50_ms": 1000 * latencies[len(latencies) // 2],
        "retr_p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "login_p50_ms": 1000 * statistics.median(r["login"] for r in results)}
