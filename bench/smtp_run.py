"""The SMTP part of ``make bench``: Postroom next to Postfix delivering into Dovecot over LMTP.

Cells: 4 KB and 100 KB messages, 10 and 50 concurrent connections, a new connection per
message, to one local recipient; timed until every message is readable over IMAP (see
bench/smtp_load.py). Rounds alternate the order of the two pipelines.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

from bench import data, smtp_load
from bench.postfix import Postfix
from bench.postroom_server import Postroom
from bench.reference import Dovecot

SIZES = (4096, 102400)


def counts(args: argparse.Namespace) -> dict[int, int]:
    """Messages per cell, by size: enough for several seconds of work per cell."""
    if args.quick:
        return {4096: 300, 102400: 100}
    return {4096: 2000, 102400: 500}


def run(root: Path, args: argparse.Namespace, pr: Postroom, dv: Dovecot,
        clients: list[int]) -> list[dict[str, Any]]:
    """Per round: {"postroom": {cell: result}, "postfix": {cell: result}}."""
    pf = Postfix(root / "postfix", dv.lmtp_port)
    pf.write_config()
    pf.start()
    rounds: list[dict[str, Any]] = []
    sink, password = data.SINK, data.password(data.SINK)
    targets = {"postroom": (pr.smtp_port, pr.imap_port), "postfix": (pf.smtp_port,
                                                                    dv.imap_port)}
    try:
        for r in range(args.rounds):
            order = data.in_order(r, "postroom", "postfix")
            this: dict[str, Any] = {}
            for name in order:
                smtp_port, imap_port = targets[name]
                cells: dict[str, Any] = {}
                for size in SIZES:
                    for n in clients:
                        cells[cell_name(size, n)] = asyncio.run(smtp_load.cell(
                            smtp_port, imap_port, sink, password, counts(args)[size], size, n))
                this[name] = cells
                print(f"bench: smtp round {r + 1} {name} done", flush=True)
            rounds.append(this)
    finally:
        pf.stop()
    return rounds


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

