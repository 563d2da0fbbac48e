"""Writing mail in webmail: compose sessions, replies and forwards, drafts, uploads, sending.

A message being written is a *compose session* (services/webmail/compose_staging.py): a
random ``cid`` bound to the account, with what the form held last and the attachments staged
on disk. Every step goes through the same services as the other doors:

- originals (reply, forward, a draft to continue) are read through the gate:
  ``FolderTree.open(…, Op.READ)`` and ``MessageService.content``; a message the user may not
  read is NOT_FOUND, the same as one that does not exist (specs.md §2, "Visibility");
- drafts go to the user's ``\\Drafts`` folder (RFC 6154) with ``\\Draft`` through
  ``MessageService.append_prepared`` (fsynced before it returns), and the previous version is
  flagged ``\\Deleted`` and expunged, so Drafts holds one copy of each message being written;
- sending builds the message (compose_mime.py) and hands it to
  ``SubmissionService.submit`` with a ``Client`` on the channel "webmail" carrying the
  authenticated principal: the same sender rules (services/senders.py; checked here first
  too, for a clear answer), recipient routing, size limit, pipeline checks and transforms
  (DKIM signing) as SMTP submission. A refusal is the service's ``MailError``, and the page
  keeps everything typed (the session is saved before sending is tried);
- after acceptance: a copy in ``\\Sent`` with ``\\Seen`` (with its Bcc field, which the
  recipients' copy never has: RFC 5322 §3.6.3), the draft removed, the recipients remembered
  for completion, ``\\Answered`` on a replied original and ``$Forwarded`` (RFC 5550 §5.9) on a
  forwarded one where the gate lets the user set flags there.

Staged sessions are removed after send and discard, and by a janitor (started with the first
session, stopped by ``close``) once untouched for ``web.webmail.upload_keep_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, getaddresses

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.mime import richtext
from postroom.services.pipeline import Client
from postroom.services.submission import received_header
from postroom.services.webmail import compose_mime as cm
from postroom.services.webmail.compose_shared import SharedStaging
from postroom.services.webmail.compose_staging import Fields, Staged, Staging, State
from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import FolderTree
from postroom.services.webmail.prefs import Preferences
from postroom.store.repo.compose import ComposeRepo

log = logging.getLogger("postroom.webmail.compose")

UPLOAD_DIR = "webmail-uploads"
UPLOAD_CACHE_DIR = "webmail-uploads-cache"  # cluster mode: this node's copies only
SIG_SEPARATOR = "-- "  # RFC 3676 §4.3
DRAFT_FLAGS = ("\\Draft", "\\Seen")
ORIGIN_REPLY = "X-Postroom-Reply"  # a draft's own fields: which original it answers
ORIGIN_FORWARD = "X-Postroom-Forward"
TYPED = {"to": "X-Postroom-Typed-To", "cc": "X-Postroom-Typed-Cc",
         "bcc": "X-Postroom-Typed-Bcc"}  # what a draft held that is not (yet) an address
PRIVATE_FIELDS = (ORIGIN_REPLY, ORIGIN_FORWARD, *TYPED.values())
PART_OVERHEAD = 400  # octets of MIME headers and boundary around each attachment


class UploadTooLarge(MailError):
    """An attachment past ``max_upload_size`` (the page answers 413, not 409)."""

    def __init__(self, limit: int) -> None:
        super().__init__(Kind.LIMIT, f"an attachment may be at most {_size(limit)}")


@dataclass(frozen=True, slots=True)
class Identity:
    """An address the user may send as, with the name shown with it."""

    address: str
    name: str


@dataclass(frozen=True, slots=True)
class ComposeView:
    """What the compose page shows."""

    cid: str
    fields: Fields
    attachments: list[Staged]
    identities: list[Identity]
    kind: str  # "new", "reply" or "forward"
    draft_saved: bool
    estimated_size: int  # of the message as it would be sent now
    max_message_size: int


@dataclass(frozen=True, slots=True)
class SavedDraft:
    folder_id: int
    uid: int
    at: float


@dataclass(frozen=True, slots=True)
class SendResult:
    recipients: int
    warning: str  # "" or what went wrong after the message was accepted (the Sent copy)


def encoded_size(octets: int) -> int:
    """Octets of ``octets`` as a base64 attachment (RFC 2045 §6.8: 76-character lines)."""
    chars = (octets + 2) // 3 * 4
    return chars + chars // 76 * 2 + PART_OVERHEAD


def _size(octets: int) -> str:
    if octets >= 1 << 20:
        return f"{octets / (1 << 20):.1f} MB"
    if octets >= 1 << 10:
        return f"{octets / (1 << 10):.0f} KB"
    return f"{octets} bytes"


def _account(principal: Principal) -> int:
    if principal.account_id is None or principal.address is None:
        raise MailError(Kind.NO_PERM, "only accounts can write mail here")
    return principal.account_id


class Composer:
    def __init__(self, ctx: WebmailContext, prefs: Preferences, folders: FolderTree) -> None:
        self._ctx = ctx
        self._prefs = prefs
        self._folders = folders
        self._config = ctx.config
        self.staging = Staging(ctx.data_path / UPLOAD_DIR, ctx.config.upload_keep_seconds,
                               ctx.config.compose_sessions)
        if ctx.shared_compose:  # a cluster: every node sees every compose session
            self.staging = SharedStaging(ctx.data_path / UPLOAD_CACHE_DIR,
                                         ctx.config.upload_keep_seconds,
                                         ctx.config.compose_sessions,
                                         ComposeRepo(ctx.store.engine))
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = \
            weakref.WeakValueDictionary()
        self._janitor: asyncio.Task[None] | None = None
        # octets of uploads still arriving, per account and per compose session: counted
        # against web.webmail.max_staged_size and the message size as they arrive, so
        # uploads running at once cannot each pass a check made before the others wrote
        self._arriving: dict[int, int] = {}
        self._arriving_cid: dict[tuple[int, str], int] = {}

    async def close(self) -> None:
        """Stop background work (the cleaner of stale uploads)."""
        task, self._janitor = self._janitor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- background -------------------------------------------------------------------------
    def _start_janitor(self) -> None:
        if self._janitor is None or self._janitor.done():
            self._janitor = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        interval = max(30.0, min(3600.0, self._config.upload_keep_seconds / 4))
        while True:
            try:
                removed = await asyncio.to_thread(self.staging.sweep)
                if removed:
                    log.info("removed %d stale compose sessions", removed)
            except OSError:
                log.exception("sweeping staged uploads failed")
            await asyncio.sleep(interval)

    def _lock(self, account: int, cid: str) -> asyncio.Lock:
        key = f"{account}/{cid}"
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    # -- who the user may be ----------------------------------------------------------------
    async def identities(self, principal: Principal) -> list[Identity]:
        """The From addresses offered: one's own, aliases of one's domain that reach one, and
        addresses granted with send-as (an ``@domain`` grant has no single address to offer;
        the service still accepts any address it covers)."""
        account = _account(principal)
        directory = self._ctx.store.directory
        rec = await directory.account_by_id(account)
        if rec is None:
            raise MailError(Kind.NO_PERM, "only accounts can write mail here")
        own = rec.address.lower()
        out = [Identity(own, rec.display_name)]
        domain = own.rpartition("@")[2]
        for alias in await directory.list_aliases(domain):
            if own in (t.lower() for t in alias.targets):
                out.append(Identity(alias.address.lower(), rec.display_name))
        for grant in await directory.send_as(account):
            if not grant.startswith("@"):
                out.append(Identity(grant.lower(), ""))
        unique: dict[str, Identity] = {}
        for ident in out:
            unique.setdefault(ident.address, ident)
        return list(unique.values())

    async def _sender(self, principal: Principal, fields: Fields) -> cm.Person:
        address = fields.identity.strip().lower() or (principal.address or "")
        cm.check_address(address)
        if not await self._ctx.senders.may_use(principal, address):
            raise MailError(Kind.NO_PERM, f"You may not send as <{address}>; choose one of "
                            "your own addresses")
        return cm.Person(cm.one_line(fields.from_name, 200), address)

    # -- opening a message to write ---------------------------------------------------------
    async def _original(self, principal: Principal, ref: tuple[int, int],
                        ) -> tuple[MailboxHandle, cm.Original]:
        folder_id, uid = ref
        try:
            handle = await self._folders.open(principal, folder_id, Op.READ)
            raw = await self._ctx.messages.content(handle, uid)
        except MailError as exc:
            if exc.kind in (Kind.NOT_FOUND, Kind.NO_PERM):
                raise MailError(Kind.NOT_FOUND, "no such message") from None
            raise
        return handle, await asyncio.to_thread(cm.Original, raw, self._config.max_html_size)

    async def start(self, principal: Principal, *, to: str = "",
                    reply: tuple[int, int] | None = None, reply_all: bool = False,
                    forward: tuple[int, int] | None = None, forward_attach: bool = False,
                    draft: tuple[int, int] | None = None) -> str:
        """A new compose session, prefilled; returns its cid."""
        account = _account(principal)
        prefs = await self._prefs.get(principal)
        idents = await self.identities(principal)
        chosen = next((i for i in idents if i.address == prefs.identity), idents[0])
        fields = Fields(identity=chosen.address, from_name=chosen.name or idents[0].name,
                        rich=prefs.rich_text)
        state = State(fields=fields)
        parts: list[cm.OriginalPart] = []
        signature = prefs.signature.strip("\n")
        if draft is not None:
            parts = await self._from_draft(principal, draft, state)
        elif reply is not None:
            await self._reply(principal, reply, reply_all, state, idents, signature)
        elif forward is not None:
            parts = await self._forward(principal, forward, forward_attach, state, signature)
        else:
            fields.to = cm.one_line(to, 2000)
            fields.body = self._with_signature("", signature, fields.rich)
        self._start_janitor()
        cid = await asyncio.to_thread(self.staging.create, account, state)
        for part in parts[:self._config.max_attachments]:
            await asyncio.to_thread(self.staging.add_bytes, account, cid, part.name,
                                    part.content_type, part.data)
        return cid

    @staticmethod
    def _with_signature(body: str, signature: str, rich: bool) -> str:
        """``body`` then the signature under its separator (RFC 3676 §4.3)."""
        if not signature:
            return body
        if rich:
            return body + "<p><br></p><div>" + richtext.text_to_html(
                f"{SIG_SEPARATOR}\n{signature}") + "</div>"
        return f"{body}\n\n{SIG_SEPARATOR}\n{signature}\n"

    async def _reply(self, principal: Principal, ref: tuple[int, int], reply_all: bool,
                     state: State, idents: list[Identity], signature: str) -> None:
        _, original = await self._original(principal, ref)
        own = {i.address for i in idents}
        author = original.people("From")
        if author and author[0].address.lower() in own:  # answering one's own message
            to = original.people("To")
        else:
            to = original.people("Reply-To") or author  # RFC 5322 §3.6.3
        cc: list[cm.Person] = []
        if reply_all:
            cc = original.people("To", "Cc")
        seen = set(own)
        kept_to = _new_people(to, seen) or to[:1]
        seen |= {p.address.lower() for p in kept_to}
        kept_cc = _new_people(cc, seen)
        fields = state.fields
        fields.to = ", ".join(p.shown() for p in kept_to)
        fields.cc = ", ".join(p.shown() for p in kept_cc)
        fields.subject = cm.reply_subject(original.subject)
        if fields.rich:
            quoted = await asyncio.to_thread(cm.quote_html, original)  # parsing: off the loop
            fields.body = self._with_signature("<p><br></p>" + quoted,
                                               signature, True)
        else:
            quoted = await asyncio.to_thread(cm.quote_plain, original)
            fields.body = self._with_signature("\n\n" + quoted.rstrip("\n"),
                                               signature, False)
        state.in_reply_to = original.message_id
        state.references = cm.references_for(original.header("References"),
                                              original.header("In-Reply-To"),
                                              original.message_id)
        state.reply_to = ref
        self._identity_from(original, idents, state)

    @staticmethod
    def _identity_from(original: cm.Original, idents: list[Identity], state: State) -> None:
        """Answer from the address the original was sent to, when it is one of the user's."""
        addressed = {p.address.lower() for p in original.people("To", "Cc", "Delivered-To")}
        for ident in idents:
            if ident.address in addressed:
                state.fields.identity = ident.address
                return

    async def _forward(self, principal: Principal, ref: tuple[int, int], as_attachment: bool,
                       state: State, signature: str) -> list[cm.OriginalPart]:
        _, original = await self._original(principal, ref)
        fields = state.fields
        fields.subject = cm.forward_subject(original.subject)
        state.forward_of = ref
        if as_attachment:  # RFC 2046 §5.2.1
            name = cm.safe_name((original.subject or "message")[:80]) + ".eml"
            fields.body = self._with_signature("", signature, fields.rich)
            return [cm.OriginalPart(name, "message/rfc822", original.raw)]
        if fields.rich:
            quoted = await asyncio.to_thread(cm.forward_html, original)
            fields.body = self._with_signature("<p><br></p>" + quoted,
                                               signature, True)
        else:
            quoted = await asyncio.to_thread(cm.forward_plain, original)
            fields.body = self._with_signature("\n\n" + quoted.rstrip("\n"), signature, False)
        return original.attachments()

    async def _from_draft(self, principal: Principal, ref: tuple[int, int],
                          state: State) -> list[cm.OriginalPart]:
        handle, original = await self._original(principal, ref)
        fields = state.fields
        sender = original.people("From")
        if sender:
            fields.identity = sender[0].address.lower()
            fields.from_name = sender[0].name
        for name in ("to", "cc", "bcc"):
            typed = original.header(TYPED[name])
            shown = ", ".join(p.shown() for p in original.people(name.capitalize()))
            setattr(fields, name, typed or shown)
        fields.subject = original.subject
        rich = await asyncio.to_thread(original.html)  # sanitising: off the event loop
        fields.rich = rich is not None
        fields.body = rich if rich is not None else await asyncio.to_thread(original.text)
        state.in_reply_to = original.header("In-Reply-To")
        state.references = original.header("References")
        state.reply_to = _ref(original.header(ORIGIN_REPLY))
        state.forward_of = _ref(original.header(ORIGIN_FORWARD))
        drafts = await self._folders.by_role(principal, "\\Drafts")
        if drafts is not None and drafts.mailbox.id == handle.mailbox.id:
            state.draft = ref  # saving again replaces it
        return original.attachments()

    # -- the page -----------------------------------------------------------------------------
    async def view(self, principal: Principal, cid: str) -> ComposeView:
        account = _account(principal)
        state = await asyncio.to_thread(self.staging.load, account, cid)
        staged = await asyncio.to_thread(self.staging.attachments, account, cid)
        kind = "reply" if state.reply_to else "forward" if state.forward_of else "new"
        return ComposeView(cid, state.fields, staged, await self.identities(principal), kind,
                           state.draft is not None, self._estimate(state.fields, staged),
                           self._ctx.max_message_size)

    @staticmethod
    def _estimate(fields: Fields, staged: list[Staged]) -> int:
        text = len(fields.body.encode("utf-8", "replace"))
        body = text * 2 + 2048 if fields.rich else text + text // 8 + 1024
        return body + sum(encoded_size(s.size) for s in staged)

    def _check_text(self, fields: Fields) -> None:
        longest = max(len(fields.body), len(fields.to), len(fields.cc), len(fields.bcc))
        if longest > self._config.max_text_size:
            raise MailError(Kind.LIMIT, "the message text is longer than "
                            f"{self._config.max_text_size} characters")

    async def update(self, principal: Principal, cid: str, fields: Fields,
                     remove: list[str] | None = None) -> None:
        """Keep what the form holds (and drop attachments named in ``remove``) without
        saving a draft: the step before re-showing the page."""
        account = _account(principal)
        self._check_text(fields)
        async with self._lock(account, cid):
            state = await asyncio.to_thread(self.staging.load, account, cid)
            state.fields = fields
            await asyncio.to_thread(self.staging.save, account, cid, state)
            for aid in remove or []:
                await asyncio.to_thread(self.staging.drop_part, account, cid, aid)

    async def remove_attachment(self, principal: Principal, cid: str, aid: str) -> None:
        account = _account(principal)
        async with self._lock(account, cid):
            if not await asyncio.to_thread(self.staging.drop_part, account, cid, aid):
                raise MailError(Kind.NOT_FOUND, "no such attachment")

    # -- uploads ------------------------------------------------------------------------------
    async def upload(self, principal: Principal, cid: str, name: str, content_type: str,
                     chunks: AsyncIterator[bytes]) -> Staged:
        """Stream one attachment to disk, chunk by chunk. Past ``max_upload_size`` it is
        ``UploadTooLarge``; past ``max_attachments``, or when the message could no longer be
        sent (its estimated size past ``limits.max_message_size``), LIMIT."""
        account = _account(principal)
        name, content_type = cm.safe_name(name), cm.safe_type(content_type)
        limit = self._config.max_upload_size
        async with self._lock(account, cid):
            staged = await asyncio.to_thread(self.staging.attachments, account, cid)
            pending = await asyncio.to_thread(self.staging.pending, account, cid)
            if max(len(staged), pending) >= self._config.max_attachments:
                raise MailError(Kind.LIMIT, "a message may have at most "
                                f"{self._config.max_attachments} attachments")
            aid, part = await asyncio.to_thread(self.staging.new_part, account, cid)
            state = await asyncio.to_thread(self.staging.load, account, cid)
            base = self._estimate(state.fields, staged)  # the message without this upload
            used = await asyncio.to_thread(self.staging.usage, account)
        key = (account, cid)
        size = counted = 0
        try:
            out = await asyncio.to_thread(open, part, "wb")
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise UploadTooLarge(limit)
                    self._arrive(account, key, len(chunk))
                    counted += len(chunk)
                    self._check_room(name, base, used, account, key)
                    await asyncio.to_thread(out.write, chunk)
            finally:
                await asyncio.to_thread(out.close)
            state = await asyncio.to_thread(self.staging.load, account, cid)
            staged = await asyncio.to_thread(self.staging.attachments, account, cid)
            total = self._estimate(state.fields, staged) + encoded_size(size)
            if total > self._ctx.max_message_size:
                raise self._too_big(name, total)
        except BaseException:
            await asyncio.to_thread(self.staging.discard_part, part)
            raise
        finally:
            self._arrive(account, key, -counted)
        return await asyncio.to_thread(self.staging.finish_part, account, cid, aid, name,
                                       content_type, size)

    def _arrive(self, account: int, key: tuple[int, str], octets: int) -> None:
        """Count ``octets`` more (or fewer) of uploads in progress."""
        self._arriving[account] = self._arriving.get(account, 0) + octets
        self._arriving_cid[key] = self._arriving_cid.get(key, 0) + octets
        if self._arriving[account] <= 0:
            del self._arriving[account]
        if self._arriving_cid[key] <= 0:
            del self._arriving_cid[key]

    def _check_room(self, name: str, base: int, used: int, account: int,
                    key: tuple[int, str]) -> None:
        """LIMIT as soon as what is arriving no longer fits: the account's staging space
        (``max_staged_size``, with what it had on disk when this upload began), or the
        message (``limits.max_message_size``, with every upload to it still arriving)."""
        most = self._config.max_staged_size
        if used + self._arriving.get(account, 0) > most:
            raise MailError(Kind.LIMIT, f"“{name}” does not fit: attachments being written "
                            f"may take at most {_size(most)} in all; send or discard "
                            "other messages first")
        total = base + encoded_size(self._arriving_cid.get(key, 0))
        if total > self._ctx.max_message_size:
            raise self._too_big(name, total)

    def _too_big(self, name: str, total: int) -> MailError:
        return MailError(Kind.LIMIT, f"with “{name}” the message would be about "
                         f"{_size(total)}, more than the {_size(self._ctx.max_message_size)}"
                         " this server accepts; send large files another way")

    # -- drafts -------------------------------------------------------------------------------
    def _body(self, fields: Fields) -> tuple[str, str | None]:
        """(plain text, sanitised HTML or None)."""
        if fields.rich:
            fragment = richtext.sanitize(fields.body)
            return richtext.to_text(fragment), fragment
        return fields.body.replace("\r\n", "\n"), None

    async def save_draft(self, principal: Principal, cid: str, fields: Fields) -> SavedDraft:
        """Save to Drafts (fsynced), replacing the previous version."""
        account = _account(principal)
        self._check_text(fields)
        async with self._lock(account, cid):
            state = await asyncio.to_thread(self.staging.load, account, cid)
            state.fields = fields
            await asyncio.to_thread(self.staging.save, account, cid, state)
            drafts = await self._folders.by_role(principal, "\\Drafts")
            if drafts is None:
                raise MailError(Kind.INVALID, "you have no Drafts folder to save into")
            sender = await self._draft_sender(principal, fields)
            extra: list[tuple[str, str]] = []
            people: dict[str, list[cm.Person]] = {}
            for name in ("to", "cc", "bcc"):
                text = getattr(fields, name)
                try:
                    people[name] = cm.parse_people(text)
                except MailError:  # unfinished: kept as typed, for the next session
                    people[name] = _lenient(text)
                    extra.append((TYPED[name], text))
            if state.reply_to:
                extra.append((ORIGIN_REPLY, f"{state.reply_to[0]}:{state.reply_to[1]}"))
            if state.forward_of:
                extra.append((ORIGIN_FORWARD, f"{state.forward_of[0]}:{state.forward_of[1]}"))
            text, html = await asyncio.to_thread(self._body, fields)
            staged = await asyncio.to_thread(self.staging.attachments, account, cid)
            out = cm.Outgoing(sender, people["to"], people["cc"], people["bcc"],
                              fields.subject, text, html, _attachments(staged),
                              state.in_reply_to, state.references, extra)
            data = await asyncio.to_thread(cm.build, out, self._ctx.hostname, with_bcc=True)
            prepared = await self._ctx.messages.prepare(data, DRAFT_FLAGS)
            result = await self._ctx.messages.append_prepared(principal, drafts, [prepared])
            old = state.draft
            state.draft = (drafts.mailbox.id, result.uids[0])
            await asyncio.to_thread(self.staging.save, account, cid, state)
            if old is not None:
                await self._remove_draft(principal, old)
            return SavedDraft(drafts.mailbox.id, result.uids[0], time.time())

    async def _draft_sender(self, principal: Principal, fields: Fields) -> cm.Person:
        try:
            return await self._sender(principal, fields)
        except MailError:  # a draft is saved whatever From says; sending checks it
            return cm.Person(cm.one_line(fields.from_name, 200), principal.address or "")

    async def _remove_draft(self, principal: Principal, ref: tuple[int, int]) -> None:
        """Flag the old version \\Deleted and expunge it; a version already gone (removed
        over IMAP meanwhile) is no error."""
        try:
            handle = await self._folders.open(principal, ref[0], Op.EXPUNGE)
            await self._ctx.messages.store_flags(principal, handle, [ref[1]], "add",
                                                 ["\\Deleted"])
            await self._ctx.messages.expunge(handle, [ref[1]])
        except MailError as exc:
            log.info("old draft %s not removed: %s", ref, exc.text)

    async def discard(self, principal: Principal, cid: str) -> None:
        """Forget the message: its staged files and its saved draft."""
        account = _account(principal)
        async with self._lock(account, cid):
            state = await asyncio.to_thread(self.staging.load, account, cid)
            if state.draft is not None:
                await self._remove_draft(principal, state.draft)
            await asyncio.to_thread(self.staging.remove, account, cid)

    # -- sending ------------------------------------------------------------------------------
    async def send(self, principal: Principal, cid: str, fields: Fields, peer: str,
                   ) -> SendResult:
        """Send through the submission service, then file the Sent copy. ``peer`` is the
        browser's IP address (for Received and the pipeline, as SMTP records it)."""
        account = _account(principal)
        self._check_text(fields)
        async with self._lock(account, cid):
            # a cluster: the same session sent through two nodes at once goes once
            await asyncio.to_thread(self.staging.claim_send, account, cid)
            try:
                return await self._send(principal, account, cid, fields, peer)
            except BaseException:
                await asyncio.to_thread(self.staging.release_send, account, cid)
                raise

    async def _send(self, principal: Principal, account: int, cid: str, fields: Fields,
                    peer: str) -> SendResult:
        state = await asyncio.to_thread(self.staging.load, account, cid)
        state.fields = fields
        await asyncio.to_thread(self.staging.save, account, cid, state)
        sender = await self._sender(principal, fields)
        to, cc, bcc = (cm.parse_people(fields.to), cm.parse_people(fields.cc),
                       cm.parse_people(fields.bcc))
        everyone: dict[str, cm.Person] = {}
        for person in (*to, *cc, *bcc):
            everyone.setdefault(person.address.lower(), person)
        if not everyone:
            raise MailError(Kind.INVALID, "add at least one recipient")
        if len(everyone) > self._config.max_recipients:
            raise MailError(Kind.LIMIT, "a message may have at most "
                            f"{self._config.max_recipients} recipients")
        text, html = await asyncio.to_thread(self._body, fields)
        staged = await asyncio.to_thread(self.staging.attachments, account, cid)
        out = cm.Outgoing(sender, to, cc, bcc, fields.subject, text, html,
                          _attachments(staged), state.in_reply_to, state.references)
        ident = (f"<{secrets.token_hex(16)}@{self._ctx.hostname}>",
                 format_datetime(datetime.now(UTC)))
        sent_copy, data = await asyncio.to_thread(_both, out, self._ctx.hostname, ident)
        limit = self._ctx.max_message_size
        if len(data) > limit:
            raise MailError(Kind.LIMIT, f"the message is {_size(len(data))}, more than "
                            f"the {_size(limit)} this server accepts: remove an "
                            "attachment or send large files another way")
        client = Client(peer or "local", "webmail", True, principal, False, "webmail")
        received = received_header("webmail", peer or "127.0.0.1", self._ctx.hostname,
                                   "HTTPS", secrets.token_hex(6),
                                   next(iter(everyone)) if len(everyone) == 1 else None)
        await self._ctx.submission.submit(client, sender.address,
                                          [p.address for p in everyone.values()], data,
                                          received)
        # Accepted and queued: from here on nothing may report failure for the message.
        warning = await self._file_sent(principal, sent_copy)
        if state.draft is not None:
            await self._remove_draft(principal, state.draft)
        await self._prefs.remember_recipients(
            principal, [(p.address, p.name) for p in everyone.values()])
        if state.reply_to:
            await self._flag(principal, state.reply_to, "\\Answered")
        if state.forward_of:
            await self._flag(principal, state.forward_of, "$Forwarded")
        await asyncio.to_thread(self.staging.remove, account, cid)
        return SendResult(len(everyone), warning)

    async def _file_sent(self, principal: Principal, data: bytes) -> str:
        sent = await self._folders.by_role(principal, "\\Sent")
        if sent is None:
            return "The message was sent; you have no Sent folder, so no copy was kept."
        try:
            prepared = await self._ctx.messages.prepare(data, ("\\Seen",))
            await self._ctx.messages.append_prepared(principal, sent, [prepared])
        except MailError as exc:
            return f"The message was sent, but its copy could not be kept in Sent: {exc.text}"
        return ""

    async def _flag(self, principal: Principal, ref: tuple[int, int], flag: str) -> None:
        """Mark the original where the user may (the gate decides; STORE keeps what it may
        not set, RFC 4314 §4). The original may be gone by now: nothing to mark then."""
        try:
            handle = await self._folders.open(principal, ref[0], Op.READ)
            if handle.allows(Op.SET_OTHER_FLAGS):
                await self._ctx.messages.store_flags(principal, handle, [ref[1]], "add",
                                                     [flag])
        except MailError as exc:
            log.info("could not mark %s %s: %s", ref, flag, exc.text)

    # -- address completion -------------------------------------------------------------------
    async def complete(self, principal: Principal, query: str) -> list[tuple[str, str]]:
        """Suggestions for ``query``: the user's recent recipients, then accounts, aliases
        and groups of the user's own domain only (never another domain's people)."""
        query = " ".join(query.split()).lower()
        if len(query) < self._config.completion_min_chars or len(query) > 100 or \
                principal.account_id is None or principal.address is None:
            return []
        limit = self._config.completion_results
        found: dict[str, str] = {}
        for address, name in await self._prefs.recent_recipients(principal, query):
            found.setdefault(address.lower(), name)
        directory = self._ctx.store.directory
        domain = principal.address.rpartition("@")[2].lower()
        if len(found) < limit and principal.domain_id is not None:
            accounts, _ = await directory.search_accounts(domain_ids=[principal.domain_id],
                                                          text=query, limit=limit)
            for rec in accounts:
                if rec.state != "disabled" and rec.address.lower().endswith("@" + domain):
                    found.setdefault(rec.address.lower(), rec.display_name)
        if len(found) < limit:
            for alias in await directory.list_aliases(domain):
                if alias.address.lower().startswith(query) and not alias.address.startswith(
                        "@"):
                    found.setdefault(alias.address.lower(), "")
            for group in await directory.list_groups(domain):
                if group.address.lower().startswith(query) or \
                        query in group.display_name.lower():
                    found.setdefault(group.address.lower(), group.display_name)
        return list(found.items())[:limit]


def _new_people(people: list[cm.Person], seen: set[str]) -> list[cm.Person]:
    """``people`` not in ``seen`` (lower-case addresses), each once; ``seen`` grows."""
    out = []
    for person in people:
        key = person.address.lower()
        if key not in seen:
            seen.add(key)
            out.append(person)
    return out


def _ref(value: str) -> tuple[int, int] | None:
    folder, _, uid = value.strip().partition(":")
    if folder.isdigit() and uid.isdigit() and len(folder) < 19 and len(uid) < 11:
        return int(folder), int(uid)
    return None


def _lenient(text: str) -> list[cm.Person]:
    """The entries of an address list that are addresses (for a draft)."""
    out = []
    for name, address in getaddresses([text.replace(";", ",")]):
        try:
            out.append(cm.Person(cm.one_line(name, 200), cm.check_address(address)))
        except MailError:
            continue
    return out


def _attachments(staged: list[Staged]) -> list[cm.Attachment]:
    return [cm.Attachment(s.name, s.content_type, s.path) for s in staged]


def _both(out: cm.Outgoing, hostname: str, ident: tuple[str, str]) -> tuple[bytes, bytes]:
    """(the Sent copy with Bcc, the recipients' copy without): one Message-ID and Date."""
    sent = cm.build(out, hostname, with_bcc=True, message_id=ident[0], date=ident[1])
    if not out.bcc:
        return sent, sent
    return sent, cm.build(out, hostname, with_bcc=False, message_id=ident[0], date=ident[1])


__all__ = ["ComposeView", "Composer", "Fields", "Identity", "SavedDraft", "SendResult",
           "Staged", "UploadTooLarge", "encoded_size"]
