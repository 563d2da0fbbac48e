"""Domains, accounts, aliases, groups and administrator roles.

Every address (account, alias, group, public-folder address) is unique across all four kinds;
the check runs inside the inserting transaction so two concurrent adds cannot both win.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from postroom.core.errors import Kind, MailError, not_found
from postroom.core.records import AccountRec, AliasRec, DomainRec, GroupRec
from postroom.store.api import GLOBAL_SCOPE
from postroom.store.engine import Engine, Row, Tx

_ACCOUNT_COLS = ("id, domain_id, address, display_name, password_hash, scram, quota_bytes, "
                 "used_bytes, state, created_at, last_login")
ACCOUNT_FIELDS = frozenset({"display_name", "password_hash", "scram", "quota_bytes", "state",
                            "last_login"})


def _account(row: Row) -> AccountRec:
    return AccountRec(*row)


def address_owner(tx: Tx, address: str) -> str | None:
    """Which kind of thing already uses ``address`` (or None)."""
    for table, kind in (("accounts", "an account"), ("aliases", "an alias"),
                        ("mail_groups", "a group"), ("mailboxes", "a public folder")):
        if tx.one(f"SELECT 1 FROM {table} WHERE address = ?", (address,)):
            return kind
    return None


def _require_free(tx: Tx, address: str) -> None:
    used = address_owner(tx, address)
    if used:
        raise MailError(Kind.EXISTS, f"{address} already exists as {used}")


def _in_domain(tx: Tx, domain: str | None) -> tuple[str, tuple[int, ...]]:
    """``WHERE`` clause and parameters restricting a listing to one domain (or none)."""
    if domain is None:
        return "", ()
    return "WHERE domain_id = ?", (_domain_id(tx, domain),)


def _literal_like(text: str) -> str:
    """``text`` inside a LIKE pattern (``ESCAPE '\\'``), its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _domain_id(tx: Tx, domain: str) -> int:
    row = tx.one("SELECT id FROM domains WHERE name = ?", (domain,))
    if row is None:
        raise not_found(f"unknown domain {domain} (add it with: postroom domain add {domain})")
    return int(row[0])


class DirectoryRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- domains -----------------------------------------------------------------------------
    async def add_domain(self, name: str) -> DomainRec:
        def fn(tx: Tx) -> DomainRec:
            if tx.one("SELECT 1 FROM domains WHERE name = ?", (name,)):
                raise MailError(Kind.EXISTS, f"domain {name} already exists")
            now = int(time.time())
            row = tx.one("INSERT INTO domains (name, created_at) VALUES (?, ?) RETURNING id",
                         (name, now))
            assert row is not None
            return DomainRec(int(row[0]), name, now)
        return await self.engine.write(fn)

    async def get_domain(self, name: str) -> DomainRec | None:
        def fn(tx: Tx) -> DomainRec | None:
            row = tx.one("SELECT id, name, created_at FROM domains WHERE name = ?", (name,))
            return DomainRec(*row) if row else None
        return await self.engine.read(fn)

    async def domain_by_id(self, domain_id: int) -> DomainRec | None:
        def fn(tx: Tx) -> DomainRec | None:
            row = tx.one("SELECT id, name, created_at FROM domains WHERE id = ?", (domain_id,))
            return DomainRec(*row) if row else None
        return await self.engine.read(fn)

    async def list_domains(self) -> list[DomainRec]:
        def fn(tx: Tx) -> list[DomainRec]:
            return [DomainRec(*r) for r in
                    tx.all("SELECT id, name, created_at FROM domains ORDER BY name")]
        return await self.engine.read(fn)

    async def domain_usage(self, domain_id: int) -> dict[str, int]:
        def fn(tx: Tx) -> dict[str, int]:
            out = {}
            for table in ("accounts", "aliases", "mail_groups"):
                row = tx.one(f"SELECT count(*) FROM {table} WHERE domain_id = ?", (domain_id,))
                out[table] = int(row[0]) if row else 0
            return out
        return await self.engine.read(fn)

    async def remove_domain(self, name: str) -> None:
        def fn(tx: Tx) -> None:
            did = _domain_id(tx, name)
            for table, what in (("accounts", "accounts"), ("aliases", "aliases"),
                                ("mail_groups", "groups")):
                row = tx.one(f"SELECT count(*) FROM {table} WHERE domain_id = ?", (did,))
                if row and row[0]:
                    raise MailError(Kind.IN_USE, f"domain {name} still has {row[0]} {what}; "
                                    f"remove them first")
            tx.execute("DELETE FROM admin_roles WHERE domain_id = ?", (did,))
            tx.execute("DELETE FROM domains WHERE id = ?", (did,))
        await self.engine.write(fn)

    # -- accounts ----------------------------------------------------------------------------
    async def add_accounts(self, rows: Sequence[dict[str, Any]]) -> list[AccountRec]:
        """Insert accounts in one transaction (bulk import uses batches of these)."""
        def fn(tx: Tx) -> list[AccountRec]:
            out = []
            now = int(time.time())
            domain_ids: dict[str, int] = {}
            for item in rows:
                address: str = item["address"]
                domain = address.rsplit("@", 1)[1]
                if domain not in domain_ids:
                    domain_ids[domain] = _domain_id(tx, domain)
                _require_free(tx, address)
                row = tx.one(
                    "INSERT INTO accounts (domain_id, address, display_name, password_hash, "
                    "scram, quota_bytes, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    f"RETURNING {_ACCOUNT_COLS}",
                    (domain_ids[domain], address, item.get("display_name", ""),
                     item["password_hash"], item.get("scram", ""), item.get("quota_bytes"),
                     item.get("state", "active"), now))
                assert row is not None
                out.append(_account(row))
            return out
        return await self.engine.write(fn)

    async def get_account(self, address: str) -> AccountRec | None:
        def fn(tx: Tx) -> AccountRec | None:
            row = tx.one(f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE address = ?", (address,))
            return _account(row) if row else None
        return await self.engine.read(fn)

    async def account_by_id(self, account_id: int) -> AccountRec | None:
        def fn(tx: Tx) -> AccountRec | None:
            row = tx.one(f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE id = ?", (account_id,))
            return _account(row) if row else None
        return await self.engine.read(fn)

    async def list_accounts(self, domain: str | None = None) -> list[AccountRec]:
        def fn(tx: Tx) -> list[AccountRec]:
            where, params = _in_domain(tx, domain)
            return [_account(r) for r in tx.all(
                f"SELECT {_ACCOUNT_COLS} FROM accounts {where} ORDER BY address", params)]
        return await self.engine.read(fn)

    async def search_accounts(self, *, domain_ids: Sequence[int] | None = None, text: str = "",
                              offset: int = 0, limit: int = 50,
                              ) -> tuple[list[AccountRec], int]:
        """One page of accounts in address order, and how many match in all.

        ``domain_ids`` None means every domain, an empty sequence none at all (a domain
        administrator of no domain). ``text`` matches anywhere in the address or the display
        name, ignoring case (ASCII case only on SQLite, whose ``lower`` folds no more), with
        LIKE's wildcards taken literally. Paging is by ``OFFSET`` over the address index: at
        10,000 accounts the last page costs a few milliseconds, so keyset paging is not worth
        its awkward "previous page" yet.
        """
        where: list[str] = []
        args: list[object] = []
        if domain_ids is not None:
            if not domain_ids:
                return [], 0
            where.append(f"domain_id IN ({', '.join('?' * len(domain_ids))})")
            args += [int(d) for d in domain_ids]
        if text:
            pattern = "%" + _literal_like(text.lower()) + "%"
            where.append("(lower(address) LIKE ? ESCAPE '\\' "
                         "OR lower(display_name) LIKE ? ESCAPE '\\')")
            args += [pattern, pattern]
        clause = f"WHERE {' AND '.join(where)}" if where else ""

        def fn(tx: Tx) -> tuple[list[AccountRec], int]:
            row = tx.one(f"SELECT count(*) FROM accounts {clause}", tuple(args))
            total = int(row[0]) if row else 0
            rows = tx.all(f"SELECT {_ACCOUNT_COLS} FROM accounts {clause} ORDER BY address "
                          "LIMIT ? OFFSET ?", (*args, max(0, limit), max(0, offset)))
            return [_account(r) for r in rows], total
        return await self.engine.read(fn)

    async def update_account(self, address: str, **fields: Any) -> AccountRec:
        bad = set(fields) - ACCOUNT_FIELDS
        if bad:
            raise ValueError(f"not account fields: {sorted(bad)}")

        def fn(tx: Tx) -> AccountRec:
            sets = ", ".join(f"{k} = ?" for k in fields)
            row = tx.one(f"UPDATE accounts SET {sets} WHERE address = ? RETURNING "
                         f"{_ACCOUNT_COLS}", (*fields.values(), address))
            if row is None:
                raise not_found(f"no account {address}")
            return _account(row)
        return await self.engine.write(fn)

    async def note_login(self, account_id: int, at: int, every: int = 60) -> None:
        """Record a successful login, at most once per ``every`` seconds per account (a mail
        client logging in every minute need not write every time)."""
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE accounts SET last_login = ? WHERE id = ? AND "
                       "(last_login IS NULL OR last_login < ?)", (at, account_id, at - every))
        await self.engine.write(fn)

    async def remove_account(self, address: str) -> None:
        def fn(tx: Tx) -> None:
            row = tx.one("SELECT id FROM accounts WHERE address = ?", (address,))
            if row is None:
                raise not_found(f"no account {address}")
            account_id = int(row[0])
            # Release the blob references of every message in the account's folders before
            # the cascade removes the rows.
            tx.execute(
                "UPDATE blobs SET refcount = refcount - (SELECT count(*) FROM messages m "
                "JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.owner_id = ? AND "
                "m.blob = blobs.sha256), zero_since = ? WHERE sha256 IN (SELECT m.blob FROM "
                "messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.owner_id = ?)",
                (account_id, int(time.time()), account_id))
            tx.execute("DELETE FROM mailboxes WHERE owner_id = ?", (account_id,))
            tx.execute("DELETE FROM acl WHERE identifier = ? OR identifier = ?",
                       (address, "-" + address))
            tx.execute("DELETE FROM group_members WHERE member = ?", (address,))
            tx.execute("DELETE FROM send_as WHERE account_id = ?", (account_id,))
            tx.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
        await self.engine.write(fn)

    # -- send-as grants (issue 5) --------------------------------------------------------------
    async def send_as(self, account_id: int) -> list[str]:
        """Addresses (or ``@domain``) the account may send as besides its own."""
        def fn(tx: Tx) -> list[str]:
            return [str(r[0]) for r in tx.all("SELECT address FROM send_as WHERE account_id = ? "
                                              "ORDER BY address", (account_id,))]
        return await self.engine.read(fn)

    async def set_send_as(self, account_id: int, address: str, grant: bool) -> bool:
        """Grant or revoke; False when there was nothing to change."""
        def fn(tx: Tx) -> bool:
            if grant:
                if tx.one("SELECT 1 FROM send_as WHERE account_id = ? AND address = ?",
                          (account_id, address)):
                    return False
                tx.execute("INSERT INTO send_as (account_id, address) VALUES (?, ?)",
                           (account_id, address))
                return True
            return bool(tx.execute("DELETE FROM send_as WHERE account_id = ? AND address = ?",
                                   (account_id, address)))
        return await self.engine.write(fn)

    async def apop_secret(self, account_id: int) -> str | None:
        """The sealed APOP secret of an account (RFC 1939 §7), or None."""
        def fn(tx: Tx) -> str | None:
            row = tx.one("SELECT sealed FROM apop_secrets WHERE account_id = ?", (account_id,))
            return str(row[0]) if row else None
        return await self.engine.read(fn)

    async def set_apop_secret(self, account_id: int, sealed: str | None) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("DELETE FROM apop_secrets WHERE account_id = ?", (account_id,))
            if sealed is not None:
                tx.execute("INSERT INTO apop_secrets (account_id, sealed) VALUES (?, ?)",
                           (account_id, sealed))
        await self.engine.write(fn)

    # -- aliases -----------------------------------------------------------------------------
    async def add_alias(self, address: str, targets: Sequence[str]) -> AliasRec:
        def fn(tx: Tx) -> AliasRec:
            domain = address.rsplit("@", 1)[1]
            did = _domain_id(tx, domain)
            _require_free(tx, address)
            row = tx.one("INSERT INTO aliases (domain_id, address, targets) VALUES (?, ?, ?) "
                         "RETURNING id", (did, address, "\n".join(targets)))
            assert row is not None
            return AliasRec(int(row[0]), address, tuple(targets))
        return await self.engine.write(fn)

    async def set_alias_targets(self, address: str, targets: Sequence[str]) -> AliasRec:
        """Replace an alias's targets (NOT_FOUND for no such alias)."""
        def fn(tx: Tx) -> AliasRec:
            row = tx.one("UPDATE aliases SET targets = ? WHERE address = ? RETURNING id",
                         ("\n".join(targets), address))
            if row is None:
                raise not_found(f"no alias {address}")
            return AliasRec(int(row[0]), address, tuple(targets))
        return await self.engine.write(fn)

    async def get_alias(self, address: str) -> AliasRec | None:
        def fn(tx: Tx) -> AliasRec | None:
            row = tx.one("SELECT id, address, targets FROM aliases WHERE address = ?",
                         (address,))
            return AliasRec(int(row[0]), row[1], tuple(row[2].split("\n"))) if row else None
        return await self.engine.read(fn)

    async def list_aliases(self, domain: str | None = None) -> list[AliasRec]:
        def fn(tx: Tx) -> list[AliasRec]:
            where, params = _in_domain(tx, domain)
            rows = tx.all(f"SELECT id, address, targets FROM aliases {where} ORDER BY address",
                          params)
            return [AliasRec(int(r[0]), r[1], tuple(r[2].split("\n"))) for r in rows]
        return await self.engine.read(fn)

    async def remove_alias(self, address: str) -> None:
        def fn(tx: Tx) -> None:
            if not tx.execute("DELETE FROM aliases WHERE address = ?", (address,)):
                raise not_found(f"no alias {address}")
        await self.engine.write(fn)

    # -- groups ------------------------------------------------------------------------------
    async def add_group(self, address: str, display_name: str, members: Sequence[str],
                        ) -> GroupRec:
        def fn(tx: Tx) -> GroupRec:
            did = _domain_id(tx, address.rsplit("@", 1)[1])
            _require_free(tx, address)
            row = tx.one("INSERT INTO mail_groups (domain_id, address, display_name) "
                         "VALUES (?, ?, ?) RETURNING id", (did, address, display_name))
            assert row is not None
            gid = int(row[0])
            tx.many("INSERT INTO group_members (group_id, member) VALUES (?, ?)",
                    [(gid, m) for m in dict.fromkeys(members)])
            return GroupRec(gid, address, display_name, tuple(dict.fromkeys(members)))
        return await self.engine.write(fn)

    @staticmethod
    def _group(tx: Tx, row: Row) -> GroupRec:
        members = tuple(r[0] for r in tx.all(
            "SELECT member FROM group_members WHERE group_id = ? ORDER BY member", (row[0],)))
        return GroupRec(int(row[0]), row[1], row[2], members)

    async def get_group(self, address: str) -> GroupRec | None:
        def fn(tx: Tx) -> GroupRec | None:
            row = tx.one("SELECT id, address, display_name FROM mail_groups WHERE address = ?",
                         (address,))
            return self._group(tx, row) if row else None
        return await self.engine.read(fn)

    async def list_groups(self, domain: str | None = None) -> list[GroupRec]:
        def fn(tx: Tx) -> list[GroupRec]:
            where, params = _in_domain(tx, domain)
            rows = tx.all(f"SELECT id, address, display_name FROM mail_groups {where} "
                          "ORDER BY address", params)
            return [self._group(tx, r) for r in rows]
        return await self.engine.read(fn)

    async def set_group_member(self, group: str, member: str, present: bool) -> GroupRec:
        def fn(tx: Tx) -> GroupRec:
            row = tx.one("SELECT id, address, display_name FROM mail_groups WHERE address = ?",
                         (group,))
            if row is None:
                raise not_found(f"no group {group}")
            if present:
                if tx.one("SELECT 1 FROM group_members WHERE group_id = ? AND member = ?",
                          (row[0], member)):
                    raise MailError(Kind.EXISTS, f"{member} is already a member of {group}")
                tx.execute("INSERT INTO group_members (group_id, member) VALUES (?, ?)",
                           (row[0], member))
            elif not tx.execute("DELETE FROM group_members WHERE group_id = ? AND member = ?",
                                (row[0], member)):
                raise not_found(f"{member} is not a member of {group}")
            return self._group(tx, row)
        return await self.engine.write(fn)

    async def remove_group(self, address: str) -> None:
        def fn(tx: Tx) -> None:
            if not tx.execute("DELETE FROM mail_groups WHERE address = ?", (address,)):
                raise not_found(f"no group {address}")
            tx.execute("DELETE FROM acl WHERE identifier = ? OR identifier = ?",
                       ("$" + address, "-$" + address))
        await self.engine.write(fn)

    async def groups_containing(self, members: Sequence[str]) -> list[str]:
        """Groups that list any of ``members`` directly (one level; the directory walks up)."""
        def fn(tx: Tx) -> list[str]:
            marks = ", ".join("?" for _ in members)
            return [str(r[0]) for r in tx.all(
                f"SELECT DISTINCT g.address FROM mail_groups g JOIN group_members m "
                f"ON m.group_id = g.id WHERE m.member IN ({marks})", tuple(members))]
        return await self.engine.read(fn)

    # -- admin roles -------------------------------------------------------------------------
    async def set_admin(self, address: str, domain: str | None, grant: bool) -> None:
        def fn(tx: Tx) -> None:
            row = tx.one("SELECT id FROM accounts WHERE address = ?", (address,))
            if row is None:
                raise not_found(f"no account {address}")
            scope = GLOBAL_SCOPE if domain is None else _domain_id(tx, domain)
            what = "global administrator" if domain is None else f"administrator of {domain}"
            exists = tx.one("SELECT 1 FROM admin_roles WHERE account_id = ? AND domain_id = ?",
                            (row[0], scope))
            if grant:
                if exists:
                    raise MailError(Kind.EXISTS, f"{address} is already {what}")
                tx.execute("INSERT INTO admin_roles (account_id, domain_id) VALUES (?, ?)",
                           (row[0], scope))
            else:
                if not exists:
                    raise not_found(f"{address} is not {what}")
                tx.execute("DELETE FROM admin_roles WHERE account_id = ? AND domain_id = ?",
                           (row[0], scope))
        await self.engine.write(fn)

    async def admin_scopes(self, account_id: int,
                           ) -> tuple[bool, tuple[tuple[int, str], ...]]:
        """(is global admin, (id, name) of each domain administered)."""
        def fn(tx: Tx) -> tuple[bool, tuple[tuple[int, str], ...]]:
            rows = tx.all("SELECT r.domain_id, d.name FROM admin_roles r LEFT JOIN domains d "
                          "ON d.id = r.domain_id WHERE r.account_id = ?", (account_id,))
            is_global = any(int(r[0]) == GLOBAL_SCOPE for r in rows)
            return is_global, tuple(sorted((int(r[0]), str(r[1])) for r in rows
                                           if r[1] is not None))
        return await self.engine.read(fn)

    async def list_admins(self) -> list[tuple[str, str]]:
        def fn(tx: Tx) -> list[tuple[str, str]]:
            rows = tx.all("SELECT a.address, coalesce(d.name, '*') FROM admin_roles r "
                          "JOIN accounts a ON a.id = r.account_id LEFT JOIN domains d "
                          "ON d.id = r.domain_id ORDER BY a.address")
            return [(str(r[0]), str(r[1])) for r in rows]
        return await self.engine.read(fn)
