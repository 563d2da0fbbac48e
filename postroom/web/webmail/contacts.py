"""The contacts screens: the address books (own, shared, public, the global address list),
search, groups, one contact, and the form to create or edit one.

A front-end like CardDAV: it reads the request, calls ``WebContacts`` (services/webmail/
contacts.py, through services/dav and the gate) and renders. Books are named by folder id (or
"directory") and cards by resource name, in the query, never in the path, so any name a
CardDAV client chose works. "Write to" opens compose with the address (``/webmail/compose?
to=``); a group's "write to all" with every address of its members.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from postroom.core.errors import Kind, MailError
from postroom.services.webmail import Webmail
from postroom.services.webmail.contacts import DIRECTORY, Contact, WebContacts
from postroom.services.webmail.contacts_vcard import ContactDraft, PostalAddress
from postroom.web.forms import Form, back, read_form, status_of, text
from postroom.web.webmail.shell import page, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

HOME = "/webmail/contacts"
FIELDS = ("name", "emails", "phones", "groups", "note")
MAX_COMPOSE_TO = 2000  # characters: what compose takes from ?to=


def service_of(wm: Webmail, services: WebServices) -> WebContacts | None:
    own = getattr(wm, "contacts", None)
    if isinstance(own, WebContacts):
        return own
    return WebContacts(services.dav) if services.dav is not None else None


def _book(raw: str) -> str:
    if raw == DIRECTORY or (raw.isascii() and raw.isdigit() and 0 < len(raw) < 19):
        return raw
    raise HTTPException(404)


def _item(raw: str) -> str:
    if not raw or len(raw) > 255 or "/" in raw or any(ord(c) < 32 for c in raw):
        raise HTTPException(404)
    return raw


def download_name(name: str, suffix: str) -> str:
    """A file name for a download: the folder's name in safe ASCII (no quotes, no paths)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60]
    return f"{safe or 'export'}.{suffix}"


def card_url(book: str, item: str) -> str:
    return f"{HOME}/card?{urlencode({'book': book, 'item': item})}"


def write_to(addresses: list[str]) -> str:
    """compose with these recipients (as many as fit compose's limit)."""
    joined = ""
    for a in addresses:
        more = f"{joined}, {a}" if joined else a
        if len(more) > MAX_COMPOSE_TO:
            break
        joined = more
    return f"/webmail/compose?{urlencode({'to': joined})}"


def _lines(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in raw.replace("\r", "").split("\n")
                               if v.strip()))


def draft_of(form: Form) -> ContactDraft:
    return ContactDraft(
        name=text(form, "name"), given=text(form, "given"), family=text(form, "family"),
        emails=tuple(e.lower() if e.isascii() else e for e in _lines(form.get("emails"))),
        phones=_lines(form.get("phones")), org=text(form, "org"),
        address=PostalAddress(text(form, "street"), text(form, "city"), text(form, "region"),
                              text(form, "code"), text(form, "country")),
        note=form.get("note").strip(),
        groups=tuple(dict.fromkeys(g.strip() for g in text(form, "groups").split(",")
                                   if g.strip())))


def values_of(draft: ContactDraft) -> dict[str, str]:
    a = draft.address
    return {"name": draft.name, "given": draft.given, "family": draft.family,
            "emails": "\n".join(draft.emails), "phones": "\n".join(draft.phones),
            "org": draft.org, "street": a.street, "city": a.city, "region": a.region,
            "code": a.code, "country": a.country, "note": draft.note,
            "groups": ", ".join(draft.groups)}


def error_map(exc: MailError) -> dict[str, str]:
    head, sep, rest = exc.text.partition(": ")
    if sep and head in FIELDS:
        return {head: rest[:1].upper() + rest[1:]}
    return {"name": exc.text}


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    found = service_of(wm, services)
    if found is None:
        return []
    service: WebContacts = found

    async def index(request: Request) -> Response:
        principal = user_of(request).actor.principal
        query = request.query_params
        books = await service.books(principal)
        chosen = query.get("book", "")
        shown = books if not chosen else [b for b in books if b.id == _book(chosen)]
        if chosen and not shown:
            raise HTTPException(404)
        q = query.get("q", "")[:200]
        group = query.get("group", "")[:200]
        error, status = "", 200
        try:
            everyone = await service.contacts(principal, shown)
        except MailError as exc:
            if exc.kind is not Kind.LIMIT:
                raise
            everyone, error, status = [], exc.text, status_of(exc)
        words = [w.casefold() for w in q.split()][:10]
        rows = [c for c in everyone if (not words or c.matches(words)) and
                (not group or group.casefold() in (g.casefold() for g in c.draft.groups))]
        groups = service.groups(everyone)
        group_mail = write_to([c.draft.emails[0] for c in rows if c.draft.emails]) \
            if group else ""

        def link(**changes: str) -> str:
            params = {"book": chosen, "q": q, "group": group, **changes}
            kept = {k: v for k, v in params.items() if v}
            return f"{HOME}?{urlencode(kept)}" if kept else HOME

        folder_ids = [b.folder_id for b in shown if b.folder_id is not None]
        return await page(request, wm, "webmail/contacts.html", {
            "books": books, "chosen": chosen, "rows": rows, "q": q, "group": group,
            "groups": groups, "link": link, "card_url": card_url, "write_to": write_to,
            "group_mail": group_mail, "error": error, "watched": folder_ids,
            "writable": [b for b in books if b.may_create]}, status=status,
            headers={"Cache-Control": "no-store"})

    async def card(request: Request) -> Response:
        principal = user_of(request).actor.principal
        query = request.query_params
        c = await service.contact(principal, _book(query.get("book", "")),
                                  _item(query.get("item", "")))
        return await page(request, wm, "webmail/contacts_card.html", {
            "c": c, "write_to": write_to, "home": HOME}, headers={"Cache-Control": "no-store"})

    async def form_page(request: Request, values: dict[str, str], contact: Contact | None,
                        book: str, errors: dict[str, str] | None = None,
                        status: int = 200) -> Response:
        principal = user_of(request).actor.principal
        books = [b for b in await service.books(principal) if b.may_create]
        return await page(request, wm, "webmail/contacts_edit.html", {
            "values": values, "c": contact, "book": book, "books": books,
            "errors": errors or {}, "home": HOME, "card_url": card_url},
            status=status, headers={"Cache-Control": "no-store"})

    async def new(request: Request) -> Response:
        raw = request.query_params.get("book", "")
        book = _book(raw) if raw else ""
        values = values_of(ContactDraft(name=""))
        email = request.query_params.get("email", "")[:300]
        if email:
            values["emails"] = email
        return await form_page(request, values, None, book)

    async def edit(request: Request) -> Response:
        principal = user_of(request).actor.principal
        query = request.query_params
        c = await service.contact(principal, _book(query.get("book", "")),
                                  _item(query.get("item", "")))
        errors = {} if c.book.may_write else {
            "name": "This address book is read-only for you: changes cannot be saved."}
        return await form_page(request, values_of(c.draft), c, c.book.id, errors)

    async def save(request: Request) -> Response:
        principal = user_of(request).actor.principal
        form = await read_form(request)
        book = _book(text(form, "book"))
        name = text(form, "item")
        contact = None
        try:
            if name:
                contact = await service.contact(principal, book, _item(name))
            draft = draft_of(form)
            if name:
                await service.save(principal, book, name, text(form, "etag"), draft)
            else:
                name = await service.create(principal, book, draft)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            values = {k: form.get(k) for k in values_of(ContactDraft(name=""))}
            return await form_page(request, values, contact, book, error_map(exc),
                                   status_of(exc))
        return back(card_url(book, name), "Contact saved.")

    async def delete(request: Request) -> Response:
        principal = user_of(request).actor.principal
        form = await read_form(request)
        book, name = _book(text(form, "book")), _item(text(form, "item"))
        try:
            await service.delete(principal, book, name, text(form, "etag"))
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            c = await service.contact(principal, book, name)
            return await form_page(request, values_of(c.draft), c, book,
                                   {"name": exc.text}, status_of(exc))
        return back(f"{HOME}?{urlencode({'book': book})}", "Contact deleted.")

    async def export(request: Request) -> Response:
        """The address book as one .vcf download (RFC 6350 §3.1: cards one after another)."""
        principal = user_of(request).actor.principal
        name, chunks = await service.export(principal,
                                            _book(request.query_params.get("book", "")))
        return StreamingResponse(chunks, media_type="text/vcard; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{download_name(name, "vcf")}"',
            "Cache-Control": "no-store"})

    return [Route(HOME, index, methods=["GET"]),
            Route(HOME + "/export", export, methods=["GET"]),
            Route(HOME + "/card", card, methods=["GET"]),
            Route(HOME + "/new", new, methods=["GET"]),
            Route(HOME + "/edit", edit, methods=["GET"]),
            Route(HOME + "/save", save, methods=["POST"]),
            Route(HOME + "/delete", delete, methods=["POST"])]


__all__ = ["HOME", "card_url", "routes", "write_to"]
