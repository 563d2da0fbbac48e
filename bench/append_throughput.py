"""Appends per second into one folder: 1 and 50 concurrent writers, 1 KB and 100 KB messages,
on SQLite and PostgreSQL, with the group-commit batch sizes observed.

Bounded: each cell appends at most ``--count`` messages or runs ``--seconds``, whichever ends
first. Run: ``.venv/bin/python -m bench.append_throughput [--pg-dsn DSN]`` (PostgreSQL cells use
a throwaway database on that server; default: the one on 127.0.0.1:5432, or a private cluster).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from postroom.app import build_services
from tests.conftest import make_config
from tests.support import pg
from tests.support.factory import message


async def cell(backend: str, dsn: str, writers: int, size: int, count: int, seconds: float,
               ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        s = build_services(make_config(Path(tmp), backend, dsn))
        try:
            await s.directory.add_domain("example.com")
            rec = await s.directory.add_account("bench@example.com", "pw-bench-123")
            await s.mailboxes.ensure_defaults(rec.id, rec.domain_id)
            principal = await s.directory.principal_for(rec)
            s.store.stats.__init__()  # type: ignore[misc]
            done = 0
            deadline = time.monotonic() + seconds

            async def writer(w: int) -> None:
                nonlocal done
                n = 0
                while done < count and time.monotonic() < deadline:
                    data = message(f"b{w}-{n}", size=size)
                    await s.messages.append(principal, "INBOX", [(data, [], None)])
                    done += 1
                    n += 1

            t0 = time.monotonic()
            await asyncio.gather(*(writer(w) for w in range(writers)))
            elapsed = time.monotonic() - t0
            stats = s.store.stats.summary()
            return {"backend": backend, "writers": writers, "size": size, "appends": done,
                    "seconds": round(elapsed, 2), "per_second": round(done / elapsed, 1),
                    "group_commit": stats}
        finally:
            await s.close()


async def main_async(args: argparse.Namespace, dsn_admin: str) -> list[dict[str, Any]]:
    results = []
    for backend in args.backends:
        for size in (1024, 100 * 1024):
            for writers in (1, 50):
                if backend == "postgresql":
                    with pg.database(dsn_admin) as dsn:
                        r = await cell(backend, dsn, writers, size, args.count, args.seconds)
                else:
                    r = await cell(backend, "", writers, size, args.count, args.seconds)
                gc = r["group_commit"]
                print(f"{backend:10} {size // 1024:4d} KB {writers:3d} writers: "
                      f"{r['per_second']:8.1f} appends/s ({r['appends']} in {r['seconds']}s); "
                      f"commits {gc['commits']}, mean batch {gc['mean_batch']}, "
                      f"max {gc['max_batch']}", flush=True)
                results.append(r)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    with pg.server() as admin:
        results = asyncio.run(main_async(args, admin))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
