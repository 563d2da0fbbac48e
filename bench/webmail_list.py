"""Webmail's message list on a 100,000-message folder (docs/webmail/lists.md, issue 23).

The folder is filled through the services before the server starts, the way bench/ fills the
IMAP bench's big mailbox (bench/data.py ``big_mail``: 1,000 distinct messages repeated, one of
them holding the word "needle"), then ``postroom serve`` runs in its own process with the
public HTTPS listener, this process logs in through /login and asks for list pages over one
keep-alive connection. The server's own time is the page's ``Server-Timing: app;dur=<ms>``
(W3C Server Timing), set by web/webmail/lists.py around the whole handler (gate, sort, rows,
folder tree, rendering); the client's round trip is given next to it.

Measured: the first page (target < 150 ms), a page deep in the folder, sorted by subject and
by sender, a search of the index, the conversation view (the newest
``web.webmail.thread_max`` messages threaded). Bounded: a fixed number of requests per page.
Run: ``.venv/bin/python -m bench.webmail_list [--messages 100000] [--repeat 10] [--save]``.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import os
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench import data
from bench.postroom_server import Postroom, spawn_serve
from bench.reference import free_port, terminate, wait_port
from bench.web import Client

TARGET_MS = 150.0
RESULTS = Path(__file__).parent / "results"


class _LoginForm(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.names: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action and a.get("action", "") in ("", "/login"):
            self.action = a.get("action") or "/login"
        elif tag == "input" and a.get("name"):
            self.names.append((a["name"], a.get("type", "text").lower()))
            if a.get("type") == "hidden":
                self.fields[a["name"]] = a.get("value", "")


def login(client: Client, address: str, password: str) -> str:
    """Log in to webmail; the INBOX's list path."""
    status, _, page = client.request("GET", "/login")
    if status != 200:
        raise SystemExit(f"GET /login answered {status}")
    form = _LoginForm()
    form.feed(page.decode(errors="replace"))
    fields = dict(form.fields)
    for name, kind in form.names:
        if kind == "password":
            fields[name] = password
        elif kind in ("text", "email"):
            fields[name] = address
    status, headers, _ = client.request("POST", "/login",
                                        urllib.parse.urlencode(fields).encode(),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
    if status not in (302, 303):
        raise SystemExit(f"login answered {status}")
    status, headers, _ = client.request("GET", "/webmail/")
    where = headers.get("location", "")
    if status != 303 or "/webmail/f/" not in where:
        raise SystemExit(f"/webmail/ answered {status} {where}")
    return urllib.parse.urlsplit(where).path


def measure(client: Client, path: str, repeat: int) -> dict[str, Any]:
    server: list[float] = []
    rounds: list[float] = []
    body = b""
    for i in range(repeat + 2):  # two to warm up
        t = time.perf_counter()
        status, headers, body = client.request("GET", path)
        took = (time.perf_counter() - t) * 1000
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {body[:200]!r}")
        timing = headers.get("server-timing", "")
        if i >= 2:
            server.append(float(timing.split("dur=")[1]))
            rounds.append(took)
    server.sort()
    return {"path": path, "requests": repeat, "bytes": len(body),
            "server_ms_p50": round(statistics.median(server), 1),
            "server_ms_max": round(server[-1], 1),
            "client_ms_p50": round(statistics.median(rounds), 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--save", action="store_true", help="write bench/results/webmail-list-*.json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-webmail-") as tmp:
        server = Postroom(Path(tmp))
        port = free_port()
        overrides = [*server.overrides(), "web.https.enabled=true", f"web.https.port={port}",
                     "web.alt.enabled=false", "web.http.enabled=false",
                     "web.admin.enabled=false", "server.listen=[\"127.0.0.1\"]"]
        server.overrides = lambda: overrides  # type: ignore[method-assign]
        t = time.perf_counter()

        async def fill(services: Any) -> None:
            if not await services.store.directory.list_domains():
                await services.directory.add_domain(data.DOMAIN)
            await data.fill_account(services, data.BIG, data.big_mail(args.messages))
        server.populate(fill)
        filled = time.perf_counter() - t
        # the server imports this checkout's postroom, as this process does (the venv's
        # console script alone would import whichever checkout the venv was installed from)
        os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        proc = spawn_serve(Path(tmp), overrides)
        try:
            wait_port(port, timeout=120)
            client = Client(port)
            inbox = login(client, data.BIG, data.password(data.BIG))
            last = -(-args.messages // 50)
            cases = [("first page", inbox),
                     ("first page again (rows fragment)", inbox + "/rows"),
                     (f"page {last // 2} of {last}", f"{inbox}?page={last // 2}"),
                     ("sorted by subject", f"{inbox}?sort=subject&order=asc"),
                     ("sorted by sender", f"{inbox}?sort=from"),
                     ("search q=needle", f"{inbox}?q=needle"),
                     ("search from=s7 + unread", f"{inbox}?from=s7%40&flag=unseen"),
                     ("conversations", f"{inbox}?thread=1")]
            rows = []
            for label, path in cases:
                result = measure(client, path, args.repeat)
                result["case"] = label
                rows.append(result)
            client.close()
        finally:
            terminate(proc)
    print(f"{args.messages:,} messages filled in {filled:.1f} s; server time from "
          f"Server-Timing, median of {args.repeat} (target first page < {TARGET_MS:.0f} ms)")
    print(f"{'case':36} {'server p50':>11} {'server max':>11} {'client p50':>11} {'bytes':>8}")
    for r in rows:
        print(f"{r['case']:36} {r['server_ms_p50']:>9.1f}ms {r['server_ms_max']:>9.1f}ms "
              f"{r['client_ms_p50']:>9.1f}ms {r['bytes']:>8}")
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"webmail-list-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps({"messages": args.messages, "fill_s": round(filled, 1),
                                   "target_ms": TARGET_MS, "results": rows}, indent=2))
        print(f"saved {out}")


if __name__ == "__main__":
    main()
