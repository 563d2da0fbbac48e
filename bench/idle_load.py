"""The idle-connection scale workload: many IMAP clients sitting in IDLE, as phones and desktop
clients do all day.

Each client connects, logs in, selects INBOX and enters IDLE (RFC 2177). When all are idling,
the server's memory is read and compared with its memory just before the first connection:
the difference divided by the number of connections is the cost of one idle client. Then one
message is appended to every idle account from a separate session, and the clock runs until
every idle connection has been told ``EXISTS`` (the fan-out of a new-mail notification). Last,
every client leaves with DONE and LOGOUT, and the memory is read once more (what is not given
back is kept by the allocator or leaked).

The accounts of this workload carry argon2id hashes with small parameters (1 MiB, one pass) on
both servers, because what is measured is memory, not 10,000 password verifications; the
other workloads keep the full parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

from argon2 import PasswordHasher

from bench import data

PER_ACCOUNT = 20  # messages in each idle account's INBOX
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def account(k: int) -> str:
    return f"idle{k:03d}@{data.DOMAIN}"


def cheap_hash(password: str) -> str:
    return _CHEAP.hash(password)


def mail(k: int) -> Iterator[data.Mail]:
    return data.account_mail(700 + k, PER_ACCOUNT)


class IdleClient:
    """One connection: LOGIN, SELECT INBOX, IDLE, then wait for EXISTS."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.exists = 0  # EXISTS count before IDLE
        self.notified = asyncio.Event()
        self.watch: asyncio.Task[None] | None = None

    async def _command(self, tag: bytes, text: bytes) -> None:
        assert self.reader is not None and self.writer is not None
        self.writer.write(tag + b" " + text + b"\r\n")
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError(f"closed during {text[:20]!r}")
            if line.endswith(b" EXISTS\r\n"):
                self.exists = int(line.split()[1])
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ConnectionError(line.decode(errors="replace").strip())
                return

    async def start(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port,
                                                                 limit=1 << 14)
        if not (await self.reader.readline()).startswith(b"* OK"):
            raise ConnectionError("no greeting")
        pw = data.password(self.address)
        await self._command(b"a", f'LOGIN "{self.address}" "{pw}"'.encode())
        await self._command(b"b", b"SELECT INBOX")
        self.writer.write(b"c IDLE\r\n")
        line = await self.reader.readline()
        if not line.startswith(b"+"):
            raise ConnectionError(f"IDLE refused: {line[:80]!r}")
        self.watch = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Read what the server says in IDLE until a new EXISTS arrives."""
        assert self.reader is not None
        while True:
            line = await self.reader.readline()
            if not line:
                return
            if line.endswith(b" EXISTS\r\n") and int(line.split()[1]) > self.exists:
                self.notified.set()
                return

    async def leave(self) -> None:
        if self.watch is not None:
            self.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watch
        if self.writer is None:
            return
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.write(b"DONE\r\nd LOGOUT\r\n")
            await self.writer.drain()
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def _allow_descriptors(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 256 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256, hard))
    elif soft < n + 256:
        raise SystemExit(f"bench: {n:,} idle connections need {n + 256:,} open files; the hard "
                         f"limit is {hard:,} (ulimit -Hn)")


async def _append(port: int, address: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()
        body = data.message(999, 1, 2048)
        writer.write(f'a LOGIN "{address}" "{data.password(address)}"\r\n'.encode()
                     + b"b APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\nc LOGOUT\r\n")
        while (line := await reader.readline()) and not line.startswith(b"c "):
            pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def idle(port: int, connections: int, accounts: int, memory: Callable[[], int],
               concurrency: int = 100, timeout: float = 300.0) -> dict[str, Any]:
    """Open ``connections`` idling clients spread over ``accounts``; return memory per
    connection (KiB, from ``memory()``), set-up rate and notification fan-out time."""
    _allow_descriptors(connections)
    before = memory()
    clients = [IdleClient(account(n % accounts)) for n in range(connections)]
    sem = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def open_one(c: IdleClient) -> None:
        async with sem:
            try:
                await c.start(port)
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                errors.append(str(exc)[:200])
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(open_one(c) for c in clients)), timeout)
    setup_s = time.monotonic() - started
    live = [c for c in clients if c.watch is not None]
    await asyncio.sleep(2.0)  # let the server settle (logins' transient buffers freed)
    idle_kib = memory()
    started = time.monotonic()
    await asyncio.gather(*(_append(port, account(k))
                           for k in range(min(accounts, connections))))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.notified.wait() for c in live)), 60.0)
    fanout_s = time.monotonic() - started
    notified = sum(1 for c in live if c.notified.is_set())
    await asyncio.gather(*(c.leave() for c in clients))
    await asyncio.sleep(2.0)
    after = memory()
    return {"connections": connections, "idling": len(live), "errors": len(errors),
            "last_error": errors[-1] if errors else "",
            "setup_s": setup_s, "setup_per_s": len(live) / setup_s if setup_s else 0.0,
            "memory_before_kib": before, "memory_idle_kib": idle_kib,
            "memory_idle_mib": idle_kib / 1024,
            "memory_after_kib": after,
            "kib_per_connection": (idle_kib - before) / len(live) if live else 0.0,
            "fanout_s": fanout_s, "notified": notified}
