"""DAV's services: what web/dav/ (CalDAV, CardDAV, the WebDAV file area), webmail's calendar
and contacts, the CLI/API import and export and (later) ActiveSync call for groupware.

Groupware lives in the mail store: a calendar, address book, task list, notes folder or
file-area folder is a folder of that kind (mailboxes.kind), with the same ACL and the same
gate; an item is a message in it whose body is the iCalendar object, vCard or file, byte for
byte as the client stored it (the blob), under a small MIME header (the prefix) so that IMAP
shows a well-formed message. store/repo/dav.py indexes items (name, UID, time span, search
text) in ``dav_items``. An edit is insert-new plus delete-old under the gate (Op.ITEM_EDIT),
so sync tokens come from the folder's MODSEQs and deletions from its expunge log.

The parts, one module each:

- ``collections``  the homes (own, shared and public folders a viewer may see, and the
                   global address list), creating and deleting collections, their properties;
- ``items``        get, put (with If-Match/If-None-Match), delete, copy/move, multiget,
                   calendar and card queries (index first, then pim.query), sync-collection,
                   free-busy;
- ``files``        the WebDAV file area (Documents): paths to folders and files;
- ``locks``        WebDAV locks (RFC 4918 §6-7) for the file area;
- ``scheduling``   RFC 6638 inbox/outbox, invitations to local attendees, iMIP (RFC 6047)
                   out through the submission service and in from delivery;
- ``transfer``     import and export of whole .ics/.vcf files (CLI, API, webmail).
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.config_dav import DavConfig
from postroom.services.dav.collections import Collections
from postroom.services.dav.context import DavContext
from postroom.services.dav.files import Files
from postroom.services.dav.items import Items
from postroom.services.dav.locks import Locks
from postroom.services.dav.scheduling import Scheduling
from postroom.services.dav.transfer import Transfer


@dataclass(frozen=True, slots=True)
class Dav:
    """Everything DAV's front-ends call; built once per server."""

    config: DavConfig
    collections: Collections
    items: Items
    files: Files
    locks: Locks
    scheduling: Scheduling
    transfer: Transfer

    async def close(self) -> None:
        return None


def build_dav(ctx: DavContext) -> Dav:
    collections = Collections(ctx)
    items = Items(ctx, collections)
    scheduling = Scheduling(ctx, collections, items)
    items.listeners.append(scheduling)
    locks = Locks(ctx)
    return Dav(ctx.config, collections, items, Files(ctx, items, locks), locks, scheduling,
               Transfer(ctx, collections, items))
