"""The WebDAV file area ("Documents", folder kind ``documents``): a path under a user's area
is a folder path (collections) and a file name (an item), with the same rights as mail.

``/dav/files/<owner>/a/b/c`` is, for the owner, the folder ``Documents/a/b/c`` or the file
``c`` in the folder ``Documents/a/b``; for anyone else the same under ``Other Users/<owner>/``,
so the gate decides exactly as for IMAP (a folder without ``l`` for the viewer is missing, the
same error as one that does not exist). Files are items (services/dav/items.py): a message
whose blob is the file's bytes, indexed in dav_items with component "". Dead properties
(RFC 4918 §4) are dav_props rows of the folder, under the file's name ("" for the folder).

Every modifying method asks services/dav/locks.py first (RFC 4918 §7), with the lock tokens
the front-end found in the If header.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from postroom.access.gate import MailboxHandle, mailbox_missing
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.services import names
from postroom.services.dav.context import DavContext
from postroom.services.dav.items import Items
from postroom.services.dav.locks import Change, Lock, Locks
from postroom.services.dav.model import Collection, ItemRef, PutResult
from postroom.services.mailboxes import ListedMailbox
from postroom.store.repo.dav import LiveItem


@dataclass(frozen=True, slots=True)
class Node:
    """What a path in an area is. ``folder``: the collection itself, or the folder a file is
    (or would be) in; ``ref``: the file, None for a collection or an unmapped name;
    ``name``: the last segment ("" for the area)."""

    area: str
    path: str
    folder: Collection
    collection: bool
    ref: ItemRef | None = None
    name: str = ""

    @property
    def exists(self) -> bool:
        return self.collection or self.ref is not None

    @property
    def handle(self) -> MailboxHandle:
        assert self.folder.handle is not None
        return self.folder.handle

    @property
    def created(self) -> int:
        """creationdate (RFC 4918 §15.1): files keep only their last write; folders their
        UIDVALIDITY, which the store takes from the clock when the folder is made."""
        if self.ref is not None:
            return self.ref.modified
        value = self.handle.mailbox.uidvalidity
        return value if value > 10**9 else int(time.time())


@dataclass(slots=True)
class Tree:
    """A collection and everything under it (Depth infinity), deepest folders last."""

    root: Node
    folders: list[Node] = field(default_factory=list)
    files: list[Node] = field(default_factory=list)


def join(path: str, name: str) -> str:
    """``path/name``, either of them possibly empty."""
    return f"{path}/{name}" if path and name else path or name


def _split(path: str) -> tuple[str, str]:
    head, _, tail = path.rpartition("/")
    return head, tail


def _ref(item: LiveItem) -> ItemRef:
    """What a node shows of a file without reading it (reading asks the gate: ``read``)."""
    return ItemRef(name=item.name, etag=item.etag, size=item.size,
                   content_type=item.content_type, modseq=item.modseq, modified=item.modified)


class Files:
    def __init__(self, ctx: DavContext, items: Items, locks: Locks) -> None:
        """``items``: the one item service (its listeners hear of file writes too);
        ``locks``: the one lock service of the file area."""
        self._ctx = ctx
        self._items = items
        self.locks = locks

    @property
    def max_file_size(self) -> int:
        """The largest file a PUT may store: web.dav.max_file_size, but no more than a
        message may be (limits.max_message_size, less room for the MIME header above it)."""
        return max(0, min(self._ctx.config.max_file_size, self._ctx.max_message_size - 1024))

    # -- resolving ---------------------------------------------------------------------------
    def _folder_name(self, principal: Principal, area: str, path: str) -> str:
        base = self._ctx.config.documents_name
        full = join(base, path)
        if principal.address and area.lower() == principal.address.lower():
            return full
        return names.display_name("other", area.lower(), full)

    def _coll(self, area: str, handle: MailboxHandle) -> Collection:
        leaf = handle.mailbox.name.rsplit(names.DELIMITER, 1)[-1]
        return Collection(segment=str(handle.id), kind="documents", name=handle.name,
                          displayname=leaf, owner=area.lower(), handle=handle)

    async def _open(self, principal: Principal, area: str, path: str) -> MailboxHandle | None:
        """The folder of the area at ``path`` when it exists, is a file-area folder and the
        viewer may see it; None otherwise (all the same to the caller)."""
        if path:
            try:
                names.validate_path(path)
            except MailError:
                return None
        try:
            handle = await self._ctx.mailboxes.open(
                principal, self._folder_name(principal, area, path))
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                return None
            raise
        return handle if handle.mailbox.kind == "documents" else None

    async def area_root(self, principal: Principal, area: str) -> Node:
        """The area itself; the owner's is created on first use (issue 24)."""
        handle = await self._open(principal, area, "")
        if handle is None and principal.address and area.lower() == principal.address.lower():
            try:
                await self._ctx.mailboxes.create(principal, self._ctx.config.documents_name,
                                                 kind="documents")
            except MailError as exc:
                if exc.kind is not Kind.EXISTS:
                    raise
            handle = await self._open(principal, area, "")
        if handle is None:
            raise mailbox_missing(area)
        return Node(area.lower(), "", self._coll(area, handle), True)

    async def resolve(self, principal: Principal, area: str, path: str) -> Node | None:
        """The node at ``path`` (a collection, a file, or an unmapped name whose parent
        collection exists); None when not even the parent exists. MailError NOT_FOUND when
        the area is not there for the viewer."""
        root = await self.area_root(principal, area)
        if not path:
            return root
        handle = await self._open(principal, area, path)
        if handle is not None:
            return Node(root.area, path, self._coll(area, handle), True,
                        name=_split(path)[1])
        parent_path, name = _split(path)
        parent = root.handle if not parent_path else await self._open(principal, area,
                                                                        parent_path)
        if parent is None:
            return None
        coll = self._coll(area, parent)
        found = (await self._ctx.store.dav.by_names(parent.id, [name])).get(name)
        return Node(root.area, path, coll, False, _ref(found) if found else None, name)

    async def children(self, principal: Principal, node: Node,
                       listing: Sequence[ListedMailbox] | None = None) -> list[Node]:
        """Depth 1 members of a collection the viewer may see: subfolders, then files.
        ``listing``: the viewer's folder list when the caller has it already (a walk)."""
        if not node.collection:
            return []
        prefix = node.handle.name + names.DELIMITER
        out: list[Node] = []
        if listing is None:
            listing = await self._ctx.mailboxes.list(principal, shared=True)
        for listed in listing:
            rest = listed.name[len(prefix):] if listed.name.startswith(prefix) else ""
            if rest and names.DELIMITER not in rest and listed.mailbox.kind == "documents":
                out.append(Node(node.area, join(node.path, rest),
                                self._coll(node.area, listed.handle), True, name=rest))
        if node.handle.allows(Op.ITEM_READ):
            for ref in await self._items.members(principal, node.folder):
                out.append(Node(node.area, join(node.path, ref.name), node.folder, False, ref,
                                ref.name))
        if len(out) > self._ctx.config.max_results:
            raise MailError(Kind.LIMIT, f"more than {self._ctx.config.max_results} members")
        return out

    async def subfolders(self, principal: Principal, node: Node) -> list[Node]:
        """Every collection below ``node`` the viewer may see, at any depth (files are not
        listed: a folder's items go with it, so DELETE needs no bound on how many)."""
        prefix = node.handle.name + names.DELIMITER
        return [Node(node.area, join(node.path, listed.name[len(prefix):]),
                     self._coll(node.area, listed.handle), True,
                     name=listed.name.rsplit(names.DELIMITER, 1)[-1])
                for listed in await self._ctx.mailboxes.list(principal, shared=True)
                if listed.name.startswith(prefix) and listed.mailbox.kind == "documents"]

    async def tree(self, principal: Principal, node: Node) -> Tree:
        """Everything under a collection (Depth infinity), bounded by max_results."""
        tree = Tree(node)
        todo = [node]
        listing = await self._ctx.mailboxes.list(principal, shared=True)
        while todo:
            current = todo.pop(0)
            for child in await self.children(principal, current, listing):
                (tree.folders if child.collection else tree.files).append(child)
                if child.collection:
                    todo.append(child)
                if len(tree.folders) + len(tree.files) > self._ctx.config.max_results:
                    raise MailError(Kind.LIMIT,
                                    f"more than {self._ctx.config.max_results} resources")
        return tree

    # -- content -----------------------------------------------------------------------------
    async def read(self, principal: Principal, node: Node) -> bytes:
        if node.ref is None:
            raise MailError(Kind.NOT_FOUND, "no such file")
        return (await self._items.get(principal, node.folder, node.name)).data

    async def may_put(self, principal: Principal, node: Node, tokens: Iterable[str]) -> None:
        """What ``put`` will check, asked before the body is read, so that a refused upload
        is refused at once rather than after its whole body has crossed the network (the
        client sent ``Expect: 100-continue`` for this, RFC 7231 §5.1.1)."""
        if node.collection:
            raise MailError(Kind.EXISTS, "a collection has no content to PUT")
        node.handle.require(Op.ITEM_EDIT if node.ref is not None else Op.ITEM_CREATE)
        await self.locks.require(principal, node.area, [
            Change(node.path, membership=node.ref is None)], tokens)

    async def put(self, principal: Principal, node: Node, chunks: AsyncIterator[bytes],
                  content_type: str, tokens: Iterable[str], *, if_match: str | None = None,
                  if_none_match: bool = False) -> PutResult:
        """PUT (RFC 4918 §9.7): create (``i``) or replace (``i`` + ``t`` + ``e``) a file; a
        name that is a collection is refused (405 by the front-end: EXISTS). The body is
        streamed to the blob store as it arrives (``Items.put_file``), never held whole;
        past ``max_file_size`` it is a LIMIT and nothing is stored."""
        await self.may_put(principal, node, tokens)
        return await self._items.put_file(principal, node.folder, node.name, chunks,
                                          content_type or "application/octet-stream",
                                          self.max_file_size, if_match=if_match,
                                          if_none_match=if_none_match)

    # -- collections -------------------------------------------------------------------------
    async def mkcol(self, principal: Principal, node: Node, tokens: Iterable[str]) -> None:
        """MKCOL (RFC 4918 §9.3): a subfolder of kind documents; ``k`` on the parent (the
        gate, through MailboxService.create). EXISTS when the name is taken."""
        if node.exists:
            raise MailError(Kind.EXISTS, "the name is taken")
        names.validate_path(node.path)
        await self.locks.require(principal, node.area, [Change(node.path, membership=True)],
                                 tokens)
        await self._ctx.mailboxes.create(
            principal, self._folder_name(principal, node.area, node.path), kind="documents")

    # -- deleting ----------------------------------------------------------------------------
    async def delete(self, principal: Principal, node: Node, tokens: Iterable[str], *,
                     if_match: str | None = None) -> None:
        """DELETE (RFC 4918 §9.6): a file (``t`` + ``e``), or a collection and everything in
        it (``x`` on each folder, checked for all before anything goes, so a refusal leaves
        the tree whole)."""
        if not node.exists:
            raise MailError(Kind.NOT_FOUND, "no such resource")
        if node.path == "":
            raise MailError(Kind.NO_PERM, "the file area itself cannot be deleted")
        await self.locks.require(principal, node.area, [
            Change(node.path, membership=True, subtree=node.collection)], tokens)
        await self._remove(principal, node, if_match=if_match)
        await self.locks.release(node.area, node.path)

    async def _remove(self, principal: Principal, node: Node, *,
                      if_match: str | None = None) -> None:
        if not node.collection:
            props = await self._dead(node)  # deleting needs t+e, not r
            await self._items.delete(principal, node.folder, node.name, if_match=if_match)
            if props:
                await self._ctx.store.dav.set_props(node.handle.id, dict.fromkeys(props),
                                                    node.name)
            return
        folders = [node, *await self.subfolders(principal, node)]
        for folder in folders:
            folder.handle.require(Op.DELETE)
        for folder in sorted(folders, key=lambda n: -n.path.count("/") - len(n.path)):
            await self._ctx.mailboxes.delete(principal, folder.handle.name)

    # -- copying and moving ------------------------------------------------------------------
    async def copy(self, principal: Principal, src: Node, dst: Node, tokens: Iterable[str],
                   *, infinite: bool, overwrite: bool, move: bool) -> bool:
        """COPY and MOVE (RFC 4918 §9.8, §9.9) inside one area or between areas the viewer
        may write. Returns True when ``dst`` existed (204) rather than being created (201).
        An existing destination is deleted first when ``overwrite`` (§9.8.4, §9.9.3);
        PreconditionFailed-like MailError EXISTS when it exists and not ``overwrite``."""
        if not src.exists:
            raise MailError(Kind.NOT_FOUND, "no such resource")
        if src.area == dst.area and (dst.path == src.path or (
                src.collection and dst.path.startswith(src.path + "/"))):
            raise MailError(Kind.NO_PERM, "the destination is the source or inside it")
        if dst.path == "":
            raise MailError(Kind.NO_PERM, "the area itself cannot be replaced")
        existed = dst.exists
        if existed and not overwrite:
            raise MailError(Kind.EXISTS, "the destination exists (Overwrite: F)")
        # every right the whole operation needs, before anything changes: a refusal half-way
        # (after the destination was deleted) would lose data
        src.handle.require(Op.ITEM_READ)
        if move:
            src.handle.require(Op.DELETE if src.collection else Op.ITEM_DELETE)
        if existed:  # what deleting the destination needs
            dst.handle.require(Op.DELETE if dst.collection else Op.ITEM_DELETE)
        if not dst.collection:  # dst.handle is the folder the copy goes into
            dst.handle.require(Op.CREATE_CHILD if src.collection else Op.ITEM_CREATE)
        changes_dst = [Change(dst.path, membership=True, subtree=True)]
        await self.locks.require(principal, dst.area, changes_dst, tokens)
        if move:
            await self.locks.require(principal, src.area, [
                Change(src.path, membership=True, subtree=src.collection)], tokens)
        if existed:
            await self._remove(principal, dst)
            await self.locks.release(dst.area, dst.path)
            again = await self.resolve(principal, dst.area, dst.path)
            if again is None or again.exists:
                raise MailError(Kind.TEMPORARY, "the destination changed meanwhile")
            dst = again
        if move and src.collection and src.area == dst.area:
            # a collection's MOVE is a folder rename (x on it, k on the new parent)
            await self._ctx.mailboxes.rename(
                principal, src.handle.name,
                self._folder_name(principal, dst.area, dst.path))
            await self.locks.release(src.area, src.path)
            return existed
        await self._copy_into(principal, src, dst, infinite or move)
        if move:
            await self._remove(principal, src)
            await self.locks.release(src.area, src.path)
        return existed

    async def _copy_into(self, principal: Principal, src: Node, dst: Node,
                         infinite: bool) -> None:
        if not src.collection:
            data = await self.read(principal, src)
            assert src.ref is not None
            await self._items.put(principal, dst.folder, dst.name, data,
                                  src.ref.content_type)
            props = await self.props(principal, src)
            if props:
                await self._ctx.store.dav.set_props(dst.handle.id, dict(props), dst.name)
            return
        await self._ctx.mailboxes.create(
            principal, self._folder_name(principal, dst.area, dst.path), kind="documents")
        made = await self.resolve(principal, dst.area, dst.path)
        if made is None or not made.collection:
            raise MailError(Kind.TEMPORARY, "the new collection vanished")
        props = await self.props(principal, src)
        if props:
            await self._ctx.store.dav.set_props(made.handle.id, dict(props))
        if not infinite:
            return  # RFC 4918 §9.8.3: Depth 0 copies the collection and its properties only
        for child in await self.children(principal, src):
            target = Node(made.area, join(made.path, child.name), made.folder, False,
                          None, child.name)
            await self._copy_into(principal, child, target, True)

    # -- locks -------------------------------------------------------------------------------
    async def lock(self, principal: Principal, node: Node, *, exclusive: bool, infinite: bool,
                   owner: str, timeout: int | None, tokens: Iterable[str]) -> tuple[Lock, bool]:
        """LOCK (RFC 4918 §9.10): needs write-content on the resource (access/dav.py:
        ``i`` + ``t`` + ``e``), or bind on the parent for an unmapped name, which the lock
        then creates as an empty file (§7.3, §9.10.4). Returns (lock, created)."""
        if node.exists:
            node.handle.require(Op.ITEM_EDIT)
        else:
            node.handle.require(Op.ITEM_CREATE)
        lock = await self.locks.lock(principal, node.area, node.path, exclusive=exclusive,
                                     infinite=infinite and node.collection, owner=owner,
                                     timeout=timeout)
        if node.exists:
            return lock, False
        try:
            await self.put(principal, node, _nothing(), "application/octet-stream",
                           [*tokens, lock.token])
        except BaseException:
            await self._ctx.store.dav_locks.delete([lock.token])
            raise
        return lock, True

    async def unlock(self, principal: Principal, node: Node, token: str) -> None:
        """UNLOCK (RFC 4918 §9.11): one's own lock, or anyone's with the unlock privilege
        (access/dav.py: whoever may write may take a lock away)."""
        await self.locks.unlock(principal, node.area, node.path, token,
                                node.handle.allows(Op.ITEM_EDIT))

    # -- properties ---------------------------------------------------------------------------
    async def props(self, principal: Principal, node: Node) -> dict[str, str]:
        """Dead properties (Clark name -> XML text) of a file or collection."""
        if not node.exists:
            return {}
        node.handle.require(Op.ITEM_READ)
        return await self._dead(node)

    async def _dead(self, node: Node) -> dict[str, str]:
        """The stored dead properties, for callers that asked the gate already."""
        name = "" if node.collection else node.name
        return (await self._ctx.store.dav.props([node.handle.id], name)).get(node.handle.id,
                                                                             {})

    async def set_props(self, principal: Principal, node: Node,
                        changes: dict[str, str | None], tokens: Iterable[str]) -> None:
        """PROPPATCH (RFC 4918 §9.2), all or nothing: a file's properties need write-content
        (Op.ITEM_EDIT), a collection's write-properties (Op.ADMIN), as for calendars."""
        if not node.exists:
            raise MailError(Kind.NOT_FOUND, "no such resource")
        node.handle.require(Op.ADMIN if node.collection else Op.ITEM_EDIT)
        await self.locks.require(principal, node.area, [Change(node.path)], tokens)
        await self._ctx.store.dav.set_props(node.handle.id, changes,
                                            "" if node.collection else node.name)

    async def quota(self, principal: Principal) -> tuple[int, int | None]:
        return await self._ctx.mailboxes.quota(principal)


def check_names(segments: Sequence[str]) -> str:
    """The path inside an area from URL segments; INVALID for one no folder or file can have
    (empty, "." or "..", control characters)."""
    for seg in segments:
        if not seg or seg in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in seg):
            raise invalid("a path segment is empty or has control characters")
    return "/".join(segments)


async def _nothing() -> AsyncIterator[bytes]:
    """The body of the empty file a LOCK on an unmapped name creates (RFC 4918 §7.3)."""
    return
    yield b""  # pragma: no cover - makes this an async generator
