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
from postroom.cli.context import OPERATOR, emit_one, say
from postroom.cli.export_names import DiskName, inside, plan
from postroom.core import flags as F
from postroom.core.address import Address
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.core.records import NewMessage
from postroom.services import names
from postroom.services.duplicates import DuplicateIndex

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


async def _ensure_folder(s: Services, principal: Principal, name: str) -> bool:
    """Create ``name`` if it does not exist; True if this call created it."""
    try:
        await s.mailboxes.create(principal, name)
    except MailError as exc:
        if exc.kind is not Kind.EXISTS:
            raise
        return False
    return True


async def _folder_index(s: Services, principal: Principal, name: str) -> DuplicateIndex:
    """What ``name`` already holds (empty if it does not exist yet): the skip list."""
    try:
        handle = await s.mailboxes.open(principal, name, Op.READ)
    except MailError as exc:
        if exc.kind is Kind.NOT_FOUND:
            return DuplicateIndex.empty()
        raise
    return await s.messages.duplicates(handle)


async def _undo_empty(s: Services, principal: Principal, created: list[str]) -> None:
    """After a failed import: remove the folders it created that hold nothing, so a failure
    leaves the account as it was (folders that received messages stay, with what they hold;
    running the import again skips those messages)."""
    for name in reversed(created):
        try:
            handle = await s.mailboxes.open(principal, name, Op.READ)
            if not await s.messages.view(principal, handle):
                await s.mailboxes.delete(principal, name)
        except MailError:
            continue


async def import_cmd(s: Services, args: argparse.Namespace) -> int:
    """Folders are created when their first message is stored, never before: an import that
    fails on its input creates nothing. A message the folder already holds (services/
    duplicates.py: same Message-ID and size, or same content) is skipped and counted."""
    principal = await _principal(s, args.address)
    path = Path(args.path)
    if not path.exists():
        raise invalid(f"{path}: no such file or directory")
    target = args.folder or "INBOX"
    names.validate_path(target)  # a bad --folder fails before anything is read or made
    total = skipped = 0
    created: list[str] = []
    handles: dict[str, MailboxHandle] = {}
    indexes: dict[str, DuplicateIndex] = {}
    pending: dict[str, list[asyncio.Future[NewMessage]]] = {}

    async def flush(folder: str) -> None:
        nonlocal total
        futures = pending.pop(folder, [])
        if not futures:
            return
        prepared = list(await asyncio.gather(*futures))
        handle = handles.get(folder)
        if handle is None:
            if await _ensure_folder(s, principal, folder):
                created.append(folder)
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
    try:
        with Progress(TextColumn(f"importing {path.name}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), disable=args.json) as progress:
            task = progress.add_task("", total=None)
            for folder, message, flag_names, date in source:
                if folder not in indexes:
                    names.validate_path(folder)
                    indexes[folder] = await _folder_index(s, principal, folder)
                if await indexes[folder].holds(message):
                    skipped += 1
                    continue
                fut = asyncio.ensure_future(s.messages.prepare(message, flag_names, date))
                pending.setdefault(folder, []).append(fut)
                if len(pending[folder]) >= BATCH:
                    await flush(folder)
            for folder in list(pending):
                await flush(folder)
    except BaseException:
        for futures in pending.values():
            for waiting in futures:
                waiting.cancel()
        await _undo_empty(s, principal, created)
        raise
    # Searchable from the index at once, rather than after the server's indexer has worked
    # through the import (SEARCH would read all of it directly until then).
    await s.indexer.run_once()
    await s.admin.note(OPERATOR, "import." + args.format, args.address,
                       {"path": str(path), "folder": target, "messages": total,
                        "skipped": skipped})
    if args.json:
        emit_one(args, {"imported": total, "skipped": skipped, "folders_created": created})
    else:
        note = f", {skipped} skipped (already there)" if skipped else ""
        say(f"{total} messages imported into {args.address}{note}")
    return 0


def _mbox_from_line(date: int) -> bytes:
    return b"From MAILER-DAEMON " + time.strftime(
        "%a %b %d %H:%M:%S %Y", time.gmtime(date)).encode() + b"\n"


async def export_cmd(s: Services, args: argparse.Namespace) -> int:
    """mbox: with --folder, PATH is one file; without, PATH is a directory of ``<folder>.mbox``
    files. maildir: PATH becomes a Maildir++ tree (subfolders as ``.Sub.Folder``).

    Every folder's file or directory name comes from cli/export_names.py: the usual one when
    it is safe, a renamed one (printed) when the stored name would leave PATH, is not a valid
    file name or clashes, so that no stored name can write outside PATH or stop the export."""
    principal = await _principal(s, args.address)
    out = Path(args.path)
    listed = [item.name for item in await s.mailboxes.list(principal, shared=False)]
    if args.folder:
        listed = [args.folder]
    if args.format == "maildir" or not args.folder:
        out.mkdir(parents=True, exist_ok=True)
    places: list[DiskName] = ([DiskName(listed[0], None, False)]
                              if args.folder and args.format == "mbox"
                              else plan(listed, args.format))
    count = 0
    renamed: list[dict[str, str]] = []
    for place in places:
        name = place.folder
        target = out if place.entry is None else out / place.entry
        if place.entry is not None and not inside(out, target):
            raise invalid(f"{target} leads outside {out} (a symbolic link?): nothing written "
                          f"for folder {name!r}")
        if place.renamed:
            renamed.append({"folder": name, "written_as": str(place.entry)})
        handle = await s.mailboxes.open(principal, name, Op.READ)
        rows = await s.messages.view(principal, handle)
        if args.format == "mbox":
            with open(target, "wb") as fh:
                for rec in await s.messages.records(principal, handle,
                                                    [r.uid for r in rows]):
                    data = (await s.messages.read_record(rec)).replace(b"\r\n", b"\n")
                    fh.write(_mbox_from_line(rec.internal_date))
                    fh.write(_FROM_LINE.sub(lambda m: b">" + m.group(0), data))
                    fh.write(b"\n" if data.endswith(b"\n") else b"\n\n")
                    count += 1
        else:
            for sub in ("cur", "new", "tmp"):
                (target / sub).mkdir(parents=True, exist_ok=True)
            for row in rows:
                data = await s.messages.content(handle, row.uid)
                shown = F.format_flags(row.flags, ())
                info = "".join(c for c, flag in sorted(_MAILDIR_FLAGS.items()) if flag in shown)
                file_name = f"{handle.mailbox.uidvalidity}.{row.uid}.postroom:2,{info}"
                (target / "cur" / file_name).write_bytes(data)
                count += 1
    await s.admin.note(OPERATOR, "export." + args.format, args.address,
                       {"path": str(out), "folder": args.folder, "messages": count,
                        "renamed": len(renamed)})
    if args.json:
        emit_one(args, {"exported": count, "path": str(out), "renamed": renamed})
        return 0
    for item in renamed:
        say(f"folder {item['folder']!r} written as {item['written_as']} (its name is not a "
            "safe file name here)")
    say(f"{count} messages exported to {out}")
    return 0
