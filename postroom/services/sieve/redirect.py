"""Sieve ``redirect`` (RFC 5228 §4.2): the copies a user's script sends on, and loop control.

The interpreter only records ``Redirect(address)``; the filter (services/sieve/filter.py)
checks each for a loop (``loop_reason``) and hands the rest to the queue manager as
``RedirectOrder``s in the delivery plan. The queue manager asks ``Redirector.entries`` for the
new queue entries and commits them in the transaction that settles the delivery, with the
local copies and the memory rows (mta/queue.py ``local_attempt``, the same path as an alias's
remote members: services/forwarding.py). So a crash never loses a redirect nor sends it twice,
and a redirect never leaves without the delivery it belongs to.

A redirected copy:
- is the message unchanged (RFC 5228 §4.2: "makes no changes to the message body or existing
  headers"): the same blob, the same prefix (our ``Received:`` from acceptance, which already
  makes the Received count larger than the sender's, as §4.2 requires), plus one field above
  it, ``Delivered-To: <user>``, the loop marker (below);
- to a remote address: leaves with an SRS reverse path signed by the redirecting user's
  domain (services/sieve/srs.py), so the receiver's SPF check sees our domain; a null
  sender stays null (§4.2). It is ARC-sealed for that domain like a forwarded alias copy,
  and carries the DSN parameters that went with the recipient (NOTIFY, ORCPT or the
  recipient's address as ORCPT, ENVID, RET: RFC 3461 §4): a failure notice reaches the
  original sender through the SRS address;
- to one of our own addresses: a new local entry with the original sender (no SRS needed: it
  never leaves), delivered by the queue like any other, so the target's own scripts run.

Loop control (§4.2: "implementations SHOULD take measures to implement loop control ... If
an implementation detects a loop, it causes an error"). Two measures:
1. the loop marker: every redirected copy carries ``Delivered-To: <the redirecting user>``
   (the field Postfix's local delivery uses for the same purpose, so it survives other
   forwarders); a message that already carries the user's own address there has been
   through this user's redirect before, and redirecting it again would go round forever;
   likewise more than ``MAX_HOPS`` ``Received:`` fields (RFC 5321 §6.3's hop count). The
   filter then treats the run as failed: the implicit keep files the message (RFC 5228
   §2.10.6), and the reason is logged;
2. memory: a redirect of one message (its Message-ID) to one target is remembered for
   ``REDIRECT_SECONDS``; the same message reaching the user again (twice through two
   aliases, or back after its marker was stripped) is not redirected a second time
   (logged). Messages without a Message-ID are not remembered.
``max_redirects`` (the interpreter's limit) bounds how many targets one run may name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from postroom.core.records import BlobRef, MemoryRow, NewEntry, QueueRec
from postroom.directory.service import Directory
from postroom.services.forwarding import KEPT_PARAMS, Forwarding, xtext
from postroom.services.sieve.memory import REDIRECT, SieveMemory, key_hash
from postroom.services.sieve.srs import SenderRewriting
from postroom.services.submission import SubmissionService, domain_of
from postroom.sieve.message import Message

log = logging.getLogger("postroom.mail")

LOOP_FIELD = "Delivered-To"
MAX_HOPS = 50  # Received fields beyond which a message is taken to be looping (Postfix's)
REDIRECT_SECONDS = 12 * 3600  # how long a redirect of one message to one target is known


@dataclass(frozen=True, slots=True)
class RedirectOrder:
    """One redirect a recipient's script asked for and the loop check let through."""

    address: str  # where to
    account_id: int  # the account whose script redirected
    user: str  # its address: the loop marker, and its domain signs the SRS address
    message_id: str = ""  # the message's Message-ID (remembered with the target)


def loop_reason(message: Message, addresses: Iterable[str]) -> str | None:
    """Why redirecting ``message`` for the user with ``addresses`` would loop, or None."""
    own = {a.strip().lower() for a in addresses if a}
    for value in message.raw_header(LOOP_FIELD):
        marked = value.strip().strip("<>").strip().lower()
        if marked in own:
            return f"mail loop: already redirected by <{marked}> ({LOOP_FIELD})"
    hops = len(message.raw_header("received"))
    if hops > MAX_HOPS:
        return f"mail loop: {hops} Received fields (more than {MAX_HOPS})"
    return None


def trace(user: str) -> bytes:
    """The loop marker above a redirected copy's prefix."""
    return f"{LOOP_FIELD}: {user}\r\n".encode()


class Redirector:
    """Makes the queue entries of a recipient's redirects (see the module docstring)."""

    def __init__(self, forwarding: Forwarding, srs: SenderRewriting, memory: SieveMemory,
                 directory: Directory, submission: SubmissionService) -> None:
        self.forwarding = forwarding
        self.srs = srs
        self.memory = memory
        self.directory = directory
        self.submission = submission

    async def entries(self, entry: QueueRec, rcpt: str, orders: Sequence[RedirectOrder],
                      now: int | None = None) -> tuple[list[NewEntry], list[MemoryRow]]:
        """The entries for ``rcpt``'s redirects of ``entry`` and the memory rows to commit
        with them; nothing is written here but what sealing reads."""
        when = int(time.time()) if now is None else now
        out: list[NewEntry] = []
        rows: list[MemoryRow] = []
        for order in orders:
            target = order.address
            if order.message_id:
                key = key_hash(order.message_id.strip().lower(), target.lower())
                if await self.memory.recall(order.account_id, REDIRECT, key, when):
                    self._log(entry, order, "skipped",
                              "this message was redirected to it already")
                    continue
                rows.append(MemoryRow(order.account_id, REDIRECT, key,
                                      when + REDIRECT_SECONDS))
            if await self.directory.is_local_domain(domain_of(target)):
                out.append(self._local(entry, rcpt, order))
                self._log(entry, order, "queued", "local, sender kept")
                continue
            sender = await self.srs.return_path(entry.sender, domain_of(order.user))
            for new in await self.forwarding.entries(entry, rcpt, [target], sender=sender,
                                                     trace=trace(order.user),
                                                     on_behalf=order.user):
                await self.submission.mark_gateway(new)
                out.append(new)
            self._log(entry, order, "queued", f"from <{sender}>")
        return out, rows

    @staticmethod
    def _local(entry: QueueRec, rcpt: str, order: RedirectOrder) -> NewEntry:
        """A redirect to one of our addresses: a local entry, original sender, the DSN
        parameters of ``rcpt`` moved to the target."""
        params = entry.param_dict()
        own: dict[str, object] = {k: params[k] for k in KEPT_PARAMS if k in params}
        own["forwarded_for"] = rcpt
        notify, orcpt = params.get("notify"), params.get("orcpt")
        if isinstance(notify, dict) and rcpt in notify:
            own["notify"] = {order.address: notify[rcpt]}
        given = orcpt.get(rcpt) if isinstance(orcpt, dict) else None
        own["orcpt"] = {order.address: str(given) if given else f"rfc822;{xtext(rcpt)}"}
        blob = BlobRef(entry.blob, entry.size - len(entry.prefix))
        return NewEntry(entry.sender, [order.address], blob,
                        trace(order.user) + bytes(entry.prefix), own)

    @staticmethod
    def _log(entry: QueueRec, order: RedirectOrder, decision: str, reason: str) -> None:
        log.info("sieve redirect", extra={"queue_id": entry.id, "user": order.user,
                                          "to": f"<{order.address}>", "decision": decision,
                                          "reason": reason})
