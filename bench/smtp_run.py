"""The SMTP part of ``make bench``: Postroom next to Postfix delivering into Dovecot over LMTP.

Cells: 4 KB and 100 KB messages, 10 and 50 concurrent connections, a new connection per
message, to one local recipient; timed until every message is readable over IMAP (see
bench/smtp_load.py). Rounds alternate the order of the two pipelines.

Every cell sends the same number of messages, whatever their size (2,000; 200 with
``--quick``): long runs of large messages are where a store shows its costs. Postroom starts
each round on a fresh data directory of its own (the sink account only), so no round benefits
from directories, pages or indexes an earlier one left warm. The reference keeps one Postfix
and one Dovecot sink mailbox for the whole run; its Maildir only grows, which if anything
costs Dovecot.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
from pathlib import Path
from typing import Any

from bench import data, smtp_load
from bench.postfix import Postfix
from bench.postroom_server import Postroom
from bench.reference import Dovecot
from postroom.app import Services

SIZES = (4096, 102400)


def counts(args: argparse.Namespace) -> dict[int, int]:
    """Messages per cell, by size: enough for several seconds of work per cell."""
    n = 200 if args.quick else 2000
    return {4096: n, 102400: n}


def run(root: Path, args: argparse.Namespace, dv: Dovecot,
        clients: list[int]) -> list[dict[str, Any]]:
    """Per round: {"postroom": {cell: result}, "postfix": {cell: result}}."""
    pf = Postfix(root / "postfix", dv.lmtp_port)
    pf.write_config()
    pf.start()
    rounds: list[dict[str, Any]] = []
    sink, password = data.SINK, data.password(data.SINK)
    try:
        for r in range(args.rounds):
            order = data.in_order(r, "postroom", "postfix")
            this: dict[str, Any] = {}
            for name in order:
                fresh = _fresh_postroom(root / f"smtp-round-{r + 1}") \
                    if name == "postroom" else None
                smtp_port, imap_port = (fresh.smtp_port, fresh.imap_port) if fresh \
                    else (pf.smtp_port, dv.imap_port)
                cells: dict[str, Any] = {}
                try:
                    for size in SIZES:
                        for n in clients:
                            cells[cell_name(size, n)] = asyncio.run(smtp_load.cell(
                                smtp_port, imap_port, sink, password, counts(args)[size],
                                size, n))
                finally:
                    if fresh is not None:
                        fresh.stop()
                        shutil.rmtree(fresh.root, ignore_errors=True)
                this[name] = cells
                print(f"bench: smtp round {r + 1} {name} done", flush=True)
            rounds.append(this)
    finally:
        pf.stop()
    return rounds


def _fresh_postroom(root: Path) -> Postroom:
    """A Postroom of its own for one round's SMTP cells: a new data directory holding only
    the sink account."""
    server = Postroom(root)

    async def fill(services: Services) -> None:
        await data.fill_postroom(services, 0, 0, 0)
    server.populate(fill)
    server.start()
    return server


def cell_name(size: int, sessions: int) -> str:
    return f"{size // 1024}KB/{sessions}"


def summarise(rounds: list[dict[str, Any]], clients: list[int]) -> list[dict[str, Any]]:
    rows = []
    for size in SIZES:
        for n in clients:
            key = cell_name(size, n)
            for measure in ("delivered_per_s", "accepted_per_s"):
                p = statistics.median(r["postroom"][key][measure] for r in rounds)
                f = statistics.median(r["postfix"][key][measure] for r in rounds)
                rows.append({"workload": f"smtp {size // 1024} KB, {n} conn",
                             "measure": measure.replace("_per_s", " msg/s"),
                             "postroom": p, "reference": f,
                             "reference_name": "postfix+dovecot-lmtp",
                             "ratio": p / f if f else 0.0})
    return rows


def ensure_smtp_tools() -> None:
    if not smtp_load.smtp_source_available():
        raise SystemExit("bench: smtp-source (Debian's postfix package) is missing")

