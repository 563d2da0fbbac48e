"""Webmail live updates at scale (issue 23's target): S concurrent webmail sessions, each
holding a live-update stream (``GET /webmail/events``, Server-Sent Events) on one server
process, while N messages are delivered; event latency and memory per stream and per session.

``postroom serve`` runs in its own process on loopback with the public HTTPS listener
(webmail) and plain IMAP (loopback may log in in plain text); this process is the client.

1. S accounts are made before the server starts, with argon2id hashes of small parameters
   (what is measured is memory and latency, not S password verifications).
2. **Sessions**: each user logs in once over HTTP (``/login``, the form's own fields), as a
   browser does; the server's RSS before and after gives the memory per logged-in session.
3. **Streams**: one stream per session, all held open at once over TLS (one connection each,
   as a browser tab holds one); the RSS delta over the open streams gives memory per stream,
   and (sessions + streams) / S the memory per live webmail session. Each stream is checked
   to have sent its ``retry:`` field before memory is read.
4. **Latency**: N messages are APPENDed over IMAP, one user after another round-robin at
   ``--rate`` per second (so a user's messages are seconds apart and never coalesced); the
   latency of one message is from its APPEND command being sent to the arrival of the
   ``mail`` event whose ``total`` counts it, on that user's stream. Reported: p50, p90, p99,
   max, and how many events never came (timeout ``--timeout`` seconds each).

Run: ``.venv/bin/python -m bench.webmail_live [--sessions 200] [--messages 600] [--rate 50]``;
the result is printed as JSON (and written to bench/results/webmail-live-<time>.json with
``--save``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from bench.imap_load import Client as ImapClient
from bench.postroom_server import spawn_serve
from bench.reference import free_port, terminate, tree_pss, wait_port
from bench.web import Client as WebClient
from bench.web import FormParser, client_context, raise_own_fd_limit, rss_kib
from postroom import config
from postroom.app import build_services

DOMAIN = "bench.test"
PASSWORD = "bench-live-password-1"
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def account(k: int) -> str:
    return f"live{k:04d}@{DOMAIN}"


def message(k: int) -> bytes:
    return (f"From: sender@remote.test\r\nTo: {account(k)}\r\nSubject: live {k}\r\n"
            f"Message-ID: <live-{k}-{time.monotonic_ns()}@bench.test>\r\n\r\n"
            "A message for the live-update bench.\r\n").encode()


@dataclass
class Server:
    root: Path
    sessions: int
    https: int = field(default_factory=free_port)
    imap: int = field(default_factory=free_port)
    proc: Any = None

    def overrides(self) -> list[str]:
        room = self.sessions * 2 + 200
        return ["smtp.mx.enabled=false", "smtp.submission.enabled=false",
                "smtp.submissions.enabled=false", "imap.imaps.enabled=false",
                f"imap.imap.port={self.imap}", "pop3.pop3.enabled=false",
                "pop3.pop3s.enabled=false", "odmr.enabled=false", "web.admin.enabled=false",
                "web.http.enabled=false", "web.alt.enabled=false", "web.https.enabled=true",
                f"web.https.port={self.https}", f"web.https.connections_per_ip={room}",
                f"web.https.max_connections={room}", f"limits.connections_per_ip={room}",
                "web.keepalive_timeout=600", f"web.webmail.live_max_streams={room}",
                'server.plaintext_auth_networks=["127.0.0.1/32"]', f"server.domain={DOMAIN}",
                f"server.hostname=mail.{DOMAIN}", 'server.listen=["127.0.0.1"]',
                "log.level=warning"]

    def populate(self) -> None:
        cfg = config.load(None, self.overrides())
        cfg.server.data_dir = str(self.root / "data")
        hashed = _CHEAP.hash(PASSWORD)

        async def run() -> None:
            services = build_services(cfg)
            try:
                if not await services.directory.is_local_domain(DOMAIN):
                    await services.directory.add_domain(DOMAIN)
                pairs = []
                for k in range(self.sessions):
                    rec = await services.directory.add_account(account(k), PASSWORD)
                    await services.store.directory.update_account(account(k),
                                                                  password_hash=hashed)
                    pairs.append((rec.id, rec.domain_id))
                await services.mailboxes.ensure_defaults_many(pairs)
            finally:
                await services.close()
        asyncio.run(run())

    def start(self) -> None:
        self.proc = spawn_serve(self.root, self.overrides())
        wait_port(self.https, timeout=60)
        wait_port(self.imap, timeout=60)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None


def login(port: int, address: str) -> dict[str, str]:
    """Log in to webmail as a browser does; the cookies of the session."""
    client = WebClient(port)
    try:
        status, _, page = client.request("GET", "/login")
        parser = FormParser()
        parser.feed(page.decode(errors="replace"))
        form = next(f for f in parser.forms
                    if any(i.get("type") == "password" for i in f["inputs"]))
        fields = {}
        for i in form["inputs"]:
            name, kind = i.get("name", ""), i.get("type", "text").lower()
            if name:
                fields[name] = (PASSWORD if kind == "password" else i.get("value", "")
                                if kind == "hidden" else address)
        status, _, _ = client.request(
            "POST", form["action"] or "/login", urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 303 or "__Host-postroom-webmail" not in client.cookies:
            raise SystemExit(f"login of {address} answered {status} without a session")
        return dict(client.cookies)
    finally:
        client.close()


class Stream:
    """One user's stream: the arrival time of each ``mail`` total of their INBOX."""

    def __init__(self, k: int, cookies: dict[str, str]) -> None:
        self.k = k
        self.cookies = cookies
        self.ready = asyncio.Event()
        self.arrived: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.error = ""

    async def open(self, port: int, ctx: ssl.SSLContext) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.writer.write(f"GET /webmail/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Accept: text/event-stream\r\nCookie: {cookie}\r\n\r\n".encode())
        status = await reader.readline()
        if b" 200 " not in status:
            self.error = status.decode(errors="replace").strip()
            self.ready.set()
            return
        while (await reader.readline()).strip():
            pass
        self.task = asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Chunked body, parsed just enough: ``retry``, ``event: mail`` and its data."""
        kind = ""
        buffer = b""
        while True:
            size = await reader.readline()
            if not size:
                return
            n = int(size.strip() or b"0", 16)
            if n == 0:
                return
            buffer += await reader.readexactly(n)
            await reader.readexactly(2)
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.startswith(b"retry:"):
                    self.ready.set()
                elif line.startswith(b"event:"):
                    kind = line[6:].strip().decode()
                elif line.startswith(b"data:") and kind == "mail":
                    total = int(json.loads(line[5:])["total"])
                    now = time.perf_counter()
                    self.arrived.setdefault(total, now)
                    waiter = self.waiters.pop(total, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(now)
                elif not line.strip():
                    kind = ""

    async def event(self, total: int, timeout: float) -> float | None:
        if total in self.arrived:
            return self.arrived[total]
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[total] = waiter
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await self.writer.wait_closed()


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(server: Server, cookies: list[dict[str, str]], messages: int, rate: float,
                  timeout: float, settle: float, before_sessions: int) -> dict[str, Any]:
    pid = server.proc.pid
    ctx = client_context()
    sessions = len(cookies)
    await asyncio.sleep(settle)
    no_streams = rss_kib(pid)
    no_streams_pss = tree_pss(pid)
    streams = [Stream(k, c) for k, c in enumerate(cookies)]
    start = time.perf_counter()
    sem = asyncio.Semaphore(50)

    async def open_one(s: Stream) -> None:
        async with sem:
            await s.open(server.https, ctx)
            await asyncio.wait_for(s.ready.wait(), 30)
    await asyncio.gather(*(open_one(s) for s in streams))
    open_s = time.perf_counter() - start
    refused = [s.error for s in streams if s.error]
    live = sessions - len(refused)
    await asyncio.sleep(settle)
    with_streams = rss_kib(pid)
    with_streams_pss = tree_pss(pid)

    # latency: round-robin APPENDs at ``rate`` per second, one IMAP connection per user
    imap: dict[int, ImapClient] = {}

    async def connect(k: int) -> None:
        async with sem:
            c = await ImapClient.connect(server.imap)
            await c.cmd(f'LOGIN "{account(k)}" "{PASSWORD}"')
            imap[k] = c
    users = min(sessions, messages)
    await asyncio.gather(*(connect(k) for k in range(users)))
    counts = [0] * sessions
    latencies: list[float] = []
    appends: list[float] = []
    lost = 0

    async def deliver(j: int) -> None:
        nonlocal lost
        k = j % users
        counts[k] += 1
        expected = counts[k]
        stream = streams[k]
        sent = time.perf_counter()
        await imap[k].cmd("APPEND INBOX", message(k))
        appends.append(time.perf_counter() - sent)
        arrived = await stream.event(expected, timeout)
        if arrived is None:
            lost += 1
        else:
            latencies.append(arrived - sent)
    tasks = []
    started = time.perf_counter()
    for j in range(messages):
        delay = started + j / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.get_running_loop().create_task(deliver(j)))
    await asyncio.gather(*tasks)
    deliver_s = time.perf_counter() - started
    for c in imap.values():
        with contextlib.suppress(Exception):
            await c.cmd("LOGOUT")
        await c.close()
    await asyncio.gather(*(s.close() for s in streams))
    ms = [v * 1000 for v in latencies]
    return {
        "sessions": sessions, "streams_open": live, "streams_refused": len(refused),
        "streams_open_seconds": round(open_s, 2),
        "rss_kib_before_sessions": before_sessions, "rss_kib_sessions": no_streams,
        "rss_kib_streams": with_streams,
        "kib_per_session_login": round((no_streams - before_sessions) / sessions, 1),
        "kib_per_stream": round((with_streams - no_streams) / max(live, 1), 1),
        "pss_kib_per_stream": round((with_streams_pss - no_streams_pss) / max(live, 1), 1),
        "kib_per_live_session": round((with_streams - before_sessions) / max(live, 1), 1),
        "messages": messages, "rate_per_s": rate, "deliver_seconds": round(deliver_s, 2),
        "events_lost": lost,
        "latency_ms": {"p50": round(pct(ms, 0.5), 1), "p90": round(pct(ms, 0.9), 1),
                       "p99": round(pct(ms, 0.99), 1), "max": round(max(ms or [0]), 1),
                       "mean": round(statistics.fmean(ms), 1) if ms else 0.0},
        "append_ms_p50": round(pct([a * 1000 for a in appends], 0.5), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200, help="webmail sessions, one stream "
                    "each")
    ap.add_argument("--messages", type=int, default=600, help="messages delivered")
    ap.add_argument("--rate", type=float, default=50.0, help="messages per second")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="seconds one event may take before it counts as lost")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait before reading memory")
    ap.add_argument("--save", action="store_true",
                    help="also write bench/results/webmail-live-*.json")
    args = ap.parse_args()
    # the server process runs the code this bench imports (a worktree's, not an install's)
    root = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    raise_own_fd_limit(args.sessions * 2 + 256)
    result: dict[str, Any] = {"bench": "webmail_live", "time": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), args.sessions)
        started = time.perf_counter()
        server.populate()
        result["populate_seconds"] = round(time.perf_counter() - started, 1)
        server.start()
        try:
            time.sleep(args.settle)
            before = rss_kib(server.proc.pid)
            started = time.perf_counter()
            cookies = [login(server.https, account(k)) for k in range(args.sessions)]
            result["login_seconds"] = round(time.perf_counter() - started, 1)
            result.update(asyncio.run(measure(server, cookies, args.messages, args.rate,
                                              args.timeout, args.settle, before)))
        finally:
            server.stop()
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        out = Path(__file__).parent / "results" / \
            f"webmail-live-{time.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
