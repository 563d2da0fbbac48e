"""A folder's message list for webmail: sorted pages, threads, search, and the actions on the
selected messages.

Everything goes through the same services and gate as IMAP: a folder is opened by id like
SELECT opens it by name (``FolderTree.open``, so an invisible folder is NOT_FOUND exactly like
a missing one), pages are cut from the store's stored sort keys (``messages.sorted_uids``, what
IMAP SORT uses, RFC 5256 §3), and only the page's rows are read, so a 100,000-message folder
lists as fast as a small one. Search uses the store's text index and search rows (what IMAP
SEARCH uses); conversations use RFC 5256 §4 REFERENCES threading (mime/threads.py). Actions
are IMAP's STORE, COPY/MOVE and EXPUNGE through ``MessageService``, which checks the rights,
writes durably, and tells the copy listeners (the spam learner learns from moves into and out
of Junk).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core import flags as F
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import MessageRec
from postroom.mime.sortkeys import sent_date
from postroom.mime.text import decode_words
from postroom.mime.threads import Item, Node, thread_references
from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import Folder, FolderTree
from postroom.services.webmail.prefs import Preferences

# The list's sort orders and the RFC 5256 §3 / RFC 5957 keys they use: "date" is the sent
# date (§2.2), "subject" the base subject (§2.1), "from" the display name IMAP SORT=DISPLAY
# orders by (RFC 5957 §3), which is what the list shows.
SORTS = {"date": "DATE", "arrival": "ARRIVAL", "from": "DISPLAYFROM", "subject": "SUBJECT",
         "size": "SIZE"}
ORDERS = ("desc", "asc")
FLAG_FILTERS = ("unseen", "seen", "flagged", "unflagged", "answered")
ACTIONS = ("read", "unread", "flag", "unflag", "delete", "move", "copy", "spam", "ham",
           "expunge")
TERM_MAX = 500  # characters of one search term (the header search box's maxlength)
MAX_UID = 0xFFFFFFFF
BATCH = 1000  # records read per query when many are needed (threads, attachment search)


@dataclass(frozen=True, slots=True)
class Query:
    """What the list shows: a page, an order, conversations or not, and the search."""

    page: int = 1
    size: int = 0  # 0: the user's page size
    sort: str = "date"
    order: str = "desc"
    thread: bool | None = None  # None: as the user's setting (prefs.threads)
    q: str = ""
    sender: str = ""  # ``from``
    to: str = ""
    subject: str = ""
    body: str = ""
    since: dt.date | None = None
    before: dt.date | None = None
    flag: str = ""
    attach: bool = False

    def __post_init__(self) -> None:
        if self.page < 1 or self.size < 0:
            raise MailError(Kind.INVALID, "page and size must be positive numbers")
        if self.sort not in SORTS or self.order not in ORDERS:
            raise MailError(Kind.INVALID, "unknown sort order")
        if self.flag and self.flag not in FLAG_FILTERS:
            raise MailError(Kind.INVALID, "unknown flag filter")
        if any(len(t) > TERM_MAX for t in (self.q, self.sender, self.to, self.subject,
                                              self.body)):
            raise MailError(Kind.INVALID, f"a search term has at most {TERM_MAX} characters")

    @property
    def searching(self) -> bool:
        return bool(self.q or self.sender or self.to or self.subject or self.body or
                    self.since or self.before or self.flag or self.attach)

    def params(self, **changes: object) -> dict[str, str]:
        """The query as URL parameters, without the defaults (for links and the rows URL)."""
        values: dict[str, object] = {
            "page": self.page, "size": self.size, "sort": self.sort, "order": self.order,
            "thread": self.thread, "q": self.q, "from": self.sender, "to": self.to,
            "subject": self.subject, "body": self.body, "since": self.since,
            "before": self.before, "flag": self.flag, "attach": self.attach, **changes}
        defaults: dict[str, object] = {"page": 1, "size": 0, "sort": "date", "order": "desc"}
        out: dict[str, str] = {}
        for key, value in values.items():
            if key == "thread" and value is not None:
                out[key] = "1" if value else "0"  # "0" overrides a setting of conversations
                continue
            if value in (None, "", False) or defaults.get(key) == value:
                continue
            out[key] = "1" if value is True else str(value)
        return out


@dataclass(frozen=True, slots=True)
class Row:
    """One message of the list, from its stored ENVELOPE and body structure."""

    uid: int
    sender: str  # the display name, else the address
    sender_address: str
    subject: str
    date: dt.datetime  # the sent date (RFC 5256 §2.2) in the user's time zone
    size: int
    seen: bool  # the user's own \Seen in shared folders (messages.seen_account)
    flagged: bool
    answered: bool
    draft: bool
    attachment: bool
    depth: int = 0  # in conversations: 0 for a thread's first message
    thread_size: int = 1  # in conversations, on a thread's first row: messages in it


@dataclass(slots=True)
class Listing:
    folder: Folder
    query: Query
    rows: list[Row]
    total: int  # messages (or conversations) that the list or search holds
    page: int
    pages: int
    size: int
    first: int  # 1-based position of the page's first message or conversation (0: none)
    last: int
    threads: bool = False  # conversations shown (the query's choice, else the setting)
    more: bool = False  # the search matched more than search_max_results (newest kept)
    capped: bool = False  # conversations: only the newest thread_max messages were threaded
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class _Meta(msgspec.Struct):
    env: list[Any]
    body: dict[str, Any] = {}
    refs: str | None = None


_decode_meta = msgspec.json.Decoder(_Meta)


def has_attachment(part: dict[str, Any], top: bool = True) -> bool:
    """A part said to be an attachment (RFC 2183 §2.2), or a leaf that is neither text nor a
    container: an image or a document (a message of only a PDF has one too)."""
    disp = part.get("disp")
    if disp and str(disp[0]).lower() == "attachment":
        return True
    children = part.get("c") or []
    if children:
        return any(has_attachment(c, top=False) for c in children)
    mtype = str((part.get("t") or ["text"])[0]).lower()
    return mtype not in ("text", "multipart")


def _address(addrs: list[list[str | None]] | None) -> tuple[str, str]:
    """(what to show, the address) of an ENVELOPE address list's first mailbox."""
    for name, _adl, mailbox, host in addrs or []:
        if mailbox is None or host is None:
            continue
        spec = f"{mailbox}@{host}"
        shown = decode_words(name).strip() if name else ""
        return shown or spec, spec
    return "", ""


class MailLists:
    def __init__(self, ctx: WebmailContext, folders: FolderTree) -> None:
        self._ctx = ctx
        self._folders = folders
        self._messages = ctx.messages
        self._mailboxes = ctx.mailboxes
        self._config = ctx.config
        self._prefs = Preferences(ctx)

    # -- the list ------------------------------------------------------------------------
    async def page_size(self, principal: Principal, query: Query) -> int:
        """The query's size, else the user's, else web.webmail.page_size; at most page_max."""
        size = query.size or (await self._prefs.get(principal)).page_size or \
            self._config.page_size
        return max(1, min(size, self._config.page_max))

    async def listing(self, principal: Principal, folder_id: int, query: Query) -> Listing:
        """One page of the folder as ``query`` asks: NOT_FOUND for a folder the user may not
        see, NO_PERM for one they see but may not open."""
        handle = await self._folders.open(principal, folder_id, Op.SELECT)
        handle.require(Op.READ)
        folder = await self._folders.describe(principal, handle)
        prefs = await self._prefs.get(principal)
        size = await self.page_size(principal, query)
        tz = _zone(prefs.timezone)
        matched: set[int] | None = None
        more = False
        if query.searching:
            matched, more = await self.search(principal, handle, query, tz)
        if query.thread if query.thread is not None else prefs.threads:
            return await self._threads(principal, handle, folder, query, size, tz, matched,
                                       more)
        # The store orders by (key, UID); "desc" reads that order backwards, so that
        # messages with the same key (a bulk import's equal dates) come newest first too.
        criteria = [(SORTS[query.sort], False)]
        if matched is None:
            last = handle.mailbox.uidnext - 1
            ordered = await self._messages.sorted_uids(handle, criteria, 1, last) \
                if last > 0 else []
        elif matched:
            ordered = [u for u in await self._messages.sorted_uids(
                handle, criteria, min(matched), max(matched)) if u in matched]
        else:
            ordered = []
        if query.order == "desc":
            ordered.reverse()
        total = len(ordered)
        page, pages, start = _paging(total, query.page, size)
        wanted = ordered[start:start + size]
        recs = {r.uid: r for r in await self._records(principal, handle, wanted)}
        rows = [_row(recs[u], tz) for u in wanted if u in recs]
        return Listing(folder, query, rows, total, page, pages, size,
                       start + 1 if rows else 0, start + len(rows), False, more)

    async def _threads(self, principal: Principal, handle: MailboxHandle, folder: Folder,
                       query: Query, size: int, tz: dt.tzinfo, matched: set[int] | None,
                       more: bool) -> Listing:
        """Conversations (RFC 5256 §4 REFERENCES) of the newest ``thread_max`` messages (or
        of the search's), ordered by their newest message, paged by conversation."""
        uids = sorted(matched) if matched is not None else await self._messages.uids(handle)
        capped = len(uids) > self._config.thread_max
        uids = uids[-self._config.thread_max:]
        recs: dict[int, MessageRec] = {}
        metas: dict[int, _Meta] = {}
        items: list[Item] = []
        for i in range(0, len(uids), BATCH):
            for rec in await self._records(principal, handle, uids[i:i + BATCH]):
                meta = _decode_meta.decode(rec.meta)
                recs[rec.uid], metas[rec.uid] = rec, meta
                items.append(Item(rec.uid, rec.uid, rec.internal_date, rec.size, meta.env,
                                  meta.refs))
        roots = thread_references(items)

        def newest(node: Node) -> float:
            return max((it.sent for it in _members(node)), default=0.0)
        roots.sort(key=newest, reverse=query.order == "desc")
        total = len(roots)
        page, pages, start = _paging(total, query.page, size)
        rows: list[Row] = []
        for root in roots[start:start + size]:
            members = list(_walk(root, 0))
            for n, (depth, item) in enumerate(members):
                row = _row(recs[item.number], tz, metas[item.number], depth=depth,
                           thread_size=len(members) if n == 0 else 1)
                rows.append(row)
        shown = min(size, max(total - start, 0))
        return Listing(folder, query, rows, total, page, pages, size,
                       start + 1 if shown else 0, start + shown, True, more, capped)

    async def _records(self, principal: Principal, handle: MailboxHandle,
                       uids: Iterable[int]) -> list[MessageRec]:
        wanted = sorted(uids)
        return await self._messages.records(principal, handle, wanted) if wanted else []

    # -- search --------------------------------------------------------------------------
    async def search(self, principal: Principal, handle: MailboxHandle, query: Query,
                     tz: dt.tzinfo) -> tuple[set[int], bool]:
        """UIDs matching every criterion of ``query`` (the newest ``search_max_results``),
        and whether more matched. Text goes through the store's index like IMAP SEARCH TEXT,
        BODY and HEADER: ``q`` looks in the header and the body, ``from``/``to``/``subject``
        in that header field, ``body`` in the text parts; dates are arrival days in the
        user's time zone; flags are the user's own (their \\Seen in shared folders)."""
        found: set[int] | None = None

        def narrow(uids: set[int]) -> None:
            nonlocal found
            found = uids if found is None else found & uids

        if query.q:
            narrow(await self._messages.text_search(handle, ("hdr", "body"), query.q))
        for name, term in (("from", query.sender), ("to", query.to),
                           ("subject", query.subject)):
            if term and found != set():
                narrow(await self._header_search(handle, name, term))
        if query.body and found != set():
            narrow(await self._messages.text_search(handle, ("body",), query.body))
        if query.flag == "unseen" and not (query.since or query.before) and found != set():
            # the store's fast path (the index of unseen messages), not every row's flags
            narrow(set(await self._messages.unseen_uids(principal, handle)))
        elif (query.since or query.before or query.flag) and found != set():
            lo = _midnight(query.since, tz) if query.since else None
            hi = _midnight(query.before, tz) if query.before else None
            test = _flag_test(query.flag)
            narrow({r.uid for r in await self._messages.search_rows(principal, handle)
                    if (lo is None or r.internal_date >= lo) and
                    (hi is None or r.internal_date < hi) and test(r.flags)})
        if query.attach and found != set():
            candidates = sorted(found) if found is not None else \
                await self._messages.uids(handle)
            with_files: set[int] = set()
            for i in range(0, len(candidates), BATCH):
                for rec in await self._records(principal, handle, candidates[i:i + BATCH]):
                    if has_attachment(_decode_meta.decode(rec.meta).body):
                        with_files.add(rec.uid)
            narrow(with_files)
        result = found or set()
        limit = self._config.search_max_results
        if len(result) > limit:
            return set(sorted(result)[-limit:]), True
        return result, False

    async def _header_search(self, handle: MailboxHandle, name: str, term: str) -> set[int]:
        """The index finds messages with ``term`` anywhere in the header; the field itself
        is then checked (IMAP SEARCH HEADER does the same)."""
        candidates = await self._messages.text_search(handle, ("hdr",), term)
        if not candidates:
            return set()
        folded = term.casefold()
        prefix = name + ":"
        out: set[int] = set()
        texts = await self._messages.header_text(handle, sorted(candidates))
        for uid, text in texts.items():
            for line in text.split("\n"):
                if line.lower().startswith(prefix) and folded in line[len(prefix):].casefold():
                    out.add(uid)
                    break
        return out

    # -- actions -------------------------------------------------------------------------
    async def act(self, principal: Principal, folder_id: int, uids: Sequence[int],
                  action: str, target_id: int | None = None) -> int:
        """Do ``action`` to the messages ``uids`` of the folder; the number of messages it
        was done to. UIDs no longer there are skipped (another session expunged them); none
        there at all is NOT_FOUND. A right the user lacks is NO_PERM, as the gate says."""
        if action not in ACTIONS:
            raise MailError(Kind.INVALID, "unknown action")
        handle = await self._folders.open(principal, folder_id, Op.SELECT)
        handle.require(Op.READ)
        wanted = sorted({u for u in uids if 0 < u <= MAX_UID})
        present = [r.uid for r in await self._messages.flags(principal, handle, wanted)] \
            if wanted else []
        if not present:
            raise MailError(Kind.NOT_FOUND, "no such message")
        role = self._own_role(principal, handle)
        if action in ("read", "unread"):
            self._need(handle, Op.SET_SEEN, "mark messages read or unread")
            await self._messages.store_flags(principal, handle, present,
                                             "add" if action == "read" else "remove",
                                             ["\\Seen"])
        elif action in ("flag", "unflag"):
            self._need(handle, Op.SET_OTHER_FLAGS, "flag messages")
            await self._messages.store_flags(principal, handle, present,
                                             "add" if action == "flag" else "remove",
                                             ["\\Flagged"])
        elif action in ("move", "copy"):
            if target_id is None:
                raise MailError(Kind.INVALID, "choose the folder to move or copy to")
            target = await self._folders.open(principal, target_id, Op.APPEND)
            if target.mailbox.id == handle.mailbox.id:
                raise MailError(Kind.INVALID, "the messages are in that folder already")
            await self._transfer(principal, handle, present, target, move=action == "move")
        elif action == "delete":
            if role == "\\Trash":
                await self._expunge(principal, handle, present)
            else:
                trash = await self._folders.by_role(principal, "\\Trash")
                if trash is None:
                    raise MailError(Kind.INVALID, "You have no Trash folder to delete into; "
                                    "create one, or mark a folder as Trash in your mail "
                                    "program.")
                await self._transfer(principal, handle, present, trash, move=True)
        elif action == "expunge":
            await self._expunge(principal, handle, present)
        elif action == "spam":
            junk = await self._folders.by_role(principal, "\\Junk")
            if junk is None:
                raise MailError(Kind.INVALID, "You have no Junk folder to move spam into.")
            if junk.mailbox.id == handle.mailbox.id:
                raise MailError(Kind.INVALID, "the messages are in Junk already")
            await self._transfer(principal, handle, present, junk, move=True)
        else:  # ham: out of one's Junk into one's INBOX
            if role != "\\Junk":
                raise MailError(Kind.INVALID, "only messages in your Junk folder can be "
                                "marked as not spam")
            await self._transfer(principal, handle, present,
                                 await self._folders.inbox(principal), move=True)
        return len(present)

    async def confirm_needed(self, principal: Principal, folder_id: int, action: str,
                             ) -> bool:
        """Whether ``action`` here removes messages for good, so the page asks first:
        deleting in one's Trash, and expunging."""
        if action == "expunge":
            return True
        if action != "delete":
            return False
        handle = await self._folders.open(principal, folder_id, Op.SELECT)
        return self._own_role(principal, handle) == "\\Trash"

    async def emptiable(self, principal: Principal, folder_id: int) -> Folder:
        """The folder, if the user may empty it (their own Trash or Junk, with the expunge
        right); INVALID or NO_PERM otherwise, before the confirmation is even shown."""
        handle = await self._folders.open(principal, folder_id, Op.SELECT)
        if self._own_role(principal, handle) not in ("\\Trash", "\\Junk"):
            raise MailError(Kind.INVALID, "only your Trash and Junk folders can be emptied")
        self._need(handle, Op.EXPUNGE, "delete messages for good")
        return await self._folders.describe(principal, handle)

    async def empty(self, principal: Principal, folder_id: int) -> int:
        """Remove every message of the user's own Trash or Junk for good (needs the expunge
        right, RFC 4314 §4); the number removed. Another folder is INVALID: emptying is
        for the folders whose content is meant to go."""
        handle = await self._folders.open(principal, folder_id, Op.SELECT)
        if self._own_role(principal, handle) not in ("\\Trash", "\\Junk"):
            raise MailError(Kind.INVALID, "only your Trash and Junk folders can be emptied")
        uids = await self._messages.uids(handle)
        if not uids:
            return 0
        return await self._expunge(principal, handle, uids)

    @staticmethod
    def _own_role(principal: Principal, handle: MailboxHandle) -> str:
        """The folder's special use (RFC 6154) when it is one of the user's own folders."""
        rec = handle.mailbox
        if principal.account_id is None or rec.owner_id != principal.account_id:
            return ""
        return rec.special_use

    async def _transfer(self, principal: Principal, source: MailboxHandle,
                        uids: list[int], target: MailboxHandle, *, move: bool) -> None:
        self._need(source, Op.MOVE_FROM if move else Op.COPY_FROM,
                   "move messages out of this folder" if move else "copy these messages")
        name = await self._mailboxes.display(principal, target.mailbox)
        await self._messages.copy(principal, source, uids, name, move=move)

    async def _expunge(self, principal: Principal, handle: MailboxHandle,
                       uids: list[int]) -> int:
        """Delete for good (IMAP STORE +FLAGS \\Deleted then UID EXPUNGE, RFC 4315 §2.1), so
        only these messages go, not others some client marked \\Deleted."""
        self._need(handle, Op.SET_DELETED, "delete messages")
        self._need(handle, Op.EXPUNGE, "delete messages for good")
        await self._messages.store_flags(principal, handle, uids, "add", ["\\Deleted"])
        return len(await self._messages.expunge(handle, uids))

    @staticmethod
    def _need(handle: MailboxHandle, op: Op, what: str) -> None:
        if not handle.allows(op):
            raise MailError(Kind.NO_PERM, f"You may not {what} in this folder.")


def _zone(name: str) -> dt.tzinfo:
    """The user's time zone (prefs validated it when set; one gone from the system since
    reads as UTC rather than an error page)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _paging(total: int, page: int, size: int) -> tuple[int, int, int]:
    """(the page shown, pages, index of its first entry): a page past the end shows the
    last one."""
    pages = max(1, -(-total // size))
    page = min(page, pages)
    return page, pages, (page - 1) * size


def _midnight(day: dt.date, tz: dt.tzinfo) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def _flag_test(name: str) -> Any:
    tests = {"": lambda f: True, "unseen": lambda f: not f & F.SEEN,
             "seen": lambda f: bool(f & F.SEEN), "flagged": lambda f: bool(f & F.FLAGGED),
             "unflagged": lambda f: not f & F.FLAGGED,
             "answered": lambda f: bool(f & F.ANSWERED)}
    return tests[name]


def _members(node: Node) -> Iterable[Item]:
    if node.item is not None:
        yield node.item
    for child in node.children:
        yield from _members(child)


def _walk(node: Node, depth: int) -> Iterable[tuple[int, Item]]:
    """A thread's messages in order, each with its depth (a dummy adds no level)."""
    if node.item is not None:
        yield depth, node.item
        depth += 1
    for child in node.children:
        yield from _walk(child, depth)


def _row(rec: MessageRec, tz: dt.tzinfo, meta: _Meta | None = None, *, depth: int = 0,
         thread_size: int = 1) -> Row:
    meta = meta or _decode_meta.decode(rec.meta)
    env = meta.env
    shown, address = _address(env[2] if len(env) > 2 else None)
    subject = decode_words(env[1] or "").strip() if len(env) > 1 else ""
    when = dt.datetime.fromtimestamp(sent_date(env[0] if env else None, rec.internal_date),
                                     dt.UTC).astimezone(tz)
    return Row(rec.uid, shown, address, subject, when, rec.size, bool(rec.flags & F.SEEN),
               bool(rec.flags & F.FLAGGED), bool(rec.flags & F.ANSWERED),
               bool(rec.flags & F.DRAFT), has_attachment(meta.body), depth, thread_size)
