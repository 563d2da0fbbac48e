"""How long one ActiveSync initial sync holds the event loop: every other client waits that long.

One account's Inbox holds ``--messages`` (2,000) messages of the shapes phones meet — plain
text, text+HTML alternatives, and mail with a small attachment (a third each, a few KiB to
~40 KiB). A new device syncs it from key 0 in windows of ``--window`` (512), asking for
plain text truncated at 500 octets, as bench/eas.py does. Meanwhile a second client on the
same server sends IMAP ``NOOP`` back to back on its own connection: a NOOP's round trip is
a few hundred microseconds unless the event loop is busy with something else, so the
longest NOOP while a window is being built is the longest stall that window caused.

Printed (and written to bench/results/eas-stall-<UTC time>.json): per window the Sync's
time and the longest NOOP during it; overall the NOOP p50/p99/max and the total sync time.
Bounded: at most ``--messages`` / ``--window`` + 2 Syncs, every wait has a timeout.

Run ``.venv/bin/python -m bench.eas_stall [--messages N] [--window N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench.eas import PATH, EasPostroom, Phone, _inbox, _pct, _request
from postroom.app import Services
from postroom.protocols.eas.element import E, Element

DOMAIN = "bench.test"
PASSWORD = "Bench-pass-1234"
SYNCER = f"stall@{DOMAIN}"
WATCHER = f"watcher@{DOMAIN}"
CHECKOUT = Path(__file__).resolve().parent.parent
assert PATH  # the same endpoint as bench/eas.py


def message(i: int) -> bytes:
    """Message ``i`` of the Inbox: plain, text+HTML, or with an attachment, in turn."""
    msg = EmailMessage()
    msg["From"] = f"Sender {i % 97} <sender{i % 97}@example.net>"
    msg["To"] = f"Stall Tester <{SYNCER}>"
    msg["Cc"] = "team@example.net, Other Person <other@example.net>"
    msg["Subject"] = f"Quarterly report {i}: numbers, plans and what comes next"
    msg["Message-ID"] = f"<s{i}@bench.test>"
    text = "".join(f"Paragraph {p} of message {i}: the figures for this quarter are in, "
                   f"and they look better than last year's.\n\n" for p in range(20 + i % 20))
    msg.set_content(text)
    if i % 3 >= 1:
        html = "".join(f"<p>Paragraph <b>{p}</b> of message {i}: the figures are "
                       f"<i>in</i>.</p>\n" for p in range(40 + i % 40))
        msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    if i % 3 == 2:
        msg.add_attachment(bytes(range(256)) * (40 + i % 80), maintype="application",
                           subtype="octet-stream", filename=f"figures-{i}.bin")
    return msg.as_bytes()


def setup(root: Path, messages: int) -> EasPostroom:
    pr = EasPostroom(root / "postroom")

    async def fill(services: Services) -> None:
        from postroom.core.principal import Principal
        if not await services.store.directory.list_domains():
            await services.directory.add_domain(DOMAIN)
        await services.directory.add_account(WATCHER, PASSWORD)
        rec = await services.directory.add_account(SYNCER, PASSWORD)
        await services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
        who = Principal.operator_as(rec.id, rec.address, rec.domain_id)
        batch: list[tuple[bytes, tuple[str, ...], None]] = []
        for i in range(messages):
            batch.append((message(i), (), None))
            if len(batch) == 250:
                await services.messages.append(who, "INBOX", batch)
                batch = []
        if batch:
            await services.messages.append(who, "INBOX", batch)
    started = time.monotonic()
    pr.populate(fill)
    print(f"bench: filled {messages} messages in {time.monotonic() - started:.1f} s",
          flush=True)
    return pr


class Watcher:
    """An IMAP client sending NOOP back to back; each round trip is noted with its time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, float]] = []  # (when it was answered, round trip)
        self.stop = asyncio.Event()

    async def run(self) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1",
                                                                        self.port), 30)
        await asyncio.wait_for(reader.readline(), 30)  # greeting
        writer.write(f"a LOGIN {WATCHER} {PASSWORD}\r\n".encode())
        while not (await asyncio.wait_for(reader.readline(), 30)).startswith(b"a "):
            pass
        n = 0
        while not self.stop.is_set() and n < 10_000_000:
            n += 1
            t0 = time.perf_counter()
            writer.write(f"n{n} NOOP\r\n".encode())
            while not (await asyncio.wait_for(reader.readline(), 60)).startswith(b"n"):
                pass
            t1 = time.perf_counter()
            self.samples.append((t1, t1 - t0))
        writer.write(b"z LOGOUT\r\n")
        writer.close()

    def longest(self, start: float, end: float) -> float:
        return max((rt for when, rt in self.samples if start <= when <= end + 0.001),
                   default=0.0)


async def sync_with_watcher(pr: EasPostroom, window: int, messages: int) -> dict[str, Any]:
    phone = Phone(SYNCER, "StallSync1")
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
    watcher = Watcher(pr.imap_port)
    task = asyncio.create_task(watcher.run())
    await asyncio.sleep(1.0)  # the watcher's baseline, with nothing else going on
    quiet = [rt for _, rt in watcher.samples]
    started = time.perf_counter()
    _, root = await _request(phone, port, "Sync", sync("0"), 60)
    assert root is not None
    key = root.path("Collections", "Collection").value("SyncKey") or ""  # type: ignore[union-attr]
    windows: list[dict[str, float]] = []
    items = 0
    for _ in range(messages // max(1, window) + 2):
        t0 = time.perf_counter()
        _, root = await _request(phone, port, "Sync", sync(key), 300)
        t1 = time.perf_counter()
        assert root is not None
        col = root.path("Collections", "Collection")
        assert col is not None and col.value("Status") == "1", root
        key = col.value("SyncKey") or key
        commands = col.find("Commands")
        got = len(commands.children) if commands is not None else 0
        items += got
        windows.append({"items": got, "sync_ms": round((t1 - t0) * 1000, 1),
                        "longest_noop_ms": round(watcher.longest(t0, t1) * 1000, 1)})
        if not col.has("MoreAvailable"):
            break
    total = time.perf_counter() - started
    watcher.stop.set()
    await asyncio.wait_for(task, 60)
    if phone.writer is not None:
        phone.writer.close()
    during = [rt for when, rt in watcher.samples if started <= when]
    return {"messages": items, "window": window, "seconds": round(total, 2),
            "windows": windows,
            "noop_quiet_p50_ms": round(_pct(quiet, 0.5) * 1000, 2) if quiet else None,
            "noop_during_p50_ms": round(_pct(during, 0.5) * 1000, 2),
            "noop_during_p99_ms": round(_pct(during, 0.99) * 1000, 1),
            "noop_during_max_ms": round(max(during) * 1000, 1),
            "noops_during": len(during)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--window", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eas-stall-") as tmp:
        pr = setup(Path(tmp), args.messages)
        pr.start()
        try:
            result = asyncio.run(sync_with_watcher(pr, args.window, args.messages))
        finally:
            pr.stop()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = CHECKOUT / "bench" / "results" / f"eas-stall-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"when": stamp, **result}, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
