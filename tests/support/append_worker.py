"""A separate process that appends concurrently and acknowledges each append that returned.

Usage: python -m tests.support.append_worker DATA_DIR BACKEND DSN WRITERS SIZE ROUND
Prints ``ACK <writer>-<n> <uid>`` (flushed) after each APPEND returns, forever, until killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from postroom.app import build_services
from tests.conftest import make_config
from tests.support.factory import message


async def main(data: str, backend: str, dsn: str, writers: int, size: int, rnd: str) -> None:
    s = build_services(make_config(Path(data), backend, dsn))
    rec = await s.store.directory.get_account("crash@example.com")
    if rec is None:
        await s.directory.add_domain("example.com")
        rec = await s.directory.add_account("crash@example.com", "pw-crash-test")
        await s.mailboxes.ensure_defaults(rec.id, rec.domain_id)
    principal = await s.directory.principal_for(rec)
    print("READY", flush=True)

    async def writer(w: int) -> None:
        n = 0
        while True:
            tag = f"{rnd}.{w}-{n}"
            res = await s.messages.append(principal, "INBOX",
                                          [(message(f"crash-{tag}", size=size), [], None)])
            sys.stdout.write(f"ACK {tag} {res.uids[0]}\n")
            sys.stdout.flush()
            n += 1

    await asyncio.gather(*(writer(w) for w in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                     sys.argv[6]))
