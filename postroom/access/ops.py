"""Which right(s) each operation needs: the one table (RFC 4314 §4; specs.md §2.5).

Protocol front-ends name an ``Op``; they never test right letters themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from postroom.core.rights import VISIBLE_RIGHTS, Rights


class Op(enum.Enum):
    LIST = "list"  # appear in LIST/LSUB (never an error: just omitted)
    SUBSCRIBE = "subscribe"
    SELECT = "select"  # SELECT, EXAMINE, STATUS, FETCH, SEARCH
    READ = "read"
    COPY_FROM = "copy-from"
    MOVE_FROM = "move-from"  # RFC 6851 §3.3: copy + store \Deleted + expunge on the source
    SET_SEEN = "set-seen"
    SET_DELETED = "set-deleted"
    SET_OTHER_FLAGS = "set-other-flags"
    APPEND = "append"  # APPEND, COPY/MOVE target
    POST = "post"  # deliver to the folder's address (SMTP), not IMAP
    DELIVER = "deliver"  # file an incoming message into a recipient's folder (delivery)
    # A Sieve fileinto into a folder of the script's owner's choosing (docs/sieve.md): the
    # right configured as ``sieve.fileinto_right``, insert or post.
    FILE_INSERT = "file-insert"
    FILE_POST = "file-post"
    CREATE_CHILD = "create-child"  # CREATE under it; new parent in RENAME
    DELETE = "delete"  # DELETE the mailbox; old name in RENAME
    RENAME_FROM = "rename-from"
    EXPUNGE = "expunge"
    ADMIN = "admin"  # GETACL SETACL DELETEACL LISTRIGHTS
    MYRIGHTS = "myrights"
    # groupware items (Product decision 3): editing is insert-new + delete-old
    ITEM_READ = "item-read"
    ITEM_CREATE = "item-create"
    ITEM_DELETE = "item-delete"
    ITEM_EDIT = "item-edit"


@dataclass(frozen=True, slots=True)
class Need:
    """``all_of`` letters, or at least one of ``any_of`` letters."""

    all_of: frozenset[str] = frozenset()
    any_of: frozenset[str] = frozenset()

    def satisfied_by(self, rights: Rights) -> bool:
        if self.all_of and not rights.has_all(self.all_of):
            return False
        return not (self.any_of and not rights.has_any(self.any_of))

    def text(self) -> str:
        if self.any_of:
            return "one of " + "".join(sorted(self.any_of))
        return "".join(sorted(self.all_of))


def _all(letters: str) -> Need:
    return Need(all_of=frozenset(letters))


OP_RIGHTS: dict[Op, Need] = {
    Op.LIST: _all("l"),
    Op.SUBSCRIBE: _all("l"),
    Op.SELECT: _all("r"),
    Op.READ: _all("r"),
    Op.COPY_FROM: _all("r"),
    Op.MOVE_FROM: _all("rte"),
    Op.SET_SEEN: _all("s"),
    Op.SET_DELETED: _all("t"),
    Op.SET_OTHER_FLAGS: _all("w"),
    Op.APPEND: _all("i"),
    Op.POST: _all("p"),
    # The recipient's own folders: the owner holds every right. Someone else's folder (a
    # filing rule into a shared folder): posting or inserting, either will do.
    Op.DELIVER: Need(any_of=frozenset("ip")),
    Op.FILE_INSERT: _all("i"),
    Op.FILE_POST: _all("p"),
    Op.CREATE_CHILD: _all("k"),
    Op.DELETE: _all("x"),
    Op.RENAME_FROM: _all("x"),
    Op.EXPUNGE: _all("e"),
    Op.ADMIN: _all("a"),
    Op.MYRIGHTS: Need(any_of=VISIBLE_RIGHTS),
    Op.ITEM_READ: _all("r"),
    Op.ITEM_CREATE: _all("i"),
    Op.ITEM_DELETE: _all("te"),
    Op.ITEM_EDIT: _all("ite"),
}

assert set(OP_RIGHTS) == set(Op), "every operation needs an entry"
