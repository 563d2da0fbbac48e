"""MultiPOP accounts: the remote POP3 mailboxes users collect from, and their bookkeeping.

Administration (``add``, ``update``, ``remove``: checked here, audited by services/admin) and
what a collection run needs of the store (leases, the UIDLs already collected, recording a
collected message) live here; the run itself, a network client, is mta/multipop.py. The remote
password is sealed at rest (directory/secretbox.py).

Recording a message (``record``) writes its UIDL and its queue entry in one transaction
(store/repo/multipop.py), so a collector killed at any point neither loses nor duplicates it.
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.core.errors import invalid, not_found
from postroom.core.records import NewEntry, RemoteRec, SeenRec
from postroom.directory.secretbox import SecretBox
from postroom.directory.service import Directory
from postroom.services.queue import QueueService
from postroom.store.sqlstore import SqlStore

TLS_MODES = ("implicit", "starttls", "none")
DEFAULT_PORTS = {"implicit": 995, "starttls": 110, "none": 110}
MIN_INTERVAL = 60
PURPOSE = "multipop"


class MultipopAccounts:
    def __init__(self, store: SqlStore, directory: Directory, queue: QueueService,
                 secrets: SecretBox) -> None:
        self._store = store
        self._repo = store.multipop
        self._directory = directory
        self._queue = queue
        self._secrets = secrets

    # -- administration -----------------------------------------------------------------------
    async def add(self, address: str, *, host: str, username: str, password: str,
                  tls: str = "implicit", port: int | None = None, tls_verify: bool = True,
                  leave_on_server: bool = False, delete_after_days: int | None = None,
                  interval: int = 600, folder: str = "INBOX", enabled: bool = True,
                  ) -> RemoteRec:
        account = await self._directory.require_account(address)
        fields = self.validate(host=host, username=username, tls=tls, port=port,
                             leave_on_server=leave_on_server,
                             delete_after_days=delete_after_days, interval=interval)
        await self.check_folder(account.id, folder)
        fields.update(password=self._secrets.seal(password, PURPOSE), folder=folder,
                      tls_verify=tls_verify, enabled=enabled, next_run=0)
        return await self._repo.add(account.id, fields)

    def validate(self, *, host: str, username: str, tls: str, port: int | None,
               leave_on_server: bool, delete_after_days: int | None, interval: int,
               ) -> dict[str, object]:
        if not host or any(c.isspace() for c in host):
            raise invalid("host: give a host name or address")
        if not username or any(c in username for c in "\r\n"):
            raise invalid("user: give the remote user name")
        if tls not in TLS_MODES:
            raise invalid(f"tls: one of {', '.join(TLS_MODES)}")
        port = DEFAULT_PORTS[tls] if port is None else port
        if not 1 <= port <= 65535:
            raise invalid("port: 1 to 65535")
        if interval < MIN_INTERVAL:
            raise invalid(f"interval: at least {MIN_INTERVAL} seconds")
        if delete_after_days is not None:
            if delete_after_days < 1:
                raise invalid("delete-after-days: at least 1")
            if not leave_on_server:
                raise invalid("delete-after-days needs --leave-on-server (without it "
                              "messages are deleted as soon as they are collected)")
        return {"host": host.strip().lower(), "username": username, "tls": tls, "port": port,
                "leave_on_server": leave_on_server, "delete_after_days": delete_after_days,
                "interval_s": interval}

    async def check_folder(self, account_id: int, folder: str) -> None:
        if folder == "INBOX":
            return
        box = await self._store.mailboxes.by_name(account_id, folder)
        if box is None or box.kind != "mail":
            raise not_found(f"folder {folder!r} does not exist in that account (create it "
                            "first, e.g. from an IMAP client)")

    async def update(self, address: str, remote_id: int, *, password: str | None = None,
                     interval: int | None = None, folder: str | None = None,
                     enabled: bool | None = None, leave_on_server: bool | None = None,
                     delete_after_days: int | None = None) -> RemoteRec:
        """Change a remote account; the result is checked as ``add`` checks a new one.
        ``delete_after_days=0`` means never. Switching on clears the failure count and runs
        it at the next check."""
        rec = await self.one(address, remote_id)
        fields: dict[str, object] = {}
        if password is not None:
            fields["password"] = self._secrets.seal(password, PURPOSE)
        if interval is not None:
            fields["interval_s"] = interval
        if folder is not None:
            await self.check_folder(rec.account_id, folder)
            fields["folder"] = folder
        if enabled is not None:
            fields.update(enabled=enabled, failures=0, next_run=0)
        if leave_on_server is not None:
            fields["leave_on_server"] = leave_on_server
        if delete_after_days is not None:
            fields["delete_after_days"] = delete_after_days or None
        if not fields:
            raise invalid("nothing to change")
        days = fields.get("delete_after_days", rec.delete_after_days)
        self.validate(host=rec.host, username=rec.username, tls=rec.tls, port=rec.port,
                      leave_on_server=bool(fields.get("leave_on_server",
                                                      rec.leave_on_server)),
                      delete_after_days=days if isinstance(days, int) else None,
                      interval=interval if interval is not None else rec.interval_s)
        updated = await self._repo.update(rec.id, fields)
        assert updated is not None
        return updated

    async def remotes(self, address: str | None = None) -> list[RemoteRec]:
        if address is None:
            return await self._repo.remotes()
        account = await self._directory.require_account(address)
        return await self._repo.remotes(account.id)

    async def one(self, address: str, remote_id: int) -> RemoteRec:
        """A remote account of ``address`` by its id (NOT_FOUND for anyone else's)."""
        account = await self._directory.require_account(address)
        # an id no row can have (the column is a signed 64-bit integer) is simply not found;
        # handed to the database it would be an overflow error, not an answer
        rec = await self._repo.get(remote_id) if 0 < remote_id < 1 << 63 else None
        if rec is None or rec.account_id != account.id:
            raise not_found(f"{address} has no remote account {remote_id} "
                            f"(see: postroom multipop list {address})")
        return rec

    async def remove(self, address: str, remote_id: int) -> None:
        await self.one(address, remote_id)
        await self._repo.remove(remote_id)

    async def seen(self, remote_id: int) -> dict[str, SeenRec]:
        return await self._repo.seen(remote_id)

    # -- what a collection run needs ----------------------------------------------------------
    def password(self, remote: RemoteRec) -> str:
        """The remote password, opened (SecretError: wrong key file)."""
        return self._secrets.open(remote.password, PURPOSE)

    async def claim(self, owner: str, lease: int, *, limit: int = 1,
                    remote_id: int | None = None) -> list[RemoteRec]:
        return await self._repo.claim(owner, lease, limit=limit, remote_id=remote_id)

    async def renew(self, remote_id: int, owner: str, lease: int) -> None:
        await self._repo.renew(remote_id, owner, lease)

    async def release(self, remote_id: int, owner: str, *, ok: bool, next_run: int,
                      failures: int, error: str = "", fetched: int = 0) -> None:
        await self._repo.release(remote_id, owner, ok=ok, error=error, next_run=next_run,
                                 failures=failures, fetched=fetched)

    async def drop_lease(self, remote_id: int, owner: str) -> None:
        await self._repo.drop_lease(remote_id, owner)

    async def leases(self) -> list[tuple[int, str]]:
        return await self._repo.leases()

    async def record(self, remote_id: int, uidl: str, entry: NewEntry | None) -> bool:
        """Remember ``uidl`` and queue ``entry`` (None: skipped, too large) in one
        transaction; False when the UIDL was already recorded."""
        recorded = await self._repo.record(remote_id, uidl, entry)
        if recorded and entry is not None:
            self._queue.announce()
        return recorded

    async def forget(self, remote_id: int, uidls: Sequence[str]) -> None:
        await self._repo.forget(remote_id, uidls)
