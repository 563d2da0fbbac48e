"""Folders: create, rename, delete, list, subscribe, and the default set for new accounts.

Every operation resolves the user-visible name (services.names), then asks the access gate;
nothing here tests a right letter directly. Creation copies the ACL of the nearest existing
parent (specs.md §2.7 rule 4), so later edits of the parent do not reach existing children.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from postroom.access.gate import AccessGate, MailboxHandle, mailbox_missing, permission_denied
from postroom.access.ops import Op
from postroom.access.rights_eval import GROUPWARE_KINDS, candidate_identifiers
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec
from postroom.core.rights import Rights
from postroom.services import names
from postroom.store.sqlstore import SqlStore

FOLDER_KINDS = ("mail", *sorted(GROUPWARE_KINDS))
DEFAULT_FOLDERS: tuple[tuple[str, str], ...] = (
    ("INBOX", ""), ("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"),
    ("Junk", "\\Junk"), ("Archive", "\\Archive"))  # RFC 6154 §2


@dataclass(frozen=True, slots=True)
class Located:
    """A resolved name: who owns the namespace, the mailbox if it exists, and its ACL entries
    when the access decision needs them (read with it: ``AccessGate.decide``)."""

    ref: names.NameRef
    owner_id: int | None
    domain_id: int | None
    mailbox: MailboxRec | None
    name: str
    acl: tuple[AclEntry, ...] = ()
    namespace_found: bool = True  # False: no such owner, or no path (then ``mailbox`` is None)


@dataclass(frozen=True, slots=True)
class ListedMailbox:
    name: str
    handle: MailboxHandle

    @property
    def mailbox(self) -> MailboxRec:
        return self.handle.mailbox

    @property
    def rights(self) -> Rights:
        return self.handle.rights


class MailboxService:
    def __init__(self, store: SqlStore, gate: AccessGate) -> None:
        self._store = store
        self._gate = gate
        self._owner_names: dict[int, str] = {}

    async def locate(self, principal: Principal, name: str) -> Located:
        """Resolve ``name`` into a namespace that exists; NOT_FOUND otherwise."""
        loc = await self._lookup(principal, name)
        if not loc.namespace_found:
            raise mailbox_missing(name)
        return loc

    async def _lookup(self, principal: Principal, name: str) -> Located:
        """Resolve ``name`` with one store read (``MailboxRepo.lookup``), whatever is missing:
        the owner, the folder or the path. Callers that go on to ``AccessGate.decide`` let it
        refuse a name that exists for nobody, after the same work as for a hidden folder, so
        that the time of the reply tells no more than its text (docs/sharing.md,
        "Visibility")."""
        ref = names.parse_name(name)
        store = self._store.mailboxes
        owner_id: int | None
        domain_id: int | None
        if ref.namespace == "personal":
            if principal.account_id is None:
                raise mailbox_missing(name)  # no namespace of one's own: nothing to hide
            found = await store.lookup(ref.path, owner_id=principal.account_id, acl=False)
            owner_id, domain_id = principal.account_id, principal.domain_id
        elif ref.namespace == "other":
            found = await store.lookup(ref.path, owner_address=ref.owner_address or "",
                                       acl=not principal.system)
            owner_id, domain_id = found.owner_id, found.owner_domain_id
            if owner_id is not None and owner_id == principal.account_id:
                ref = names.NameRef("personal", "", ref.path)  # one's own, by the long name
        else:
            found = await store.lookup(ref.path, acl=self._gate.acl_needed(principal, None))
            owner_id, domain_id = None, None
        mailbox = found.mailbox
        if mailbox is not None:
            domain_id = mailbox.domain_id
        # No owner, or no path: no folder either (none has an empty name), so ``decide``
        # refuses it as missing.
        return Located(ref, owner_id, domain_id, mailbox, name, found.acl,
                       namespace_found=found.owner_found and bool(ref.path))

    async def open(self, principal: Principal, name: str, op: Op | None = None,
                   ) -> MailboxHandle:
        """The one entry for using a mailbox by name: NOT_FOUND if invisible or missing."""
        loc = await self._lookup(principal, name)
        return self._gate.decide(principal, loc.mailbox, loc.acl, name, op)

    async def open_id(self, principal: Principal, mailbox_id: int, name: str,
                      op: Op | None = None) -> MailboxHandle:
        return await self._gate.handle(principal, await self._store.mailboxes.get(mailbox_id),
                                      name, op)

    async def display(self, principal: Principal, mailbox: MailboxRec) -> str:
        if mailbox.owner_id is None:
            return names.display_name("public", None, mailbox.name)
        if mailbox.owner_id == principal.account_id:
            return mailbox.name
        owner = self._owner_names.get(mailbox.owner_id)
        if owner is None:
            account = await self._store.directory.account_by_id(mailbox.owner_id)
            owner = account.address if account else f"#{mailbox.owner_id}"
            self._owner_names[mailbox.owner_id] = owner
        return names.display_name("other", owner, mailbox.name)

    # -- creation ----------------------------------------------------------------------------
    async def ensure_defaults(self, account_id: int, domain_id: int) -> None:
        """INBOX, Drafts, Sent, Trash, Junk, Archive with their RFC 6154 roles."""
        await self._store.mailboxes.create_defaults([(account_id, domain_id)], DEFAULT_FOLDERS)

    async def ensure_defaults_many(self, accounts: list[tuple[int, int]]) -> None:
        await self._store.mailboxes.create_defaults(accounts, DEFAULT_FOLDERS)

    async def create(self, principal: Principal, name: str, *, kind: str = "mail",
                     special_use: str = "", address: str | None = None) -> MailboxRec:
        if kind not in FOLDER_KINDS:
            raise invalid(f"folder type must be one of {', '.join(FOLDER_KINDS)}")
        loc = await self._lookup(principal, name)
        if not loc.ref.path:
            raise mailbox_missing(name)
        path = names.validate_path(loc.ref.path)
        if loc.ref.namespace == "personal" and path.split("/")[0] in (names.OTHER_USERS,
                                                                     names.PUBLIC):
            raise invalid(f"'{path.split('/')[0]}' is reserved for a namespace")
        parent = await self._creatable(principal, loc, path)
        acl = await self._store.mailboxes.get_acl(parent.id) if parent else []
        # Create missing intermediate levels (RFC 9051 §6.3.4), each inheriting the same ACL.
        created: MailboxRec | None = None
        parent_id = parent.id if parent else None
        start = len(parent.name.split("/")) if parent else 0
        levels = path.split("/")
        for depth in range(start + 1, len(levels) + 1):
            level_path = "/".join(levels[:depth])
            last = depth == len(levels)
            created = await self._store.mailboxes.create(
                owner_id=loc.owner_id, domain_id=loc.domain_id, name=level_path,
                parent_id=parent_id, kind=kind if last else (parent.kind if parent else "mail"),
                special_use=special_use if last else "", address=address if last else None,
                acl=acl)
            parent_id = created.id
        assert created is not None
        return created

    async def _creatable(self, principal: Principal, loc: Located, path: str,
                         ) -> MailboxRec | None:
        """Check that ``path`` may be created; return its nearest existing ancestor.

        RFC 4314 §4: ``k`` on the nearest existing parent; at the top of a namespace, only
        its owner and administrators. A folder the caller cannot see (Product decision 8) is
        treated as missing all the way through: the decision is made at the nearest *visible*
        ancestor, exactly as if the invisible ones did not exist, so the refusal a caller gets
        is the one a missing name would get. When that check passes but an invisible folder
        is in the way (the name itself, or a level above it), the answer is a plain
        permission refusal, never "already exists".

        The ancestors are read in one go with their ACLs (``MailboxRepo.chain``) and every
        level is judged, found or not, so a hidden ancestor costs what a missing one costs
        (docs/sharing.md, "Visibility")."""
        if self._gate.sees(principal, loc.mailbox, loc.acl):
            raise MailError(Kind.EXISTS, f"Mailbox already exists: {loc.name}")
        blocked = loc.mailbox is not None
        levels = await self._store.mailboxes.chain(
            list(reversed(names.ancestors(path))), owner_id=loc.owner_id,
            owner_known=loc.namespace_found, acl=self._gate.acl_needed(principal, loc.owner_id))
        parent: tuple[MailboxRec, tuple[AclEntry, ...]] | None = None
        for found, acl in levels:  # nearest first
            seen = self._gate.sees(principal, found, acl)
            if parent is not None or found is None:
                continue
            if seen:
                parent = (found, acl)
            else:
                blocked = True
        if not loc.namespace_found:
            raise mailbox_missing(loc.name)
        if parent is not None:
            self._gate.decide(principal, parent[0], parent[1], loc.name, Op.CREATE_CHILD)
        else:
            self._gate.require_namespace_root(principal, loc.owner_id, loc.domain_id)
        if blocked:
            raise permission_denied(Op.CREATE_CHILD)
        return parent[0] if parent else None

    # -- deletion and renaming ---------------------------------------------------------------
    async def delete(self, principal: Principal, name: str) -> None:
        loc = await self._lookup(principal, name)
        handle = self._gate.decide(principal, loc.mailbox, loc.acl, name, Op.DELETE)
        mailbox = handle.mailbox
        if mailbox.owner_id is not None and mailbox.name == "INBOX":
            raise MailError(Kind.NO_PERM, "INBOX cannot be deleted")  # RFC 9051 §6.3.4
        if await self._store.mailboxes.descendants(mailbox.owner_id, mailbox.name):
            raise MailError(Kind.IN_USE, f"Mailbox has children, delete them first: {name}")
        await self._store.mailboxes.delete([mailbox.id])

    async def rename(self, principal: Principal, old: str, new: str) -> MailboxRec:
        src = await self._lookup(principal, old)
        handle = self._gate.decide(principal, src.mailbox, src.acl, old, Op.RENAME_FROM)
        dst = await self.locate(principal, new)
        if dst.owner_id != src.owner_id:
            raise MailError(Kind.NO_PERM, "folders can only be renamed within one namespace")
        new_path = names.validate_path(dst.ref.path)
        if new_path.startswith(handle.mailbox.name + "/"):
            raise invalid("a folder cannot be moved inside itself")
        # The new name must be creatable (k on its parent, RFC 4314 §4), judged as CREATE
        # judges it, invisible folders included; missing levels above it are then created.
        parent = await self._creatable(principal, dst, new_path)
        parent_path = names.parent_path(new_path)
        if parent_path is not None and (parent is None or parent.name != parent_path):
            parent = await self.create(principal, names.display_name(
                src.ref.namespace, src.ref.owner_address, parent_path))
        if handle.mailbox.name == "INBOX" and handle.mailbox.owner_id is not None:
            # RFC 9051 §6.3.6: renaming INBOX moves its messages to the new name and leaves
            # an empty INBOX behind.
            target = await self.create(principal, new)
            uids = [r.uid for r in await self._store.messages.flag_rows(handle.mailbox.id)]
            if uids:
                await self._store.messages.copy(handle.mailbox.id, uids, target.id,
                                               keep_mask=0xFF, keep_keywords=True, move=True)
            return target
        await self._store.mailboxes.rename(handle.mailbox.id, new_path,
                                          parent.id if parent else None)
        renamed = await self._store.mailboxes.get(handle.mailbox.id)
        assert renamed is not None
        return renamed

    async def subscriptions(self, principal: Principal) -> list[str]:
        if principal.account_id is None:
            return []
        return await self._store.mailboxes.subscriptions(principal.account_id)

    # -- listing -----------------------------------------------------------------------------
    async def list(self, principal: Principal, *, shared: bool = True) -> list[ListedMailbox]:
        """Every mailbox the principal may see in a listing (``Op.LIST``), own folders first."""
        out: builtins.list[ListedMailbox] = []
        if principal.account_id is not None:
            own = await self._store.mailboxes.list_owned(principal.account_id)
            out += [ListedMailbox(h.name, h) for h in await self._gate.listed(
                principal, own, [mb.name for mb in own])]
        if shared:
            seen = {item.mailbox.id for item in out}
            others = [mb for mb in await self._store.mailboxes.shared_candidates(
                candidate_identifiers(principal)) if mb.id not in seen]
            shown = [await self.display(principal, mb) for mb in others]
            out += [ListedMailbox(h.name, h) for h in await self._gate.listed(
                principal, others, shown)]
        return out

    async def public_folders(self, principal: Principal) -> builtins.list[MailboxRec]:
        """Every public folder, whatever its ACL: an administrator's view."""
        self._gate.require_administrator(principal, None, "listing every public folder")
        return await self._store.mailboxes.list_owned(None)

    async def quota(self, principal: Principal) -> tuple[int, int | None]:
        """(used octets, limit or None) of the principal's own account (RFC 9208)."""
        if principal.account_id is None:
            return 0, None
        rec = await self._store.directory.account_by_id(principal.account_id)
        return (rec.used_bytes, rec.quota_bytes) if rec is not None else (0, None)

    async def subscribe(self, principal: Principal, name: str, on: bool) -> None:
        if principal.account_id is None:
            raise MailError(Kind.NO_PERM, "only accounts have subscriptions")
        if on:
            await self.open(principal, name, Op.SUBSCRIBE)
        await self._store.mailboxes.subscribe(principal.account_id,
                                             names.canonical_inbox(name), on)
