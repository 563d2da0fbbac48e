"""ActiveSync push at scale: many devices in Ping on one Postroom process.

``--users`` (100) accounts with ``--devices`` (10) devices each — 1,000 phones by default —
each holding one Ping on its Inbox with a long heartbeat, as phones do all day. Measured:

- **memory per waiting device**: the server's PSS with every Ping waiting, minus its PSS
  before the first Ping, divided by the number of devices (the connection, the TLS session,
  the request, the wait);
- **push latency**: one message per user delivered over SMTP, one after another; for every
  device, the time from the SMTP server's 250 reply for its user's message to the Ping's
  answer (Status 2) arriving at the device: p50, p99, max;
- **initial sync** (``--messages``, 10,000): a new device syncing an Inbox of that many
  messages from key 0 in windows of ``--window`` (512, the server's bound), plain-text bodies
  truncated at 500 octets as phones ask: the number of requests and the total time.

One asyncio client process; raw HTTP/1.1 over TLS, one connection per device (as phones
have), WBXML with Postroom's codec. Bounded: every wait has a timeout, every loop a count.
Run ``.venv/bin/python -m bench.eas [--quick]`` (``make bench-eas``); the result is printed
and written to bench/results/eas-<UTC time>.json. No reference server: SOGo's ActiveSync
side by side is not done yet (docs/eas.md says so).
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
                "limits.max_connections=20000", "limits.auth_failures_per_ip=100000"]


@dataclass
class Phone:
    user: str
    device: str
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    sent: float = 0.0  # when its last request was written


def _ssl() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _request(phone: Phone, port: int, command: str, body: Element,
                   timeout: float) -> tuple[int, Element | None]:
    """One POST on the phone's own keep-alive connection (opened on first use)."""
    if phone.writer is None:
        phone.reader, phone.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=_ssl()), 30)
    assert phone.reader is not None and phone.writer is not None
    data = wbxml.encode(body)
    auth = base64.b64encode(f"{phone.user}:{PASSWORD}".encode()).decode()
    head = (f"POST {PATH}?Cmd={command}&User={phone.user}&DeviceId={phone.device}"
            f"&DeviceType=Bench HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
            "MS-ASProtocolVersion: 14.1\r\nContent-Type: application/vnd.ms-sync.wbxml\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    phone.writer.write(head + data)
    await phone.writer.drain()
    phone.sent = time.monotonic()
    status_line = await asyncio.wait_for(phone.reader.readline(), timeout)
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await asyncio.wait_for(phone.reader.readline(), 30)
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    payload = await asyncio.wait_for(phone.reader.readexactly(length), 30) if length else b""
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


def _deliver(port: int, user: str, i: int) -> tuple[float, float]:
    """(when the SMTP session began, when the 250 after DATA came back)."""
    begun = time.monotonic()
    msg = EmailMessage()
    msg["From"] = f"sender@{DOMAIN}"
    msg["To"] = user
    msg["Subject"] = f"push {i}"
    msg.set_content("A new message for the phones.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(msg)
        done = time.monotonic()
    return begun, done


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def ping_bench(pr: EasPostroom, users: list[str], devices: int) -> dict[str, Any]:
    port = pr.web_port
    phones = [Phone(u, f"B{n}x{d}") for n, u in enumerate(users) for d in range(devices)]
    inbox: dict[str, str] = {}
    for user in users:  # one FolderSync per user: a user's devices share folder ids
        status, root = await _request(Phone(user, "Probe"), port, "FolderSync", E(
            "FolderHierarchy", "FolderSync", E("FolderHierarchy", "SyncKey", text="0")), 30)
        inbox[user] = _inbox(root)
    # every phone asks once with a short heartbeat (connection, TLS, device registered)
    await asyncio.gather(*(_request(p, port, "Ping", _ping(inbox[p.user], 60), 90)
                           for p in phones[:1]))
    await asyncio.sleep(1)
    before = pr.pss_kib()
    started = time.monotonic()
    waits = {id(p): asyncio.ensure_future(_request(p, port, "Ping", _ping(inbox[p.user], 3000),
                                                   600)) for p in phones}
    # every Ping written (1,000 TLS handshakes take a while on two cores), then a moment for
    # the server to reach the wait of the last ones; a Ping sent after the delivery would
    # wait for the next change instead and be counted as unanswered
    deadline = time.monotonic() + 300
    while any(p.sent < started for p in phones) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(5.0)
    settled = time.monotonic() - started
    during = pr.pss_kib()
    early = [w for w in waits.values() if w.done()]
    loop = asyncio.get_running_loop()
    sent: dict[str, tuple[float, float]] = {}
    arrived: dict[int, float] = {}
    def note(key: int) -> Any:
        return lambda _future: arrived.setdefault(key, time.monotonic())
    for p in phones:
        waits[id(p)].add_done_callback(note(id(p)))
    for i, user in enumerate(users):
        sent[user] = await loop.run_in_executor(None, _deliver, pr.smtp_port, user, i)
    await asyncio.wait(list(waits.values()), timeout=120)
    # from the SMTP session's start (connect, EHLO, MAIL, RCPT, DATA: delivery included),
    # and from the 250 reply (negative when the phone heard before the sender did)
    latencies = [arrived[id(p)] - sent[p.user][0] for p in phones if id(p) in arrived]
    after_250 = [arrived[id(p)] - sent[p.user][1] for p in phones if id(p) in arrived]
    statuses: dict[str, int] = {}
    for w in waits.values():
        if not w.done():
            key = "no answer in 120 s"
        elif w.exception() is not None:
            key = f"error: {type(w.exception()).__name__}"
        else:
            status, root = w.result()
            key = f"{status}/{root.value('Status') if root is not None else '-'}"
        statuses[key] = statuses.get(key, 0) + 1
    for p in phones:
        if p.writer is not None:
            p.writer.close()
    return {"devices": len(phones), "users": len(users), "settle_s": round(settled, 1),
            "pss_before_kib": before, "pss_waiting_kib": during,
            "kib_per_device": round((during - before) / len(phones), 2),
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
                raw = (f"From: sender{i % 97}@example.net\r\nTo: {SYNCER}\r\nSubject: "
                       f"message {i}\r\nMessage-ID: <m{i}@bench.test>\r\n\r\nLine one of "
                       f"message {i}.\r\nLine two.\r\n").encode()
                batch.append((raw, (), None))
                if len(batch) == 500:
                    await services.messages.append(who, "INBOX", batch)
                    batch = []
            if batch:
                await services.messages.append(who, "INBOX", batch)
    started = time.monotonic()
    pr.populate(fill)
    print(f"bench: Postroom filled in {time.monotonic() - started:.1f} s", flush=True)
    return pr, names


async def initial_sync(pr: EasPostroom, window: int) -> dict[str, Any]:
    """A new device syncing the 10,000-message Inbox from key 0, window by window."""
    phone = Phone(SYNCER, "InitialSync1")
    port = pr.web_port
    _, root = await _request(phone, port, "FolderSync", E(
        "FolderHierarchy", "FolderSync", E("FolderHierarchy", "SyncKey", text="0")), 60)
    inbox = _inbox(root)

    def sync(key: str) -> Element:
        ns = "AirSync"
        return E(ns, "Sync", E(ns, "Collections", E(
            ns, "Collection", E(ns, "SyncKey", text=key), E(ns, "CollectionId", text=inbox),
            E(ns, "WindowSize", text=window), E(ns, "Options", E(
                "AirSyncBase", "BodyPreference", E("AirSyncBase", "Type", text=1),
                E("AirSyncBase", "TruncationSize", text=500))))))
    started = time.monotonic()
    _, root = await _request(phone, port, "Sync", sync("0"), 60)
    assert root is not None
    key = root.path("Collections", "Collection").value("SyncKey") or ""  # type: ignore[union-attr]
    items = requests = 0
    times: list[float] = []
    while requests < 10_000:
        t0 = time.monotonic()
        _, root = await _request(phone, port, "Sync", sync(key), 300)
        times.append(time.monotonic() - t0)
        requests += 1
        assert root is not None
        col = root.path("Collections", "Collection")
        assert col is not None and col.value("Status") == "1", root
        key = col.value("SyncKey") or key
        commands = col.find("Commands")
        items += len(commands.children) if commands is not None else 0
        if not col.has("MoreAvailable"):
            break
    total = time.monotonic() - started
    if phone.writer is not None:
        phone.writer.close()
    return {"messages": items, "window": window, "requests": requests,
            "seconds": round(total, 2), "items_per_s": round(items / total, 1),
            "request_p50_ms": round(_pct(times, 0.5) * 1000, 1),
            "request_max_ms": round(max(times) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--devices", type=int, default=10, help="devices per user")
    parser.add_argument("--messages", type=int, default=10_000,
                        help="messages in the folder a new device syncs (0: skip)")
    parser.add_argument("--window", type=int, default=512, help="Sync WindowSize")
    parser.add_argument("--quick", action="store_true",
                        help="10 users x 5 devices, 1,000 messages")
    args = parser.parse_args()
    if args.quick:
        args.users, args.devices, args.messages = 10, 5, 1000
    import tempfile
    with tempfile.TemporaryDirectory(prefix="bench-eas-") as tmp:
        pr, users = setup(Path(tmp), args.users, args.messages)
        pr.start()
        try:
            synced = asyncio.run(initial_sync(pr, args.window)) if args.messages else {}
            result = asyncio.run(ping_bench(pr, users, args.devices))
        finally:
            pr.stop()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    report = {"when": stamp, "ping": result, "initial_sync": synced}
    out = CHECKOUT / "bench" / "results" / f"eas-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
