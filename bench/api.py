"""JSON API read throughput: ``GET /api/v1/domains`` and ``GET /api/v1/users/{address}`` over
keep-alive HTTPS with a bearer token, against a ``postroom serve`` process on loopback.

The server runs as its own process (as in production), the load from ``--procs`` client
processes with ``--conns`` keep-alive connections each; a client is a small asyncio loop that
writes one request and reads one response at a time per connection (no pipelining), so what
is measured is the server's request cost: TLS record, uvicorn's HTTP/1.1, the token check
(cached, services/apitokens.py), the handler and msgspec encoding.

``--asgi`` adds the application's own cost per request: the same two reads driven straight
into the ASGI application in this process (no socket, TLS or HTTP parsing), wall and CPU time
(CPU includes the store's reader threads). It says what the API layer costs when the machine
is shared, where the HTTPS figure also measures the neighbours.

Bounded: each run stops after ``--count`` requests or ``--seconds``, whichever comes first.
Run: ``.venv/bin/python -m bench.api [--seconds 5] [--procs 2] [--conns 4] [--asgi]``;
loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OFF = ["smtp.mx.enabled=false", "smtp.submission.enabled=false",
       "smtp.submissions.enabled=false", "pop3.pop3.enabled=false", "pop3.pop3s.enabled=false",
       "imap.imap.enabled=false", "imap.imaps.enabled=false", "odmr.enabled=false",
       "web.https.enabled=false", "web.http.enabled=false", "web.alt.enabled=false",
       "minger.enabled=false", "sieve.managesieve.enabled=false",
       "server.listen=[\"127.0.0.1\"]"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(data: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "postroom", *args, "--data-dir", str(data)],
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout


async def client(port: int, paths: list[str], token: str, deadline: float, limit: int,
                 ) -> tuple[int, int, list[float]]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    done = errors = 0
    latencies: list[float] = []
    heads = [(f"GET {p} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
              ).encode() for p in paths]
    while done < limit and time.monotonic() < deadline:
        t0 = time.perf_counter()
        writer.write(heads[done % len(heads)])
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - t0)
        if not head.startswith(b"HTTP/1.1 200"):
            errors += 1
        done += 1
    writer.close()
    return done, errors, latencies


def worker(port: int, paths: list[str], token: str, conns: int, seconds: float, count: int,
           queue: Any) -> None:
    async def run() -> list[tuple[int, int, list[float]]]:
        deadline = time.monotonic() + seconds
        return await asyncio.gather(*(client(port, paths, token, deadline, count // conns)
                                      for _ in range(conns)))
    queue.put(asyncio.run(run()))


def measure(port: int, paths: list[str], token: str, args: argparse.Namespace
            ) -> dict[str, Any]:
    queue: Any = multiprocessing.Queue()
    per_proc = args.count // args.procs
    t0 = time.monotonic()
    procs = [multiprocessing.Process(target=worker, args=(
        port, paths, token, args.conns, args.seconds, per_proc, queue))
        for _ in range(args.procs)]
    for p in procs:
        p.start()
    results = [r for _ in procs for r in queue.get(timeout=args.seconds + 60)]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - t0
    done = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[2])
    return {"paths": paths, "requests": done, "errors": sum(r[1] for r in results),
            "seconds": round(elapsed, 2), "per_second": round(done / elapsed),
            "p50_ms": round(lat[len(lat) // 2] * 1000, 2) if lat else None,
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2) if lat else None,
            "clients": args.procs * args.conns}


async def asgi_cost(count: int) -> list[dict[str, Any]]:
    """Microseconds per request inside the application (see the module docstring)."""
    from postroom import config
    from postroom.app import build_services
    from postroom.core.actor import Actor
    from postroom.services.admin.directory import NewAccount
    from postroom.web.app import build
    from postroom.web.context import WebServices, WebSettings

    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.load(None, [])
        cfg.server.data_dir = tmp
        s = build_services(cfg)
        try:
            op = Actor.operator()
            await s.admin.domains.add(op, "bench.test")
            await s.admin.users.add(op, NewAccount("admin@bench.test", "pw-bench-123456"))
            await s.admin.roles.set(op, "admin@bench.test", None, True)
            assert s.tokens is not None
            token, _ = await s.tokens.create(op, "bench", "admin", owner="admin@bench.test")
            web = WebServices(None, s.metrics, None, s.admin, s.auth,  # type: ignore[arg-type]
                              s.sessions, s.two_factor, s.app_passwords, s.own_account,
                              tokens=s.tokens)
            app = build("web-admin", web, WebSettings("mail.bench.test", True, 1 << 20, 0, [],
                                                       443))
            headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench")]

            async def one(path: str) -> None:
                scope = {"type": "http", "method": "GET", "path": path, "query_string": b"",
                         "raw_path": path.encode(), "headers": headers, "scheme": "https",
                         "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 1000),
                         "http_version": "1.1", "root_path": ""}
                sent: list[Any] = []

                async def receive() -> dict[str, Any]:
                    return {"type": "http.request", "body": b"", "more_body": False}

                async def send(message: Any) -> None:
                    sent.append(message)
                await app(scope, receive, send)
                assert sent[0]["status"] == 200, sent

            for path in ("/api/v1/domains", "/api/v1/users/admin@bench.test"):
                for _ in range(100):
                    await one(path)
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(count):
                    await one(path)
                out.append({"asgi_path": path, "requests": count,
                            "wall_us": round((time.perf_counter() - wall) / count * 1e6),
                            "cpu_us": round((time.process_time() - cpu) / count * 1e6)})
        finally:
            await s.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--asgi", action="store_true", help="also the in-process cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        port = free_port()
        sets = [a for kv in [*OFF, f"web.admin.port={port}", "web.admin.enabled=true",
                             "server.domain=bench.test", "server.hostname=mail.bench.test"]
                for a in ("--set", kv)]
        cli(data, "user", "list")  # creates the store
        cli(data, "domain", "add", "bench.test")
        cli(data, "user", "add", "admin@bench.test", "--password", "pw-bench-123456")
        cli(data, "admin", "grant", "admin@bench.test", "--global")
        token = json.loads(cli(data, "token", "create", "admin@bench.test", "--name",
                               "bench", "--scope", "admin", "--json"))["token"]
        server = subprocess.Popen([sys.executable, "-m", "postroom", "serve", "--data-dir",
                                   str(data), *sets], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, env={**os.environ})
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise SystemExit("the server did not start")
            out = [measure(port, ["/api/v1/domains"], token, args),
                   measure(port, ["/api/v1/users/admin@bench.test"], token, args)]
        finally:
            server.terminate()
            server.wait(10)
    if args.asgi:
        out += asyncio.run(asgi_cost(min(args.count, 3000)))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
