"""Webmail: reading, writing and sharing mail in the browser (docs/webmail.md).

Mounted on the public web listeners (443 and 3000, web/app.py) behind the session layer of
the realm "webmail", under /webmail/. A front-end like IMAP: it reads requests, calls
``services.webmail`` (services/webmail/) with ``user.actor.principal`` and renders pages; it
never touches the store and never tests a right letter (what to *show* may follow the rights
the services report, as IMAP clients do with MYRIGHTS). One module per screen:

- ``shell``     the layout, the folder tree, /webmail/ itself;
- ``lists``     a folder's message list, search, threads, and actions on selected messages;
- ``read``      reading a message: its frame, parts, attachments, images, raw source;
- ``compose``   writing: compose, reply, forward, drafts, uploads, address completion;
- ``manage``    folders (create, rename, move, delete) and the sharing screen;
- ``settings``  the user's settings (signature, density, time zone, language, MultiPOP);
- ``filters``   Sieve: the rules form, out of office, and the user's scripts as text;
- ``live``      the Server-Sent Events stream that keeps open pages current;
- ``calendar``  the calendars (day, week, month, agenda; events, invitations);
- ``contacts``  the address books (list, search, cards, groups).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from postroom.web.webmail import (
    calendar,
    compose,
    contacts,
    filters,
    lists,
    live,
    manage,
    read,
    settings,
    shell,
)

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

PREFIX = "/webmail"
UPLOAD_PREFIX = compose.UPLOAD_PREFIX  # the one path with a larger body limit (web/guard.py)


def routes(services: WebServices, web: WebSettings) -> list[BaseRoute]:
    wm = services.webmail
    assert wm is not None
    return [*shell.routes(wm, services, web), *lists.routes(wm, services, web),
            *read.routes(wm, services, web), *compose.routes(wm, services, web),
            *manage.routes(wm, services, web), *settings.routes(wm, services, web),
            *live.routes(wm, services, web), *calendar.routes(wm, services, web),
            *contacts.routes(wm, services, web), *filters.routes(wm, services, web)]
