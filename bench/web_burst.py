"""A burst of new connections on the web listener: N clients connect at once (TLS unless
``--plain``) and send one Basic-authenticated ActiveSync OPTIONS each, as phones do when
they all reconnect at the same moment (a NAT box restarted, a network change).

Measured per burst: how many answered 200, how many failed and how (the connection or
handshake timing out after ``--connect-timeout`` seconds, as bench/eas.py's phones give up
after 30 s), and the connect (TCP + TLS handshake) and request times: p50, p99, max.

``--users`` accounts (100) share the N clients evenly, so with 1,000 clients every account
logs in ten times at once. The first burst meets a cold login cache (every password checked
with argon2id); the following bursts (``--rounds``) a warm one unless ``--cold`` starts a
fresh server for each. Bounded: every wait has a timeout, every loop a count. Run
``.venv/bin/python -m bench.web_burst --clients 200 500 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.eas import DOMAIN, PASSWORD, PATH, EasPostroom
from postroom.app import Services


class BurstPostroom(EasPostroom):
    def __init__(self, root: Path, plain: bool) -> None:
        super().__init__(root)
        self.plain = plain

    def overrides(self) -> list[str]:
        extra = ["web.https.tls=none"] if self.plain else []
        return [*super().overrides(), *extra]


def _ssl() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"p50": round(_pct(values, 0.5), 3), "p99": round(_pct(values, 0.99), 3),
            "max": round(max(values), 3)}


async def _client(port: int, user: str, tls: ssl.SSLContext | None, connect_timeout: float,
                  request_timeout: float, go: asyncio.Event) -> tuple[str, float, float]:
    """(outcome, connect seconds, request seconds) of one client."""
    await go.wait()
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=tls), connect_timeout)
    except TimeoutError:
        return "connect timeout", time.monotonic() - started, 0.0
    except (OSError, ssl.SSLError) as exc:
        return f"connect {type(exc).__name__}", time.monotonic() - started, 0.0
    connected = time.monotonic()
    auth = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    try:
        writer.write(f"OPTIONS {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Basic {auth}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), request_timeout)
        outcome = line.split()[1].decode() if line.startswith(b"HTTP/") else "no answer"
    except TimeoutError:
        outcome = "request timeout"
    except (OSError, ssl.SSLError) as exc:
        outcome = f"request {type(exc).__name__}"
    done = time.monotonic()
    writer.close()
    return outcome, connected - started, done - connected


async def burst(port: int, users: list[str], clients: int, plain: bool,
                connect_timeout: float, request_timeout: float) -> dict[str, Any]:
    go = asyncio.Event()
    tls = None if plain else _ssl()
    tasks = [asyncio.ensure_future(_client(port, users[i % len(users)], tls, connect_timeout,
                                           request_timeout, go)) for i in range(clients)]
    await asyncio.sleep(0.2)  # every client waiting at the gate
    started = time.monotonic()
    go.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks),
                                     connect_timeout + request_timeout + 30)
    outcomes: dict[str, int] = {}
    for outcome, _c, _r in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    ok = [r for r in results if r[0] == "200"]
    return {"clients": clients, "tls": not plain, "outcomes": outcomes,
            "wall_s": round(time.monotonic() - started, 2),
            "connect_s": _summary([c for _o, c, _r in ok]),
            "request_s": _summary([r for _o, _c, r in ok])}


def setup(root: Path, users: int, plain: bool) -> tuple[BurstPostroom, list[str]]:
    pr = BurstPostroom(root, plain)
    names = [f"u{i}@{DOMAIN}" for i in range(users)]

    async def fill(services: Services) -> None:
        if not await services.store.directory.list_domains():
            await services.directory.add_domain(DOMAIN)
        for name in names:
            await services.directory.add_account(name, PASSWORD)
    pr.populate(fill)
    return pr, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1, help="bursts of each size")
    parser.add_argument("--cold", action="store_true",
                        help="a fresh server (cold login cache) for every burst")
    parser.add_argument("--plain", action="store_true", help="plain HTTP instead of TLS")
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--request-timeout", type=float, default=60.0)
    args = parser.parse_args()
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        pr: BurstPostroom | None = None
        users: list[str] = []
        try:
            for n, clients in enumerate(args.clients):
                for _ in range(args.rounds):
                    if pr is None or args.cold:
                        if pr is not None:
                            pr.stop()
                        pr, users = setup(Path(tmp) / f"s{n}-{len(report)}", args.users,
                                          args.plain)
                        pr.start()
                    result = asyncio.run(burst(pr.web_port, users, clients, args.plain,
                                               args.connect_timeout, args.request_timeout))
                    print(json.dumps(result), flush=True)
                    report.append(result)
                    time.sleep(2)  # the closed connections gone before the next burst
        finally:
            if pr is not None:
                pr.stop()


if __name__ == "__main__":
    main()
