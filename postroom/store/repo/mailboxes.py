"""Folders, their ACL entries and subscriptions.

``name`` is the full path inside the owner's namespace with ``/`` as the delimiter (Product
decision 4); public folders have ``owner_key = 0``. Renaming rewrites the names of every
descendant in the same transaction, so a crash never leaves a half-moved subtree.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from postroom.core.changes import AclChanged, MailboxCreated, MailboxDeleted, MailboxRenamed
from postroom.core.errors import Kind, MailError, not_found
from postroom.core.records import AclEntry, FolderLookup, MailboxRec
from postroom.store.api import PUBLIC_OWNER
from postroom.store.engine import Engine, Row, Tx

_COLS = ("id, owner_id, domain_id, name, parent_id, kind, special_use, address, uidvalidity, "
         "uidnext, highestmodseq, message_count, total_size")


# Keys no row has (public folders are owner_key 0, accounts and mailboxes count from 1): a
# lookup of something that does not exist still runs its statements, against these.
NO_OWNER = -1
NO_MAILBOX = -1


def _mb(row: Row) -> MailboxRec:
    return MailboxRec(*row)


def _next_uidvalidity(tx: Tx) -> int:
    """Strictly increasing across the server's life (RFC 9051 §2.3.1.1), even for a name
    deleted and recreated within the same second."""
    row = tx.one("SELECT value FROM settings WHERE key = 'uidvalidity'")
    last = int(row[0]) if row else 0
    value = max(int(time.time()), last + 1) % 4294967295 or 1
    tx.execute("INSERT INTO settings (key, value) VALUES ('uidvalidity', ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(value),))
    return value


def release_blobs_of(tx: Tx, where: str, params: Sequence[object]) -> None:
    """Drop one blob reference per message row matched by ``where`` (on alias ``m``)."""
    rows = tx.all(f"SELECT m.blob, count(*) FROM messages m WHERE {where} GROUP BY m.blob",
                  params)
    now = int(time.time())
    tx.many("UPDATE blobs SET refcount = refcount - ?, zero_since = CASE WHEN refcount - ? <= 0 "
            "THEN ? ELSE zero_since END WHERE sha256 = ?",
            [(n, n, now, sha) for sha, n in rows])



def _folder_in(tx: Tx, owner_key: int, name: str, acl: bool,
               ) -> tuple[MailboxRec | None, tuple[AclEntry, ...]]:
    """One folder by name with, if ``acl``, its ACL entries: the same two statements whether
    it exists or not (a missing folder's ACL is read for a mailbox id no row has)."""
    row = tx.one(f"SELECT {_COLS} FROM mailboxes WHERE owner_key = ? AND name = ?",
                 (owner_key, name))
    mailbox = _mb(row) if row else None
    entries: tuple[AclEntry, ...] = ()
    if acl:
        entries = tuple(AclEntry(r[0], r[1]) for r in tx.all(
            "SELECT identifier, rights FROM acl WHERE mailbox_id = ? ORDER BY identifier",
            (mailbox.id if mailbox else NO_MAILBOX,)))
    return mailbox, entries

class MailboxRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def usage_by_domain(self) -> dict[int | None, tuple[int, int]]:
        """(octets, messages) stored per domain id (None: folders of no domain), summed from
        the per-mailbox counters the message writes keep: one row per mailbox is read, never
        a message."""
        def fn(tx: Tx) -> dict[int | None, tuple[int, int]]:
            rows = tx.all("SELECT domain_id, coalesce(sum(total_size), 0), "
                          "coalesce(sum(message_count), 0) FROM mailboxes GROUP BY domain_id")
            return {(None if r[0] is None else int(r[0])): (int(r[1]), int(r[2]))
                    for r in rows}
        return await self.engine.read(fn)

    async def create(self, *, owner_id: int | None, domain_id: int | None, name: str,
                     parent_id: int | None, kind: str = "mail", special_use: str = "",
                     address: str | None = None, acl: Sequence[AclEntry] = ()) -> MailboxRec:
        def fn(tx: Tx) -> MailboxRec:
            return self.create_in(tx, owner_id=owner_id, domain_id=domain_id, name=name,
                                  parent_id=parent_id, kind=kind, special_use=special_use,
                                  address=address, acl=acl)
        return await self.engine.write(fn)

    @staticmethod
    def create_in(tx: Tx, *, owner_id: int | None, domain_id: int | None, name: str,
                  parent_id: int | None, kind: str = "mail", special_use: str = "",
                  address: str | None = None, acl: Sequence[AclEntry] = ()) -> MailboxRec:
        key = owner_id if owner_id is not None else PUBLIC_OWNER
        if tx.one("SELECT 1 FROM mailboxes WHERE owner_key = ? AND name = ?", (key, name)):
            raise MailError(Kind.EXISTS, f"mailbox {name} already exists")
        row = tx.one(
            "INSERT INTO mailboxes (owner_id, owner_key, domain_id, name, parent_id, kind, "
            "special_use, address, uidvalidity, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"RETURNING {_COLS}",
            (owner_id, key, domain_id, name, parent_id, kind, special_use, address,
             _next_uidvalidity(tx), int(time.time())))
        assert row is not None
        rec = _mb(row)
        tx.many("INSERT INTO acl (mailbox_id, identifier, rights) VALUES (?, ?, ?)",
                [(rec.id, e.identifier, e.rights) for e in acl])
        tx.events.append(MailboxCreated(rec.id))
        return rec

    async def create_defaults(self, accounts: Sequence[tuple[int, int]],
                              folders: Sequence[tuple[str, str]]) -> None:
        """Create missing default folders for many (account id, domain id) pairs in one
        transaction (account creation and bulk import: one fsync, not one per folder)."""
        def fn(tx: Tx) -> None:
            for account_id, domain_id in accounts:
                for name, special_use in folders:
                    if not tx.one("SELECT 1 FROM mailboxes WHERE owner_key = ? AND name = ?",
                                  (account_id, name)):
                        self.create_in(tx, owner_id=account_id, domain_id=domain_id, name=name,
                                       parent_id=None, special_use=special_use)
        await self.engine.write(fn)

    async def get(self, mailbox_id: int) -> MailboxRec | None:
        def fn(tx: Tx) -> MailboxRec | None:
            row = tx.one(f"SELECT {_COLS} FROM mailboxes WHERE id = ?", (mailbox_id,))
            return _mb(row) if row else None
        return await self.engine.read(fn)

    async def by_name(self, owner_id: int | None, name: str) -> MailboxRec | None:
        key = owner_id if owner_id is not None else PUBLIC_OWNER

        def fn(tx: Tx) -> MailboxRec | None:
            row = tx.one(f"SELECT {_COLS} FROM mailboxes WHERE owner_key = ? AND name = ?",
                         (key, name))
            return _mb(row) if row else None
        return await self.engine.read(fn)

    async def lookup(self, name: str, *, owner_id: int | None = None,
                     owner_address: str | None = None, acl: bool = True) -> FolderLookup:
        """The folder ``name`` in one namespace (an account's, by id or by address; public
        when neither is given) and, with ``acl``, its ACL entries: one read, running the same
        statements whether or not the owner, the folder or any entry exists. A name that
        exists for nobody must cost what one hidden from the caller costs (docs/sharing.md,
        "Visibility"): a missing owner's folder is looked for under ``NO_OWNER``, a
        missing folder's ACL under ``NO_MAILBOX``, so every path asks the database the same
        questions, in one round trip to the reader pool."""
        def fn(tx: Tx) -> FolderLookup:
            found, key, domain_id = True, owner_id, None
            if owner_address is not None:
                row = tx.one("SELECT id, domain_id FROM accounts WHERE address = ?",
                             (owner_address,))
                found = row is not None
                key, domain_id = (int(row[0]), row[1]) if row else (None, None)
            if key is not None:
                where = key
            else:
                where = NO_OWNER if owner_address is not None else PUBLIC_OWNER
            mailbox, entries = _folder_in(tx, where, name, acl)
            return FolderLookup(found, key, domain_id, mailbox, entries)
        return await self.engine.read(fn)

    async def chain(self, names: Sequence[str], *, owner_id: int | None,
                    owner_known: bool = True, acl: bool = True,
                    ) -> list[tuple[MailboxRec | None, tuple[AclEntry, ...]]]:
        """Each of ``names`` in one namespace (an account's; public when ``owner_id`` is None
        and ``owner_known``; nobody's when the owner is not known) with, if ``acl``, its ACL
        entries: one read, the same two statements per name whether or not the folder exists
        (``lookup`` for one name explains why). CREATE's walk up the ancestors of a new name
        uses it, so a hidden ancestor costs what a missing one costs."""
        key = owner_id if owner_id is not None else (PUBLIC_OWNER if owner_known else NO_OWNER)

        def fn(tx: Tx) -> list[tuple[MailboxRec | None, tuple[AclEntry, ...]]]:
            out: list[tuple[MailboxRec | None, tuple[AclEntry, ...]]] = []
            for name in names:
                out.append(_folder_in(tx, key, name, acl))
            return out
        return await self.engine.read(fn)

    async def by_special_use(self, owner_id: int, special_use: str) -> MailboxRec | None:
        """The account's folder with this RFC 6154 role (the first by name, if several)."""
        def fn(tx: Tx) -> MailboxRec | None:
            row = tx.one(f"SELECT {_COLS} FROM mailboxes WHERE owner_key = ? AND "
                         "special_use = ? ORDER BY name LIMIT 1", (owner_id, special_use))
            return _mb(row) if row else None
        return await self.engine.read(fn)

    async def by_address(self, address: str) -> MailboxRec | None:
        def fn(tx: Tx) -> MailboxRec | None:
            row = tx.one(f"SELECT {_COLS} FROM mailboxes WHERE address = ?", (address,))
            return _mb(row) if row else None
        return await self.engine.read(fn)

    async def list_owned(self, owner_id: int | None) -> list[MailboxRec]:
        key = owner_id if owner_id is not None else PUBLIC_OWNER

        def fn(tx: Tx) -> list[MailboxRec]:
            return [_mb(r) for r in tx.all(
                f"SELECT {_COLS} FROM mailboxes WHERE owner_key = ? ORDER BY name", (key,))]
        return await self.engine.read(fn)

    async def shared_candidates(self, identifiers: Sequence[str]) -> list[MailboxRec]:
        """Other people's and public mailboxes with an ACL entry naming one of ``identifiers``.

        The access gate still decides; this only narrows the search."""
        def fn(tx: Tx) -> list[MailboxRec]:
            marks = ", ".join("?" for _ in identifiers)
            return [_mb(r) for r in tx.all(
                f"SELECT {_COLS} FROM mailboxes WHERE id IN (SELECT mailbox_id FROM acl "
                f"WHERE identifier IN ({marks})) ORDER BY owner_key, name", tuple(identifiers))]
        return await self.engine.read(fn)

    async def descendants(self, owner_id: int | None, name: str) -> list[MailboxRec]:
        key = owner_id if owner_id is not None else PUBLIC_OWNER
        prefix = name + "/"

        def fn(tx: Tx) -> list[MailboxRec]:
            return [_mb(r) for r in tx.all(
                f"SELECT {_COLS} FROM mailboxes WHERE owner_key = ? AND "
                "substr(name, 1, ?) = ? ORDER BY name", (key, len(prefix), prefix))]
        return await self.engine.read(fn)

    async def rename(self, mailbox_id: int, new_name: str, new_parent_id: int | None) -> None:
        def fn(tx: Tx) -> None:
            row = tx.one("SELECT owner_key, name FROM mailboxes WHERE id = ?", (mailbox_id,))
            if row is None:
                raise not_found("mailbox vanished")
            key, old = int(row[0]), str(row[1])
            if tx.one("SELECT 1 FROM mailboxes WHERE owner_key = ? AND name = ?",
                      (key, new_name)):
                raise MailError(Kind.EXISTS, f"mailbox {new_name} already exists")
            tx.execute("UPDATE mailboxes SET name = ?, parent_id = ? WHERE id = ?",
                       (new_name, new_parent_id, mailbox_id))
            prefix = old + "/"
            kids = tx.all("SELECT id, name FROM mailboxes WHERE owner_key = ? AND "
                          "substr(name, 1, ?) = ?", (key, len(prefix), prefix))
            for kid_id, kid_name in kids:
                renamed = new_name + "/" + kid_name[len(prefix):]
                tx.execute("UPDATE mailboxes SET name = ? WHERE id = ?", (renamed, kid_id))
                tx.events.append(MailboxRenamed(int(kid_id), kid_name, renamed))
            tx.execute("UPDATE subscriptions SET name = ? WHERE name = ? AND account_id = ?",
                       (new_name, old, key))
            tx.events.append(MailboxRenamed(mailbox_id, old, new_name))
        await self.engine.write(fn)

    async def delete(self, mailbox_ids: Sequence[int]) -> None:
        def fn(tx: Tx) -> None:
            for mid in mailbox_ids:
                row = tx.one("SELECT owner_id, total_size FROM mailboxes WHERE id = ?", (mid,))
                if row is None:
                    continue
                release_blobs_of(tx, "m.mailbox_id = ?", (mid,))
                if row[0] is not None:
                    tx.execute("UPDATE accounts SET used_bytes = used_bytes - ? WHERE id = ?",
                               (row[1], row[0]))
                tx.execute("DELETE FROM mailboxes WHERE id = ?", (mid,))
                tx.events.append(MailboxDeleted(mid))
        await self.engine.write(fn)

    # -- \Recent (RFC 3501 §2.3.2) -------------------------------------------------------------
    # ``recent_uid`` is the highest UID some read-write session has been told about. A message
    # above it is recent for the next session that claims it and for nobody after: the claim
    # moves the mark in the same transaction that reads it, under the row's lock, so two
    # sessions selecting at once (on either engine) split the new messages, never share them.
    async def claim_recent(self, mailbox_id: int, up_to: int) -> tuple[int, int]:
        """Take the messages with UIDs in (mark, ``up_to``] as this caller's recent ones and
        move the mark to ``up_to``; return (old mark, new mark). When another session got
        there first, the two are equal and the caller has nothing new."""
        def fn(tx: Tx) -> tuple[int, int]:
            # The no-op UPDATE takes the row lock before reading (PostgreSQL: a concurrent
            # claim waits here and then reads the committed mark; SQLite has one writer).
            row = tx.one("UPDATE mailboxes SET recent_uid = recent_uid WHERE id = ? "
                         "RETURNING recent_uid", (mailbox_id,))
            if row is None:
                raise not_found("mailbox no longer exists")
            old = int(row[0])
            if up_to <= old:
                return old, old
            tx.execute("UPDATE mailboxes SET recent_uid = ? WHERE id = ?", (up_to, mailbox_id))
            return old, up_to
        return await self.engine.write(fn)

    async def recent_mark(self, mailbox_id: int) -> int:
        """The current mark: UIDs above it are recent for whoever claims them next."""
        def fn(tx: Tx) -> int:
            row = tx.one("SELECT recent_uid FROM mailboxes WHERE id = ?", (mailbox_id,))
            return int(row[0]) if row else 0
        return await self.engine.read(fn)

    async def recent_count(self, mailbox_id: int) -> int:
        """How many messages no read-write session has claimed yet (STATUS RECENT)."""
        def fn(tx: Tx) -> int:
            row = tx.one("SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid > "
                         "(SELECT recent_uid FROM mailboxes WHERE id = ?)",
                         (mailbox_id, mailbox_id))
            return int(row[0]) if row else 0
        return await self.engine.read(fn)

    # -- ACL ---------------------------------------------------------------------------------
    async def get_acl(self, mailbox_id: int) -> list[AclEntry]:
        def fn(tx: Tx) -> list[AclEntry]:
            return [AclEntry(r[0], r[1]) for r in tx.all(
                "SELECT identifier, rights FROM acl WHERE mailbox_id = ? ORDER BY identifier",
                (mailbox_id,))]
        return await self.engine.read(fn)

    async def get_acls(self, mailbox_ids: Sequence[int]) -> dict[int, list[AclEntry]]:
        """ACL entries of many mailboxes in one query (LIST over shared folders)."""
        def fn(tx: Tx) -> dict[int, list[AclEntry]]:
            out: dict[int, list[AclEntry]] = {mid: [] for mid in mailbox_ids}
            ids = list(mailbox_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" for _ in chunk)
                for mid, ident, rights in tx.all(
                        f"SELECT mailbox_id, identifier, rights FROM acl WHERE mailbox_id IN "
                        f"({marks}) ORDER BY identifier", tuple(chunk)):
                    out[int(mid)].append(AclEntry(ident, rights))
            return out
        return await self.engine.read(fn)

    async def set_acl(self, mailbox_id: int, identifier: str, rights: str | None) -> None:
        """Set (or with ``rights=None`` delete) one entry."""
        def fn(tx: Tx) -> None:
            if rights is None:
                tx.execute("DELETE FROM acl WHERE mailbox_id = ? AND identifier = ?",
                           (mailbox_id, identifier))
            else:
                tx.execute("INSERT INTO acl (mailbox_id, identifier, rights) VALUES (?, ?, ?) "
                           "ON CONFLICT (mailbox_id, identifier) DO UPDATE SET "
                           "rights = excluded.rights", (mailbox_id, identifier, rights))
            tx.events.append(AclChanged(mailbox_id))
        await self.engine.write(fn)

    async def replace_acl(self, mailbox_ids: Sequence[int], entries: Sequence[AclEntry],
                          ) -> None:
        """Give every mailbox in ``mailbox_ids`` exactly ``entries`` (apply to subfolders)."""
        def fn(tx: Tx) -> None:
            for mid in mailbox_ids:
                tx.execute("DELETE FROM acl WHERE mailbox_id = ?", (mid,))
                tx.many("INSERT INTO acl (mailbox_id, identifier, rights) VALUES (?, ?, ?)",
                        [(mid, e.identifier, e.rights) for e in entries])
                tx.events.append(AclChanged(mid))
        await self.engine.write(fn)

    # -- subscriptions -----------------------------------------------------------------------
    async def subscribe(self, account_id: int, name: str, on: bool) -> None:
        def fn(tx: Tx) -> None:
            if on:
                tx.execute("INSERT INTO subscriptions (account_id, name) VALUES (?, ?) "
                           "ON CONFLICT DO NOTHING", (account_id, name))
            else:
                tx.execute("DELETE FROM subscriptions WHERE account_id = ? AND name = ?",
                           (account_id, name))
        await self.engine.write(fn)

    async def subscriptions(self, account_id: int) -> list[str]:
        def fn(tx: Tx) -> list[str]:
            return [str(r[0]) for r in tx.all(
                "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name",
                (account_id,))]
        return await self.engine.read(fn)
