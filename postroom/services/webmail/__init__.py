"""Webmail's services: what the webmail pages (web/webmail/) call, and nothing else.

Webmail is a front-end like IMAP: it parses requests and renders pages; every decision is
taken here or below, through the access gate (DESIGN.md rule 1). The parts, one module each:

- ``folders``  the folder tree as IMAP LIST shows it to the user (own, Other Users/, Public
               Folders/), with unread counts and special-use roles; create/rename/delete;
- ``lists``    a folder's message list: sorted pages, threads, search, and the actions on
               selected messages (flags, move/copy, delete to Trash, empty, spam/not spam);
- ``reader``   one message taken apart for reading: headers, text, HTML (sanitised by
               mime/html.py), attachments, inline ``cid:`` parts, raw source;
- ``compose``  writing: drafts, replies and forwards, attachments staged on disk, sending
               through the submission service with a copy in Sent;
- ``prefs``    the user's own settings (signature, density, time zone, language), recent
               recipients, senders whose images are allowed;
- ``live``     the change feed, filtered through the gate, as events for one user's pages;
- ``calendar``, ``contacts``  calendars and address books through services/dav/ (the same
               gate and items as CalDAV/CardDAV).

Sharing uses ``AclService`` itself (the same gate and audit trail as IMAP SETACL).
``WebmailContext`` is what each part is built from; ``Webmail`` is what pages receive.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.config_webmail import WebmailConfig
from postroom.directory.service import Directory
from postroom.services.acl import AclService
from postroom.services.dav import Dav
from postroom.services.webmail.calendar import WebCalendar
from postroom.services.webmail.compose import Composer
from postroom.services.webmail.contacts import WebContacts
from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import FolderTree
from postroom.services.webmail.lists import MailLists
from postroom.services.webmail.live import LiveUpdates
from postroom.services.webmail.prefs import Preferences
from postroom.services.webmail.reader import Reader


@dataclass(frozen=True, slots=True)
class Webmail:
    """Everything webmail's pages call (web/webmail/); built once per server."""

    config: WebmailConfig
    folders: FolderTree
    lists: MailLists
    reader: Reader
    compose: Composer
    prefs: Preferences
    live: LiveUpdates
    acl: AclService  # sharing: the same gate and audit trail as IMAP SETACL and WebAdmin
    directory: Directory
    calendar: WebCalendar | None = None  # calendars through services/dav (the CalDAV gate)
    contacts: WebContacts | None = None  # address books through services/dav

    async def close(self) -> None:
        await self.live.close()
        await self.compose.close()


def build_webmail(ctx: WebmailContext, dav: Dav | None = None) -> Webmail:
    """``dav``: groupware's services; without them webmail has no calendar or contacts."""
    prefs = Preferences(ctx)
    folders = FolderTree(ctx)
    return Webmail(ctx.config, folders, MailLists(ctx, folders), Reader(ctx, prefs),
                   Composer(ctx, prefs, folders), prefs, LiveUpdates(ctx, folders), ctx.acl,
                   ctx.directory,
                   WebCalendar(dav, prefs) if dav is not None else None,
                   WebContacts(dav) if dav is not None else None)
