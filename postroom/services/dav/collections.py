"""Collections: the homes a viewer sees and the folders in them (issue 24, "Sharing that
clients can see": shared and public folders appear in the viewer's own home)."""

from __future__ import annotations

from postroom.core.principal import Principal
from postroom.services.dav.context import DavContext
from postroom.services.dav.model import Collection


class Collections:
    def __init__(self, ctx: DavContext) -> None:
        self._ctx = ctx

    async def home(self, principal: Principal, family: str) -> list[Collection]:
        """Every collection of ``family`` ("calendars", "addressbooks") the principal may see:
        own (the defaults created on first use), shared with them, public; plus the global
        address list in "addressbooks". Sorted own first, then by name."""
        raise NotImplementedError

    async def get(self, principal: Principal, family: str, segment: str) -> Collection:
        """One collection of the principal's home by URL segment; MailError NOT_FOUND (the
        gate's own error) when missing or invisible."""
        raise NotImplementedError

    async def create(self, principal: Principal, family: str, segment: str, kind: str,
                     props: dict[str, str]) -> Collection:
        """MKCALENDAR / extended MKCOL (RFC 4791 §5.3.1, RFC 5689) in the principal's home."""
        raise NotImplementedError

    async def delete(self, principal: Principal, collection: Collection) -> None:
        raise NotImplementedError

    async def set_props(self, principal: Principal, collection: Collection,
                        changes: dict[str, str | None]) -> Collection:
        """PROPPATCH (RFC 4918 §9.2): set (value) or remove (None), all or nothing; needs
        write-properties (access/dav.py)."""
        raise NotImplementedError
