"""What Sieve sends and remembers after a delivery's runs: the glue between the delivery
plan (services/delivery.py, filled by services/sieve/filter.py) and the queue manager's
settlement.

For one envelope recipient of an entry, ``SieveSending.for_recipient`` turns what the scripts
of the accounts it reached asked for (the delivery plan's orders) into
- the queue entries of the scripts' redirects (services/sieve/redirect.py) and of their
  vacation replies (services/sieve/vacation.py), and
- the memory rows of the vacation replies and the redirects (services/sieve/memory.py); the
  duplicate test's rows come with the plan.
The queue manager (mta/queue.py ``local_attempt``) commits both in the transaction that
settles the delivery: nothing is sent or remembered unless the message is delivered, and a
retry after a crash or a refused settlement sends everything exactly once.

``SieveMail`` holds the long-lived parts (the SRS scheme, the memory, the vacation service),
built once by the composition root; ``sending`` makes the per-queue-manager part, which needs
the manager's ``Forwarding`` (its ARC sealer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postroom.config_sieve import SieveConfig
from postroom.core.records import MemoryRow, NewEntry, QueueRec
from postroom.directory.service import Directory
from postroom.services.forwarding import Forwarding
from postroom.services.queue import QueueService
from postroom.services.sieve.memory import SieveMemory
from postroom.services.sieve.redirect import Redirector, RedirectOrder
from postroom.services.sieve.srs import SenderRewriting, SrsError
from postroom.services.sieve.vacation import VacationOrder, Vacations
from postroom.services.submission import SubmissionService
from postroom.store.sqlstore import SqlStore


@dataclass
class Sent:
    """New entries (redirected copies, replies) and memory rows for one recipient."""

    entries: list[NewEntry] = field(default_factory=list)
    memory: list[MemoryRow] = field(default_factory=list)


class SieveSending:
    def __init__(self, redirector: Redirector, vacations: Vacations) -> None:
        self.redirector = redirector
        self.vacations = vacations

    async def for_recipient(self, entry: QueueRec, rcpt: str,
                            redirects: Sequence[RedirectOrder],
                            replies: Sequence[VacationOrder]) -> Sent:
        """The entries and memory rows of ``rcpt``'s redirects and vacation replies (the
        accounts it reached); nothing written but the replies' blobs."""
        sent = Sent()
        if redirects:
            sent.entries, sent.memory = await self.redirector.entries(entry, rcpt, redirects)
        answered: set[int] = set()
        for order in replies:
            # RFC 5230 §4.7 allows one vacation per run; of a chain of scripts that each
            # asked, the first (the earliest script's) answers for its account.
            if order.account_id in answered:
                continue
            answered.add(order.account_id)
            reply = await self.vacations.reply(entry, order)
            if reply is not None:
                sent.entries.append(reply[0])
                sent.memory.append(reply[1])
        return sent

    async def notice_to(self, sender: str) -> str:
        """Where a notice about ``entry`` goes when its reverse path is one of our SRS
        addresses (a redirected copy that failed): the sender it encodes, as if the
        notice had come back to us through SMTP. Any other sender, and an SRS address
        that does not verify, unchanged."""
        try:
            target = await self.redirector.srs.bounce_target(sender)
        except SrsError:
            return sender
        return target or sender


class SieveMail:
    """The long-lived parts of Sieve's outgoing mail, built once (app.py)."""

    def __init__(self, store: SqlStore, cfg: SieveConfig, data_path: Path,
                 directory: Directory, queue: QueueService,
                 submission: SubmissionService) -> None:
        self.srs = SenderRewriting(directory, cfg, data_path)
        self.memory = SieveMemory(store, cfg)
        self.vacations = Vacations(self.memory, queue, directory, submission, cfg.vacation)
        self._directory = directory
        self._submission = submission
        submission.srs = self.srs  # bounces to SRS addresses are accepted at RCPT

    def sending(self, forwarding: Forwarding) -> SieveSending:
        """The part a queue manager uses, sealing with its ``forwarding``'s sealer."""
        return SieveSending(Redirector(forwarding, self.srs, self.memory, self._directory,
                                       self._submission), self.vacations)
