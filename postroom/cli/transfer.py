"""``postroom import mbox|maildir`` and ``postroom export``.

Import canonicalises line ends to CRLF (RFC 5322 §2.3: the form IMAP serves and sizes count),
so a message reads back over IMAP byte-identical to its CRLF form; mbox export writes LF again.
mbox is read as mboxrd (``>From `` unquoted by one ``>``) and written as mboxrd. Messages are
prepared (scanned, stored, fsynced) concurrently and committed one transaction per batch.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.app import Services
from postroom.cli.context import OPERATOR, say
from postroom.core import flags as F
from postroom.core.address import Address
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.core.records import NewMessage

BATCH = 200
_FROM_QUOTED = re.compile(rb"^>+From ", re.MULTILINE)
_FROM_LINE = re.compile(rb"^>*From ", re.MULTILINE)
_STATUS_FLAGS = {"R": "\\Seen", "A": "\\Answered", "F": "\\Flagged", "D": "\\Deleted",
                 "T": "\\Draft"}
_MAILDIR_FLAGS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted",
                  "D": "\\Draft"}


def to_crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def _from_date(line: bytes) -> int | None:
    parts = line.decode("ascii", "replace").split(None, 2)
    if len(parts) < 3:
        return None
    try:
        return int(time.mktime(time.strptime(parts[2].strip(), "%a %b %d %H:%M:%S %Y")))
    except ValueError:
        return None


def read_mbox(path: Path) -> Iterator[tuple[bytes, list[str], int | None]]:
    """Yield (message, flags, internal date) from an mboxrd/mboxo file, streaming."""
    current: list[bytes] = []
    date: int | None = None
    started = False
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"From ") and (not started or not current or current[-1]
                                              in (b"\n", b"\r\n")):
                if started:
                    msg = _finish_mbox(current)
                    yield msg, mbox_flags(msg), date
                current, date, started = [], _from_date(line), True
                continue
            if not started:
                raise invalid(f"{path} is not an mbox file (no 'From ' line first)")
            current.append(line)
    if started:
        msg = _finish_mbox(current)
        yield msg, mbox_flags(msg), date


def _finish_mbox(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n"):  # the separator line before the next From_
        lines = lines[:-1]
    data = b"".join(lines)
    return to_crlf(_FROM_QUOTED.sub(lambda m: m.group(0)[1:], data))


def mbox_flags(message: bytes) -> list[str]:
    """Flags from the ``Status:``/``X-Status:`` headers mutt and Thunderbird write."""
    end = message.find(b"\r\n\r\n")
    head = message[: end if end >= 0 else len(message)]
    out: list[str] = []
    for name, letters in ((b"status", "R"), (b"x-status", "AFDT")):
        m = re.search(rb"^" + name + rb":[ \t]*([A-Za-z]*)", head, re.MULTILINE | re.IGNORECASE)
        if m:
            value = m.group(1).decode("ascii")
            out += [_STATUS_FLAGS[c] for c in value if c in letters and c in _STATUS_FLAGS]
    return out


def read_maildir(root: Path) -> Iterator[tuple[str, bytes, list[str], int]]:
    """Yield (folder, message, flags, date) for a Maildir++ tree (``.Sub.Folder`` = Sub/Folder)."""
    folders = [("", root)]
    folders += sorted((p.name[1:].replace(".", "/"), p) for p in root.iterdir()
                      if p.is_dir() and p.name.startswith(".") and (p / "cur").is_dir())
    if not (root / "cur").is_dir() and not (root / "new").is_dir():
        raise invalid(f"{root} is not a Maildir (no cur/ or new/)")
    for folder, path in folders:
        for sub in ("new", "cur"):
            d = path / sub
            if not d.is_dir():
                continue
            for entry in sorted(d.iterdir()):
                if not entry.is_file():
                    continue
                info = entry.name.partition(":2,")[2]
                flags = [_MAILDIR_FLAGS[c] for c in info if c in _MAILDIR_FLAGS]
                yield folder, to_crlf(entry.read_bytes()), flags, int(entry.stat().st_mtime)


async def _principal(s: Services, address: str) -> Principal:
    rec = await s.directory.require_account(str(Address.parse(address)))
    await s.mailboxes.ensure_defaults(rec.id, rec.domain_id)
    return Principal.operator_as(rec.id, rec.address, rec.domain_id)


async def _ensure_folder(s: Services, principal: Principal, name: str) -> None:
    try:
        await s.mailboxes.create(principal, name)
    except MailError as exc:
        if exc.kind is not Kind.EXISTS:
            raise


async def import_cmd(s: Services, args: argparse.Namespace) -> int:
    principal = await _principal(s, args.address)
    path = Path(args.path)
    if not path.exists():
        raise invalid(f"{path}: no such file or directory")
    target = args.folder or "INBOX"
    await _ensure_folder(s, principal, target)
    total = 0
    handles: dict[str, MailboxHandle] = {}
    pending: dict[str, list[asyncio.Future[NewMessage]]] = {}

    async def flush(folder: str) -> None:
        nonlocal total
        futures = pending.pop(folder, [])
        if not futures:
            return
        prepared = list(await asyncio.gather(*futures))
        handle = handles.get(folder)
        if handle is None:
            await _ensure_folder(s, principal, folder)
            handle = await s.mailboxes.open(principal, folder, Op.APPEND)
            handles[folder] = handle
        await s.messages.append_prepared(principal, handle, prepared)
        total += len(prepared)
        progress.update(task, completed=total)

    source: Iterator[tuple[str, bytes, list[str], int | None]]
    if args.format == "mbox":
        if path.is_dir():
            raise invalid(f"{path} is a directory; use: postroom import maildir")
        source = ((target, m, f, d) for m, f, d in read_mbox(path))
    else:
        base = target if args.folder else ""
        source = ((f"{base}/{folder}".strip("/") if folder else target, m, fl, d)
                  for folder, m, fl, d in read_maildir(path))
    with Progress(TextColumn(f"importing {path.name}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=args.json) as progress:
        task = progress.add_task("", total=None)
        for folder, message, flag_names, date in source:
            fut = asyncio.ensure_future(s.messages.prepare(message, flag_names, date))
            pending.setdefault(folder, []).append(fut)
            if len(pending[folder]) >= BATCH:
                await flush(folder)
        for folder in list(pending):
            await flush(folder)
    await s.admin.note(OPERATOR, "import." + args.format, args.address,
                       {"path": str(path), "folder": target, "messages": total})
    say(f"{total} messages imported into {args.address}")
    return 0


def _mbox_from_line(date: int) -> bytes:
    return b"From MAILER-DAEMON " + time.strftime(
        "%a %b %d %H:%M:%S %Y", time.gmtime(date)).encode() + b"\n"


async def export_cmd(s: Services, args: argparse.Namespace) -> int:
    """mbox: with --folder, PATH is one file; without, PATH is a directory of ``<folder>.mbox``
    files. maildir: PATH becomes a Maildir++ tree (subfolders as ``.Sub.Folder``)."""
    principal = await _principal(s, args.address)
    out = Path(args.path)
    listed = [item.name for item in await s.mailboxes.list(principal, shared=False)]
    if args.folder:
        listed = [args.folder]
    elif args.format == "mbox":
        out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name in listed:
        handle = await s.mailboxes.open(principal, name, Op.READ)
        rows = await s.messages.view(principal, handle)
        if args.format == "mbox":
            target = out if args.folder else out / (name.replace("/", ".") + ".mbox")
            with open(target, "wb") as fh:
                for rec in await s.messages.records(principal, handle,
                                                    [r.uid for r in rows]):
                    data = (await s.messages.read_record(rec)).replace(b"\r\n", b"\n")
                    fh.write(_mbox_from_line(rec.internal_date))
                    fh.write(_FROM_LINE.sub(lambda m: b">" + m.group(0), data))
                    fh.write(b"\n" if data.endswith(b"\n") else b"\n\n")
                    count += 1
        else:
            folder = out if name == "INBOX" else out / ("." + name.replace("/", "."))
            for sub in ("cur", "new", "tmp"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            for row in rows:
                data = await s.messages.content(handle, row.uid)
                shown = F.format_flags(row.flags, ())
                info = "".join(c for c, flag in sorted(_MAILDIR_FLAGS.items()) if flag in shown)
                file_name = f"{handle.mailbox.uidvalidity}.{row.uid}.postroom:2,{info}"
                (folder / "cur" / file_name).write_bytes(data)
                count += 1
    await s.admin.note(OPERATOR, "export." + args.format, args.address,
                       {"path": str(out), "folder": args.folder, "messages": count})
    say(f"{count} messages exported to {out}")
    return 0
