"""How an item becomes a message: the prefix (a small MIME header) above the client's bytes
(the blob), scanned as ONE message so that IMAP's ENVELOPE and BODYSTRUCTURE and the search
index see the item's Subject and type, with the offsets moved to the blob's coordinates
(protocols/imap/structure.py: ``meta`` offsets are relative to the blob; the top-level header
starts at 0 and includes the prefix).

MessageService.prepare scans the blob alone, which for an item (no header of its own) would
make the whole iCalendar text look like a header; hence this builder. The blob is written and
fsynced by the blob store before the metadata transaction, as for every message.
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import replace

from postroom.core import flags as F
from postroom.core.errors import Kind, MailError
from postroom.core.records import NewMessage
from postroom.mime.scanner import MessageInfo, Part, scan
from postroom.mime.text import searchable
from postroom.pim.model import ItemIndex
from postroom.store.sqlstore import SqlStore

NAME_HEADER = "X-Postroom-Dav-Name"
# A file's own type in the prefix would make the scanner read a multipart/* or message/* file
# as MIME structure; such files are labelled as plain bytes for IMAP.
_OPAQUE = ("multipart/", "message/")


def _header_text(text: str, most: int = 200) -> str:
    """One header line's worth of client text: printable, no CR/LF (header injection)."""
    return "".join(c if c.isprintable() else " " for c in text)[:most].strip()


def item_prefix(index: ItemIndex, name: str, content_type: str, when: int) -> bytes:
    """The MIME header IMAP sees above the item (RFC 2045): its type, 8bit/binary, the
    summary as Subject, and the DAV name."""
    binary = not index.component
    shown = content_type
    if binary and shown.lower().startswith(_OPAQUE):
        shown = "application/octet-stream"
    lines = [f"Content-Type: {_header_text(shown)}",
             f"Content-Transfer-Encoding: {'binary' if binary else '8bit'}",
             "MIME-Version: 1.0",
             f"Subject: {_header_text(index.summary or name)}",
             f"Date: {email.utils.formatdate(when)}",
             f"{NAME_HEADER}: {_header_text(name, 255)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _shift(part: Part, by: int) -> Part:
    return replace(part, header_start=max(part.header_start - by, 0),
                   body_start=part.body_start - by, body_end=part.body_end - by,
                   children=[_shift(c, by) for c in part.children],
                   message=_shift(part.message, by) if part.message else None)


def build_item(store: SqlStore, data: bytes, prefix: bytes, when: int) -> NewMessage:
    """Scan prefix + blob as one message, store the blob durably. Blocking: worker thread."""
    whole = prefix + data
    info = scan(whole)
    text = searchable(whole, info)
    moved = MessageInfo(info.envelope, _shift(info.root, len(prefix)), info.date,
                        info.references)
    blob = store.blobs.put_bytes(data)
    return NewMessage(blob, prefix, moved.to_json(), F.SEEN, "", when, text)


def file_meta(prefix: bytes, size: int) -> str:
    """The MIME scan of a file-area item without reading the file: the prefix's header and
    one opaque body of ``size`` octets (the prefix never names a multipart type)."""
    info = scan(prefix)
    root = replace(_shift(info.root, len(prefix)), body_end=size, lines=0, children=[],
                   message=None)
    return MessageInfo(info.envelope, root, info.date, info.references).to_json()


async def prepare_item(store: SqlStore, data: bytes, prefix: bytes, when: int,
                       max_message_size: int) -> NewMessage:
    if len(data) + len(prefix) > max_message_size:
        raise MailError(Kind.LIMIT, f"message larger than {max_message_size} octets")
    return await asyncio.to_thread(build_item, store, data, prefix, when)
