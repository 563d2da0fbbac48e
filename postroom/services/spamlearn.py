"""Learning from users: mail moved into Junk is reported to spamd as spam, out of it as ham.

MDaemon's spam-folder learning, done where every protocol's COPY and MOVE pass: the message
service (services/messages.py) tells its copy listeners after the copy committed, and
``SpamLearner.copied`` only schedules the report, so an IMAP MOVE (or COPY and EXPUNGE) is
never slowed down nor failed by spamd. The report then runs in the background: the copy in
the target folder is read back (prefix and blob, as the user sees it) and sent to spamd with
TELL (``Message-class: spam|ham``, ``Set: local``; net/spamd.py).

Which moves teach (RFC 6154 §2 special-use roles):
- into the ``\\Junk`` folder from any other folder: spam;
- out of ``\\Junk`` into any folder but ``\\Trash``: ham (deleting spam is not a verdict).

Limits: ``learn_concurrency`` TELLs at once, ``learn_backlog`` messages waiting at most
(beyond it a report is dropped, logged, rather than held); messages larger than
``pipeline.spamd.max_size`` are not reported (spamd was never shown them either). Each report
is one ``spam learn`` line in the mail log, with spamd's answer or the failure.
"""

from __future__ import annotations

import asyncio
import logging

from postroom.config_filters import SpamdConfig
from postroom.core.principal import Principal
from postroom.core.records import MailboxRec
from postroom.net.spamd import SpamdClient, SpamdError
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.mail")

JUNK = "\\Junk"
TRASH = "\\Trash"


def has_role(mailbox: MailboxRec, role: str) -> bool:
    return role.lower() in (u.lower() for u in mailbox.special_use.split())


def verdict_of(source: MailboxRec, target: MailboxRec) -> bool | None:
    """True (spam), False (ham) or None (teaches nothing) for a copy from source to target."""
    into, out_of = has_role(target, JUNK), has_role(source, JUNK)
    if into and not out_of:
        return True
    if out_of and not into and not has_role(target, TRASH):
        return False
    return None


class SpamLearner:
    def __init__(self, store: SqlStore, client: SpamdClient, max_size: int,
                 concurrency: int = 2, backlog: int = 1000) -> None:
        self._store = store
        self.client = client
        self.max_size = max_size
        self.backlog = backlog
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def configure(self, cfg: SpamdConfig) -> None:
        """Take a reloaded configuration: spamd's address, timeouts and the limits (the
        number of reports at once stays until a restart)."""
        self.client = SpamdClient(cfg.address, cfg.timeout, cfg.connect_timeout, cfg.user)
        self.max_size = cfg.max_size
        self.backlog = cfg.learn_backlog

    def copied(self, principal: Principal, source: MailboxRec, target: MailboxRec,
               pairs: tuple[tuple[int, int], ...]) -> None:
        """A copy listener (MessageService.copy_listeners): schedule the reports, return."""
        spam = verdict_of(source, target)
        if spam is None or not pairs:
            return
        who = principal.address or "-"
        for _, uid in pairs:
            if self._waiting >= self.backlog:
                log.warning("spam learn", extra={
                    "user": who, "class": "spam" if spam else "ham", "folder": target.name,
                    "uid": uid, "result": "dropped", "reason": "learning backlog full"})
                continue
            self._waiting += 1
            task = asyncio.get_running_loop().create_task(
                self._report(who, target, uid, spam))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _report(self, who: str, target: MailboxRec, uid: int, spam: bool) -> None:
        what = {"user": who, "class": "spam" if spam else "ham", "folder": target.name,
                "uid": uid}
        try:
            async with self._slots:
                rec = await self._store.messages.get(target.id, uid)
                if rec is None:
                    log.info("spam learn", extra={**what, "result": "skipped",
                                                  "reason": "expunged before it was read"})
                    return
                if rec.size > self.max_size:
                    log.info("spam learn", extra={**what, "result": "skipped",
                                                  "reason": f"larger than {self.max_size}"})
                    return
                loop = asyncio.get_running_loop()
                body = await loop.run_in_executor(None, self._store.blobs.read, rec.blob)
                data = bytes(rec.prefix) + body
                answer = await self.client.tell(data, spam)
                log.info("spam learn", extra={**what, "result": "told",
                                              "reason": answer or "already known"})
        except SpamdError as exc:
            log.warning("spam learn", extra={**what, "result": "failed", "reason": str(exc)})
        except Exception as exc:  # a report never takes anything down with it
            log.exception("spam learn", extra={**what, "result": "failed",
                                               "reason": type(exc).__name__})
        finally:
            self._waiting -= 1

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the reports under way (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
