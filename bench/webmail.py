"""Webmail side by side: Postroom's webmail against Roundcube over Dovecot, on one machine.

Both sides hold the same mail (bench/data.py's large mailbox): one folder (INBOX of
``big@bench.test``) with 100,000 messages, plus one 100 KB HTML newsletter, the newest
message (``html_message``). Postroom gets it through its services before it starts; Dovecot as
Maildir files, indexed by one IMAP pass before anything is timed. Roundcube is Debian's
``roundcube-core`` under PHP's built-in server with its own SQLite database, talking IMAP to
that Dovecot (bench/roundcube.py), in three variants by default (``VARIANTS``): as Debian
ships it over the bench's Dovecot as bench/reference.py configures it ("roundcube"); with
Roundcube's database IMAP and message caches on ("roundcube+cache"); and with those caches
over a second Dovecot holding the same mail in its own mdbox format, with its authentication
cache on ("roundcube+tuned"; why: ``VARIANTS``).

One HTTP client for every side (bench/web.py's: sequential, cookies, keep-alive where the
server keeps the connection open — PHP's built-in server closes it after each answer, so the
Roundcube numbers include a loopback TCP connect per request; Postroom's include TLS, which
its public listener always has). Per round and per side:

- **login** (``--logins`` times, a fresh connection each): the login page, then posting the
  user name and password, up to the redirect that answers it (both check the password:
  Postroom against its argon2id hash, Roundcube by logging in to Dovecot, which holds the
  same hash). The last session stays logged in for the rest of the round, as a user's would.
- **first page** of the 100,001-message folder, 50 messages: Postroom's list page
  ``/webmail/f/{fid}`` (and its rows fragment ``…/rows``, the part a live refresh reloads);
  Roundcube's ``?_task=mail&_action=list&_remote=1`` request, the one its UI makes when a
  folder is opened (page size 50 for both); and as a fresh load of the folder, Roundcube's
  mail page (its UI shell) plus that request, against Postroom's page. Each side's default
  order (Roundcube: the mailbox's own, no sort), then sorted by date, newest first (Postroom
  ``sort=date``; Roundcube after one untimed ``_sort=date_DESC`` click, put back afterwards).
- **opening the HTML message**: Postroom's reading page plus its ``/body`` frame (the two
  requests a browser makes), against Roundcube's ``_action=show`` (the message opened on its
  own page) and ``_action=preview&_framed=1`` (the preview pane's frame); both inline the
  washed HTML.

Each measure: one untimed first request (its time is kept as ``cold_ms``), then
``--requests`` timed ones; client-side p50/p95, and Postroom's own server time from its
``Server-Timing: app;dur=`` header (summed over the requests of one measure). Rounds
alternate the order of the sides; the summary is the median over rounds, and the ratio is
Roundcube's time over Postroom's (above 1: Postroom faster). A side whose pages are not there
(404, no login form) is reported "not available" instead of failing the run.

Bounded: every loop has a count, every request a 60 s timeout. Run
``.venv/bin/python -m bench.webmail [--quick]`` (``make bench-webmail``); the result is
printed as a table and written to bench/results/webmail-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import email.policy
import imaplib
import itertools
import json
import math
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from bench import data
from bench.postroom_server import Postroom
from bench.reference import Dovecot, ensure_packages, free_port, wait_port
from bench.roundcube import PAGE_SIZE, Roundcube, list_rows, request_token
from bench.roundcube import ensure_packages as ensure_roundcube
from bench.web import Client, FormParser
from postroom.app import Services

RESULTS = Path(__file__).parent / "results"
HTML_SUBJECT = "Postroom webmail bench: the 100 KB HTML newsletter"
# Text near the end of the HTML body: a reading page that shows it rendered the whole body.
MARKER = "bench-end-of-letter-7f3a"
HTML_SIZE = 100_000


# -- the mail ----------------------------------------------------------------------------------
def html_message(size: int = HTML_SIZE) -> bytes:
    """A newsletter-like multipart/alternative message whose HTML part is about ``size``
    octets (its text part lists only the titles): a style sheet, tables, headings,
    paragraphs, links and remote images (which both webmails block until asked), generated
    from a fixed seed so every run sends the same bytes. The marker text ends the HTML."""
    rnd = random.Random(23)
    words = [*data.WORDS, "quarterly", "naïve", "café", "résumé", "update", "team", "plan"]

    def sentence(n: int) -> str:
        return " ".join(rnd.choice(words) for _ in range(n)).capitalize() + "."

    head = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Newsletter</title>"
            "<style>body{font-family:Arial,sans-serif;color:#222}table.item{width:100%;"
            "border-collapse:collapse}td{padding:4px 8px;border-bottom:1px solid #ddd}"
            "h2{color:#0a4a8a;font-size:18px}.small{font-size:11px;color:#777}</style>"
            "</head><body><table width=\"100%\" bgcolor=\"#f4f4f4\"><tr><td align=\"center\">"
            "<img src=\"https://images.example.org/logo.png\" width=\"200\" alt=\"Logo\">"
            "<h1>The weekly letter</h1></td></tr></table>\n")
    parts = [head]
    text = ["The weekly letter\n"]
    total = len(head.encode())
    n = 0
    while total < size - 1500:
        n += 1
        title = sentence(5)
        paragraphs = [sentence(rnd.randint(25, 60)) for _ in range(3)]
        rows = "".join(f"<tr><td>{rnd.choice(words)}</td><td align=\"right\">"
                       f"{rnd.randint(1, 99999)}</td></tr>" for _ in range(4))
        block = (f"<div class=\"article\" id=\"a{n}\"><h2>{title}</h2>"
                 f"<img src=\"https://images.example.org/a{n}.jpg\" width=\"120\" "
                 f"height=\"80\" alt=\"\" style=\"float:right;margin:0 0 8px 8px\">"
                 + "".join(f"<p style=\"line-height:1.4\">{p}</p>" for p in paragraphs)
                 + f"<table class=\"item\">{rows}</table><p><a href=\"https://news.example"
                 f".org/story/{n}?utm_source=letter\">Read more</a></p></div>\n")
        parts.append(block)
        text.append(f"- {title} https://news.example.org/story/{n}\n")
        total += len(block.encode()) + block.count("\n")  # CRLF on the wire
    parts.append(f"<p class=\"small\">{MARKER}</p></body></html>\n")
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Letters <letters@example.org>"
    msg["To"] = data.BIG
    msg["Subject"] = HTML_SUBJECT
    msg["Date"] = "Tue, 5 Dec 2023 09:30:00 +0000"
    msg["Message-ID"] = f"<html-letter@{data.DOMAIN}>"
    msg.set_content("".join(text), cte="quoted-printable")
    msg.add_alternative("".join(parts), subtype="html", cte="quoted-printable")
    msg.set_boundary("=_postroom_bench_letter")
    return msg.as_bytes()


def folder_mail(count: int) -> Iterator[data.Mail]:
    """The large folder: bench/data.py's ``big_mail``, then the HTML letter, newest."""
    yield from data.big_mail(count)
    yield data.Mail(html_message(), False, data.EPOCH + count + 3600)


# -- Postroom with its public web listener ----------------------------------------------------
class WebmailPostroom(Postroom):
    """``postroom serve`` with the public HTTPS listener (webmail) on a loopback high port."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.web_port = free_port()

    def overrides(self) -> list[str]:
        return [*super().overrides(), "web.https.enabled=true",
                f"web.https.port={self.web_port}", "web.https.tls=implicit",
                "web.http.enabled=false", "web.alt.enabled=false", "web.admin.enabled=false",
                f"web.webmail.page_size={PAGE_SIZE}", "web.keepalive_timeout=600"]

    def start(self) -> None:
        super().start()
        wait_port(self.web_port, timeout=60)


def imap_uid(port: int, subject: str) -> int:
    """The UID of the message with ``subject`` in the large folder (each server numbers its
    messages itself)."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    try:
        imap.login(data.BIG, data.password(data.BIG))
        imap.select("INBOX", readonly=True)
        imap.uid("FETCH", "1:*", "(FLAGS)")  # as bench/imap_load.py's warm-up
        status, found = imap.uid("SEARCH", "HEADER", "Subject", f'"{subject}"')
        uids = found[0].split() if status == "OK" and found and found[0] else []
        if len(uids) != 1:
            raise RuntimeError(f"IMAP on {port}: {len(uids)} messages with the bench subject")
        return int(uids[0])
    finally:
        with contextlib.suppress(Exception):
            imap.logout()


# -- what is parsed from answers ---------------------------------------------------------------
_TIMING = re.compile(r"^\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*(.*)$")


def server_timing(value: str) -> dict[str, float]:
    """The metrics of a ``Server-Timing`` header (W3C Server Timing: ``name;dur=ms;desc=…``,
    comma-separated) that carry a ``dur``; names are case-insensitive, the first wins."""
    out: dict[str, float] = {}
    for item in value.split(","):
        name, *params = item.split(";")
        m = _TIMING.match(name)
        if not m or not m.group(1):
            continue
        key = m.group(1).lower()
        for param in params:
            pname, _, pvalue = param.partition("=")
            if pname.strip().lower() != "dur":
                continue
            with contextlib.suppress(ValueError):
                dur = float(pvalue.strip().strip('"'))
                if math.isfinite(dur) and dur >= 0 and key not in out:
                    out[key] = dur
            break
    return out


def login_form(page: str, user: str, password: str) -> tuple[str, dict[str, str]] | None:
    """The action and filled fields of the page's first form with a password field: hidden
    fields as given, the text field gets ``user``, the password field ``password``."""
    parser = FormParser()
    parser.feed(page)
    for form in parser.forms:
        if not any(i.get("type", "").lower() == "password" for i in form["inputs"]):
            continue
        fields: dict[str, str] = {}
        for i in form["inputs"]:
            name, kind = i.get("name", ""), i.get("type", "text").lower()
            if not name:
                continue
            if kind == "password":
                fields[name] = password
            elif kind in ("text", "email"):
                fields[name] = user
            elif kind == "hidden":
                fields[name] = i.get("value", "")
        return str(form["action"]), fields
    return None


# -- the sides -----------------------------------------------------------------------------------
Request = tuple[str, str, dict[str, str]]  # method, path, extra headers


@dataclass
class Op:
    """One measure: the requests of one sample (timed together), untimed requests before the
    first sample and after the last, and a check of the answers (None = fine)."""

    name: str
    requests: list[Request]
    check: Callable[[list[tuple[int, bytes]]], str | None]
    before: list[Request] = field(default_factory=list)
    after: list[Request] = field(default_factory=list)


class Side(Protocol):
    name: str

    def client(self) -> Client: ...
    def login(self, client: Client) -> str | None: ...
    def prepare(self, client: Client) -> str | None: ...
    def ops(self) -> list[Op]: ...
    def pss_kib(self) -> int: ...


def _all_ok(answers: list[tuple[int, bytes]]) -> str | None:
    for status, _ in answers:
        if status != 200:
            return f"answered {status}"
    return None


def _shows_marker(answers: list[tuple[int, bytes]]) -> str | None:
    why = _all_ok(answers)
    if why is None and MARKER.encode() not in answers[-1][1]:
        return "the message's text is not in the answer"
    return why


class PostroomSide:
    name = "postroom"

    def __init__(self, server: WebmailPostroom, uid: int) -> None:
        self.server = server
        self.uid = uid
        self.fid = 0

    def client(self) -> Client:
        return Client(self.server.web_port)

    def login(self, client: Client) -> str | None:
        status, _, page = client.request("GET", "/login")
        if status != 200:
            return f"GET /login answered {status}"
        form = login_form(page.decode(errors="replace"), data.BIG, data.password(data.BIG))
        if form is None:
            return "no login form on /login"
        action, fields = form
        status, _, _ = client.request(
            "POST", action or "/login", urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        if status not in (302, 303) or not client.cookies:
            return f"login answered {status} without a session"
        return None

    def prepare(self, client: Client) -> str | None:
        status, headers, _ = client.request("GET", "/webmail/")
        where = urllib.parse.urlsplit(headers.get("location", "")).path
        m = re.fullmatch(r"/webmail/f/(\d+)/?", where)
        if status not in (302, 303) or m is None:
            return f"GET /webmail/ answered {status} {where!r}, not the inbox's list"
        self.fid = int(m.group(1))
        return None

    def ops(self) -> list[Op]:
        f, m = f"/webmail/f/{self.fid}", f"/webmail/f/{self.fid}/m/{self.uid}"
        return [Op("page", [("GET", f, {})], _all_ok),
                Op("rows", [("GET", f + "/rows", {})], _all_ok),
                Op("page_date", [("GET", f + "?sort=date&order=desc", {})], _all_ok),
                Op("read", [("GET", m, {}), ("GET", m + "/body", {})], _shows_marker)]

    def pss_kib(self) -> int:
        return self.server.pss_kib()


class RoundcubeSide:
    def __init__(self, server: Roundcube, dovecot: Dovecot, uid: int) -> None:
        self.server = server
        self.dovecot = dovecot
        self.name = server.name
        self.uid = uid
        self.token = ""

    def client(self) -> Client:
        return Client(self.server.port, plain=True)

    def login(self, client: Client) -> str | None:
        status, _, page = client.request("GET", "/?_task=login")
        form = login_form(page.decode(errors="replace"), data.BIG, data.password(data.BIG))
        if status != 200 or form is None:
            return f"GET /?_task=login answered {status} without a login form"
        _, fields = form
        fields["_timezone"] = "UTC"  # what its script fills in
        status, headers, _ = client.request(
            "POST", "/?_task=login", urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302 or "_task=mail" not in headers.get("location", ""):
            return f"login answered {status} to {headers.get('location', '')!r}"
        return None

    def prepare(self, client: Client) -> str | None:
        status, _, page = client.request("GET", "/?_task=mail&_mbox=INBOX")
        token = request_token(page.decode(errors="replace"))
        if status != 200 or token is None:
            return f"the mail page answered {status} without a request token"
        self.token = token
        return None

    def _list(self, extra: str = "") -> Request:
        return ("GET", f"/?_task=mail&_action=list&_mbox=INBOX&_page=1&_remote=1{extra}",
                {"X-Roundcube-Request": self.token, "X-Requested-With": "XMLHttpRequest"})

    def ops(self) -> list[Op]:
        def rows(answers: list[tuple[int, bytes]]) -> str | None:
            why = _all_ok(answers)
            n = list_rows(answers[-1][1])
            return why or (None if n == PAGE_SIZE else f"the list has {n} rows")
        show = f"/?_task=mail&_mbox=INBOX&_uid={self.uid}"
        return [Op("list", [self._list()], rows),
                Op("load", [("GET", "/?_task=mail&_mbox=INBOX", {}), self._list()], rows),
                Op("list_date", [self._list()], rows, before=[self._list("&_sort=date_DESC")],
                   after=[self._list("&_sort=_DESC")]),
                Op("show", [("GET", show + "&_action=show", {})], _shows_marker),
                Op("preview", [("GET", show + "&_action=preview&_framed=1", {})],
                   _shows_marker)]

    def pss_kib(self) -> int:
        return self.server.pss_kib() + self.dovecot.pss_kib()


# -- measuring -----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def stats(client_ms: list[float], server_ms: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"samples": len(client_ms),
                           "p50_ms": round(percentile(client_ms, 0.5), 2),
                           "p95_ms": round(percentile(client_ms, 0.95), 2)}
    if server_ms:
        out["server_p50_ms"] = round(percentile(server_ms, 0.5), 2)
        out["server_p95_ms"] = round(percentile(server_ms, 0.95), 2)
    return out


def _send(client: Client, req: Request) -> tuple[int, dict[str, str], bytes, float]:
    method, path, headers = req
    t = time.perf_counter()
    status, answer_headers, body = client.request(method, path, None, headers)
    return status, answer_headers, body, (time.perf_counter() - t) * 1000


def measure(side: Side, logins: int, requests: int) -> dict[str, Any]:
    """One round of one side: the logins, then every op over the last session."""
    out: dict[str, Any] = {}
    times: list[float] = []
    client: Client | None = None
    for _ in range(max(1, logins)):
        if client is not None:
            client.close()
        client = side.client()
        t = time.perf_counter()
        why = side.login(client)
        times.append((time.perf_counter() - t) * 1000)
        if why is not None:
            client.close()
            return {"unavailable": why}
    assert client is not None
    try:
        out["login"] = stats(times, [])
        why = side.prepare(client)
        if why is not None:
            out["unavailable"] = why
            return out
        for op in side.ops():
            out[op.name] = _measure_op(client, op, requests)
        out["pss_mib"] = round(side.pss_kib() / 1024, 1)
    finally:
        client.close()
    return out


def _measure_op(client: Client, op: Op, requests: int) -> dict[str, Any]:
    for req in op.before:
        _send(client, req)
    try:
        client_ms: list[float] = []
        server_ms: list[float] = []
        cold = 0.0
        size = 0
        for i in range(requests + 1):
            answers: list[tuple[int, bytes]] = []
            total = 0.0
            app: float | None = 0.0
            for req in op.requests:
                status, headers, body, ms = _send(client, req)
                answers.append((status, body))
                total += ms
                dur = server_timing(headers.get("server-timing", "")).get("app")
                app = None if dur is None or app is None else app + dur
            why = op.check(answers)
            if why is not None:
                return {"unavailable": f"{' + '.join(r[1] for r in op.requests)}: {why}"}
            size = sum(len(b) for _, b in answers)
            if i == 0:
                cold = total
                continue
            client_ms.append(total)
            if app is not None:
                server_ms.append(app)
        return {**stats(client_ms, server_ms), "cold_ms": round(cold, 2), "bytes": size}
    finally:
        for req in op.after:
            _send(client, req)


# -- summary ------------------------------------------------------------------------------------
# (label, Postroom's op, Roundcube's op)
PAIRS = [("login (form + password)", "login", "login"),
         ("first page, default order", "page", "list"),
         ("first page, rows fragment", "rows", "list"),
         ("first page, fresh load", "page", "load"),
         ("first page, by date", "page_date", "list_date"),
         ("open HTML msg: show", "read", "show"),
         ("open HTML msg: preview", "read", "preview")]


def _median_of(rounds: list[dict[str, Any]], side: str, op: str, key: str) -> float | None:
    values = [r[side][op][key] for r in rounds
              if key in r.get(side, {}).get(op, {})]
    return round(statistics.median(values), 2) if values else None


def _why(rounds: list[dict[str, Any]], side: str, op: str) -> str:
    for r in rounds:
        got = r.get(side, {})
        why = got.get("unavailable") or got.get(op, {}).get("unavailable")
        if why:
            return str(why)
    return "not measured"


def summarise(rounds: list[dict[str, Any]], references: list[str]) -> list[dict[str, Any]]:
    """One row per (pair, Roundcube variant): medians over the rounds of each side's p50 and
    p95, Postroom's server p50, and the ratios Roundcube/Postroom (above 1: Postroom faster)."""
    rows = []
    for ref in references:
        for label, mine, theirs in PAIRS:
            row: dict[str, Any] = {"measure": label, "reference_name": ref,
                                   "postroom_op": mine, "reference_op": theirs}
            for side, op, prefix in (("postroom", mine, "postroom"), (ref, theirs, "reference")):
                for key in ("p50_ms", "p95_ms", "cold_ms"):
                    row[f"{prefix}_{key}"] = _median_of(rounds, side, op, key)
                if row[f"{prefix}_p50_ms"] is None:
                    row[f"{prefix}_unavailable"] = _why(rounds, side, op)
            row["postroom_server_p50_ms"] = _median_of(rounds, "postroom", mine, "server_p50_ms")
            for key in ("p50_ms", "p95_ms"):
                p, r = row[f"postroom_{key}"], row[f"reference_{key}"]
                row[f"ratio_{key[:3]}"] = round(r / p, 2) if p and r else None
            rows.append(row)
    return rows


def _fmt(value: float | None, width: int) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'n/a':>{width}}"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'measure':<28} {'reference':<16} {'P p50':>7} {'P p95':>7} {'P srv':>7} "
          f"{'R p50':>7} {'R p95':>7} {'x p50':>6} {'x p95':>6}")
    for r in rows:
        print(f"{r['measure']:<28} {r['reference_name']:<16} "
              f"{_fmt(r['postroom_p50_ms'], 7)} {_fmt(r['postroom_p95_ms'], 7)} "
              f"{_fmt(r['postroom_server_p50_ms'], 7)} {_fmt(r['reference_p50_ms'], 7)} "
              f"{_fmt(r['reference_p95_ms'], 7)} {_fmt(r['ratio_p50'], 6)} "
              f"{_fmt(r['ratio_p95'], 6)}")
    print("ms, client side, medians over the rounds; P srv = Postroom's Server-Timing app;dur; "
          "x = Roundcube / Postroom (above 1: Postroom faster)")
    missing = {r.get("postroom_unavailable", "") for r in rows} - {""}
    for why in sorted(missing):
        print(f"postroom not available: {why}")
    missing = {r.get("reference_unavailable", "") for r in rows} - {""}
    for why in sorted(missing):
        print(f"roundcube not available: {why}")


# -- the run ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.webmail",
                                description=(__doc__ or "").split("\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--messages", type=int, default=100_000,
                   help="messages in the large folder, besides the HTML one (default 100,000)")
    p.add_argument("--requests", type=int, default=20,
                   help="timed requests per measure and round (default 20)")
    p.add_argument("--logins", type=int, default=5, help="logins per side and round (default 5)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="Roundcube variants, comma-separated (default all): roundcube (as "
                        "Debian ships it, over the bench's Dovecot), roundcube+cache (its IMAP "
                        "and message caches on), roundcube+tuned (caches on, over a Dovecot "
                        "storing the mail as mdbox, with its auth cache)")
    p.add_argument("--keep", metavar="DIR",
                   help="work in DIR and keep it (default: a temporary directory, removed)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 round, 5,000 messages, 5 requests, 2 logins")
    args = p.parse_args(argv)
    args.variants = [v for v in args.variants.split(",") if v]
    if not args.variants or not set(args.variants) <= set(VARIANTS):
        p.error(f"--variants: one or more of {', '.join(VARIANTS)}")
    if args.quick:
        args.rounds, args.messages, args.requests, args.logins = 1, 5000, 5, 2
    if not (1 <= args.rounds <= 20 and 1 <= args.requests <= 1000 and 1 <= args.logins <= 100
            and 0 <= args.messages <= 1_000_000):
        p.error("rounds 1-20, requests 1-1000, logins 1-100, messages 0-1,000,000")
    return args


# The Roundcube variants: (name, Roundcube's IMAP caches on, Dovecot tuned). "Tuned" is a
# second Dovecot holding the same mail in its own mdbox format (imported with ``doveadm
# import`` from a Maildir copy) and with its authentication cache on. Why: with 100,000 files
# in one Maildir cur/, once a file is renamed there (Roundcube sets \Seen when a message is
# opened) Dovecot rescans the directory in the sessions that follow, about a second each here,
# and Roundcube opens a session for every request; with ``maildir_very_dirty_syncs`` it
# instead rescans whenever it opens a message whose flags changed since (0.3 s). mdbox has
# neither cost. The auth cache matches Postroom's own login cache (login.cache_ttl), since
# Roundcube logs in to IMAP on every request.
VARIANTS = {"roundcube": (False, False), "roundcube+cache": (True, False),
            "roundcube+tuned": (True, True)}


def tuned_dovecot_config(root: Path) -> str:
    return (f"mail_location = mdbox:{root}/mail/mdbox/%d/%n\n"
            "auth_cache_size = 10M\nauth_cache_ttl = 600 s\n")


def setup_postroom(root: Path, args: argparse.Namespace) -> WebmailPostroom:
    started = time.monotonic()
    pr = WebmailPostroom(root / "postroom")

    async def fill(services: Services) -> None:
        if not await services.store.directory.list_domains():
            await services.directory.add_domain(data.DOMAIN)
        await data.fill_account(services, data.BIG, folder_mail(args.messages))
    pr.populate(fill)
    print(f"bench: Postroom filled in {time.monotonic() - started:.1f} s", flush=True)
    return pr


def setup_dovecot(root: Path, args: argparse.Namespace, tuned: bool) -> Dovecot:
    """The bench's Dovecot with the folder as Maildir files; or, ``tuned``, a Dovecot whose
    mail_location is mdbox, started here to import the same files (``doveadm import`` needs
    the running server's userdb), then the Maildir copy removed."""
    started = time.monotonic()
    dv = Dovecot(root)
    if tuned:
        dv.extra_config += tuned_dovecot_config(root)  # the later mail_location wins
    dv.write_config()
    dv.add_user(data.BIG, data.password(data.BIG))
    source = root / "mail" / "maildir-source" if tuned else dv.maildir(data.BIG)
    data.fill_maildir(source, folder_mail(args.messages))
    if tuned:
        dv.start()
        try:
            subprocess.run(["doveadm", "-c", str(dv.conf), "import", "-u", data.BIG,
                            f"maildir:{source}", "", "all"], check=True, timeout=1800,
                           capture_output=True)
        finally:
            dv.stop()
        shutil.rmtree(source)
    print(f"bench: Dovecot{' (mdbox)' if tuned else ''} filled in "
          f"{time.monotonic() - started:.1f} s", flush=True)
    return dv


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_packages(["dovecot-imapd"])
    ensure_roundcube()
    result: dict[str, Any] = {
        "bench": "webmail", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(), "args": vars(args),
        "variants": {name: {"roundcube_imap_cache": VARIANTS[name][0],
                            "dovecot_tuned": VARIANTS[name][1]} for name in args.variants},
        "dovecot_tuning": tuned_dovecot_config(Path("<dir>"))}
    with contextlib.ExitStack() as stack:
        if args.keep:
            root = Path(args.keep)
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix="postroom-bench-webmail-"))
            stack.callback(shutil.rmtree, root, True)
        root.chmod(0o755)  # Dovecot's unprivileged mail processes must reach their files
        pr = setup_postroom(root, args)
        dovecots: dict[bool, Dovecot] = {}
        roundcubes: list[Roundcube] = []
        for name in args.variants:
            cache, tuned = VARIANTS[name]
            if tuned not in dovecots:
                dovecots[tuned] = setup_dovecot(
                    root / ("dovecot-tuned" if tuned else "dovecot"), args, tuned)
            roundcubes.append(Roundcube(root / name.replace("+", "-"),
                                        dovecots[tuned].imap_port, cache=cache, name=name))
        servers: list[WebmailPostroom | Dovecot | Roundcube] = [
            pr, *dovecots.values(), *roundcubes]
        for server in servers:
            if isinstance(server, Roundcube):
                server.write_config()
            server.start()
            stack.callback(server.stop)
        started = time.monotonic()
        # the UIDs (each server numbers its messages itself); also indexes every folder
        uids = {"postroom": imap_uid(pr.imap_port, HTML_SUBJECT)}
        for tuned, dv in dovecots.items():
            uids[f"dovecot{tuned}"] = imap_uid(dv.imap_port, HTML_SUBJECT)
        result["warm_s"] = round(time.monotonic() - started, 1)
        result["html_message_bytes"] = len(html_message())
        sides: list[Side] = [PostroomSide(pr, uids["postroom"])]
        for rc in roundcubes:
            tuned = VARIANTS[rc.name][1]
            sides.append(RoundcubeSide(rc, dovecots[tuned], uids[f"dovecot{tuned}"]))
        rounds: list[dict[str, Any]] = []
        result["rounds"] = rounds
        for r in range(args.rounds):
            this: dict[str, Any] = {}
            shift = r % len(sides)
            for side in itertools.chain(sides[shift:], sides[:shift]):
                this[side.name] = measure(side, args.logins, args.requests)
                print(f"bench: webmail round {r + 1} {side.name} done", flush=True)
            rounds.append(this)
        for rc in roundcubes:
            if rc.errors():
                result.setdefault("roundcube_errors", {})[rc.name] = rc.errors()[-4000:]
    result["summary"] = summarise(rounds, [rc.name for rc in roundcubes])
    return result


def _machine() -> dict[str, Any]:
    import os

    def version(*cmd: str) -> str:
        try:
            got = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return got.stdout.strip().splitlines()[0] if got.stdout.strip() else ""
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "kernel": platform.release(), "dovecot": version("dovecot", "--version"),
            "php": version("php", "-v"),
            "roundcube": version("dpkg-query", "-W", "-f", "${Version}", "roundcube-core")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print_table(result["summary"])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"webmail-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwritten: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
