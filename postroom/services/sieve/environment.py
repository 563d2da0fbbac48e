"""What a script running at delivery may ask of the world (postroom/sieve/runtime.py
``Environment``), answered for one recipient account through the services.

- folders (``mailbox_exists``, RFC 5490 §3.1) through the gate with the fileinto right
  (``sieve.fileinto_right``): a folder the owner may not file into does not exist for the
  script, and one that is not a mail folder (a calendar) neither. The same lookup places the
  copies afterwards (filter.py ``folder``), so a test and the action it guards agree;
- metadata (RFC 5490 §3.3/§3.4): the store keeps no per-folder or server annotations (no IMAP
  METADATA), so every annotation is absent (None): ``metadata`` tests are false and
  ``metadataexists`` too, as RFC 5490 asks for a missing entry;
- included scripts (RFC 6609 §3.2) from the stored scripts: ``:personal`` names one of the
  account's own, ``:global`` one of the server's named scripts (services/sieve/scripts.py);
- the duplicate test (RFC 7352) asks the ``SieveMemory`` the delivery service was given
  (services/sieve/memory.py); what it decides to remember goes into ``pending`` and is
  committed with the delivery (store/repo/sieve.py ``remember_in``), so a message filtered
  again after a crash is judged as the first time;
- the clock: one instant per delivery, in the server's time zone (RFC 5260 §5 currentdate);
- RFC 5183 items: "host" is the server's name, "domain" the recipient's domain; the SMTP
  client ("remote-host", "remote-ip") is not kept with a queued message, so unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from postroom.access.gate import MailboxHandle
from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.core.records import AccountRec, MemoryRow
from postroom.directory.service import Directory
from postroom.services import names
from postroom.services.mailboxes import MailboxService
from postroom.services.sieve.scripts import SieveScripts
from postroom.sieve import BoundScript
from postroom.sieve.errors import SieveRuntimeError


class SieveMemory(Protocol):
    """What Sieve remembers between deliveries (services/sieve/memory.py provides it)."""

    async def duplicate(self, account_id: int, tracking: str, seconds: int, last: bool,
                        pending: list[MemoryRow]) -> bool:
        """RFC 7352 §3: True if ``tracking`` was seen for the account within ``seconds``.
        Rows to record (the tracking, seen now) are appended to ``pending``; the delivery
        commits them with the copies."""
        ...


@dataclass
class Recipient:
    """The account a chain runs for, and what the runs learn on the way."""

    account: AccountRec
    address: str  # the envelope recipient that reached the account (an alias, a group)
    principal: Principal  # the account, without its groups (enough for its own folders)
    full: Principal | None = None  # with its groups, read when a shared folder is named
    pending: list[MemoryRow] = field(default_factory=list)


class DeliveryEnvironment:
    """``Environment`` for one recipient's chain at one delivery."""

    def __init__(self, rcpt: Recipient, scripts: SieveScripts, mailboxes: MailboxService,
                 directory: Directory, memory: SieveMemory | None, now: datetime,
                 hostname: str) -> None:
        self.rcpt = rcpt
        self._hostname = hostname
        self._scripts = scripts
        self._mailboxes = mailboxes
        self._directory = directory
        self._memory = memory
        self._now = now
        self._folders: dict[str, MailboxHandle | None] = {}

    async def folder(self, name: str) -> MailboxHandle | None:
        """The mail folder ``name`` if the owner may file into it, else None (looked up once
        per run: a test and the fileinto after it see the same answer)."""
        if name in self._folders:
            return self._folders[name]
        principal = self.rcpt.principal
        if names.parse_name(name).namespace != "personal":
            # someone else's or a public folder: the ACL may name the owner's groups
            if self.rcpt.full is None:
                self.rcpt.full = await self._directory.principal_for(self.rcpt.account)
            principal = self.rcpt.full
        try:
            handle: MailboxHandle | None = await self._mailboxes.open(
                principal, name, self._scripts.fileinto_op)
        except MailError:
            handle = None
        if handle is not None and handle.mailbox.kind != "mail":
            handle = None
        self._folders[name] = handle
        return handle

    def forget(self, name: str) -> None:
        """``name`` was just created: look it up again."""
        self._folders.pop(name, None)

    # -- Environment --------------------------------------------------------------------------
    async def mailbox_exists(self, name: str) -> bool:
        return await self.folder(name) is not None

    async def metadata(self, mailbox: str | None, annotation: str) -> str | None:
        return None  # no annotations are stored (module doc)

    async def duplicate(self, tracking: str, seconds: int, last: bool) -> bool:
        if self._memory is None:  # no memory attached (app.py attaches one): keep
            raise SieveRuntimeError("the duplicate test has no memory on this server")
        return await self._memory.duplicate(self.rcpt.account.id, tracking, seconds, last,
                                            self.rcpt.pending)

    async def include(self, name: str, location: str) -> BoundScript | None:
        return await self._scripts.included(self.rcpt.account.id, name, location)

    def now(self) -> datetime:
        return self._now

    def environment(self, item: str) -> str | None:
        if item == "host":
            return self._hostname
        if item == "domain":
            return self.rcpt.account.address.rpartition("@")[2]
        return None

    def user_addresses(self) -> tuple[str, ...]:
        own = self.rcpt.account.address
        if self.rcpt.address.lower() != own.lower():
            return (own, self.rcpt.address)
        return (own,)
