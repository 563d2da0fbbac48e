"""An account with what an administrator's view of it shows next to it, in one read.

The JSON API's ``GET /api/v1/users/{address}`` is a frequent read; assembled from the
directory's and the spam preferences' own reads it costs four trips to a reader thread. This
reads the account row, its administrator roles and its spam-filter opt-out in one read
transaction (the groups still come from the directory, which walks nested groups). Both
engines run the same SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core.records import AccountRec
from postroom.store.api import GLOBAL_SCOPE
from postroom.store.engine import Engine, Tx
from postroom.store.repo.directory import _ACCOUNT_COLS


@dataclass(frozen=True, slots=True)
class AccountView:
    account: AccountRec
    global_admin: bool
    admin_domains: tuple[tuple[int, str], ...]  # (id, name) of each domain administered
    spam_opted_out: bool


class AccountViewRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def view(self, address: str) -> AccountView | None:
        def fn(tx: Tx) -> AccountView | None:
            row = tx.one(f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE address = ?", (address,))
            if row is None:
                return None
            account = AccountRec(*row)
            roles = tx.all("SELECT r.domain_id, d.name FROM admin_roles r LEFT JOIN domains d "
                           "ON d.id = r.domain_id WHERE r.account_id = ?", (account.id,))
            opted = tx.one("SELECT 1 FROM spam_filter_optout WHERE account_id = ?",
                           (account.id,))
            return AccountView(account, any(int(r[0]) == GLOBAL_SCOPE for r in roles),
                               tuple(sorted((int(r[0]), str(r[1])) for r in roles
                                            if r[1] is not None)),
                               opted is not None)
        return await self.engine.read(fn)
