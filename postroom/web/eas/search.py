"""Search (MS-ASCMD §2.2.1.16) and ResolveRecipients (§2.2.1.15).

Search: Store ``GAL`` (the user's domain directory: DisplayName, EmailAddress, FirstName,
LastName, Alias) and Store ``Mailbox`` (FreeText within an And, optionally one
CollectionId; every mail folder the user may read when none), each with Range (default
0-99) and Total, bounded by ``web.eas.max_search_results``. Store Status 2 for a malformed
query, 3 for an unknown store ("server error" is never used for the device's mistakes).
Document library searches are not offered.

ResolveRecipients: each To is matched against the directory (address, or a name prefix):
Status 1 with the recipient(s) (Type 1 = from the GAL), 2 ambiguous with suggestions up to
MaxAmbiguousRecipients, 4 not resolved. Certificates and availability are not offered
(their options are ignored; documented in docs/eas.md).
"""

from __future__ import annotations

from postroom.protocols.eas.element import E, Element
from postroom.services.eas.model import FolderRef
from postroom.web.eas import email as email_class
from postroom.web.eas.common import CommandContext
from postroom.web.eas.sync import parse_options

NS = "Search"
GAL = "GAL"
RR = "ResolveRecipients"
MAX_FREE_TEXT = 256  # characters of one FreeText: a search term, not a document


async def handle(ctx: CommandContext, body: Element | None) -> Element:
    if ctx.command == "ResolveRecipients":
        return await resolve(ctx, body)
    answer = E(NS, "Search")
    store = body.find("Store") if body is not None and body.name == "Search" else None
    if store is None:
        answer.add(NS, "Status", 2)
        return answer
    answer.add(NS, "Status", 1)
    out = answer.add(NS, "Response").add(NS, "Store")
    name = (store.value("Name") or "").lower()
    query = store.find("Query")
    options = store.find("Options")
    lo, hi = _range(options.value("Range") if options is not None else None,
                    ctx.eas.config.max_search_results)
    if name == "gal":
        text = (query.text or "") if query is not None else ""
        people = await ctx.eas.search.gal(ctx.principal, text)
        out.add(NS, "Status", 1)
        shown = people[lo:hi + 1]
        for address, display in shown:
            props = out.add(NS, "Result").add(NS, "Properties")
            props.add(GAL, "DisplayName", display)
            props.add(GAL, "EmailAddress", address)
            props.add(GAL, "Alias", address.partition("@")[0])
            parts = display.split()
            if len(parts) >= 2:
                props.add(GAL, "FirstName", parts[0])
                props.add(GAL, "LastName", " ".join(parts[1:]))
        _tail(out, lo, len(shown), len(people))
        return answer
    if name == "mailbox":
        return await _mailbox(ctx, answer, out, query, options, lo, hi)
    out.add(NS, "Status", 3)
    return answer


def _range(text: str | None, most: int) -> tuple[int, int]:
    lo, _, hi = (text or "0-99").partition("-")
    a = int(lo) if lo.isascii() and lo.isdigit() and len(lo) < 7 else 0
    b = int(hi) if hi.isascii() and hi.isdigit() and len(hi) < 7 else a + 99
    return a, min(max(a, b), a + most - 1)


def _tail(out: Element, lo: int, shown: int, total: int) -> None:
    if not shown:
        out.add(NS, "Result")
    out.add(NS, "Range", f"{lo}-{lo + max(shown, 1) - 1}" if shown else "0-0")
    out.add(NS, "Total", total)


async def _mailbox(ctx: CommandContext, answer: Element, out: Element, query: Element | None,
                   options: Element | None, lo: int, hi: int) -> Element:
    conditions = query.find("And") if query is not None else None
    text = (conditions or query or E(NS, "Query")).value("FreeText")
    if conditions is None or not text or not text.strip() or len(text) > MAX_FREE_TEXT:
        out.add(NS, "Status", 2)  # a mailbox search needs And with FreeText, and a short one
        return answer
    wanted = conditions.value("CollectionId")
    folders = [f for f in await ctx.eas.folders.hierarchy(ctx.principal)
               if f.item_class == "Email" and (wanted is None or f.server_id == wanted)]
    most = ctx.eas.config.max_search_results
    hits = await ctx.eas.search.mailbox(ctx.principal, folders, text.strip(), most)
    sync_options = parse_options(options)
    out.add(NS, "Status", 1)
    shown = 0
    page = hits[lo:hi + 1]
    # rendered per folder in batches by the mail service, not one worker job per result
    by_folder: dict[str, tuple[FolderRef, list[int]]] = {}
    for folder, uid in page:
        by_folder.setdefault(folder.server_id, (folder, []))[1].append(uid)
    rendered: dict[tuple[str, int], Element] = {}
    for folder, uids in by_folder.values():
        found = await email_class.fetch_many(ctx, folder, uids, sync_options)
        rendered.update(((folder.server_id, uid), data) for uid, data in found.items())
    for folder, uid in page:
        data = rendered.get((folder.server_id, uid))
        if data is None:
            continue  # expunged since the index found it
        result = out.add(NS, "Result")
        result.add("AirSync", "Class", "Email")
        result.add(NS, "LongId", email_class.server_id(folder, uid))
        result.add("AirSync", "CollectionId", folder.server_id)
        result.append(E(NS, "Properties", *data.children))
        shown += 1
    _tail(out, lo, shown, len(hits))
    return answer


async def resolve(ctx: CommandContext, body: Element | None) -> Element:
    answer = E(RR, "ResolveRecipients")
    if body is None or body.name != "ResolveRecipients" or not body.findall("To"):
        answer.add(RR, "Status", 5)  # protocol error
        return answer
    options = body.find("Options")
    most = 20
    if options is not None and (options.value("MaxAmbiguousRecipients") or "").isdigit():
        most = max(0, min(int(options.value("MaxAmbiguousRecipients") or 20), 100))
    answer.add(RR, "Status", 1)
    people = await ctx.eas.search.people(ctx.principal)
    for to in body.findall("To")[:100]:
        wanted = (to.text or "").strip()
        response = answer.add(RR, "Response")
        response.add(RR, "To", wanted)
        exact = [p for p in people if p[0].lower() == wanted.lower()]
        matches = exact or await ctx.eas.search.gal(ctx.principal, wanted)
        if not matches:
            response.add(RR, "Status", 4)
            response.add(RR, "RecipientCount", 0)
            continue
        response.add(RR, "Status", 1 if len(matches) == 1 else 2)
        listed = matches[:most] if len(matches) > 1 else matches
        response.add(RR, "RecipientCount", len(listed))
        for address, display in listed:
            rec = response.add(RR, "Recipient")
            rec.add(RR, "Type", 1)
            rec.add(RR, "DisplayName", display)
            rec.add(RR, "EmailAddress", address)
    return answer
