"""CalDAV/CardDAV side by side: Postroom against Radicale (Debian's package), on one machine.

Both sides hold the same data, made here: one calendar of ``--events`` (10,000) events over
2026 (one in twenty a weekly series of 8; a few all-day), and one address book of
``--contacts`` (1,000) vCards. Postroom gets them through its import service
(services/dav/transfer.py, the path of ``postroom calendar import``) before it starts;
Radicale as files in its storage layout (bench/radicale.py). One untimed request per measure
builds whatever cache a side keeps (Radicale's item cache, Postroom's page cache).

One HTTP client for both (http.client, one keep-alive connection per side, HTTP Basic on every
request as clients send it). Postroom is reached over TLS (its public listener always has it),
Radicale over plain HTTP (its default): the handshake happens once per connection, so this
costs Postroom only the record encryption. Per round and side:

- **month**: calendar-query (RFC 4791 §7.8) for the VEVENTs overlapping one month (June
  2026), asking for getetag, as DAVx5 and Thunderbird do before a multiget;
- **month+data**: the same with calendar-data (the whole objects, as Apple Calendar asks);
- **sync**: sync-collection (RFC 6578) from an empty token over the 10,000-event calendar:
  every member's href and getetag (a client's first sync);
- **search**: addressbook-query (RFC 6352 §8.6) text-match "contains" on FN over 1,000 cards,
  with getetag and address-data (a client's contact search).

Each measure: one untimed request, then ``--requests`` timed ones; client-side p50/p95, and
Postroom's own server time when it sends ``Server-Timing: app;dur=``. The number of
responses in each multistatus is compared between the sides (the same data must give the same
answer). Rounds alternate the order of the sides; the summary is the median over rounds; the
ratio is Radicale's p50 over Postroom's (above 1: Postroom faster).

Bounded: every loop has a count, every request a 120 s timeout. Run
``.venv/bin/python -m bench.dav [--quick]`` (``make bench-dav``); the result is printed as a
table and written to bench/results/dav-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import math
import platform
import re
import ssl
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.postroom_server import WebPostroom
from bench.radicale import PACKAGES, Radicale
from bench.reference import ensure_packages
from postroom.app import Services

RESULTS = Path(__file__).parent / "results"
CHECKOUT = Path(__file__).resolve().parents[1]
DOMAIN = "bench.test"
USER = f"dav@{DOMAIN}"
PASSWORD = "bench-dav-password-1"
TIMEOUT = 120.0
_RESPONSE = re.compile(rb"<(?:[A-Za-z0-9_-]+:)?response[\s>]")
_TIMING = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*$")

MONTH_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/>{data}</D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20260601T000000Z" end="20260701T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
SYNC = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop></D:sync-collection>"""
SEARCH = """<?xml version="1.0" encoding="utf-8"?>
<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><CR:address-data/></D:prop>
  <CR:filter><CR:prop-filter name="FN">
    <CR:text-match collation="i;unicode-casemap" match-type="contains">{text}</CR:text-match>
  </CR:prop-filter></CR:filter>
</CR:addressbook-query>"""
SEARCH_TEXT = "person 12"  # 11 of 1,000 cards: 12, 120-129


# -- the data ------------------------------------------------------------------------------------
def event(i: int) -> tuple[str, bytes]:
    """Event ``i`` of the calendar: (item name, iCalendar). Spread over 2026 by day and hour;
    every 20th a weekly series of 8, every 50th all-day."""
    uid = f"bench-{i:05d}@{DOMAIN}"
    day = i % 365
    month, mday = _month_day(day)
    hour = 7 + i % 11
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Postroom bench//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20260101T000000Z"]
    if i % 50 == 0:
        lines += [f"DTSTART;VALUE=DATE:2026{month:02d}{mday:02d}"]
    else:
        lines += [f"DTSTART:2026{month:02d}{mday:02d}T{hour:02d}0000Z", "DURATION:PT1H"]
    if i % 20 == 0:
        lines.append("RRULE:FREQ=WEEKLY;COUNT=8")
    lines += [f"SUMMARY:Bench event {i}", f"LOCATION:Room {i % 40}",
              f"DESCRIPTION:Generated event number {i} for the DAV bench.",
              "END:VEVENT", "END:VCALENDAR", ""]
    return f"{uid}.ics", "\r\n".join(lines).encode()


def _month_day(day: int) -> tuple[int, int]:
    lengths = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    for month, length in enumerate(lengths, 1):
        if day < length:
            return month, day + 1
        day -= length
    return 12, 31


def card(i: int) -> tuple[str, bytes]:
    uid = f"card-{i:05d}@{DOMAIN}"
    text = "\r\n".join(["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:Person {i}",
                        f"N:{i};Person;;;", f"EMAIL;TYPE=INTERNET:person{i}@example.net",
                        f"TEL;TYPE=CELL:+49 30 {i:07d}", f"ORG:Company {i % 25}",
                        "END:VCARD", ""])
    return f"{uid}.vcf", text.encode()


def ics_stream(count: int) -> Iterator[bytes]:
    """The events as one .ics file (for Postroom's import)."""
    yield b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Postroom bench//EN\r\n"
    for i in range(count):
        data = event(i)[1]
        start = data.index(b"BEGIN:VEVENT")
        yield data[start:data.index(b"END:VCALENDAR")]
    yield b"END:VCALENDAR\r\n"


# -- the sides -----------------------------------------------------------------------------------
class DavPostroom(WebPostroom):
    def overrides(self) -> list[str]:
        return [*super().overrides(), "web.keepalive_timeout=600",
                "web.dav.max_results=1000000"]


@dataclass
class Side:
    name: str
    host: str
    port: int
    tls: bool
    calendar: str  # URL path of the calendar
    book: str  # URL path of the address book
    conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: str, depth: str = "1",
                ) -> tuple[int, bytes, float, float | None]:
        """(status, body, client ms, server ms or None) of one request, keep-alive."""
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Depth": depth,
                   "Content-Type": "application/xml; charset=utf-8"}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=TIMEOUT, context=_insecure()) \
                    if self.tls else http.client.HTTPConnection(self.host, self.port,
                                                                timeout=TIMEOUT)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=body.encode(), headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                took = (time.perf_counter() - started) * 1000
                timing = server_timing(resp.getheader("Server-Timing") or "").get("app")
                if resp.will_close:
                    self.close()
                return resp.status, data, took, timing
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# -- parsing (unit-tested: tests/unit/test_bench_dav.py) -------------------------------------------
def responses(body: bytes) -> int:
    """How many DAV:response elements a multistatus holds (any namespace prefix, or none)."""
    return len(_RESPONSE.findall(body))


def server_timing(value: str) -> dict[str, float]:
    """The ``dur`` of each metric of a Server-Timing header (``name;dur=ms``), by name."""
    out: dict[str, float] = {}
    for item in value.split(","):
        name, *params = item.split(";")
        m = _TIMING.match(name)
        if not m:
            continue
        for param in params:
            key, _, number = param.partition("=")
            if key.strip().lower() == "dur":
                with contextlib.suppress(ValueError):
                    out.setdefault(m.group(1).lower(), float(number.strip().strip('"')))
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Measure:
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    cold_ms: float = 0.0
    count: int = 0
    status: int = 0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "responses": self.count,
                               "cold_ms": round(self.cold_ms, 2)}
        if self.client_ms:
            out["p50_ms"] = round(percentile(self.client_ms, 0.5), 2)
            out["p95_ms"] = round(percentile(self.client_ms, 0.95), 2)
        if self.server_ms:
            out["server_p50_ms"] = round(percentile(self.server_ms, 0.5), 2)
        return out


def ratio(reference: dict[str, Any], ours: dict[str, Any]) -> float | None:
    """Reference p50 over ours (above 1: Postroom faster); None when either is missing."""
    a, b = reference.get("p50_ms"), ours.get("p50_ms")
    if not a or not b:
        return None
    return round(float(a) / float(b), 2)


def median_summaries(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each number over rounds (the first round's value for the rest)."""
    out = dict(rounds[0])
    for key, value in rounds[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            mid = statistics.median(float(r[key]) for r in rounds if key in r)
            out[key] = int(mid) if isinstance(value, int) and mid.is_integer() else round(mid, 2)
    return out


# -- running -------------------------------------------------------------------------------------
WORKLOADS = ("month", "month+data", "sync", "search")


def workload(side: Side, name: str) -> tuple[str, str, str]:
    """(path, REPORT body, Depth) of a workload on a side."""
    if name == "month":
        return side.calendar, MONTH_QUERY.format(data=""), "1"
    if name == "month+data":
        return side.calendar, MONTH_QUERY.format(data="<C:calendar-data/>"), "1"
    if name == "sync":
        return side.calendar, SYNC, "0"
    return side.book, SEARCH.format(text=SEARCH_TEXT), "1"


def measure(side: Side, name: str, requests: int) -> Measure:
    path, body, depth = workload(side, name)
    m = Measure()
    status, data, m.cold_ms, _ = side.request("REPORT", path, body, depth)
    m.status, m.count = status, responses(data)
    for _ in range(requests):
        status, data, took, timing = side.request("REPORT", path, body, depth)
        m.status = status
        m.client_ms.append(took)
        if timing is not None:
            m.server_ms.append(timing)
    return m


def setup_postroom(root: Path, events: int, contacts: int) -> DavPostroom:
    from postroom.core.principal import Principal
    pr = DavPostroom(root / "postroom")

    async def fill(services: Services) -> None:
        if not await services.store.directory.list_domains():
            await services.directory.add_domain(DOMAIN)
        rec = await services.directory.add_account(USER, PASSWORD)
        await services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
        assert services.dav is not None
        acting = Principal.operator_as(rec.id, rec.address, rec.domain_id)
        transfer = services.dav.transfer
        cal = await transfer.collection(acting, "calendar", "Calendar")
        report = await transfer.import_calendar(acting, cal, ics_stream(events))
        assert report.imported == events, report
        book = await transfer.collection(acting, "contacts", "Contacts")
        cards = (card(i)[1] for i in range(contacts))
        report = await transfer.import_cards(acting, book, cards)
        assert report.imported == contacts, report
    started = time.monotonic()
    pr.populate(fill)
    print(f"bench: Postroom filled in {time.monotonic() - started:.1f} s", flush=True)
    return pr


def setup_radicale(root: Path, events: int, contacts: int) -> tuple[Radicale, str, str]:
    rd = Radicale(root / "radicale")
    rd.add_user(USER, PASSWORD)
    cal = rd.collection(USER, "calendar", "calendar", "Calendar",
                        (event(i) for i in range(events)))
    book = rd.collection(USER, "contacts", "contacts", "Contacts",
                         (card(i) for i in range(contacts)))
    return rd, cal, book


def postroom_paths(side_port: int) -> tuple[str, str]:
    """The calendar and address book URLs of the bench user (found over PROPFIND)."""
    side = Side("postroom", "127.0.0.1", side_port, True, "", "")
    try:
        out = []
        for family, name in (("calendars", "Calendar"), ("addressbooks", "Contacts")):
            body = ('<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop>'
                    '</D:propfind>')
            status, data, _, _ = side.request("PROPFIND", f"/dav/{family}/{USER}/", body)
            if status != 207:
                raise SystemExit(f"bench: PROPFIND of the {family} home answered {status}")
            out.append(find_href(data, name))
        return out[0], out[1]
    finally:
        side.close()


def find_href(body: bytes, displayname: str) -> str:
    """The href of the response whose displayname is ``displayname`` in a multistatus."""
    for resp in re.split(rb"<(?:[A-Za-z0-9_-]+:)?response[\s>]", body)[1:]:
        href = re.search(rb"<(?:[A-Za-z0-9_-]+:)?href>([^<]+)<", resp)
        name = re.search(rb"<(?:[A-Za-z0-9_-]+:)?displayname>([^<]*)<", resp)
        if href and name and name.group(1).decode() == displayname:
            return href.group(1).decode()
    raise SystemExit(f"bench: no collection named {displayname}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_packages(PACKAGES)
    with tempfile.TemporaryDirectory(prefix="bench-dav-") as tmp:
        root = Path(tmp)
        pr = setup_postroom(root, args.events, args.contacts)
        rd, rd_cal, rd_book = setup_radicale(root, args.events, args.contacts)
        pr.start()
        rd.start()
        try:
            cal, book = postroom_paths(pr.web_port)
            sides = [Side("postroom", "127.0.0.1", pr.web_port, True, cal, book),
                     Side("radicale", "127.0.0.1", rd.port, False, rd_cal, rd_book)]
            per_round: dict[str, dict[str, list[dict[str, Any]]]] = {
                s.name: {w: [] for w in WORKLOADS} for s in sides}
            for rnd in range(args.rounds):
                order = sides if rnd % 2 == 0 else list(reversed(sides))
                for side in order:
                    for name in WORKLOADS:
                        per_round[side.name][name].append(
                            measure(side, name, args.requests).summary())
            memory = {"postroom_pss_kib": pr.pss_kib(), "radicale_pss_kib": rd.pss_kib()}
            for side in sides:
                side.close()
        finally:
            pr.stop()
            rd.stop()
    results: dict[str, Any] = {"postroom": {}, "radicale": {}, "ratio": {}}
    for name in WORKLOADS:
        ours = median_summaries(per_round["postroom"][name])
        theirs = median_summaries(per_round["radicale"][name])
        results["postroom"][name], results["radicale"][name] = ours, theirs
        results["ratio"][name] = ratio(theirs, ours)
    return {"bench": "dav", "when": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "events": args.events, "contacts": args.contacts, "rounds": args.rounds,
            "requests": args.requests, "results": results, "memory": memory}


def table(report: dict[str, Any]) -> str:
    rows = [f"{'workload':<12} {'postroom p50':>13} {'server':>8} {'radicale p50':>13} "
            f"{'ratio':>6} {'responses (ours/theirs)':>24}"]
    res = report["results"]
    for name in WORKLOADS:
        ours, theirs = res["postroom"][name], res["radicale"][name]
        server = ours.get("server_p50_ms", "-")
        rows.append(f"{name:<12} {ours.get('p50_ms', '-'):>11} ms {server!s:>8} "
                    f"{theirs.get('p50_ms', '-'):>10} ms {res['ratio'][name]!s:>6} "
                    f"{ours['responses']!s:>12}/{theirs['responses']!s:<11}")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--contacts", type=int, default=1_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="1,000 events, 200 cards, 1 round, "
                   "3 requests: a smoke run")
    args = p.parse_args()
    if args.quick:
        args.events, args.contacts, args.rounds, args.requests = 1000, 200, 1, 3
    report = run(args)
    print(table(report))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dav-{report['when']}.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"bench: written to {out}")


if __name__ == "__main__":
    main()
