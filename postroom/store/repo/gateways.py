"""Domain gateways and ATRN providers (issue 7): the rows behind ``postroom gateway`` and
``postroom atrn``.

A gateway is a domain that is not ours but that we accept mail for (a backup MX, MDaemon's
"domain gateway"): its mail is queued with ``hold_domain`` set and either delivered to
``deliver_to`` or held until an account listed in ``gateway_atrn`` collects it by ATRN
(RFC 2645). An ATRN provider is the other direction: a host that holds *our* domains' mail.
Secrets (a gateway's Minger secret, a provider password) arrive here already sealed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from postroom.core.errors import Kind, MailError, not_found
from postroom.core.records import GatewayRec, ProviderRec
from postroom.store.engine import Engine, Row, Tx
from postroom.store.repo import columns

_GW_COLS = ("id, domain, deliver_to, verify, minger_host, minger_secret, unverifiable, "
            "created_at")
GATEWAY_EDITABLE = {"deliver_to", "verify", "minger_host", "minger_secret", "unverifiable"}


_PR_COLS = ("id, name, host, port, tls, tls_verify, username, password, domains, interval_s, "
            "enabled, next_run, failures, last_success, last_error, last_error_at, "
            "last_received, created_at")
PROVIDER_EDITABLE = {"host", "port", "tls", "tls_verify", "username", "password", "domains",
                     "interval_s", "enabled", "next_run", "failures"}


def _provider(row: Row) -> ProviderRec:
    v = list(row)
    v[5] = bool(v[5])
    v[10] = bool(v[10])
    return ProviderRec(*v)


class GatewayRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- gateways -----------------------------------------------------------------------------
    @staticmethod
    def _gateway(tx: Tx, row: Row) -> GatewayRec:
        gid = int(row[0])
        recipients = tuple(str(r[0]) for r in tx.all(
            "SELECT address FROM gateway_recipients WHERE gateway_id = ? ORDER BY address",
            (gid,)))
        users = tuple(str(r[0]) for r in tx.all(
            "SELECT a.address FROM gateway_atrn g JOIN accounts a ON a.id = g.account_id "
            "WHERE g.gateway_id = ? ORDER BY a.address", (gid,)))
        return GatewayRec(gid, str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                          None if row[5] is None else str(row[5]), str(row[6]), int(row[7]),
                          recipients, users)

    async def add(self, domain: str, fields: dict[str, object], recipients: Sequence[str],
                  atrn_accounts: Sequence[int]) -> GatewayRec:
        values = {"domain": domain, "created_at": int(time.time()),
                  **columns.editable(fields, GATEWAY_EDITABLE)}
        def fn(tx: Tx) -> GatewayRec:
            if tx.one("SELECT 1 FROM gateways WHERE domain = ?", (domain,)):
                raise MailError(Kind.EXISTS, f"gateway {domain} already exists")
            row = columns.insert(tx, "gateways", values, returning="id")
            assert row is not None
            gid = int(row[0])
            self._set_lists(tx, gid, recipients, atrn_accounts, replace=True)
            return self._get(tx, domain)  # type: ignore[return-value]
        return await self.engine.write(fn)

    @staticmethod
    def _set_lists(tx: Tx, gid: int, recipients: Sequence[str] | None,
                   accounts: Sequence[int] | None, replace: bool,
                   drop_recipients: Sequence[str] = (), drop_accounts: Sequence[int] = ()) -> None:
        if replace and recipients is not None:
            tx.execute("DELETE FROM gateway_recipients WHERE gateway_id = ?", (gid,))
        if replace and accounts is not None:
            tx.execute("DELETE FROM gateway_atrn WHERE gateway_id = ?", (gid,))
        for address in recipients or ():
            tx.execute("INSERT INTO gateway_recipients (gateway_id, address) VALUES (?, ?) "
                       "ON CONFLICT DO NOTHING", (gid, address))
        for account_id in accounts or ():
            tx.execute("INSERT INTO gateway_atrn (gateway_id, account_id) VALUES (?, ?) "
                       "ON CONFLICT DO NOTHING", (gid, account_id))
        for address in drop_recipients:
            tx.execute("DELETE FROM gateway_recipients WHERE gateway_id = ? AND address = ?",
                       (gid, address))
        for account_id in drop_accounts:
            tx.execute("DELETE FROM gateway_atrn WHERE gateway_id = ? AND account_id = ?",
                       (gid, account_id))

    async def update(self, domain: str, fields: dict[str, object], *,
                     add_recipients: Sequence[str] = (), drop_recipients: Sequence[str] = (),
                     add_accounts: Sequence[int] = (), drop_accounts: Sequence[int] = (),
                     ) -> GatewayRec:
        values = columns.editable(fields, GATEWAY_EDITABLE)
        def fn(tx: Tx) -> GatewayRec:
            row = tx.one("SELECT id FROM gateways WHERE domain = ?", (domain,))
            if row is None:
                raise not_found(f"no gateway {domain}")
            gid = int(row[0])
            columns.update(tx, "gateways", values, "id = ?", (gid,))
            self._set_lists(tx, gid, add_recipients, add_accounts, replace=False,
                            drop_recipients=drop_recipients, drop_accounts=drop_accounts)
            return self._get(tx, domain)  # type: ignore[return-value]
        return await self.engine.write(fn)

    def _get(self, tx: Tx, domain: str) -> GatewayRec | None:
        row = tx.one(f"SELECT {_GW_COLS} FROM gateways WHERE domain = ?", (domain,))
        return self._gateway(tx, row) if row else None

    async def get(self, domain: str) -> GatewayRec | None:
        def fn(tx: Tx) -> GatewayRec | None:
            return self._get(tx, domain)
        return await self.engine.read(fn)

    async def all(self) -> list[GatewayRec]:
        def fn(tx: Tx) -> list[GatewayRec]:
            return [self._gateway(tx, r) for r in tx.all(
                f"SELECT {_GW_COLS} FROM gateways ORDER BY domain")]
        return await self.engine.read(fn)

    async def remove(self, domain: str) -> None:
        def fn(tx: Tx) -> None:
            if not tx.execute("DELETE FROM gateways WHERE domain = ?", (domain,)):
                raise not_found(f"no gateway {domain}")
        await self.engine.write(fn)

    async def atrn_domains(self, account_id: int) -> list[str]:
        """The gateway domains this account may collect by ATRN."""
        def fn(tx: Tx) -> list[str]:
            return [str(r[0]) for r in tx.all(
                "SELECT g.domain FROM gateways g JOIN gateway_atrn a ON a.gateway_id = g.id "
                "WHERE a.account_id = ? ORDER BY g.domain", (account_id,))]
        return await self.engine.read(fn)

    # -- ATRN providers (customer side) -------------------------------------------------------
    async def add_provider(self, name: str, fields: dict[str, object]) -> ProviderRec:
        values = {"name": name, "created_at": int(time.time()),
                  **columns.editable(fields, PROVIDER_EDITABLE)}
        def fn(tx: Tx) -> ProviderRec:
            if tx.one("SELECT 1 FROM atrn_providers WHERE name = ?", (name,)):
                raise MailError(Kind.EXISTS, f"ATRN provider {name} already exists")
            columns.insert(tx, "atrn_providers", values)
            return self._provider(tx, name)  # type: ignore[return-value]
        return await self.engine.write(fn)

    @staticmethod
    def _provider(tx: Tx, name: str) -> ProviderRec | None:
        row = tx.one(f"SELECT {_PR_COLS} FROM atrn_providers WHERE name = ?", (name,))
        return _provider(row) if row else None

    async def provider(self, name: str) -> ProviderRec | None:
        def fn(tx: Tx) -> ProviderRec | None:
            return self._provider(tx, name)
        return await self.engine.read(fn)

    async def providers(self) -> list[ProviderRec]:
        def fn(tx: Tx) -> list[ProviderRec]:
            return [_provider(r) for r in tx.all(
                f"SELECT {_PR_COLS} FROM atrn_providers ORDER BY name")]
        return await self.engine.read(fn)

    async def due_providers(self, now: int) -> list[ProviderRec]:
        def fn(tx: Tx) -> list[ProviderRec]:
            return [_provider(r) for r in tx.all(
                f"SELECT {_PR_COLS} FROM atrn_providers WHERE enabled = 1 AND next_run <= ? "
                "ORDER BY next_run", (now,))]
        return await self.engine.read(fn)

    async def update_provider(self, name: str, fields: dict[str, object]) -> ProviderRec:
        values = columns.editable(fields, PROVIDER_EDITABLE)
        def fn(tx: Tx) -> ProviderRec:
            columns.update(tx, "atrn_providers", values, "name = ?", (name,))
            rec = self._provider(tx, name)
            if rec is None:
                raise not_found(f"no ATRN provider {name}")
            return rec
        return await self.engine.write(fn)

    async def record_run(self, name: str, *, ok: bool, error: str, received: int,
                         next_run: int) -> None:
        now = int(time.time())
        def fn(tx: Tx) -> None:
            if ok:
                tx.execute("UPDATE atrn_providers SET failures = 0, last_success = ?, "
                           "last_received = ?, next_run = ? WHERE name = ?",
                           (now, received, next_run, name))
            else:
                tx.execute("UPDATE atrn_providers SET failures = failures + 1, "
                           "last_error = ?, last_error_at = ?, next_run = ? WHERE name = ?",
                           (error[:500], now, next_run, name))
        await self.engine.write(fn)

    async def remove_provider(self, name: str) -> None:
        def fn(tx: Tx) -> None:
            if not tx.execute("DELETE FROM atrn_providers WHERE name = ?", (name,)):
                raise not_found(f"no ATRN provider {name}")
        await self.engine.write(fn)
