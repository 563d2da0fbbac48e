"""The folder tree as webmail shows it: exactly what IMAP LIST shows the user (own folders,
``Other Users/<address>/…`` and ``Public Folders/…``), with unread counts and special-use roles.

Folders are named in URLs by their store id, never by name: an id survives a rename, and
``open`` resolves it through the gate like IMAP SELECT resolves a name, so an id the user may not
see is NOT_FOUND exactly like an id that never existed (specs.md §2, "Visibility"). Create,
rename and delete go through ``MailboxService`` with the names IMAP would use, so they need the
same rights (RFC 4314 §4: ``k`` on the parent, ``x`` on the folder).

The sharing screen reads a folder through ``sharing``: the folder as the tree shows it, the
name IMAP gives it (what ``AclService`` takes, so a change from the page is the same call, the
same gate and the same audit record as IMAP SETACL), its ACL when the user holds ``a`` (else
only the user's own rights, MYRIGHTS), and whether the user may "apply to subfolders", an
administrator's action (docs/sharing.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postroom.access.gate import MailboxHandle, mailbox_missing
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import AclEntry
from postroom.services import names
from postroom.services.webmail.context import WebmailContext

MAIL_KIND = "mail"
# The sharing screen serves groupware folders too (issue 24): calendars, address books,
# task lists, notes and the file area share with the same ACLs as mail.
SHARE_KINDS = frozenset({MAIL_KIND, "calendar", "tasks", "notes", "journal", "contacts",
                         "documents"})
ROLE_ORDER = {"": 9, "\\Drafts": 1, "\\Sent": 2, "\\Archive": 3, "\\Junk": 4, "\\Trash": 5}


@dataclass(frozen=True, slots=True)
class Folder:
    """One row of the tree. ``id`` is None for a level that is only a heading: "Other Users",
    an owner's address, or a parent the user may not see but whose child they may."""

    id: int | None
    name: str  # the full name IMAP shows this user: "INBOX", "Other Users/bob@x/Shared", ...
    label: str  # the last level, what the tree prints
    depth: int  # 0 for top-level rows
    namespace: str  # "personal", "other" or "public"
    role: str = ""  # RFC 6154 special use: "\\Sent", "\\Trash", ...; "" for none
    rights: str = ""  # the user's rights as IMAP letters (MYRIGHTS)
    total: int = 0
    unseen: int = 0
    # What the user may do, as the gate answers it (``handle.allows``): pages show or hide
    # controls by these, and the services decide again on every request.
    readable: bool = False  # open it, list and read its messages (SELECT)
    may_share: bool = False  # change who has access (the sharing screen; ADMIN)
    may_create: bool = False  # make folders under it (CREATE_CHILD)
    may_delete: bool = False  # delete or rename it (DELETE)
    may_insert: bool = False  # copy, move or save messages into it (APPEND)
    may_expunge: bool = False  # remove messages for good (EXPUNGE)


@dataclass(frozen=True, slots=True)
class Sharing:
    """What the sharing screen shows of one folder."""

    folder: Folder  # the row as the tree shows it (rights, ``may_share``)
    name: str  # the name IMAP gives it for this user: what AclService takes
    owner: str | None  # the owner's address; None for a public folder
    own: bool  # the user's own folder
    entries: list[AclEntry] = field(default_factory=list)  # only with ``folder.may_share``
    may_apply: bool = False  # "apply to subfolders": administrators of its domain only
    kind: str = MAIL_KIND  # the folder's kind: where "Open" leads (mail, calendar, contacts)


class FolderTree:
    def __init__(self, ctx: WebmailContext) -> None:
        self._mailboxes = ctx.mailboxes
        self._messages = ctx.messages
        self._acl = ctx.acl

    async def tree(self, principal: Principal) -> list[Folder]:
        """Every mail folder the user may see, in tree order: INBOX, the special-use folders,
        the rest of one's own by name, then Other Users/, then Public Folders/. Headings are
        inserted for levels that are not folders the user sees."""
        listed = [item for item in await self._mailboxes.list(principal)
                  if item.mailbox.kind == MAIL_KIND]
        rows: list[tuple[tuple[object, ...], str, MailboxHandle]] = []
        for item in listed:
            ref = names.parse_name(item.name)
            top = {"personal": 0, "other": 1, "public": 2}[ref.namespace]
            inbox = item.name.upper() == "INBOX"
            role = ROLE_ORDER.get(item.mailbox.special_use, 9) if ref.namespace == "personal" \
                and "/" not in item.name else 9
            key = (top, not inbox, role, item.name.casefold().split("/"))
            rows.append((key, item.name, item.handle))
        rows.sort(key=lambda row: row[0])
        out: list[Folder] = []
        seen: set[str] = set()
        for _, name, handle in rows:
            levels = name.split(names.DELIMITER)
            for depth in range(len(levels) - 1):
                parent = names.DELIMITER.join(levels[:depth + 1])
                if parent not in seen and parent not in {r[1] for r in rows}:
                    seen.add(parent)
                    out.append(Folder(None, parent, levels[depth], depth,
                                      names.parse_name(name).namespace))
            seen.add(name)
            out.append(await self._row(principal, handle, name, levels))
        return out

    async def _row(self, principal: Principal, handle: MailboxHandle, name: str,
                   levels: list[str]) -> Folder:
        rec = handle.mailbox
        unseen = 0
        if handle.allows(Op.SELECT):
            unseen = (await self._messages.counts(principal, handle)).unseen
        ns = names.parse_name(name).namespace
        readable = handle.allows(Op.SELECT)
        return Folder(rec.id, name, levels[-1], len(levels) - 1, ns,
                      rec.special_use if ns == "personal" else "",
                      str(handle.rights), rec.message_count if readable else 0, unseen,
                      readable=readable, may_share=handle.allows(Op.ADMIN),
                      may_create=handle.allows(Op.CREATE_CHILD),
                      may_delete=handle.allows(Op.DELETE), may_insert=handle.allows(Op.APPEND),
                      may_expunge=handle.allows(Op.EXPUNGE))

    async def open(self, principal: Principal, folder_id: int, op: Op = Op.SELECT, *,
                   kinds: frozenset[str] = frozenset({MAIL_KIND})) -> MailboxHandle:
        """The folder ``folder_id`` for ``op``: NOT_FOUND if it does not exist, is not of one
        of ``kinds`` (mail by default), or the user may not see it; NO_PERM when seen but
        ``op`` is not allowed."""
        label = f"#{folder_id}"
        handle = await self._mailboxes.open_id(principal, folder_id, label, Op.LIST)
        if handle.mailbox.kind not in kinds:
            raise mailbox_missing(label)
        name = await self._mailboxes.display(principal, handle.mailbox)
        return await self._mailboxes.open(principal, name, op)

    async def describe(self, principal: Principal, handle: MailboxHandle) -> Folder:
        name = await self._mailboxes.display(principal, handle.mailbox)
        return await self._row(principal, handle, name, name.split(names.DELIMITER))

    async def by_role(self, principal: Principal, role: str) -> MailboxHandle | None:
        """The user's own folder with special use ``role`` ("\\Trash", "\\Sent", ...), or
        None when the user has none (RFC 6154)."""
        for item in await self._mailboxes.list(principal, shared=False):
            if item.mailbox.special_use == role and item.mailbox.kind == MAIL_KIND:
                return item.handle
        return None

    async def inbox(self, principal: Principal) -> MailboxHandle:
        return await self._mailboxes.open(principal, "INBOX", Op.SELECT)

    async def imap_name(self, principal: Principal, folder_id: int) -> str:
        """The name IMAP gives ``folder_id`` for this user (NOT_FOUND exactly as ``open``)."""
        handle = await self.open(principal, folder_id, Op.LIST)
        return await self._mailboxes.display(principal, handle.mailbox)

    # -- sharing: read here, changed through AclService by the page ---------------------------
    async def sharing(self, principal: Principal, folder_id: int) -> Sharing:
        """The folder for the sharing screen: NOT_FOUND like ``open`` for a folder the user
        may not see; its ACL only with ``a`` (RFC 4314 §3.3 GETACL needs it), otherwise only
        the user's own rights (§3.8 MYRIGHTS)."""
        handle = await self.open(principal, folder_id, Op.MYRIGHTS, kinds=SHARE_KINDS)
        name = await self._mailboxes.display(principal, handle.mailbox)
        row = await self._row(principal, handle, name, name.split(names.DELIMITER))
        ref = names.parse_name(name)
        own = ref.namespace == "personal"
        owner = principal.address if own else ref.owner_address
        if not row.may_share:
            return Sharing(row, name, owner, own, kind=handle.mailbox.kind)
        entries = await self._acl.get(principal, name)
        may_apply = principal.system or principal.administers(handle.mailbox.domain_id)
        return Sharing(row, name, owner, own, entries, may_apply, handle.mailbox.kind)

    # -- managing folders: the same names and rights as IMAP CREATE/RENAME/DELETE ------------
    async def create(self, principal: Principal, parent_id: int | None, label: str) -> int:
        """A new folder ``label`` under ``parent_id`` (None: at the top of one's own)."""
        _check_label(label)
        parent = "" if parent_id is None else \
            await self._mailboxes.display(principal, (await self.open(
                principal, parent_id, Op.LIST)).mailbox)
        name = f"{parent}{names.DELIMITER}{label}" if parent else label
        rec = await self._mailboxes.create(principal, name)
        return rec.id

    async def rename(self, principal: Principal, folder_id: int, label: str,
                     parent_id: int | bool | None = False) -> None:
        """Rename ``folder_id`` to ``label``; with ``parent_id`` (None: the top of one's own)
        move it under another folder as well. False keeps the parent."""
        _check_label(label)
        handle = await self.open(principal, folder_id, Op.LIST)
        old = await self._mailboxes.display(principal, handle.mailbox)
        if parent_id is False:
            parent = old.rpartition(names.DELIMITER)[0]
        elif parent_id is None:
            parent = ""
        else:
            assert isinstance(parent_id, int)
            parent = await self._mailboxes.display(principal, (await self.open(
                principal, parent_id, Op.LIST)).mailbox)
        new = f"{parent}{names.DELIMITER}{label}" if parent else label
        if new != old:
            await self._mailboxes.rename(principal, old, new)

    async def delete(self, principal: Principal, folder_id: int) -> None:
        handle = await self.open(principal, folder_id, Op.LIST)
        await self._mailboxes.delete(principal, await self._mailboxes.display(
            principal, handle.mailbox))


def _check_label(label: str) -> None:
    if not label or names.DELIMITER in label:
        raise MailError(Kind.INVALID, "a folder name cannot be empty or contain '/'")
    names.validate_path(label)
