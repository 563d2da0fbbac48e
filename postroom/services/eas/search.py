"""Search (the global address list and the mailbox) and ResolveRecipients for ActiveSync.

The global address list is the user's own domain, exactly as CalDAV/CardDAV's directory
address book and webmail's completion show it (services/dav/collections.py
``directory_people``): active accounts, never another domain's. The mailbox search runs the
store's text index over the folders the user may read, through the gate
(services/messages.py ``text_search``), bounded by ``web.eas.max_search_results``.
"""

from __future__ import annotations

from postroom.access.ops import Op
from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.services.eas.context import EasContext
from postroom.services.eas.model import FolderRef


class Search:
    def __init__(self, ctx: EasContext) -> None:
        self._ctx = ctx

    async def people(self, principal: Principal) -> list[tuple[str, str]]:
        """(address, display name) of the user's domain directory."""
        return await self._ctx.dav.collections.directory_people(principal)

    async def gal(self, principal: Principal, query: str) -> list[tuple[str, str]]:
        """Directory entries whose address or any word of whose name starts with ``query``
        (case-insensitive), in name order: what a phone's "search the directory" expects."""
        q = query.strip().lower()
        if not q:
            return []
        found = []
        for address, name in await self.people(principal):
            words = [w for w in name.lower().replace(",", " ").split() if w]
            if address.lower().startswith(q) or name.lower().startswith(q) or \
                    any(w.startswith(q) for w in words):
                found.append((address, name))
        return sorted(found, key=lambda p: (p[1].lower(), p[0]))

    async def mailbox(self, principal: Principal, folders: list[FolderRef], text: str,
                      most: int) -> list[tuple[FolderRef, int]]:
        """(folder, UID) of messages whose header or body holds ``text``, newest UID first
        per folder, at most ``most``; folders the user cannot read are skipped."""
        out: list[tuple[FolderRef, int]] = []
        for folder in folders:
            try:
                handle = await self._ctx.mailboxes.open_id(principal, folder.mailbox_id,
                                                           folder.name, Op.READ)
                uids = await self._ctx.messages.text_search(handle, ("hdr", "body"), text)
            except MailError:
                continue
            out += [(folder, uid) for uid in sorted(uids, reverse=True)]
            if len(out) >= most:
                break
        return out[:most]
