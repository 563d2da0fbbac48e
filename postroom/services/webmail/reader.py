"""One message taken apart for reading in webmail: headers, text, sanitised HTML, attachments.

Every entry point opens the folder through the gate (``FolderTree.open(..., Op.READ)``) and
the message by UID inside it; a folder the user may not see, another user's folder, a
missing folder and a missing message are all the same NOT_FOUND with the same text
(``NOT_FOUND_TEXT``), so no answer tells them apart (docs/webmail/read.md, "Visibility").

Nothing is parsed twice: the MIME scan stored at delivery (``MessageRec.meta``) gives the
envelope and every part's offsets, ``mime/layout.py`` picks the body and attachments from it,
and only the octets of the parts wanted are read (the whole message at once when it is small,
which is one worker hop instead of several).

Opening a message marks it ``\\Seen`` through ``MessageService.mark_read``: the user's own
``\\Seen`` on a shared folder, and nothing at all where the gate does not allow it (RFC 4314
§4: reading without ``s`` changes no flag).

Authentication-Results: only the fields our server added at delivery count. They are in the
message's per-delivery prefix (never in the blob a sender wrote), and their authserv-id must
be our host name (RFC 8601 §5: any other may be forged). An appended or forwarded-in copy with
a field of its own shows "none".

Sanitised HTML is kept in a small LRU (``web.webmail.read_cache``) keyed by folder, UID and
whether remote images load, so the page (which needs the blocked-image count) and its frame
sanitise a message once. The key needs no user: access is checked before the cache is asked,
and the content of a (folder, UID) never changes (RFC 9051 §2.3.1.1).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import re
import urllib.parse
import zoneinfo
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core import flags as F
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import MessageRec
from postroom.mime import html as sanitiser
from postroom.mime.layout import Layout, Leaf, find, layout, strip_cid
from postroom.mime.reading import display_text, unflow
from postroom.mime.scanner import parse_headers
from postroom.mime.text import decode_body, to_text
from postroom.services.mailauth.results import authserv_id_of
from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import FolderTree
from postroom.services.webmail.prefs import Preferences
from postroom.store.repo.webmail_read import ReadingQueries

NOT_FOUND_TEXT = "This message does not exist or is not available to you."
WHOLE_READ = 1 << 20  # a message up to this size is read in one go
RAW_CHUNK = 1 << 20
STREAM_OVER = 1 << 20  # a part larger than this (as stored) is decoded as it is sent
_IDENTITY = frozenset({"7BIT", "8BIT", "BINARY"})
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
# What a part may be served as (anything else is application/octet-stream): nothing a browser
# would run as a document of our origin.
SAFE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain",
    "text/csv", "text/calendar", "application/zip", "application/gzip", "audio/mpeg",
    "audio/ogg", "video/mp4", "video/webm", "application/msword", "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "message/rfc822"})
PREVIEWS = {"image/png": "image", "image/jpeg": "image", "image/gif": "image",
            "image/webp": "image", "application/pdf": "pdf", "text/plain": "text"}
RASTER = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_CID_REF = re.compile(r"cid:([^\s\"'<>()]{1,998})", re.I)
_METHOD = re.compile(r"\b(spf|dkim|dmarc|arc|auth)\s*=\s*([a-z]+)", re.I)
_COMMENT = re.compile(r"\([^()]*\)")
_meta = msgspec.json.Decoder(dict[str, Any])


def missing() -> MailError:
    return MailError(Kind.NOT_FOUND, NOT_FOUND_TEXT)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class Attachment:
    part: str  # IMAP section number, the URL's {part}
    filename: str  # safe (mime/reading.safe_filename)
    ctype: str  # as declared
    size: int  # decoded octets (estimated for base64)
    preview: str  # "image", "pdf", "text" or "" (no inline preview)
    content_id: str


@dataclass(frozen=True, slots=True)
class AuthBadge:
    verdict: str  # "pass", "fail" or "none"
    results: tuple[str, ...]  # "dkim=pass", "spf=softfail", ... of our own field


@dataclass(frozen=True, slots=True)
class Reading:
    folder_id: int
    uid: int
    subject: str
    sender: tuple[Person, ...]  # From
    to: tuple[Person, ...]
    cc: tuple[Person, ...]
    reply_to: tuple[Person, ...]  # only when it differs from From
    hidden_recipients: int  # addresses of To and Cc beyond read_max_addresses
    date: str  # in the user's time zone, for display
    date_iso: str  # ISO 8601, for <time datetime>
    text: str | None  # the plain-text body (the alternative, when there is HTML too)
    text_cut: bool  # the text was longer than read_text_max and is cut
    has_html: bool  # an HTML body is shown in the frame
    attachments: tuple[Attachment, ...]
    auth: AuthBadge
    seen: bool
    flagged: bool
    answered: bool
    size: int
    blocked_images: int  # remote images blocked in the HTML body
    images_shown: bool  # remote images load (for this message or its sender)
    sender_images: bool  # the sender is on the user's list of image senders
    may_allow_sender: bool  # remote images may be allowed per sender on this server
    may_flag: bool = False  # the gate lets the user set \Flagged here (Op.SET_OTHER_FLAGS)
    may_mark: bool = False  # ... and \Seen (Op.SET_SEEN): "mark unread" does something
    newer: int | None = None  # the next UID up in the folder (arrival order), None at the end
    older: int | None = None  # the next UID down


@dataclass(frozen=True, slots=True)
class PartData:
    filename: str
    ctype: str  # what to send as Content-Type (from SAFE_TYPES, else octet-stream)
    data: bytes  # the decoded content; b"" when ``chunks`` carries it
    preview: str  # the kind of inline preview allowed, "" for none
    chunks: AsyncIterator[bytes] | None = None  # a large part, decoded as it is read


class Reader:
    def __init__(self, ctx: WebmailContext, prefs: Preferences,
                 folders: FolderTree | None = None) -> None:
        self._ctx = ctx
        self._prefs = prefs
        self._folders = folders or FolderTree(ctx)
        self._messages = ctx.messages
        self._config = ctx.config
        self._queries = ReadingQueries(ctx.store.engine)
        self._cache: OrderedDict[tuple[int, int, bool], sanitiser.SafeHtml] = OrderedDict()

    # -- opening ------------------------------------------------------------------------------
    async def _open(self, principal: Principal, folder_id: int, uid: int,
                    ) -> tuple[MailboxHandle, MessageRec]:
        try:
            handle = await self._folders.open(principal, folder_id, Op.READ)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise missing() from None
            raise
        recs = await self._messages.records(principal, handle, [uid])
        if not recs:
            raise missing()
        return handle, recs[0]

    async def open(self, principal: Principal, folder_id: int, uid: int, *,
                   images: bool = False, prefer_text: bool = False) -> Reading:
        """The message to show, marked ``\\Seen`` (where the gate allows). ``images``: the
        user asked to see this message's remote images once."""
        handle, rec = await self._open(principal, folder_id, uid)
        meta = _meta.decode(rec.meta)
        env: list[Any] = meta.get("env") or [None] * 10
        parts = layout(meta["body"])
        whole = await self._messages.read_slice(rec, 0, rec.size) \
            if rec.size <= WHOLE_READ else None
        plen = len(rec.prefix)
        auth = badge(rec.prefix, self._ctx.trusted_authserv_id)
        senders = _people(env[2], 20)
        sender_images = False
        if senders and auth.verdict != "fail":  # a forged From must not unlock images
            sender_images = await self._prefs.images_allowed(principal, senders[0].address)
        shown = (images or sender_images) and self._config.remote_images != "never"
        text, cut = await self._text(rec, parts, whole, plen)
        blocked = 0
        has_html = False
        if parts.html is not None and not prefer_text and \
                parts.html.end - parts.html.start <= self._config.max_html_size:
            try:
                safe = await self._safe(rec, parts, whole, shown)
                blocked, has_html = safe.blocked, True
            except sanitiser.TooComplex:
                pass  # shown as text below
        if parts.html is not None and not has_html and text is None:  # too large, too deep
            raw = await self._part_bytes(rec, parts.html, whole, plen,
                                         encoded_max=self._config.read_text_max * 4 + 1024)
            text = sanitiser.text_of(to_text(decode_body(raw, parts.html.encoding),
                                             parts.html.charset))
            text, cut = _cut(text, self._config.read_text_max)
            cut = cut or parts.html.end - parts.html.start > len(raw)
        prefs = await self._prefs.get(principal)
        date, iso = _when(env[0], rec.internal_date, prefs.timezone)
        limit = self._config.read_max_addresses
        to, cc = _people(env[5], limit), _people(env[6], limit)
        hidden = max(0, len(env[5] or []) + len(env[6] or []) - len(to) - len(cc))
        reply_to = _people(env[4], limit)
        if reply_to == senders:
            reply_to = ()
        if not rec.flags & F.SEEN:
            await self._messages.mark_read(principal, handle, [uid])
        older, newer = await self._queries.neighbours(rec.mailbox_id, uid)
        return Reading(
            folder_id, uid, display_text(env[1]), senders, to, cc, reply_to, hidden, date, iso,
            text, cut, has_html, tuple(_attachment(a) for a in parts.attachments), auth,
            bool(rec.flags & F.SEEN) or handle.allows(Op.SET_SEEN),
            bool(rec.flags & F.FLAGGED), bool(rec.flags & F.ANSWERED), rec.size, blocked,
            shown, sender_images, self._config.remote_images != "never",
            handle.allows(Op.SET_OTHER_FLAGS), handle.allows(Op.SET_SEEN), newer, older)

    async def _text(self, rec: MessageRec, parts: Layout, whole: bytes | None,
                    plen: int) -> tuple[str | None, bool]:
        leaf = parts.text
        if leaf is None:
            return None, False
        limit = self._config.read_text_max
        raw = await self._part_bytes(rec, leaf, whole, plen, encoded_max=limit * 4 + 1024)
        text = to_text(decode_body(raw, leaf.encoding), leaf.charset).replace("\r\n", "\n")
        if leaf.params.get("format", "").lower() == "flowed":  # RFC 3676 §4.2
            text = unflow(text, leaf.params.get("delsp", "").lower() == "yes")
        return _cut(text, limit)

    async def _part_bytes(self, rec: MessageRec, leaf: Leaf, whole: bytes | None, plen: int,
                          encoded_max: int | None = None) -> bytes:
        """The part's body as stored (transfer-encoded), at most ``encoded_max`` octets."""
        end = leaf.end if encoded_max is None else min(leaf.end, leaf.start + encoded_max)
        if whole is not None:
            return whole[plen + leaf.start:plen + end]
        return await self._messages.read_slice(rec, plen + leaf.start, plen + end)

    async def _safe(self, rec: MessageRec, parts: Layout, whole: bytes | None,
                    remote: bool) -> sanitiser.SafeHtml:
        key = (rec.mailbox_id, rec.uid, remote)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        assert parts.html is not None
        raw = await self._part_bytes(rec, parts.html, whole, len(rec.prefix))
        html = to_text(decode_body(raw, parts.html.encoding), parts.html.charset)
        images = await self._inline_images(rec, parts, whole, html)

        def cid_url(cid: str) -> str | None:
            return images.get(strip_cid(urllib.parse.unquote(cid)))  # RFC 2392 §2
        safe = sanitiser.sanitise(html, cid_url=cid_url, remote=remote)
        if self._config.read_cache:
            self._cache[key] = safe
            while len(self._cache) > self._config.read_cache:
                self._cache.popitem(last=False)
        return safe

    async def _inline_images(self, rec: MessageRec, parts: Layout, whole: bytes | None,
                             html: str) -> dict[str, str]:
        """``data:`` URLs of the raster inline parts the HTML names by ``cid:``, up to
        ``read_inline_max`` octets in all. Not our /cid/ URLs: the frame is sandboxed without
        same origin, so its requests are cross-site and carry no session cookie
        (SameSite=Strict); embedding is also one request fewer per image. SVG and other
        types are never embedded (an SVG is a document that can hold script)."""
        budget = self._config.read_inline_max
        out: dict[str, str] = {}
        for ref in dict.fromkeys(_CID_REF.findall(html)):
            cid = strip_cid(urllib.parse.unquote(ref))
            leaf = parts.inline.get(cid)
            if leaf is None or cid in out or leaf.ctype not in RASTER:
                continue
            if leaf.end - leaf.start > budget:
                continue
            budget -= leaf.end - leaf.start
            raw = await self._part_bytes(rec, leaf, whole, len(rec.prefix))
            if leaf.encoding == "BASE64":  # already base64: only the line breaks go
                encoded = re.sub(rb"[^A-Za-z0-9+/=]", b"", raw).decode("ascii")
            else:
                encoded = base64.b64encode(decode_body(raw, leaf.encoding)).decode("ascii")
            out[cid] = f"data:{leaf.ctype};base64,{encoded}"
        return out

    async def html_document(self, principal: Principal, folder_id: int, uid: int, *,
                            images: bool = False) -> tuple[str, bool]:
        """The frame's document (the sanitised HTML body) and whether remote images may load
        in it. NOT_FOUND when the message has no HTML body to show."""
        _, rec = await self._open(principal, folder_id, uid)
        meta = _meta.decode(rec.meta)
        parts = layout(meta["body"])
        if parts.html is None or parts.html.end - parts.html.start > self._config.max_html_size:
            raise missing()
        shown = False
        if self._config.remote_images != "never":
            shown = images
            if not shown:
                env = meta.get("env") or [None] * 10
                senders = _people(env[2], 1)
                if senders and badge(rec.prefix, self._ctx.trusted_authserv_id).verdict != "fail":
                    shown = await self._prefs.images_allowed(principal, senders[0].address)
        whole = await self._messages.read_slice(rec, 0, rec.size) \
            if rec.size <= WHOLE_READ else None
        try:
            safe = await self._safe(rec, parts, whole, shown)
        except sanitiser.TooComplex:
            raise missing() from None  # the page shows it as text
        prefs = await self._prefs.get(principal)
        return sanitiser.render_document(safe, prefs.language), shown

    # -- parts --------------------------------------------------------------------------------
    async def part(self, principal: Principal, folder_id: int, uid: int, path: str,
                   ) -> PartData:
        """One part, decoded, by IMAP section number: an attachment or a body part."""
        _, rec = await self._open(principal, folder_id, uid)
        root = _meta.decode(rec.meta)["body"]
        node = find(root, path)
        if node is None or node.get("c"):
            raise missing()
        parts = layout(root)
        leaf = next((a for a in [*parts.attachments, *parts.inline.values()]
                     if a.path == path), None)
        if leaf is None:
            leaf = next((b for b in (parts.text, parts.html) if b is not None and b.path == path),
                        None)
        if leaf is None:
            raise missing()
        return await self._data(rec, leaf)

    async def inline_part(self, principal: Principal, folder_id: int, uid: int, cid: str,
                          ) -> PartData:
        """The part with Content-ID ``cid`` (RFC 2392), for ``cid:`` images."""
        _, rec = await self._open(principal, folder_id, uid)
        leaf = layout(_meta.decode(rec.meta)["body"]).inline.get(strip_cid(cid))
        if leaf is None:
            raise missing()
        return await self._data(rec, leaf)

    async def _data(self, rec: MessageRec, leaf: Leaf) -> PartData:
        ctype = leaf.ctype if leaf.ctype in SAFE_TYPES else "application/octet-stream"
        preview = PREVIEWS.get(leaf.ctype, "")
        name = leaf.filename or f"part-{leaf.path}.bin"
        identity = leaf.ctype == "message/rfc822" or leaf.encoding in _IDENTITY
        if leaf.end - leaf.start > STREAM_OVER and preview != "text" and (
                identity or leaf.encoding == "BASE64"):
            return PartData(name, ctype, b"", preview,
                            self._chunks(rec, leaf, base64_body=not identity))
        raw = await self._messages.read_slice(rec, len(rec.prefix) + leaf.start,
                                              len(rec.prefix) + leaf.end)
        data = raw if leaf.ctype == "message/rfc822" else decode_body(raw, leaf.encoding)
        if preview == "text":
            data = to_text(data, leaf.charset).encode("utf-8")
        return PartData(name, ctype, data, preview)

    async def _chunks(self, rec: MessageRec, leaf: Leaf, base64_body: bool,
                      ) -> AsyncIterator[bytes]:
        """A large part read ``RAW_CHUNK`` octets at a time and decoded on the way (base64
        in whole 4-character groups, RFC 2045 §6.8, characters outside the alphabet
        ignored), so a download never holds the whole attachment in memory."""
        start, end = len(rec.prefix) + leaf.start, len(rec.prefix) + leaf.end
        carry = b""
        for pos in range(start, end, RAW_CHUNK):
            raw = await self._messages.read_slice(rec, pos, min(end, pos + RAW_CHUNK))
            if not base64_body:
                yield raw
                continue
            clean = carry + _NOT_BASE64.sub(b"", raw)
            whole = len(clean) - len(clean) % 4
            carry = clean[whole:]
            if whole:
                yield _b64(clean[:whole])
        if carry:
            yield _b64(carry + b"=" * (-len(carry) % 4))

    async def raw(self, principal: Principal, folder_id: int, uid: int,
                  ) -> tuple[int, AsyncIterator[bytes]]:
        """The message as stored (prefix and blob), in chunks: its size and the chunks."""
        _, rec = await self._open(principal, folder_id, uid)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, rec.size, RAW_CHUNK):
                yield await self._messages.read_slice(rec, start,
                                                      min(rec.size, start + RAW_CHUNK))
        return rec.size, chunks()

    # -- remote images ------------------------------------------------------------------------
    async def allow_sender_images(self, principal: Principal, folder_id: int, uid: int,
                                  ) -> str:
        """Always show remote images from this message's sender (its From address); the
        address. POLICY when the server never shows them, INVALID without a sender."""
        _, rec = await self._open(principal, folder_id, uid)
        env = _meta.decode(rec.meta).get("env") or [None] * 10
        senders = _people(env[2], 1)
        if not senders:
            raise MailError(Kind.INVALID, "this message has no sender to trust")
        await self._prefs.allow_images_from(principal, senders[0].address)
        return senders[0].address


# -- helpers ----------------------------------------------------------------------------------
def _b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:  # broken padding in the middle: what can be read of it
        return base64.b64decode(data + b"===")


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text[:limit], True) if len(text) > limit else (text, False)


def _people(addrs: list[list[str | None]] | None, limit: int) -> tuple[Person, ...]:
    """ENVELOPE addresses (RFC 9051 §7.5.2) as people, group markers skipped, names decoded."""
    out: list[Person] = []
    for addr in addrs or []:
        if len(out) >= limit:
            break
        if not isinstance(addr, list) or len(addr) < 4 or addr[2] is None or addr[3] is None:
            continue  # a group's start or end marker
        address = display_text(f"{addr[2]}@{addr[3]}", 320).replace(" ", "")
        out.append(Person(display_text(addr[0], 200), address))
    return tuple(out)


def _when(raw: str | None, internal: int, zone: str) -> tuple[str, str]:
    """The Date field (RFC 5322 §3.3) in the user's zone; the arrival time when it is missing
    or unreadable."""
    when: dt.datetime | None = None
    if raw:
        try:
            when = email.utils.parsedate_to_datetime(raw[:200])
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
    if when is None:
        when = dt.datetime.fromtimestamp(internal, dt.UTC)
    elif when.tzinfo is None:  # "-0000": the time is UTC, the zone unknown (RFC 5322 §3.3)
        when = when.replace(tzinfo=dt.UTC)
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    try:
        local = when.astimezone(tz)
    except (OverflowError, ValueError):
        local = dt.datetime.fromtimestamp(internal, dt.UTC)
    return local.strftime("%a, %d %b %Y %H:%M %Z").strip(), local.isoformat()


def badge(prefix: bytes, hostname: str) -> AuthBadge:
    """The verdict of our own Authentication-Results fields (RFC 8601) in a delivery prefix:
    DMARC's result when there is one (pass or fail), else pass when DKIM or SPF passed and
    fail when one failed; "none" without a field of ours."""
    ours = hostname.lower().rstrip(".")
    results: list[tuple[str, str]] = []
    for name, value in parse_headers(bytes(prefix)):
        if name != "authentication-results" or \
                authserv_id_of(value.encode()) != ours:
            continue
        body = value.split(";", 1)[1] if ";" in value else ""
        while True:
            stripped = _COMMENT.sub(" ", body)
            if stripped == body:
                break
            body = stripped
        results += [(m.group(1).lower(), m.group(2).lower()) for m in _METHOD.finditer(body)]
    found = dict(results)
    verdict = "none"
    if found.get("dmarc") in ("pass", "fail"):
        verdict = found["dmarc"]
    elif "pass" in (found.get("dkim"), found.get("spf")):
        verdict = "pass"
    elif "fail" in (found.get("dkim"), found.get("spf"), found.get("dmarc")):
        verdict = "fail"
    return AuthBadge(verdict, tuple(f"{k}={v}" for k, v in results))


def _attachment(leaf: Leaf) -> Attachment:
    return Attachment(leaf.path, leaf.filename, leaf.ctype, leaf.size,
                      PREVIEWS.get(leaf.ctype, ""), leaf.content_id)
