"""ActiveSync push at scale and initial sync: Postroom, then SOGo, with the same client.

``--users`` (100) accounts with ``--devices`` (10) devices each — 1,000 phones by default —
each holding one Ping on its Inbox with a long heartbeat, as phones do all day. Every device
first does what a phone does before it pushes (FolderSync, its Inbox synced from key 0; the
connection kept for the Ping), and the Pings are sent evenly over 5 seconds. Measured:

- **memory per waiting device**: the server's PSS with every Ping waiting, minus its PSS
  before the devices came (after one warm-up device and one FolderSync per user), divided by
  the number of devices (the connection, the TLS session, the request, the wait). For SOGo,
  whose children are forked at start and which holds one child per waiting Ping, the figure
  compared (``kib_per_device_with_child``) is each child with its PostgreSQL connection plus
  what Dovecot grew by per device (bench/sogo.py's ``Sogo.kib_per_device``); the growth
  alone is reported too;
- **push latency**: one message per user delivered (Postroom: SMTP; SOGo: LMTP into its
  Dovecot), one after another; for every device, the time from the start of the delivery
  session (and from its 250 reply) to the Ping's answer (Status 2) arriving: p50, p99, max;
- **initial sync** (``--messages``, 10,000): a new device syncing an Inbox of that many
  messages from key 0 in windows of ``--window`` (512, Postroom's bound and the largest SOGo
  accepts), plain-text bodies truncated at 500 octets as phones ask: requests, total time,
  items/s. The same messages for both (SOGo's are written into Dovecot's Maildir and
  indexed by Dovecot before the clock starts).

SOGo (Debian's 5.8 with its ActiveSync bundle, bench/sogo.py) runs after Postroom, never at
the same time, with ``devices + --sogo-spare`` sogod children and SOGoInternalSyncInterval
``--sogo-poll`` (5 s: SOGo sleeps at least 5 s between its checks whatever the setting).
Postroom is reached over TLS, sogod over plain HTTP on loopback (it has no TLS of its own and
serves one request per connection: its phones connect anew for each request, as sogod behind
a proxy would be reached). ``--no-sogo`` measures Postroom alone.

One asyncio client process; raw HTTP/1.1, one connection per device, WBXML with Postroom's
codec. Bounded: every wait has a timeout, every loop a count. Run
``.venv/bin/python -m bench.eas [--quick]`` (``make bench-eas``, which installs SOGo's
packages); the result, with the ratios SOGo/Postroom, is printed and written to
bench/results/eas-<UTC time>.json. docs/eas/bench.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import smtplib
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench.postroom_server import WebPostroom
from postroom.app import Services
from postroom.protocols.eas import wbxml
from postroom.protocols.eas.element import E, Element

CHECKOUT = Path(__file__).resolve().parent.parent
DOMAIN = "bench.test"
PASSWORD = "Bench-pass-1234"
PATH = "/Microsoft-Server-ActiveSync"


class EasPostroom(WebPostroom):
    def overrides(self) -> list[str]:
        return [*super().overrides(), "web.keepalive_timeout=3600",
                "web.eas.require_provisioning=false", "web.eas.max_heartbeat=3540",
                "limits.max_connections=20000", "limits.auth_failures_per_ip=100000",
                # not measured here, and its fixed port may be another server's on this host
                "sieve.managesieve.enabled=false"]


@dataclass
class Phone:
    user: str
    device: str
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    sent: float = 0.0  # when its last request was written
    tls: bool = True  # Postroom is reached over TLS, SOGo's sogod over plain HTTP
    path: str = PATH
    # sogod answers one request per connection and closes it without saying so (no
    # "Connection: close"): its phones open a connection per request
    keepalive: bool = True


@dataclass
class Target:
    """One ActiveSync server under test: where its endpoint is, how a message reaches an
    account's Inbox (returning (session start, final reply) times), what its memory is."""

    name: str
    port: int
    path: str
    tls: bool
    keepalive: bool
    deliver: Callable[[str, int], tuple[float, float]]
    memory: Callable[[], dict[str, int]]

    def phone(self, user: str, device: str) -> Phone:
        return Phone(user, device, tls=self.tls, path=self.path, keepalive=self.keepalive)


def _ssl() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _request(phone: Phone, port: int, command: str, body: Element,
                   timeout: float) -> tuple[int, Element | None]:
    """One POST on the phone's own keep-alive connection (opened on first use; opened again
    after a response that closes it)."""
    if phone.writer is None:
        phone.reader, phone.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=_ssl() if phone.tls else None), 30)
    assert phone.reader is not None and phone.writer is not None
    data = wbxml.encode(body)
    auth = base64.b64encode(f"{phone.user}:{PASSWORD}".encode()).decode()
    head = (f"POST {phone.path}?Cmd={command}&User={phone.user}&DeviceId={phone.device}"
            f"&DeviceType=Bench HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
            "MS-ASProtocolVersion: 14.1\r\nContent-Type: application/vnd.ms-sync.wbxml\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    phone.writer.write(head + data)
    await phone.writer.drain()
    phone.sent = time.monotonic()
    status_line = await asyncio.wait_for(phone.reader.readline(), timeout)
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    length = 0
    close = not phone.keepalive
    while True:
        line = await asyncio.wait_for(phone.reader.readline(), 30)
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    payload = await asyncio.wait_for(phone.reader.readexactly(length), 30) if length else b""
    if close:
        phone.writer.close()
        phone.reader = phone.writer = None
    return status, wbxml.decode(payload) if payload[:1] == b"\x03" else None


def _inbox(root: Element | None) -> str:
    assert root is not None and root.value("Status") == "1", root
    changes = root.find("Changes")
    assert changes is not None
    for add in changes.findall("Add"):
        if add.value("Type") == "2":
            return add.value("ServerId") or ""
    raise AssertionError("no Inbox in FolderSync")


def _ping(folder: str, heartbeat: int) -> Element:
    return E("Ping", "Ping", E("Ping", "HeartbeatInterval", text=heartbeat),
             E("Ping", "Folders", E("Ping", "Folder", E("Ping", "Id", text=folder),
                                    E("Ping", "Class", text="Email"))))


def _deliver(port: int, user: str, i: int, lmtp: bool = False) -> tuple[float, float]:
    """(when the SMTP or LMTP session began, when the 250 after DATA came back)."""
    begun = time.monotonic()
    msg = EmailMessage()
    msg["From"] = f"sender@{DOMAIN}"
    msg["To"] = user
    msg["Subject"] = f"push {i}"
    msg.set_content("A new message for the phones.\n")
    client = smtplib.LMTP("127.0.0.1", port, timeout=30) if lmtp else smtplib.SMTP(
        "127.0.0.1", port, timeout=30)
    with client as session:
        session.send_message(msg)
        done = time.monotonic()
    return begun, done


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _folder_sync() -> Element:
    return E("FolderHierarchy", "FolderSync", E("FolderHierarchy", "SyncKey", text="0"))


def _sync(folder: str, key: str, window: int) -> Element:
    """A Sync of one mail folder: plain-text bodies truncated at 500 octets, as phones ask."""
    ns = "AirSync"
    return E(ns, "Sync", E(ns, "Collections", E(
        ns, "Collection", E(ns, "SyncKey", text=key), E(ns, "CollectionId", text=folder),
        E(ns, "WindowSize", text=window), E(ns, "Options", E(
            "AirSyncBase", "BodyPreference", E("AirSyncBase", "Type", text=1),
            E("AirSyncBase", "TruncationSize", text=500))))))


async def _enrol(phone: Phone, port: int) -> str:
    """What a phone does before it pushes: FolderSync, then its Inbox synced (key 0, then
    the key it got); the Inbox's id. SOGo's Ping only watches a folder the device has
    synced (it compares the device's folder SyncKey with the folder's state), so every
    device of both servers does it. The phone keeps its connection for its Ping (Postroom;
    sogod closes every connection itself); the memory before is taken before enrolment, so
    the connection's cost is in the per-device figure either way."""
    inbox = _inbox((await _request(phone, port, "FolderSync", _folder_sync(), 60))[1])
    key = "0"
    for _ in range(20):
        asked = key
        _, root = await _request(phone, port, "Sync", _sync(inbox, key, 100), 60)
        col = root.path("Collections", "Collection") if root is not None else None
        assert col is not None and col.value("Status") == "1", root
        key = col.value("SyncKey") or key
        if asked != "0" and not col.has("MoreAvailable") and col.find("Commands") is None:
            break
    return inbox


async def ping_bench(target: Target, users: list[str], devices: int,
                     spread: float = 5.0) -> dict[str, Any]:
    """``spread``: the Pings are sent evenly over that many seconds, as phones' are spread
    over time, so that a server which polls (SOGo, every 5 s at least) is caught at every
    phase of its poll, not at one phase shared by all devices."""
    port = target.port
    loop = asyncio.get_running_loop()
    # a warm-up device: enrolled, one Ping answered by a delivery (every code path the
    # measured devices take has run once before the first memory sample)
    warm = target.phone(users[0], "Warm")
    folder = await _enrol(warm, port)
    waiting = asyncio.ensure_future(_request(warm, port, "Ping", _ping(folder, 60), 90))
    await asyncio.sleep(1)
    await loop.run_in_executor(None, target.deliver, users[0], -1)
    await asyncio.wait_for(waiting, 90)
    if warm.writer is not None:
        warm.writer.close()
    # one FolderSync per user, one after another (SOGo makes each user's ActiveSync cache
    # table on first use; ten devices of a user doing it at once would race)
    for user in users:
        probe = target.phone(user, "Probe")
        _inbox((await _request(probe, port, "FolderSync", _folder_sync(), 60))[1])
        if probe.writer is not None:
            probe.writer.close()
    before = target.memory()
    phones = [target.phone(u, f"B{n}x{d}") for n, u in enumerate(users) for d in range(devices)]
    inbox: dict[int, str] = {}
    gate = asyncio.Semaphore(16)
    enrol_started = time.monotonic()

    async def enrol(p: Phone) -> None:
        async with gate:
            inbox[id(p)] = await _enrol(p, port)
    await asyncio.wait_for(asyncio.gather(*(enrol(p) for p in phones)), 3600)
    enrolled = time.monotonic() - enrol_started
    started = time.monotonic()

    async def ping(k: int, p: Phone) -> tuple[int, Element | None]:
        await asyncio.sleep(spread * k / len(phones))
        return await _request(p, port, "Ping", _ping(inbox[id(p)], 3000), 600)
    waits = {id(p): asyncio.ensure_future(ping(k, p)) for k, p in enumerate(phones)}
    # every Ping written (1,000 TLS handshakes take a while on two cores), then a moment for
    # the server to reach the wait of the last ones; a Ping sent after the delivery would
    # wait for the next change instead and be counted as unanswered
    deadline = time.monotonic() + 300
    while any(p.sent < started for p in phones) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(5.0)
    settled = time.monotonic() - started
    during = target.memory()
    early = {key for key, w in waits.items() if w.done()}
    sent: dict[str, tuple[float, float]] = {}
    arrived: dict[int, float] = {}

    def note(key: int) -> Any:
        return lambda _future: arrived.setdefault(key, time.monotonic())
    for p in phones:
        waits[id(p)].add_done_callback(note(id(p)))
    for i, user in enumerate(users):
        sent[user] = await loop.run_in_executor(None, target.deliver, user, i)
    await asyncio.wait(list(waits.values()), timeout=120)
    # from the delivery session's start (connect, EHLO/LHLO, MAIL, RCPT, DATA: delivery
    # included), and from the 250 reply (negative when the phone heard before the sender did)
    # only the pushes: a Status 2 answer that came after the delivery began (not an error,
    # not an answer that was there before any delivery)
    pushed = [p for p in phones if id(p) in arrived and id(p) not in early
              and waits[id(p)].exception() is None and waits[id(p)].result()[0] == 200
              and (waits[id(p)].result()[1] or E("Ping", "Ping")).value("Status") == "2"]
    latencies = [arrived[id(p)] - sent[p.user][0] for p in pushed]
    after_250 = [arrived[id(p)] - sent[p.user][1] for p in pushed]
    statuses: dict[str, int] = {}
    for w in waits.values():
        if not w.done():
            key = "no answer in 120 s"
            w.cancel()
        elif w.exception() is not None:
            key = f"error: {type(w.exception()).__name__}"
        else:
            status, root = w.result()
            key = f"{status}/{root.value('Status') if root is not None else '-'}"
        statuses[key] = statuses.get(key, 0) + 1
    for p in phones:
        if p.writer is not None:
            p.writer.close()
    total_before, total_during = sum(before.values()), sum(during.values())
    return {"server": target.name, "devices": len(phones), "users": len(users),
            "enrol_s": round(enrolled, 1), "spread_s": spread, "settle_s": round(settled, 1),
            "pss_before_kib": before, "pss_waiting_kib": during,
            "kib_per_device": round((total_during - total_before) / len(phones), 2),
            "kib_per_device_by_part": {k: round((during[k] - before.get(k, 0)) / len(phones), 2)
                                       for k in during},
            "answered_early": len(early), "answers": statuses,
            "latency_ms": {"p50": round(_pct(latencies, 0.5) * 1000, 1),
                           "p99": round(_pct(latencies, 0.99) * 1000, 1),
                           "max": round(max(latencies) * 1000, 1),
                           "mean": round(statistics.fmean(latencies) * 1000, 1),
                           "count": len(latencies)} if latencies else {},
            "after_250_ms": {"p50": round(_pct(after_250, 0.5) * 1000, 1),
                             "p99": round(_pct(after_250, 0.99) * 1000, 1)}
            if after_250 else {}}


SYNCER = f"syncer@{DOMAIN}"


def message(i: int) -> bytes:
    """The i-th message of the initial-sync Inbox (the same bytes for both servers)."""
    return (f"From: sender{i % 97}@example.net\r\nTo: {SYNCER}\r\nSubject: message {i}\r\n"
            f"Message-ID: <m{i}@bench.test>\r\n\r\nLine one of message {i}.\r\n"
            "Line two.\r\n").encode()


def setup(root: Path, users: int, messages: int) -> tuple[EasPostroom, list[str]]:
    pr = EasPostroom(root / "postroom")
    names = [f"u{i}@{DOMAIN}" for i in range(users)]

    async def fill(services: Services) -> None:
        from postroom.core.principal import Principal
        if not await services.store.directory.list_domains():
            await services.directory.add_domain(DOMAIN)
        for name in names:
            rec = await services.directory.add_account(name, PASSWORD)
            await services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
        if messages:
            rec = await services.directory.add_account(SYNCER, PASSWORD)
            await services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
            who = Principal.operator_as(rec.id, rec.address, rec.domain_id)
            batch = []
            for i in range(messages):
                batch.append((message(i), (), None))
                if len(batch) == 500:
                    await services.messages.append(who, "INBOX", batch)
                    batch = []
            if batch:
                await services.messages.append(who, "INBOX", batch)
    started = time.monotonic()
    pr.populate(fill)
    print(f"bench: Postroom filled in {time.monotonic() - started:.1f} s", flush=True)
    return pr, names


def postroom_target(pr: EasPostroom) -> Target:
    return Target("postroom", pr.web_port, PATH, True, True,
                  lambda user, i: _deliver(pr.smtp_port, user, i),
                  lambda: {"postroom": pr.pss_kib()})


async def initial_sync(target: Target, window: int) -> dict[str, Any]:
    """A new device syncing the 10,000-message Inbox from key 0, window by window."""
    phone = target.phone(SYNCER, "InitialSync1")
    port = target.port
    _, root = await _request(phone, port, "FolderSync", _folder_sync(), 60)
    inbox = _inbox(root)
    started = time.monotonic()
    _, root = await _request(phone, port, "Sync", _sync(inbox, "0", window), 60)
    assert root is not None
    key = root.path("Collections", "Collection").value("SyncKey") or ""  # type: ignore[union-attr]
    items = requests = 0
    largest = 0
    times: list[float] = []
    while requests < 10_000:
        t0 = time.monotonic()
        _, root = await _request(phone, port, "Sync", _sync(inbox, key, window), 600)
        times.append(time.monotonic() - t0)
        requests += 1
        assert root is not None
        col = root.path("Collections", "Collection")
        assert col is not None and col.value("Status") == "1", root
        key = col.value("SyncKey") or key
        commands = col.find("Commands")
        count = len(commands.children) if commands is not None else 0
        items += count
        largest = max(largest, count)
        if not col.has("MoreAvailable"):
            break
    total = time.monotonic() - started
    if phone.writer is not None:
        phone.writer.close()
    return {"server": target.name, "messages": items, "window": window,
            "largest_window_answered": largest, "requests": requests,
            "seconds": round(total, 2), "items_per_s": round(items / total, 1),
            "request_p50_ms": round(_pct(times, 0.5) * 1000, 1),
            "request_max_ms": round(max(times) * 1000, 1)}


def run_postroom(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    pr, users = setup(root, args.users, args.messages)
    pr.start()
    try:
        target = postroom_target(pr)
        synced = asyncio.run(initial_sync(target, args.window)) if args.messages else {}
        result = asyncio.run(ping_bench(target, users, args.devices))
    finally:
        pr.stop()
    return {"ping": result, "initial_sync": synced}


def run_sogo(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The same workloads against SOGo over Dovecot (bench/sogo.py): the same accounts, the
    same 10,000 messages written into Dovecot's Maildir, pushes delivered over LMTP."""
    from bench.reference import ensure_packages, raised_kernel_limit
    from bench.sogo import PACKAGES, Sogo
    from bench.sogo import PATH as SOGO_PATH
    ensure_packages(PACKAGES)
    devices = args.users * args.devices
    sogo = Sogo(root / "sogo", workers=devices + args.sogo_spare,
                poll_interval=args.sogo_poll)
    users = [f"u{i}@{DOMAIN}" for i in range(args.users)]
    for user in users:
        sogo.add_user(user, PASSWORD)
    if args.messages:
        sogo.add_user(SYNCER, PASSWORD)
        sogo.deliver_maildir(SYNCER, (message(i) for i in range(args.messages)))
    with raised_kernel_limit("/proc/sys/fs/inotify/max_user_instances", 4 * devices + 256):
        try:  # a part that fails to come up is stopped with the others
            sogo.start()
            if args.messages:
                sogo.index(SYNCER)
            target = Target("sogo", sogo.port, SOGO_PATH, False, False,
                            lambda user, i: _deliver(sogo.dovecot.lmtp_port, user, i, True),
                            sogo.memory_kib)
            synced = asyncio.run(initial_sync(target, args.window)) if args.messages else {}
            result = asyncio.run(ping_bench(target, users, args.devices))
        finally:
            sogo.stop()
    result["kib_per_device_with_child"] = Sogo.kib_per_device(
        result["pss_before_kib"], result["pss_waiting_kib"], sogo.workers, result["devices"])
    return {"ping": result, "initial_sync": synced, "workers": sogo.workers,
            "internal_sync_interval_s": sogo.poll_interval}


def ratios(pr: dict[str, Any], sogo: dict[str, Any]) -> dict[str, float | None]:
    """SOGo / Postroom, for each figure both runs produced."""
    def div(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None
    ps, ss = pr.get("initial_sync") or {}, sogo.get("initial_sync") or {}
    pp, sp = pr["ping"], sogo["ping"]
    return {"initial_sync_seconds": div(ss.get("seconds"), ps.get("seconds")),
            "initial_sync_items_per_s": div(ss.get("items_per_s"), ps.get("items_per_s")),
            "push_p50": div(sp["latency_ms"].get("p50"), pp["latency_ms"].get("p50")),
            "push_p99": div(sp["latency_ms"].get("p99"), pp["latency_ms"].get("p99")),
            "kib_per_device": div(sp["kib_per_device_with_child"], pp["kib_per_device"]),
            "kib_per_device_growth_only": div(sp["kib_per_device"], pp["kib_per_device"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--devices", type=int, default=10, help="devices per user")
    parser.add_argument("--messages", type=int, default=10_000,
                        help="messages in the folder a new device syncs (0: skip)")
    parser.add_argument("--window", type=int, default=512, help="Sync WindowSize")
    parser.add_argument("--quick", action="store_true",
                        help="10 users x 5 devices, 1,000 messages")
    parser.add_argument("--no-sogo", action="store_true", help="Postroom alone")
    parser.add_argument("--sogo-spare", type=int, default=8,
                        help="sogod children beyond one per pushing device")
    parser.add_argument("--sogo-poll", type=int, default=5,
                        help="SOGoInternalSyncInterval, seconds (SOGo sleeps 5 at least)")
    args = parser.parse_args()
    if args.quick:
        args.users, args.devices, args.messages = 10, 5, 1000
    import tempfile
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-eas-") as tmp:
        report["postroom"] = run_postroom(Path(tmp), args)
        if not args.no_sogo:
            report["sogo"] = run_sogo(Path(tmp), args)
            report["sogo_over_postroom"] = ratios(report["postroom"], report["sogo"])
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    report = {"when": stamp, **report}
    out = CHECKOUT / "bench" / "results" / f"eas-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
