"""mbox/Maildir import of a 10,000-message mailbox through the real CLI, read back
byte-identical."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from postroom.access.ops import Op
from postroom.app import build_services
from postroom.cli.transfer import to_crlf
from postroom.core import flags as F
from tests.conftest import make_config
from tests.support.cli import run

COUNT = 10_000


def _message(i: int) -> bytes:
    body = f"Line one of message {i}\nFrom the start of a line, quoted in mbox\n>From already\n"
    if i % 7 == 0:
        return (f"From: a{i}@example.net\nSubject: multipart {i}\nMIME-Version: 1.0\n"
                f"Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
                f"Content-Type: text/plain\n\n{body}--b{i}\nContent-Type: application/octet-"
                f"stream\nContent-Transfer-Encoding: base64\n\nAAECAw==\n--b{i}--\n").encode()
    status = "Status: RO\nX-Status: F\n" if i % 3 == 0 else ""
    return (f"From: sender{i}@example.net\nTo: alice@example.com\nSubject: message {i}\n"
            f"Date: Sat, 21 Nov 2026 10:00:00 +0000\n{status}\n{body}").encode()


def _mbox(path: Path) -> list[bytes]:
    originals = [_message(i) for i in range(COUNT)]
    with open(path, "wb") as fh:
        for msg in originals:
            fh.write(b"From sender@example.net Sat Nov 21 10:00:00 2026\n")
            quoted = b"\n".join(b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln
                                for ln in msg.split(b"\n"))
            fh.write(quoted + b"\n")
    return originals


def test_mbox_10000_messages_roundtrip(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert run(data, "domain", "add", "example.com").returncode == 0
    assert run(data, "user", "add", "alice@example.com", "--password", "pw-12345").returncode == 0
    mbox = tmp_path / "big.mbox"
    originals = _mbox(mbox)
    t0 = time.monotonic()
    result = run(data, "import", "mbox", "alice@example.com", str(mbox), "--folder", "Imported",
                 timeout=600)
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert f"{COUNT} messages imported" in result.stdout
    assert "importing big.mbox" in result.stdout and f"{COUNT}" in result.stdout  # progress
    print(f"\nimported {COUNT} messages in {elapsed:.1f}s ({COUNT / elapsed:.0f}/s)")

    async def check() -> None:
        s = build_services(make_config(data))
        try:
            alice = await s.directory.principal_for(
                await s.directory.require_account("alice@example.com"))
            handle = await s.mailboxes.open(alice, "Imported", Op.READ)
            rows = await s.messages.view(alice, handle)
            assert [r.uid for r in rows] == list(range(1, COUNT + 1))
            recs = await s.store.messages.get_many(handle.mailbox.id, [r.uid for r in rows])
            for i, rec in enumerate(recs):
                assert await s.messages.read_record(rec) == to_crlf(originals[i]), i
            assert rows[3].flags == F.SEEN | F.FLAGGED and rows[1].flags == 0
        finally:
            await s.close()
    asyncio.run(check())

    # Export again: mboxrd with the same message bytes (LF) and quoting.
    out = tmp_path / "out.mbox"
    result = run(data, "export", "alice@example.com", str(out), "--folder", "Imported")
    assert result.returncode == 0, result.stderr
    exported = out.read_bytes()
    assert exported.count(b"\nFrom MAILER-DAEMON ") == COUNT - 1
    assert exported.count(b"\n>From the start") == COUNT


def test_maildir_import_with_flags_and_subfolders(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert run(data, "domain", "add", "example.com").returncode == 0
    assert run(data, "user", "add", "bob@example.com", "--password", "pw-12345").returncode == 0
    md = tmp_path / "Maildir"
    for folder in ("", ".Work.Reports"):
        for sub in ("cur", "new", "tmp"):
            (md / folder / sub).mkdir(parents=True, exist_ok=True)
    (md / "cur" / "1.host:2,FS").write_bytes(b"Subject: a\n\nbody a\n")
    (md / "new" / "2.host").write_bytes(b"Subject: b\n\nbody b\n")
    (md / ".Work.Reports" / "cur" / "3.host:2,RT").write_bytes(b"Subject: c\n\nbody c\n")
    result = run(data, "import", "maildir", "bob@example.com", str(md))
    assert result.returncode == 0, result.stderr
    assert "3 messages imported" in result.stdout
    out = tmp_path / "export"
    assert run(data, "export", "bob@example.com", str(out), "--format", "maildir").returncode == 0
    names = sorted(p.name.split(":2,")[1] for p in (out / "cur").iterdir())
    assert names == ["", "FS"]
    [report] = list((out / ".Work.Reports" / "cur").iterdir())
    assert report.name.endswith(":2,RT") and report.read_bytes() == b"Subject: c\r\n\r\nbody c\r\n"
