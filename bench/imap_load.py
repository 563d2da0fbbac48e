"""IMAP load generators: a small asyncio client, the mixed multi-client workload and the
operations on a 100,000-message mailbox.

The same code, with the same seeds, drives every server, so the client's own cost is the same
on both sides of a ratio. Each workload is bounded by a duration and an operation count.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench import data

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


class ImapError(Exception):
    pass


class Client:
    """Just enough IMAP: tagged commands, literals in answers, LITERAL+ for APPEND."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.n = 0

    @classmethod
    async def connect(cls, port: int, tls: bool = False) -> Client:
        """Plain IMAP, or implicit TLS (certificates not checked: both servers' are
        self-signed throwaways)."""
        context = None
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22,
                                                       ssl=context)
        greeting = await reader.readline()
        if not greeting.startswith(b"* OK"):
            raise ImapError(greeting.decode(errors="replace"))
        return cls(reader, writer)

    async def cmd(self, text: str, literal: bytes | None = None,
                  keep: list[bytes] | None = None) -> tuple[int, bytes]:
        """Send one command; return (untagged line count, tagged line), and append the
        untagged lines to ``keep`` when given. NO/BAD raise."""
        self.n += 1
        tag = b"t%d" % self.n
        if literal is None:
            self.writer.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.writer.write(tag + b" " + text.encode() + b" {%d+}\r\n" % len(literal)
                              + literal + b"\r\n")
        count = 0
        reader = self.reader
        while True:
            line = await reader.readline()
            if not line:
                raise ImapError(f"connection closed during {text[:40]}")
            while (m := _LITERAL.search(line)) is not None:
                await reader.readexactly(int(m.group(1)))
                line = await reader.readline()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ImapError(f"{text[:60]}: {line.decode(errors='replace').strip()}")
                return count, line
            count += 1
            if keep is not None:
                keep.append(line)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0
    last_error: str = ""

    def ops(self) -> int:
        return sum(len(v) for v in self.latencies.values())


async def _timed(stats: Stats, name: str, coro: Any) -> Any:
    start = time.perf_counter()
    out = await coro
    stats.latencies[name].append(time.perf_counter() - start)
    return out


async def _session(port: int, rnd: random.Random, stats: Stats, accounts: int,
                   per_account: int) -> None:
    """One client session: the mix the issue names, in the order a mail client does it."""
    address = data.account(rnd.randrange(accounts))
    t = stats
    c = await _timed(t, "CONNECT", Client.connect(port))
    try:
        await _timed(t, "LOGIN", c.cmd(f'LOGIN "{address}" "{data.password(address)}"'))
        await _timed(t, "SELECT", c.cmd("SELECT INBOX"))
        first = rnd.randrange(1, per_account - 20)
        await _timed(t, "FETCH headers", c.cmd(
            f"FETCH {first}:{first + 19} (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
            "(FROM TO SUBJECT DATE MESSAGE-ID)])"))
        for _ in range(2):
            await _timed(t, "FETCH body", c.cmd(f"FETCH {rnd.randrange(1, per_account)} "
                                                 "BODY.PEEK[]"))
        seq = rnd.randrange(1, per_account)
        await _timed(t, "STORE", c.cmd(f"STORE {seq} +FLAGS.SILENT (\\Flagged)"))
        await _timed(t, "STORE", c.cmd(f"STORE {seq} -FLAGS.SILENT (\\Flagged)"))
        await _timed(t, "SEARCH", c.cmd("UID SEARCH UNSEEN"))
        await _timed(t, "SEARCH", c.cmd(f"UID SEARCH SUBJECT {rnd.choice(data.WORDS)}"))
        body = data.message(rnd.randrange(1000), rnd.randrange(1000), 4096)
        _, tagged = await _timed(t, "APPEND", c.cmd("APPEND INBOX", body))
        m = _APPENDUID.search(tagged)
        if m is not None:
            uid = int(m.group(1))
            await _timed(t, "STORE", c.cmd(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
            await _timed(t, "EXPUNGE", c.cmd(f"UID EXPUNGE {uid}"))
        await _timed(t, "LOGOUT", c.cmd("LOGOUT"))
    finally:
        await c.close()


async def _short_session(port: int, rnd: random.Random, stats: Stats, accounts: int,
                         per_account: int) -> None:
    """The session loop of issue 20: what a phone or a desktop client does at each check,
    one IMAPS connection per session (``port`` is the implicit-TLS one). The message it
    appends is the one it deletes, so the mailbox stays the same size."""
    address = data.account(rnd.randrange(accounts))
    t = stats
    c = await _timed(t, "CONNECT", Client.connect(port, tls=True))
    try:
        await _timed(t, "LOGIN", c.cmd(f'LOGIN "{address}" "{data.password(address)}"'))
        await _timed(t, "LIST", c.cmd('LIST "" "*"'))
        await _timed(t, "STATUS", c.cmd("STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"))
        await _timed(t, "SELECT", c.cmd("SELECT INBOX"))
        first = rnd.randrange(1, per_account - 50)
        await _timed(t, "FETCH flags", c.cmd(f"FETCH {first}:{first + 49} (UID FLAGS)"))
        await _timed(t, "FETCH headers", c.cmd(
            f"FETCH {rnd.randrange(1, per_account)} "
            "(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])"))
        await _timed(t, "STORE", c.cmd(f"STORE {rnd.randrange(1, per_account)} "
                                       "+FLAGS.SILENT (\\Seen)"))
        body = data.message(rnd.randrange(1000), rnd.randrange(1000), 4096)
        _, tagged = await _timed(t, "APPEND", c.cmd("APPEND INBOX", body))
        m = _APPENDUID.search(tagged)
        if m is not None:
            uid = int(m.group(1))
            await _timed(t, "STORE \\Deleted", c.cmd(
                f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
            await _timed(t, "EXPUNGE", c.cmd(f"UID EXPUNGE {uid}"))
        await _timed(t, "LOGOUT", c.cmd("LOGOUT"))
    finally:
        await c.close()


async def mixed(port: int, clients: int, seconds: float, accounts: int, per_account: int,
                seed: int = 1, max_sessions: int = 100_000,
                short: bool = False) -> dict[str, Any]:
    """``clients`` concurrent clients, each running sessions back to back until the time is
    up; returns operations and sessions per second and p50/p99 per command (ms). ``short``:
    the session loop (``_short_session``) instead of the mixed session."""
    run_session = _short_session if short else _session
    stats = Stats()
    deadline = time.monotonic() + seconds
    sessions = 0

    async def client(k: int) -> None:
        nonlocal sessions
        rnd = random.Random(seed * 1000 + k)
        while time.monotonic() < deadline and sessions < max_sessions:
            sessions += 1
            try:
                await run_session(port, rnd, stats, accounts, per_account)
            except (ImapError, OSError, asyncio.IncompleteReadError) as exc:
                stats.errors += 1
                stats.last_error = str(exc)[:200]
    start = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.monotonic() - start
    ops = stats.ops() - len(stats.latencies.get("CONNECT", []))
    per = {name: {"count": len(v), "p50_ms": _pct(v, 50), "p99_ms": _pct(v, 99)}
           for name, v in sorted(stats.latencies.items())}
    return {"ops_per_s": ops / elapsed, "ops": ops, "sessions": sessions,
            "sessions_per_s": (sessions - stats.errors) / elapsed,
            "seconds": elapsed, "errors": stats.errors, "last_error": stats.last_error,
            "commands": per}


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def warm(port: int, addresses: list[str], concurrency: int = 10) -> None:
    """Log in to every account once and read its flags, so each server has built whatever
    index it keeps before anything is timed (Dovecot indexes a Maildir on first SELECT)."""
    sem = asyncio.Semaphore(concurrency)

    async def one(address: str) -> None:
        async with sem:
            c = await Client.connect(port)
            try:
                await c.cmd(f'LOGIN "{address}" "{data.password(address)}"')
                await c.cmd("SELECT INBOX")
                await c.cmd("UID FETCH 1:* (FLAGS)")
                await c.cmd("LOGOUT")
            finally:
                await c.close()
    await asyncio.gather(*(one(a) for a in addresses))


async def big_mailbox(port: int, total: int) -> dict[str, float]:
    """The 100,000-message operations, each timed once (ms), plus a QRESYNC resync after
    another session changed 10 messages' flags."""
    out: dict[str, float] = {}
    c = await Client.connect(port)
    other = await Client.connect(port)
    try:
        login = f'LOGIN "{data.BIG}" "{data.password(data.BIG)}"'
        await c.cmd(login)
        await other.cmd(login)
        await c.cmd("ENABLE QRESYNC")

        async def timed(name: str, text: str) -> tuple[int, bytes]:
            start = time.perf_counter()
            result = await c.cmd(text)
            out[name] = 1000 * (time.perf_counter() - start)
            return result

        await timed("SELECT", "SELECT INBOX")
        count, _ = await timed("UID FETCH 1:* (FLAGS)", "UID FETCH 1:* (FLAGS)")
        if count < total:
            raise ImapError(f"FETCH answered {count} lines for {total} messages")
        await timed("UID SEARCH UNSEEN", "UID SEARCH UNSEEN")
        await timed("SEARCH TEXT needle", "SEARCH TEXT needle")
        await timed("UID SORT (SUBJECT)", "UID SORT (SUBJECT) UTF-8 ALL")
        # QRESYNC: remember the state, let another session change flags, resync.
        await c.cmd("UNSELECT")
        status: list[bytes] = []
        await c.cmd("STATUS INBOX (UIDVALIDITY HIGHESTMODSEQ)", keep=status)
        lines = b"".join(status)
        uv = int(re.search(rb"UIDVALIDITY (\d+)", lines).group(1))  # type: ignore[union-attr]
        ms = int(re.search(rb"HIGHESTMODSEQ (\d+)", lines).group(1))  # type: ignore[union-attr]
        await other.cmd("SELECT INBOX")
        await other.cmd("STORE 1:10 +FLAGS.SILENT (\\Flagged)")
        await other.cmd("STORE 1:10 -FLAGS.SILENT (\\Flagged)")
        await timed("SELECT (QRESYNC)", f"SELECT INBOX (QRESYNC ({uv} {ms}))")
        await c.cmd("LOGOUT")
        await other.cmd("LOGOUT")
    finally:
        await c.close()
        await other.close()
    return out

