"""Webmail's contacts: the address books a user sees (own, shared, public, and the domain's
global address list) and their cards, through the DAV services.

Every read and write goes through ``services.dav`` (Collections.home "addressbooks",
Items.members/get_many/put/delete), so webmail passes the same gate as CardDAV and stores the
same vCards a CardDAV client reads (RFC 6352 §5.1); contacts_vcard.py makes and reads them.
What a page may offer comes from ``BookRef``'s booleans (from the gate's handle), never from
letters; the services refuse again whatever the page offered.

Search is over the cards of the books shown, in the server (name, organisation, emails,
phones, groups, notes; case-insensitive): an address book is small, at most ``max_results``
cards (web.dav) are read per book, and more is a clear LIMIT error rather than a slow page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from postroom.access.gate import mailbox_missing
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.pim.model import InvalidItem
from postroom.services.dav import Dav
from postroom.services.dav.model import Collection, PreconditionFailed
from postroom.services.webmail.calendar import refusal
from postroom.services.webmail.contacts_vcard import ContactDraft, build, new_name, read, update

DIRECTORY = "directory"  # the book id of the global address list (it has no folder)
CARD_TYPE = "text/vcard; charset=utf-8"


@dataclass(frozen=True, slots=True)
class BookRef:
    """One address book the user sees. ``id``: the folder id as text, or "directory"."""

    id: str
    name: str
    owner: str | None
    own: bool
    folder_id: int | None
    may_write: bool  # change cards (Op.ITEM_EDIT)
    may_delete: bool
    collection: Collection
    may_create: bool = False  # add cards (Op.ITEM_CREATE)


@dataclass(frozen=True, slots=True)
class Contact:
    book: BookRef
    item: str
    etag: str
    draft: ContactDraft
    broken: bool = False  # the stored card could not be read (shown by its resource name)

    @property
    def label(self) -> str:
        d = self.draft
        return (d.name or " ".join(p for p in (d.given, d.family) if p) or d.org
                or (d.emails[0] if d.emails else "") or self.item)

    def matches(self, words: list[str]) -> bool:
        d = self.draft
        hay = "\n".join((d.name, d.given, d.family, d.org, d.note, *d.emails, *d.phones,
                         *d.groups, *d.address.lines())).casefold()
        return all(w in hay for w in words)


def _problem(exc: Exception) -> MailError:
    return refusal(exc, "contact", "address book")


class WebContacts:
    def __init__(self, dav: Dav) -> None:
        self._dav = dav

    async def books(self, principal: Principal) -> list[BookRef]:
        out: list[BookRef] = []
        for coll in await self._dav.collections.home(principal, "addressbooks"):
            h = coll.handle
            if h is None:
                out.append(BookRef(DIRECTORY, coll.displayname, None, False, None, False, False,
                                   coll))
                continue
            out.append(BookRef(
                str(h.id), coll.displayname, coll.owner,
                coll.owner is not None and coll.owner == principal.address, h.id,
                h.allows(Op.ITEM_EDIT), h.allows(Op.ITEM_DELETE), coll,
                h.allows(Op.ITEM_CREATE)))
        return out

    async def book(self, principal: Principal, book_id: str) -> BookRef:
        for b in await self.books(principal):
            if b.id == book_id:
                return b
        raise mailbox_missing(book_id[:30])

    async def contacts(self, principal: Principal, books: list[BookRef], query: str = "",
                       group: str = "") -> list[Contact]:
        """The cards of ``books`` matching every word of ``query`` and in ``group`` (if
        given), sorted by name."""
        words = [w.casefold() for w in query.split()][:10]
        limit = self._dav.config.max_results
        out: list[Contact] = []
        for b in books:
            refs = await self._dav.items.members(principal, b.collection)
            if len(refs) > limit:
                raise MailError(Kind.LIMIT, f"{b.name} holds more than {limit} contacts")
            found = await self._dav.items.get_many(principal, b.collection,
                                                   [r.name for r in refs])
            for name, item in found.items():
                if item is None:
                    continue
                try:
                    c = Contact(b, name, item.ref.etag, read(item.data))
                except MailError:
                    c = Contact(b, name, item.ref.etag, ContactDraft(name=name), broken=True)
                if words and not c.matches(words):
                    continue
                if group and group.casefold() not in (g.casefold() for g in c.draft.groups):
                    continue
                out.append(c)
        out.sort(key=lambda c: (c.label.casefold(), c.book.name))
        return out

    async def export(self, principal: Principal, book_id: str,
                     ) -> tuple[str, AsyncIterator[bytes]]:
        """(book name, the address book as one .vcf in chunks), as the CLI and API give it."""
        b = await self.book(principal, book_id)
        return b.name, self._dav.transfer.export_cards(principal, b.collection)

    @staticmethod
    def groups(contacts: list[Contact]) -> list[str]:
        seen: dict[str, str] = {}
        for c in contacts:
            for g in c.draft.groups:
                seen.setdefault(g.casefold(), g)
        return sorted(seen.values(), key=str.casefold)

    async def contact(self, principal: Principal, book_id: str, name: str) -> Contact:
        b = await self.book(principal, book_id)
        try:
            item = await self._dav.items.get(principal, b.collection, name)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise MailError(Kind.NOT_FOUND, "That contact no longer exists.") from None
            raise
        try:
            return Contact(b, name, item.ref.etag, read(item.data))
        except MailError:
            return Contact(b, name, item.ref.etag, ContactDraft(name=name), broken=True)

    async def create(self, principal: Principal, book_id: str, draft: ContactDraft) -> str:
        b = await self.book(principal, book_id)
        name = new_name()
        await self._put(principal, b, name, build(draft), None, create=True)
        return name

    async def save(self, principal: Principal, book_id: str, name: str, etag: str,
                   draft: ContactDraft) -> None:
        """The edited card over the version the form was drawn from (If-Match)."""
        b = await self.book(principal, book_id)
        item = await self._dav.items.get(principal, b.collection, name)
        await self._put(principal, b, name, update(item.data, draft), etag)

    async def delete(self, principal: Principal, book_id: str, name: str, etag: str) -> None:
        b = await self.book(principal, book_id)
        if b.collection.handle is None:
            raise _problem(MailError(Kind.NO_PERM, "the directory is read-only"))
        try:
            await self._dav.items.delete(principal, b.collection, name, if_match=etag or None)
        except (MailError, PreconditionFailed) as exc:
            if isinstance(exc, MailError) and exc.kind is Kind.NOT_FOUND:
                raise
            raise _problem(exc) from None

    async def _put(self, principal: Principal, book: BookRef, name: str, data: bytes,
                   etag: str | None, *, create: bool = False) -> None:
        if book.collection.handle is None:
            raise _problem(MailError(Kind.NO_PERM, "the directory is read-only"))
        try:
            await self._dav.items.put(principal, book.collection, name, data, CARD_TYPE,
                                      if_match=None if create else (etag or None),
                                      if_none_match=create)
        except (MailError, PreconditionFailed, InvalidItem, ValueError) as exc:
            raise _problem(exc) from None
