"""mbox/Maildir import of a 10,000-message mailbox through the real CLI, read back
byte-identical."""

from __future__ import annotations

import asyncio
import json
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
            # indexed by the import itself, not left to the server's first minutes
            assert await s.store.count_unindexed(1) == 0
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


def _folders(data: Path, address: str) -> list[str]:
    async def names() -> list[str]:
        s = build_services(make_config(data))
        try:
            who = await s.directory.principal_for(await s.directory.require_account(address))
            return [item.name for item in await s.mailboxes.list(who, shared=False)]
        finally:
            await s.close()
    return asyncio.run(names())


def test_import_twice_skips_what_is_there(tmp_path: Path) -> None:
    """Issue 19: the same mbox imported twice stores nothing the second time and says so;
    a message without Message-ID is recognised by its content."""
    data = tmp_path / "var"
    assert run(data, "domain", "add", "example.com").returncode == 0
    assert run(data, "user", "add", "alice@example.com", "--password", "pw-12345").returncode == 0
    mbox = tmp_path / "in.mbox"
    with open(mbox, "wb") as fh:
        for i in range(5):
            mid = f"Message-ID: <m{i}@example.net>\n" if i != 2 else ""
            fh.write(b"From x@example.net Sat Nov 21 10:00:00 2026\n"
                     + f"From: x@example.net\nSubject: s{i}\n{mid}\nbody {i}\n\n".encode())
    first = run(data, "import", "mbox", "alice@example.com", str(mbox), "--folder", "Old")
    assert first.returncode == 0, first.stderr
    assert "5 messages imported" in first.stdout and "skipped" not in first.stdout
    again = run(data, "import", "mbox", "alice@example.com", str(mbox), "--folder", "Old",
                "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"imported": 0, "skipped": 5, "folders_created": []}
    # One new message among the old ones: only it is stored.
    with open(mbox, "ab") as fh:
        fh.write(b"From x@example.net Sat Nov 21 10:00:00 2026\n"
                 b"From: x@example.net\nMessage-ID: <m0@example.net>\nSubject: same id, "
                 b"other text\n\nbody\n")
    third = run(data, "import", "mbox", "alice@example.com", str(mbox), "--folder", "Old")
    assert "1 messages imported into alice@example.com, 5 skipped" in third.stdout


def test_failed_import_creates_no_folder(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert run(data, "domain", "add", "example.com").returncode == 0
    assert run(data, "user", "add", "alice@example.com", "--password", "pw-12345").returncode == 0
    before = _folders(data, "alice@example.com")
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"this is not an mbox\n")
    result = run(data, "import", "mbox", "alice@example.com", str(junk), "--folder", "X")
    assert result.returncode != 0 and "is not an mbox file" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(data, "import", "maildir", "alice@example.com", str(empty), "--folder", "Y")
    assert result.returncode != 0 and "is not a Maildir" in result.stderr
    result = run(data, "import", "mbox", "alice@example.com", str(junk), "--folder", "a/..")
    assert result.returncode != 0 and "'.' or '..'" in result.stderr
    assert _folders(data, "alice@example.com") == before


def test_export_of_stored_names_that_are_no_file_names(tmp_path: Path) -> None:
    """Issue 19, finding 4: folders stored before names were checked ('.', '..', a level over
    255 bytes) are exported inside PATH, under printed names, without stopping."""
    data = tmp_path / "var"
    assert run(data, "domain", "add", "example.com").returncode == 0
    assert run(data, "user", "add", "alice@example.com", "--password", "pw-12345").returncode == 0
    bad = [".", "..", "Work", "Work/..", "L" * 300]

    async def seed() -> None:
        s = build_services(make_config(data))
        try:
            rec = await s.directory.require_account("alice@example.com")
            alice = await s.directory.principal_for(rec)
            parents: dict[str, int] = {}
            for name in bad:  # straight into the store, as an older version let them in
                parent = parents.get(name.rpartition("/")[0]) if "/" in name else None
                mb = await s.store.mailboxes.create(owner_id=rec.id, domain_id=rec.domain_id,
                                                    name=name, parent_id=parent)
                parents[name] = mb.id
                handle = await s.mailboxes.open(alice, name, Op.APPEND)
                prepared = await s.messages.prepare(
                    f"Subject: in {name[:20]}\r\n\r\nbody\r\n".encode(), [], None)
                await s.messages.append_prepared(alice, handle, [prepared])
        finally:
            await s.close()
    asyncio.run(seed())
    outside = sorted([*(p.name for p in tmp_path.iterdir()), "export"])
    for fmt in ("maildir", "mbox"):
        out = tmp_path / "export" / fmt
        result = run(data, "export", "alice@example.com", str(out), "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert "5 messages exported" in result.stdout
        for name in (".", "..", "Work/..", "L" * 300):
            assert f"folder {name!r} written as " in result.stdout
        assert "folder 'Work' written" not in result.stdout
        files = [p for p in out.rglob("*") if p.is_file()]
        assert len(files) == (5 if fmt == "maildir" else 5 + 6)  # mbox: a file per default too
        assert all(p.resolve().is_relative_to(out.resolve()) for p in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == outside  # nothing written beside
    reimport = run(data, "import", "maildir", "alice@example.com", str(tmp_path / "export" /
                                                                      "maildir"),
                   "--folder", "Back")
    assert reimport.returncode == 0 and "5 messages imported" in reimport.stdout
