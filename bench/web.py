"""The web platform's figures (docs/performance.md): memory per idle HTTP keep-alive
connection and the WebAdmin users page over 10,000 accounts. API reads per second are
``python -m bench.api``'s.

``postroom serve`` runs in its own process on loopback with only the admin listener (TLS,
the certificate it generates), in a throwaway data directory; this process is the client.

(a) **Memory per idle keep-alive connection**: open N TLS connections to ``/healthz`` (one
    request each, so every connection has been through uvicorn's HTTP/1.1 protocol, the
    guard and the application and now waits in keep-alive), then compare the server
    process's RSS (and PSS) with what it was before. The listener's per-address limit and
    the keep-alive timeout are raised for the run; ``postroom_open_connections`` on /metrics
    confirms the connections are all open when the memory is read.
(b) **Users page**: 10,000 accounts made with ``postroom user import`` from a CSV (timed: that
    is the bulk-import figure), a global administrator logged in through ``/login`` (its
    form's fields are read from the page), then ``GET /users`` (the first page, a page deep
    in the list, a search) K times each over one keep-alive connection. Server time is read
    from the server's own histogram (``postroom_http_request_duration_seconds``: request head
    to last byte), the client's round trips give the percentiles. Skipped with a message
    while the page answers 404 or the login form is not there.
Bounded: every part has a count and a time limit. Run:
``.venv/bin/python -m bench.web [--connections 1000] [--users 10000] [--skip-users]``; the
result is printed as JSON and written to bench/results/web-<time>.json with ``--save``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html.parser
import http.client
import http.cookies
import json
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.postroom_server import spawn_serve
from bench.reference import free_port, terminate, tree_pss, wait_port

POSTROOM = str(Path(sys.executable).parent / "postroom")
DOMAIN = "bench.test"
ADMIN = f"webadmin@{DOMAIN}"
ADMIN_PASSWORD = "bench-admin-password-1"
# Keys that exist only once other parts of the web platform are merged: used when the config
# knows them (an administrator without TOTP would otherwise be sent to enrolment).
# The first page, a page deep in the list (offset paging), a search (docs/web.md, users page)
USERS_PATHS = ["/users", "/users?page=100", "/users?q=user09"]


def client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the server's generated certificate, on loopback
    return ctx


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class WebServer:
    """``postroom serve`` with the admin listener only, sized for ``connections``."""

    root: Path
    connections: int
    plain: bool = False  # the admin listener without TLS: (a)'s HTTP-only share
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def overrides(self) -> list[str]:
        room = self.connections + 200
        base = ["smtp.mx.enabled=false", "smtp.submission.enabled=false",
                "smtp.submissions.enabled=false", "imap.imap.enabled=false",
                "imap.imaps.enabled=false", "pop3.pop3.enabled=false",
                "pop3.pop3s.enabled=false", "odmr.enabled=false", "web.https.enabled=false",
                "web.http.enabled=false", "web.alt.enabled=false", "web.admin.enabled=true",
                f"web.admin.port={self.port}", f"web.admin.connections_per_ip={room}",
                f"web.admin.max_connections={room}", f"limits.connections_per_ip={room}",
                "web.keepalive_timeout=600", f"server.domain={DOMAIN}",
                f"web.admin.tls={'none' if self.plain else 'implicit'}",
                f"server.hostname=mail.{DOMAIN}", "log.level=warning"]
        return [*base, "web.totp_admins=optional"]  # the bench logs in with a password only

    def cli(self, *args: str, stdin: bytes | None = None, timeout: float = 900,
            check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = [POSTROOM, *args, "--data-dir", str(self.root / "data")]
        for item in self.overrides():
            cmd += ["--set", item]
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout,
                              check=check)

    def start(self) -> None:
        self.proc = spawn_serve(self.root, self.overrides())
        wait_port(self.port, timeout=60)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


@contextlib.contextmanager
def running(server: WebServer) -> Iterator[WebServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- a small HTTP/1.1 client: one keep-alive TLS connection, cookies, sequential -------------
class Client:
    def __init__(self, port: int, plain: bool = False) -> None:
        self.conn = (http.client.HTTPConnection("127.0.0.1", port, timeout=60) if plain else
                     http.client.HTTPSConnection("127.0.0.1", port, timeout=60,
                                                 context=client_context()))
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        h = {"Host": "127.0.0.1", **(headers or {})}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        for value in r.headers.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
        return r.status, {k.lower(): v for k, v in r.headers.items()}, data

    def close(self) -> None:
        self.conn.close()


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families
    status, _, body = client.request("GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body.decode()) for s in f.samples}


def _req_stats(m: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> tuple[float, float]:
    key = (("listener", "webadmin"),)
    return (m.get(("postroom_http_request_duration_seconds_sum", key), 0.0),
            m.get(("postroom_http_request_duration_seconds_count", key), 0.0))


# -- (a) memory per idle keep-alive connection ------------------------------------------------
async def _open_idle(port: int, count: int, parallel: int, plain: bool = False,
                     ) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    ctx = None if plain else client_context()
    sem = asyncio.Semaphore(parallel)
    out: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def one() -> None:
        async with sem:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status, _ = await _read_response(reader)
            if status != 200:
                raise RuntimeError(f"/healthz answered {status}")
            out.append((reader, writer))
    await asyncio.gather(*(one() for _ in range(count)))
    return out


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _still_open(conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
                      sample: int) -> int:
    """How many of the first ``sample`` idle connections still answer a request."""
    ok = 0
    for reader, writer in conns[:sample]:
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status, _ = await asyncio.wait_for(_read_response(reader), 10)
            ok += status == 200
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
    return ok


async def _close(conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    for _, writer in conns:
        writer.close()
    for _, writer in conns:
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def memory_per_connection(server: WebServer, count: int, parallel: int,
                          settle: float) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        # warm up: imports, the TLS context's session cache, the app's first requests
        await _close(await _open_idle(server.port, 50, parallel, server.plain))
        await asyncio.sleep(settle)
        before_rss, before_pss = rss_kib(server.pid), tree_pss(server.pid)
        start = time.perf_counter()
        conns = await _open_idle(server.port, count, parallel, server.plain)
        opened = time.perf_counter() - start
        await asyncio.sleep(settle)
        after_rss, after_pss = rss_kib(server.pid), tree_pss(server.pid)
        client = Client(server.port, server.plain)
        try:
            gauge = scrape(client).get(("postroom_open_connections",
                                        (("listener", "webadmin"),)), 0.0)
        finally:
            client.close()
        alive = await _still_open(conns, min(20, count))
        await _close(conns)
        return {
            "connections": count, "tls": not server.plain,
            "open_per_server_gauge": int(gauge),  # ours, plus the scrape's own
            "sampled_still_answering": f"{alive}/{min(20, count)}",
            "open_seconds": round(opened, 2),
            "rss_before_kib": before_rss, "rss_after_kib": after_rss,
            "rss_kib_per_connection": round((after_rss - before_rss) / count, 1),
            "pss_kib_per_connection": round((after_pss - before_pss) / count, 1),
        }
    return asyncio.run(run())


# -- (b) the users page -----------------------------------------------------------------------
def make_accounts(server: WebServer, count: int) -> dict[str, Any]:
    server.cli("domain", "add", DOMAIN, check=False)  # the server may have made it already
    csv = server.root / "accounts.csv"
    with csv.open("w") as fh:
        for i in range(count):
            fh.write(f"user{i:05d}@{DOMAIN},pw-{i:05d}-bench,User {i:05d}\n")
        fh.write(f"{ADMIN},{ADMIN_PASSWORD},Web Admin\n")
    start = time.perf_counter()
    server.cli("user", "import", str(csv), timeout=3600)
    took = time.perf_counter() - start
    server.cli("admin", "grant", ADMIN, "--global")
    return {"accounts": count + 1, "import_seconds": round(took, 1),
            "import_accounts_per_second": round((count + 1) / took, 1)}


class FormParser(html.parser.HTMLParser):
    """Every form of a page: its action and inputs (the login helpers pick the one with a
    password field)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(a)


def login(client: Client) -> str | None:
    """Log in as the bench's global administrator; None when it worked, else why not."""
    status, _, page = client.request("GET", "/login")
    if status != 200:
        return f"GET /login answered {status}"
    parser = FormParser()
    parser.feed(page.decode(errors="replace"))
    forms = [f for f in parser.forms
             if any(i.get("type") == "password" for i in f["inputs"])]
    if not forms:
        return "no login form with a password field on /login"
    form = forms[0]
    fields: dict[str, str] = {}
    for i in form["inputs"]:
        name, kind = i.get("name", ""), i.get("type", "text").lower()
        if not name:
            continue
        if kind == "password":
            fields[name] = ADMIN_PASSWORD
        elif kind in ("text", "email", ""):
            fields[name] = ADMIN
        elif kind == "hidden":
            fields[name] = i.get("value", "")
    body = urllib.parse.urlencode(fields).encode()
    status, headers, _ = client.request(
        "POST", form["action"] or "/login", body,
        {"Content-Type": "application/x-www-form-urlencoded"})
    if status not in (200, 302, 303) or not client.cookies:
        return f"login answered {status} without a session"
    where = headers.get("location", "")
    if "totp" in where or "2fa" in where:
        return f"login asks for a second factor ({where}); run with web.totp_admins=optional"
    return None


def users_page(server: WebServer, paths: list[str], repeat: int) -> dict[str, Any]:
    client = Client(server.port)
    try:
        why = login(client)
        if why is not None:
            return {"skipped": f"users page not measured: {why}"}
        out: dict[str, Any] = {}
        for path in paths:
            status, _, body = client.request("GET", path)
            if status == 404:
                return {"skipped": f"GET {path} answered 404: the users page is not here "
                                   "(it comes with the WebAdmin pages)"}
            if status != 200:
                return {"skipped": f"GET {path} answered {status}"}
            for _ in range(3):  # warm up
                client.request("GET", path)
            # one scrape's own server time, to take out of the difference below
            s0 = _req_stats(scrape(client))
            s1 = _req_stats(scrape(client))
            scrape_time = s1[0] - s0[0]
            before = _req_stats(scrape(client))
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                status, _, body = client.request("GET", path)
                times.append(time.perf_counter() - t)
                if status != 200:
                    return {"skipped": f"GET {path} answered {status} during the run"}
            after = _req_stats(scrape(client))
            server_ms = (after[0] - before[0] - scrape_time) / repeat * 1000
            times.sort()
            out[path] = {
                "requests": repeat, "bytes": len(body),
                "server_ms_mean": round(server_ms, 2),
                "client_ms_mean": round(statistics.fmean(times) * 1000, 2),
                "client_ms_p50": round(statistics.median(times) * 1000, 2),
                "client_ms_p95": round(times[int(len(times) * 0.95) - 1] * 1000, 2),
                "target_ms": 100,
            }
        return out
    finally:
        client.close()


# -- main -------------------------------------------------------------------------------------
def raise_own_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(wanted, soft)), hard))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=1000,
                    help="idle keep-alive connections for (a)")
    ap.add_argument("--parallel", type=int, default=50, help="handshakes at a time in (a)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds to wait before reading memory")
    ap.add_argument("--users", type=int, default=10_000, help="accounts for (b)")
    ap.add_argument("--users-path", action="append", default=None,
                    help="page(s) timed in (b); default: " + ", ".join(USERS_PATHS))
    ap.add_argument("--repeat", type=int, default=50, help="requests per page in (b)")
    ap.add_argument("--skip-users", action="store_true", help="only (a)")
    ap.add_argument("--plain", action="store_true",
                    help="only (a), without TLS (how much of a connection is TLS)")
    ap.add_argument("--keep", metavar="DIR",
                    help="use DIR (kept) instead of a temporary directory; a second run with "
                         "the same DIR skips the account import")
    ap.add_argument("--save", action="store_true", help="also write bench/results/web-*.json")
    args = ap.parse_args()
    raise_own_fd_limit(args.connections + 256)
    result: dict[str, Any] = {"bench": "web", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                   time.gmtime())}
    with contextlib.ExitStack() as stack:
        root = Path(args.keep) if args.keep else Path(stack.enter_context(
            tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        server = WebServer(root, args.connections, plain=args.plain)
        if args.plain:
            args.skip_users = True
        done = root / f"imported-{args.users}"
        if not args.skip_users and not done.exists():
            result["import"] = make_accounts(server, args.users)
            done.touch()
        with running(server):
            result["idle_keepalive_memory"] = memory_per_connection(
                server, args.connections, args.parallel, args.settle)
            if args.skip_users:
                result["users_page"] = {"skipped": "--skip-users"}
            else:
                result["users_page"] = users_page(server, args.users_path or USERS_PATHS,
                                                  args.repeat)
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        out = Path(__file__).parent / "results" / f"web-{time.strftime('%Y%m%dT%H%M%SZ')}.json"
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
