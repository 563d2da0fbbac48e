"""Two nodes against one, on one PostgreSQL (docs/cluster.md "Performance").

One fresh database; node n1 runs throughout, n2 joins for the two-node rounds and leaves for
the one-node rounds (alternating, so drift hits both alike). Both are ``postroom serve``
processes of this checkout with ``cluster.enabled`` and blobs in PostgreSQL. The client plays
the TCP load balancer: it spreads its connections round-robin over the running nodes' ports.

Workloads:
- **SMTP end to end**: ``--messages`` messages of ``--size`` octets over ``--sessions``
  concurrent connections (a new connection per message), timed until every one is in the
  store (counted in PostgreSQL, which is what every node's IMAP reads).
- **Mixed IMAP** (bench/imap_load.py's session mix) for ``--seconds`` with ``--clients``
  clients spread over the nodes.

Reported per round: messages/s or operations/s, the CPU seconds each node and PostgreSQL's
processes spent per message (/proc/<pid>/stat), so scaling on a machine with more cores can be
worked out; and the ratio two nodes / one node. Bounded: counts and timeouts everywhere, every
process stopped at the end. ``python -m bench.cluster --rounds 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench import data, imap_load
from bench.postroom_server import Postroom, spawn_serve
from bench.reference import wait_port

ADMIN_DSN = os.environ.get("POSTROOM_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DOMAIN = "bench.test"
TICKS = os.sysconf("SC_CLK_TCK")


class Node(Postroom):
    def __init__(self, root: Path, name: str, dsn: str) -> None:
        super().__init__(root)
        self.name = name
        self.dsn = dsn

    def overrides(self) -> list[str]:
        return [*super().overrides(), "store.backend=postgresql", f"store.dsn={self.dsn}",
                "cluster.enabled=true", f"cluster.node={self.name}",
                "blobs.backend=postgresql", "smtp.deliver_at_acceptance=false",
                "limits.max_connections=20000", "web.admin.enabled=false",
                "web.https.enabled=false", "web.http.enabled=false", "web.alt.enabled=false"]

    def start(self) -> None:
        self.proc = spawn_serve(self.root, self.overrides())
        wait_port(self.imap_port, timeout=90)
        wait_port(self.smtp_port, timeout=30)
        if self.proc.poll() is not None:  # someone else holds the ports
            raise RuntimeError(f"node {self.name} exited at start (see {self.root}/serve.log)")

    def cpu(self) -> float:
        return _cpu(self.proc.pid) if self.proc is not None else 0.0


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _postgres_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    total += _cpu(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return total


def _stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM messages").fetchone()
    return int(row[0]) if row else 0


async def _send_one(port: int, rcpt: str, body: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async def reply() -> bytes:
            while True:
                line = await asyncio.wait_for(reader.readline(), 60)
                if not line:
                    raise ConnectionError("closed")
                if line[3:4] != b"-":
                    return line
        await reply()
        writer.write(b"EHLO client.bench.test\r\n")
        await reply()
        writer.write(f"MAIL FROM:<load@example.net>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
        for _ in range(3):
            await reply()
        writer.write(body + b"\r\n.\r\n")
        if not (await reply()).startswith(b"250"):
            raise RuntimeError("not accepted")
        writer.write(b"QUIT\r\n")
        await writer.drain()
    finally:
        writer.close()


async def smtp_round(nodes: list[Node], dsn: str, users: list[str], messages: int, size: int,
                     sessions: int) -> dict[str, Any]:
    body = (b"Subject: cluster bench\r\nFrom: load@example.net\r\n\r\n"
            + (b"x" * 76 + b"\r\n") * max(1, size // 78))
    base = _stored(dsn)
    cpu0 = [n.cpu() for n in nodes]
    pg0 = _postgres_cpu()
    started = time.monotonic()
    todo = iter(range(messages))

    async def session(k: int) -> None:
        for i in todo:
            await _send_one(nodes[(k + i) % len(nodes)].smtp_port, users[i % len(users)], body)
    await asyncio.gather(*(session(k) for k in range(sessions)))
    accepted = time.monotonic() - started
    deadline = started + 600
    while _stored(dsn) < base + messages:
        if time.monotonic() > deadline:
            raise TimeoutError("not every message was delivered within 600 s")
        await asyncio.sleep(0.05)
    took = time.monotonic() - started
    node_cpu = [n.cpu() - c for n, c in zip(nodes, cpu0, strict=True)]
    pg_cpu = _postgres_cpu() - pg0
    return {"nodes": len(nodes), "messages": messages, "accepted_s": round(accepted, 2),
            "delivered_s": round(took, 2), "delivered_per_s": round(messages / took, 1),
            "node_cpu_ms_per_msg": [round(c * 1000 / messages, 2) for c in node_cpu],
            "postgres_cpu_ms_per_msg": round(pg_cpu * 1000 / messages, 2)}


async def imap_round(nodes: list[Node], clients: int, seconds: float, accounts: int,
                     per_account: int) -> dict[str, Any]:
    cpu0 = [n.cpu() for n in nodes]
    pg0 = _postgres_cpu()
    shares = [clients // len(nodes) + (1 if i < clients % len(nodes) else 0)
              for i in range(len(nodes))]
    results = await asyncio.gather(*(imap_load.mixed(n.imap_port, share, seconds, accounts,
                                                     per_account, seed=i + 1)
                                     for i, (n, share) in enumerate(zip(nodes, shares,
                                                                        strict=True))))
    ops = sum(r["ops"] for r in results)
    elapsed = max(r["seconds"] for r in results)
    node_cpu = [n.cpu() - c for n, c in zip(nodes, cpu0, strict=True)]
    return {"nodes": len(nodes), "ops_per_s": round(ops / elapsed, 1),
            "errors": sum(r["errors"] for r in results),
            "node_cpu_ms_per_op": [round(c * 1000 / max(ops, 1), 3) for c in node_cpu],
            "postgres_cpu_ms_per_op": round((_postgres_cpu() - pg0) * 1000 / max(ops, 1), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--per-account", type=int, default=200)
    args = parser.parse_args()
    name = f"postroom_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    report: dict[str, Any] = {"smtp": [], "imap": []}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        key = secrets.token_bytes(32)
        nodes = [Node(Path(tmp) / f"n{i + 1}", f"n{i + 1}", dsn) for i in range(2)]
        for node in nodes:
            (node.root / "data").mkdir(parents=True, mode=0o700)
            fd = os.open(node.root / "data" / "secret.key", os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, key)
            os.close(fd)
        try:
            nodes[0].populate(lambda s: data.fill_postroom(s, args.accounts, args.per_account,
                                                           0))
            users = [data.account(i) for i in range(args.accounts)]
            nodes[0].start()
            for rnd in range(args.rounds):
                for count in ((1, 2) if rnd % 2 == 0 else (2, 1)):
                    running = nodes[1].proc is not None and nodes[1].proc.poll() is None
                    if count == 2 and not running:
                        nodes[1].start()
                    elif count == 1 and running:
                        nodes[1].stop()
                    live = nodes[:count]
                    smtp = asyncio.run(smtp_round(live, dsn, users, args.messages, args.size,
                                                  args.sessions))
                    print(json.dumps({"round": rnd, "smtp": smtp}), flush=True)
                    report["smtp"].append(smtp)
                    imap = asyncio.run(imap_round(live, args.clients, args.seconds,
                                                  args.accounts, args.per_account))
                    print(json.dumps({"round": rnd, "imap": imap}), flush=True)
                    report["imap"].append(imap)
        finally:
            for node in nodes:
                node.stop()
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def median(kind: str, field: str, n: int) -> float:
        return float(statistics.median(r[field] for r in report[kind] if r["nodes"] == n))
    mail = {n: median("smtp", "delivered_per_s", n) for n in (1, 2)}
    ops = {n: median("imap", "ops_per_s", n) for n in (1, 2)}
    summary: dict[str, Any] = {
        "smtp_delivered_per_s": mail, "imap_ops_per_s": ops, "cores": os.cpu_count(),
        "smtp_ratio": round(mail[2] / mail[1], 2), "imap_ratio": round(ops[2] / ops[1], 2)}
    print(json.dumps({"summary": summary}), flush=True)
    out = Path(__file__).parent / "results" / f"cluster-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"rounds": report, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
