"""Collections: the homes a viewer sees and the folders in them (issue 24, "Sharing that
clients can see": shared and public folders appear in the viewer's own home).

A collection is a folder of a groupware kind (FAMILY_KINDS). Its URL segment is the name a
client gave it with MKCALENDAR/MKCOL (dav_segments) or else its folder id, so that renaming a
folder over IMAP never changes a client's URL. What a viewer may do with it comes from the
gate's handle (the same effective rights as IMAP MYRIGHTS); a folder they may not LIST does not
appear, and asking for it by segment gets the gate's own NOT_FOUND, the error a missing one
gets.
"""

from __future__ import annotations

import hashlib
import re

from postroom.access.gate import mailbox_missing
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.core.records import MailboxRec
from postroom.services import names
from postroom.services.dav.context import DavContext
from postroom.services.dav.model import FAMILY_KINDS, Collection

SYNC_PREFIX = "http://postroom/ns/sync/"
DISPLAYNAME = "{DAV:}displayname"
# Segments the URL layout gives a meaning of its own (web/dav/__init__.py)
RESERVED_SEGMENTS = frozenset({"inbox", "outbox", "directory"})
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=~-]{0,199}$")
DEFAULT_COMPONENTS: dict[str, tuple[str, ...]] = {
    "calendar": ("VEVENT",), "tasks": ("VTODO",), "notes": ("VJOURNAL",),
    "journal": ("VJOURNAL",)}
COMPONENTS_PROP = "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set"
# Marks the hidden folder that holds a user's scheduling inbox (RFC 6638 §2.2; written by
# services/dav/scheduling.py only): left out of homes, so no client or webmail lists it as
# a calendar, and no PROPPATCH may set or remove it
INBOX_PROP = "{http://postroom/ns/}scheduling-inbox"


def sync_token(mailbox: MailboxRec) -> str:
    """RFC 6578 §3.2 token (also CS:getctag): the folder's UIDVALIDITY and HIGHESTMODSEQ,
    so every change of its items (each bumps the MODSEQ) gives a new one."""
    return f"{SYNC_PREFIX}{mailbox.uidvalidity}-{mailbox.highestmodseq}"


def parse_token(token: str) -> tuple[int, int] | None:
    """(uidvalidity, modseq) of a token this server made, None for anything else."""
    if not token.startswith(SYNC_PREFIX):
        return None
    head, sep, tail = token[len(SYNC_PREFIX):].partition("-")
    if not sep or not head.isdigit() or not tail.isdigit() or len(head) + len(tail) > 40:
        return None
    return int(head), int(tail)


def valid_segment(segment: str) -> bool:
    """A name a client may give a collection: not reserved, and not all digits (those are
    folder ids, the segments of collections that were given no name)."""
    return bool(_SEGMENT.match(segment)) and segment.lower() not in RESERVED_SEGMENTS \
        and not segment.isdigit()


class Collections:
    def __init__(self, ctx: DavContext) -> None:
        self._ctx = ctx
        self._owners: dict[int, str] = {}

    # -- homes -------------------------------------------------------------------------------
    def _defaults(self, family: str) -> list[tuple[str, str]]:
        c = self._ctx.config
        if family == "calendars":
            return [(c.calendar_name, "calendar"), (c.tasks_name, "tasks"),
                    (c.notes_name, "notes")]
        if family == "addressbooks":
            return [(c.contacts_name, "contacts")]
        if family == "files":
            return [(c.documents_name, "documents")]
        return []

    async def ensure_defaults(self, principal: Principal, family: str) -> None:
        """Create the family's default folders once per account (the first time its home is
        asked for); a user who deletes one later keeps it deleted."""
        if principal.account_id is None:
            return
        key = f"dav.defaults.{family}.{principal.account_id}"
        store = self._ctx.store
        if await store.get_setting(key) is not None:
            return
        own = await store.mailboxes.list_owned(principal.account_id)
        taken = {mb.name for mb in own}
        kinds = {mb.kind for mb in own}
        for name, kind in self._defaults(family):
            if kind in kinds or name in taken:
                continue
            try:
                await self._ctx.mailboxes.create(principal, name, kind=kind)
            except MailError as exc:
                if exc.kind is not Kind.EXISTS:  # a concurrent first request made it
                    raise
        await store.set_setting(key, "1")

    async def home(self, principal: Principal, family: str, *,
                   scheduling_inbox: bool = False, directory: bool = True,
                   ) -> list[Collection]:
        """Every collection of ``family`` ("calendars", "addressbooks") the principal may see:
        own (the defaults created on first use), shared with them, public; plus the global
        address list in "addressbooks" (``directory`` False leaves it out: it lists every
        account of the domain). Sorted own first, then by name. The folder of a scheduling
        inbox (INBOX_PROP) is never among them; ``scheduling_inbox`` asks for it alone
        instead (its own folder only, as segment "inbox", virtual "inbox")."""
        kinds = FAMILY_KINDS.get(family)
        if kinds is None:
            raise mailbox_missing(family)
        await self.ensure_defaults(principal, family)
        listed = [item for item in await self._ctx.mailboxes.list(principal, shared=True)
                  if item.mailbox.kind in kinds]
        ids = [item.mailbox.id for item in listed]
        segments = await self._ctx.store.dav.segments(ids) if ids else {}
        props = await self._ctx.store.dav.props(ids) if ids else {}
        out: list[Collection] = []
        for item in listed:
            mb = item.mailbox
            owner = await self._owner(principal, mb)
            p = props.get(mb.id, {})
            if (INBOX_PROP in p) != scheduling_inbox:
                continue
            if scheduling_inbox:
                if mb.owner_id is None or mb.owner_id != principal.account_id:
                    continue
                out.append(Collection(
                    segment="inbox", kind=mb.kind, name=item.name, displayname="Inbox",
                    owner=owner, handle=item.handle, components=("VEVENT", "VTODO"),
                    ctag=sync_token(mb), sync_token=sync_token(mb), virtual="inbox"))
                continue
            # another's folder is known by its id: the segment its owner chose may be one
            # the viewer uses for a folder of their own (URLs are per viewer)
            own = mb.owner_id is not None and mb.owner_id == principal.account_id
            segment = segments.get(mb.id, str(mb.id)) if own else str(mb.id)
            out.append(Collection(
                segment=segment, kind=mb.kind, name=item.name,
                displayname=p.get(DISPLAYNAME) or self._display(principal, mb, owner),
                owner=owner, handle=item.handle, components=_components(mb.kind, p),
                ctag=sync_token(mb), sync_token=sync_token(mb), props=p))
        out.sort(key=lambda c: (c.owner != principal.address, c.owner is None,
                                c.displayname.lower()))
        if family == "addressbooks" and self._ctx.config.directory_address_book \
                and principal.domain_id is not None and not scheduling_inbox and directory:
            out.append(await self._directory(principal))
        return out

    async def _owner(self, principal: Principal, mb: MailboxRec) -> str | None:
        if mb.owner_id is None:
            return None
        if mb.owner_id == principal.account_id and principal.address:
            return principal.address
        known = self._owners.get(mb.owner_id)
        if known is None:
            rec = await self._ctx.store.directory.account_by_id(mb.owner_id)
            known = rec.address if rec else f"#{mb.owner_id}"
            self._owners[mb.owner_id] = known
        return known

    @staticmethod
    def _display(principal: Principal, mb: MailboxRec, owner: str | None) -> str:
        """The name a client shows: the folder's last level; whose it is for a shared one
        ("Calendar (alice@example.test)"), "Public: ..." for a public one."""
        leaf = mb.name.rsplit(names.DELIMITER, 1)[-1]
        if owner is None:
            return f"Public: {leaf}"
        if mb.owner_id != principal.account_id:
            return f"{leaf} ({owner})"
        return leaf

    async def _directory(self, principal: Principal) -> Collection:
        """The global address list: read-only, built from the directory (no folder)."""
        domain = await self._ctx.store.directory.domain_by_id(principal.domain_id or 0)
        stamp = await self.directory_stamp(domain.name if domain else "")
        token = f"{SYNC_PREFIX}0-{stamp}"
        return Collection(segment="directory", kind="contacts",
                          name="directory", displayname="Directory",
                          owner=None, handle=None, ctag=token, sync_token=token,
                          virtual="directory")

    async def directory_cards(self, principal: Principal) -> list[tuple[str, bytes]]:
        """(name, vCard 3.0) of every account and alias of the principal's domain, one card
        each with FN and EMAIL (RFC 2426); what the global address list serves."""
        if principal.domain_id is None:
            return []
        domain = await self._ctx.store.directory.domain_by_id(principal.domain_id)
        if domain is None:
            return []
        out: list[tuple[str, bytes]] = []
        for acc in await self._ctx.store.directory.list_accounts(domain.name):
            if acc.state != "active":
                continue
            out.append(_card(acc.address, acc.display_name or acc.address))
        for alias in await self._ctx.store.directory.list_aliases(domain.name):
            out.append(_card(alias.address, alias.address))
        out.sort()
        return out

    async def directory_people(self, principal: Principal) -> list[tuple[str, str]]:
        """(address, display name) of the active accounts of the principal's domain: whom
        a principal search (RFC 3744 §9.4) may find."""
        if principal.domain_id is None:
            return []
        domain = await self._ctx.store.directory.domain_by_id(principal.domain_id)
        if domain is None:
            return []
        return sorted((a.address, a.display_name or a.address)
                      for a in await self._ctx.store.directory.list_accounts(domain.name)
                      if a.state == "active")

    async def directory_stamp(self, domain: str) -> int:
        """A number that changes when the domain's list changes (its cards' digest)."""
        if not domain:
            return 0
        accounts = await self._ctx.store.directory.list_accounts(domain)
        aliases = await self._ctx.store.directory.list_aliases(domain)
        text = "\n".join(sorted([f"{a.address}\t{a.display_name}\t{a.state}" for a in accounts]
                                + [al.address for al in aliases]))
        return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)

    async def quota(self, principal: Principal) -> tuple[int, int | None]:
        """(used octets, limit or None) of the principal's account (RFC 4331 quota
        properties)."""
        return await self._ctx.mailboxes.quota(principal)

    async def get(self, principal: Principal, family: str, segment: str) -> Collection:
        """One collection of the principal's home by URL segment; MailError NOT_FOUND (the
        gate's own error) when missing or invisible. The global address list is made only
        when it is the one asked for (no folder has its reserved segment): every request to
        an address book would otherwise list and hash the domain's accounts."""
        for coll in await self.home(principal, family, directory=segment == "directory"):
            if coll.segment == segment:
                return coll
        raise mailbox_missing(segment)

    # -- changes -----------------------------------------------------------------------------
    async def create(self, principal: Principal, family: str, segment: str, kind: str,
                     props: dict[str, str]) -> Collection:
        """MKCALENDAR / extended MKCOL (RFC 4791 §5.3.1, RFC 5689) in the principal's home.
        The folder is named after the displayname when one is given and free, else after the
        segment; a top-level folder of one's own namespace (the gate's namespace root rule)."""
        if kind not in FAMILY_KINDS.get(family, frozenset()):
            raise invalid(f"a {family} home holds no {kind} collections")
        if not valid_segment(segment):
            raise MailError(Kind.NO_PERM, "collection names are letters, digits and "
                            ". _ @ + = ~ -, not only digits, and not inbox, outbox or "
                            "directory")
        existing = await self.home(principal, family)
        if any(c.segment == segment for c in existing):
            raise MailError(Kind.EXISTS, f"{segment} already exists")
        if principal.account_id is None:
            raise MailError(Kind.NO_PERM, "only accounts have a home")
        self._ctx.gate.require_namespace_root(principal, principal.account_id,
                                              principal.domain_id)
        taken = {mb.name for mb in await self._ctx.store.mailboxes.list_owned(
            principal.account_id)}
        wanted = (props.get(DISPLAYNAME) or "").strip().replace(names.DELIMITER, " ")[:200]
        name = wanted if wanted and wanted not in taken and _folder_ok(wanted) else segment
        if name in taken:
            raise MailError(Kind.EXISTS, f"a folder named {name} already exists")
        created = await self._ctx.mailboxes.create(principal, name, kind=kind)
        if segment != str(created.id):
            await self._ctx.store.dav.set_segment(created.id, segment)
        if props:
            await self._ctx.store.dav.set_props(created.id, dict(props))
        return await self.get(principal, family, segment)

    async def delete(self, principal: Principal, collection: Collection) -> None:
        """DELETE of a collection (RFC 4918 §9.6.1): the folder goes, with its items, when
        the gate allows Op.DELETE."""
        if collection.handle is None:
            raise MailError(Kind.NO_PERM, "the directory cannot be deleted")
        await self._ctx.mailboxes.delete(principal, collection.handle.name)

    async def set_props(self, principal: Principal, collection: Collection,
                        changes: dict[str, str | None]) -> Collection:
        """PROPPATCH (RFC 4918 §9.2): set (value) or remove (None), all or nothing; needs
        write-properties (access/dav.py: the ``a`` right; the owner holds it always)."""
        if collection.handle is None:
            raise MailError(Kind.NO_PERM, "the directory is read-only")
        if INBOX_PROP in changes:
            raise MailError(Kind.NO_PERM, "the scheduling inbox mark is the server's")
        handle = await self._ctx.mailboxes.open_id(principal, collection.handle.id,
                                                   collection.handle.name, Op.ADMIN)
        await self._ctx.store.dav.set_props(handle.id, changes)
        family = next(f for f, kinds in FAMILY_KINDS.items() if collection.kind in kinds)
        return await self.get(principal, family, collection.segment)


def _folder_ok(name: str) -> bool:
    try:
        names.validate_path(name)
    except MailError:
        return False
    return name.split(names.DELIMITER)[0] not in (names.OTHER_USERS, names.PUBLIC) \
        and name.upper() != "INBOX"


def _components(kind: str, props: dict[str, str]) -> tuple[str, ...]:
    stored = props.get(COMPONENTS_PROP)
    if stored:
        return tuple(c for c in stored.split(",") if c)
    return DEFAULT_COMPONENTS.get(kind, ())


def _escape_vcard(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\n", "\\n").replace("\r", ""))


def _card(address: str, display: str) -> tuple[str, bytes]:
    uid = "urn:uuid:" + _uuidish(address)
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{_escape_vcard(display)}",
             f"N:{_escape_vcard(display)};;;;", f"EMAIL;TYPE=INTERNET:{address}", "END:VCARD", ""]
    return f"{_uuidish(address)}.vcf", "\r\n".join(lines).encode()


def _uuidish(address: str) -> str:
    h = hashlib.sha256(address.lower().encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
