"""Running the Sieve chain for one recipient account at delivery, and what it decides.

The delivery service (services/delivery.py) calls ``run`` once per account an entry reaches,
with the folder the message would go to without Sieve (INBOX, the entry's folder, or Junk for
a quarantined message: the "default folder"). Nothing here writes a message: the outcome names
copies (a folder handle from the gate, flags, keywords), and the delivery service puts them
into the one transaction that settles the entry (crash safe: all or nothing). The one write
that happens before that transaction is ``fileinto :create`` making a missing folder (RFC 5490
§3.2) through the mailbox service: creating a folder is idempotent, so a crash or a refused
settlement afterwards leaves an empty folder and nothing worse.

**The chain** (docs/sieve.md): the server's "before" script, the domain's "before" script,
the account's active script, the domain's "after" script, the server's "after" script;
whichever exist. As Pigeonhole's sequence of scripts: each script runs as if alone; the next
one runs only when this one ended with a keep (implicit, or ``keep``); a script that cancels
the keep (fileinto, discard, redirect, reject) ends the chain. The actions of every script
that ran are carried out; the keep is the last script's. RFC 5228 §2.10.2.

**Errors** (RFC 5228 §2.10.6): a script that fails at run time or hits a limit
(postroom/sieve/limits.py: steps, CPU time, actions, redirects…) stops the chain; its own
actions are dropped, those of the scripts before it stand, and the message is kept in the
default folder, with the cause logged (application log and the mail log line). A stored
script that no longer compiles (an extension turned off since) is such an error too.

**Actions**: keep → the default folder with the keep's flags (RFC 5232); fileinto → the named
folder through the gate with the configured right (``sieve.fileinto_right``; a folder the
owner may not file into, or that is not a mail folder, does not exist), created first with
``:create``, else the default folder (RFC 5228 §4.1 allows it; the log says so); discard →
nothing; reject/ereject → a notice to the sender (RFC 5429 §2.1, sent by the queue manager);
redirect and vacation → handed on in the outcome (services/sieve/redirect.py and vacation.py
queue them in the settling transaction). Header edits (RFC 5293) travel in ``message``: the
delivery service writes the edited copy.

**Compiled chains** come from the script service's cache by content hash; one store read per
recipient fetches the chain (store/repo/sieve.py ``chain``), so a script changed by any node
or process (the CLI) takes effect at the next delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from postroom.access.gate import MailboxHandle
from postroom.config_sieve import SieveConfig
from postroom.core.errors import MailError
from postroom.core.flags import SYSTEM_FLAGS, keywords_to_text, parse_flags
from postroom.core.records import MemoryRow
from postroom.directory.service import Directory
from postroom.services.mailboxes import MailboxService
from postroom.services.sieve.environment import DeliveryEnvironment, Recipient, SieveMemory
from postroom.services.sieve.redirect import RedirectOrder, loop_reason
from postroom.services.sieve.scripts import SieveScripts
from postroom.services.sieve.vacation import VacationOrder
from postroom.sieve import BoundScript
from postroom.sieve.actions import Discard, FileInto, Keep, Redirect, Reject, Vacation
from postroom.sieve.errors import SieveError
from postroom.sieve.interp import execute
from postroom.sieve.message import Message
from postroom.store.repo.sieve import ChainRow
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.sieve")

MAX_NOTE = 300  # characters of an error's text in the mail log


@dataclass(frozen=True, slots=True)
class Copy:
    """One copy to file: where, with which flags (a bitmask) and keywords (text)."""

    handle: MailboxHandle
    flags: int = 0
    keywords: str = ""


@dataclass
class SieveOutcome:
    """What the chain decided for one account."""

    recipient: Recipient
    message: Message  # as the scripts left it (``message.edited``: RFC 5293 edits)
    copies: list[Copy] = field(default_factory=list)
    # handed on to be queued with the settlement (services/sieve/redirect.py, vacation.py)
    redirects: list[RedirectOrder] = field(default_factory=list)
    replies: list[VacationOrder] = field(default_factory=list)
    reject: Reject | None = None
    notes: list[str] = field(default_factory=list)  # what was done, for the mail log
    error: str = ""  # why the chain stopped, when it failed

    @property
    def pending(self) -> list[MemoryRow]:
        """What the runs asked to remember (duplicate), committed with the delivery."""
        return self.recipient.pending

    def note(self) -> str:
        """The mail log's words for this outcome: ``sieve: fileinto Lists/foo``."""
        return "sieve: " + ", ".join(self.notes)


MessageFactory = Callable[[Recipient], Message]


class SieveFilter:
    """Runs chains; built once (app.py) and shared by every delivery."""

    def __init__(self, store: SqlStore, cfg: SieveConfig, scripts: SieveScripts,
                 mailboxes: MailboxService, directory: Directory, hostname: str) -> None:
        self._repo = store.sieve
        self.hostname = hostname
        self.cfg = cfg
        self.scripts = scripts
        self._mailboxes = mailboxes
        self._directory = directory
        # the memory between deliveries (duplicate; services/sieve/memory.py), set by app.py
        self.memory: SieveMemory | None = None

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled

    async def chain(self, account_id: int, domain_id: int) -> list[ChainRow]:
        """The scripts a delivery to the account runs (one read); empty: no Sieve."""
        return await self._repo.chain(account_id, domain_id)

    async def run(self, rcpt: Recipient, rows: Sequence[ChainRow], default: MailboxHandle,
                  message: Message, now: datetime) -> SieveOutcome:
        """Run ``rows`` (from ``chain``, not empty) over ``message`` for ``rcpt``; the
        outcome names the copies in place of the one copy into ``default``."""
        env = DeliveryEnvironment(rcpt, self.scripts, self._mailboxes, self._directory,
                                  self.memory, now, self.hostname)
        out = SieveOutcome(rcpt, message)
        actions: list[Keep | FileInto | Redirect | Reject | Discard | Vacation] = []
        keep: tuple[str, ...] | None = None
        kept = True
        failed = ""
        for n, row in enumerate(rows):
            label = _label(row)
            try:
                script = self._compiled(row)
            except SieveError as exc:
                failed = f"{label}: does not compile: {exc}"
                break
            result = await execute(script, message, env, self.scripts.limits)
            if result.error is not None:
                failed = f"{label}: {result.error}"
                break
            explicit = [a for a in result.actions if isinstance(a, Keep)]
            actions += [a for a in result.actions if not isinstance(a, Keep)]
            kept = result.implicit_keep or bool(explicit)
            flags = explicit[-1].flags if explicit else result.keep_flags
            if flags is not None or n == 0:
                keep = flags
            if not kept:
                break
        if not failed:
            failed = self._loop(actions, message, env)
            if failed:  # the run is an error: nothing of it is done but the keep
                actions = []
        if failed:
            out.error = failed
            kept, keep = True, None
            log.warning("sieve error; the message is kept", extra={
                "to": f"<{rcpt.account.address}>", "reason": failed[:MAX_NOTE]})
        await self._carry_out(out, env, actions, kept, keep, default)
        if failed:
            out.notes.append(f"error {failed[:MAX_NOTE]} → kept in {default.name}")
        return out

    @staticmethod
    def _loop(actions: Sequence[object], message: Message, env: DeliveryEnvironment) -> str:
        """RFC 5228 §4.2: a redirect that would go round in a loop is an error."""
        if not any(isinstance(a, Redirect) for a in actions):
            return ""
        return loop_reason(message, env.user_addresses()) or ""

    def _compiled(self, row: ChainRow) -> BoundScript:
        return self.scripts.compile_stored(row.content, row.hash, row.name)

    async def _carry_out(self, out: SieveOutcome, env: DeliveryEnvironment,
                         actions: Sequence[object], kept: bool,
                         keep: tuple[str, ...] | None, default: MailboxHandle) -> None:
        """Turn the actions into copies, notices and hand-ons, in order."""
        placed: dict[int, int] = {}  # mailbox id → index in out.copies
        account = out.recipient.account

        def add(handle: MailboxHandle, flags: tuple[str, ...] | None) -> None:
            mask, keywords = _flags(flags)
            at = placed.get(handle.id)
            if at is None:
                placed[handle.id] = len(out.copies)
                out.copies.append(Copy(handle, mask, keywords))
            elif flags is not None:  # RFC 5232 §3: filed twice, the last flag list wins
                out.copies[at] = Copy(handle, mask, keywords)

        for action in actions:
            if isinstance(action, FileInto):
                handle = await self._target(env, action)
                if handle is None:
                    add(default, action.flags)
                    out.notes.append(f"fileinto {action.mailbox}: no such folder → kept in "
                                     f"{default.name}")
                else:
                    add(handle, action.flags)
                    out.notes.append(f"fileinto {handle.name}"
                                     + (" :copy" if action.copy else ""))
            elif isinstance(action, Discard):
                out.notes.append("discard")
            elif isinstance(action, Reject):
                out.reject = action
                out.notes.append("ereject" if action.extended else "reject")
            elif isinstance(action, Redirect):
                ids = out.message.raw_header("message-id")
                out.redirects.append(RedirectOrder(action.address, account.id, account.address,
                                                   ids[0].strip() if ids else ""))
                out.notes.append(f"redirect {action.address}"
                                 + (" :copy" if action.copy else ""))
            elif isinstance(action, Vacation):
                out.replies.append(VacationOrder(action, account.id, account.address,
                                                 env.user_addresses(), out.message))
                out.notes.append("vacation")
        if kept:
            add(default, keep)
            if not out.error:
                out.notes.append("keep")
        if out.message.edited:
            out.notes.append("header edited")

    async def _target(self, env: DeliveryEnvironment, action: FileInto) -> MailboxHandle | None:
        """The folder of a fileinto, created first with ``:create`` (RFC 5490 §3.2)."""
        handle = await env.folder(action.mailbox)
        if handle is not None or not action.create:
            return handle
        rcpt = env.rcpt
        try:
            await self._mailboxes.create(rcpt.principal, action.mailbox)
        except MailError as exc:
            log.info("sieve: fileinto :create refused", extra={
                "to": f"<{rcpt.account.address}>", "mailbox": action.mailbox,
                "reason": exc.text})
            return None
        env.forget(action.mailbox)
        return await env.folder(action.mailbox)


def _label(row: ChainRow) -> str:
    if row.scope == "user":
        return f"script {row.name!r}"
    return f"{row.scope} {row.phase} script"


def _flags(flags: tuple[str, ...] | None) -> tuple[int, str]:
    """(system flag mask, keywords text) of a flag list; what IMAP could not store is left
    out (the interpreter already drops invalid flags: RFC 5232 §2)."""
    if not flags:
        return 0, ""
    good = []
    for name in flags:
        for one in name.split():
            if one.startswith("\\") and one.lower() not in SYSTEM_FLAGS:
                continue
            try:
                parse_flags([one])
            except MailError:
                continue
            good.append(one)
    mask, keywords = parse_flags(good)
    return mask, keywords_to_text(keywords)
