"""The queue manager: takes accepted mail from the durable queue and delivers it.

DESIGN.md §5 step 6. Every entry has one destination (split at acceptance): the local mailboxes,
or one remote domain. An attempt ends in ``conclude``, which settles the entry in *one*
transaction with everything it caused: the local copies, and the notices (DSNs) to the sender.
A crash at any point therefore delivers everything or nothing, and the retry after restart
never duplicates a local copy or a notice. (A remote peer that said 250 just before a crash and
before our commit gets the message again: RFC 5321 §6.1 accepts that duplicate, as every MTA
does.)

Local delivery is the delivery service's (services/delivery.py): it chooses each copy's folder
through the access gate, scans the message once in chunks (ENVELOPE, BODYSTRUCTURE, search
text) and builds the per-delivery prefix; one copy per mailbox, however it was addressed.
Remote delivery is mta/outbound.py. A remote member of an alias or group gets a forwarded copy
(services/forwarding.py): a new remote entry, queued in the transaction that settles the local
copies, so it is never lost nor queued twice.

Retries (specs.md §4.4): a temporary failure waits ``retry_schedule[attempts]`` (the last value
repeats); after ``delay_warning`` one "delayed" notice goes to the sender; after
``max_queue_time`` the recipients still open fail with 4.4.7. Notices honour NOTIFY (RFC 3461
§4.1: by default FAILURE and DELAY, not SUCCESS) and are never sent for a null reverse path.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from postroom.access.gate import MailboxHandle
from postroom.config import Config
from postroom.core import smtp
from postroom.core.aio import cancel
from postroom.core.envelope import Stage
from postroom.core.errors import Kind, LeaseLost, MailError
from postroom.core.records import NewEntry, QueueRec, Settlement
from postroom.directory.service import Directory, Unknown
from postroom.mta import dsn
from postroom.mta.attempt import Attempt, per_recipient, wants
from postroom.mta.outbound import Outbound
from postroom.net.dns import Router, make_resolver
from postroom.obs import maillog
from postroom.obs.metrics import Metrics
from postroom.services.delivery import DeliveryService, Plan
from postroom.services.forwarding import Forwarding, xtext
from postroom.services.gateways import Gateways
from postroom.services.queue import QueueService
from postroom.services.sieve.sending import SieveSending
from postroom.services.submission import SubmissionService

log = logging.getLogger("postroom.queue")

RETRY_INTERNAL = 300  # seconds before an entry that hit an internal error is tried again
TEMPORARY_KINDS = (Kind.OVER_QUOTA, Kind.TEMPORARY, Kind.NOT_FOUND, Kind.UNAVAILABLE)
LOCAL_CONCURRENCY = 32  # local deliveries in flight: more of them share one group commit
# Notices that report something other than a failure: for unauthenticated mail they return only
# the header section, whatever RET asked (docs/smtp.md, "Delivery status notifications").
UNASKED = ("delivered", "relayed", "delayed")


class QueueManager:
    def __init__(self, cfg: Config, hostname: str, queue: QueueService,
                 delivery: DeliveryService, submission: SubmissionService,
                 directory: Directory, gateways: Gateways, poll: float = 5.0,
                 metrics: Metrics | None = None) -> None:
        self.hostname = hostname
        self.metrics = metrics or Metrics()  # outcomes counted next to their log lines
        self.cfg = cfg.smtp.outbound
        self.queue = queue
        self.delivery = delivery
        self.submission = submission
        self.directory = directory
        self.gateways = gateways
        self.poll = poll
        self._wake = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._local = asyncio.Semaphore(LOCAL_CONCURRENCY)
        self._inflight: set[asyncio.Task[None]] = set()
        self.outbound = Outbound(self.cfg, hostname, Router(make_resolver(self.cfg.dns_servers)),
                                 queue, gateways, self.conclude)
        queue.on_enqueue(self.wake)
        # DKIM signature fields for the notices this manager writes (services/pipeline/
        # signing.py ``sign_notice``), put in their prefix; None: notices go unsigned.
        self.sign_notice: Callable[[bytes], Awaitable[bytes]] | None = None
        # Forwarded copies for remote alias and group members; the server gives it an ARC
        # sealer (services/mailauth/arc.py), without one they go unsealed.
        self.forwarding = Forwarding(queue)
        # What users' Sieve scripts send: redirected copies with SRS, vacation replies
        # (services/sieve/sending.py), set by the server; without it they are dropped (logged).
        self.sieve: SieveSending | None = None

    async def start(self) -> None:
        returned = await self.queue.reset_active()
        if returned:
            log.info("queue: %d entries interrupted by a restart are due again", returned)
        self._task = asyncio.create_task(self._run(), name="queue-manager")
        if self.queue.lease_seconds:
            self._renewer = asyncio.create_task(self._renew(), name="queue-leases")

    async def _renew(self) -> None:
        """Cluster mode: keep the leases of the entries this node works on (a third of the
        lease apart, so one late renewal does not lose them)."""
        while True:
            await asyncio.sleep(self.queue.lease_seconds / 3)
            try:
                lost = await self.queue.renew()
            except Exception:
                log.exception("queue: cannot renew leases")
                continue
            if lost:
                log.warning("queue: %d entries were taken over by other nodes while this "
                            "node worked on them", lost)

    def wake(self) -> None:
        """New mail was queued: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        await cancel(self._task, self._renewer)
        self._task = self._renewer = None
        await self.outbound.stop()
        await cancel(*self._inflight)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                entries = await self.queue.claim_due()
            except Exception:
                log.exception("queue: cannot claim entries")
                entries = []
            try:
                held = await self.queue.claim_due(state="atrn")
            except Exception:
                log.exception("queue: cannot claim held entries")
                held = []
            for entry in entries:
                params = entry.param_dict()
                if params.get("bounce"):
                    self._spawn(self._bounce(entry))
                elif params.get("remote") and await self._held(entry):
                    held.append(entry)  # retried by an admin, or back from a restart
                elif params.get("remote"):
                    self.outbound.submit(entry)
                else:
                    self._spawn(self._deliver_local(entry))
            for entry in held:
                self._spawn(self._review_held(entry))
            if not entries and not held:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _deliver_local(self, entry: QueueRec) -> None:
        async with self._local:
            try:
                await self.conclude(entry, await self.local_attempt(entry))
            except LeaseLost as exc:
                log.warning("queue: %s; this node's attempt is dropped", exc)
            except Exception:
                log.exception("queue: delivery of entry %d failed", entry.id)
                with contextlib.suppress(LeaseLost):
                    await self.queue.defer(entry.id, entry.recipients,
                                           int(time.time()) + RETRY_INTERNAL,
                                           "internal error, logged")

    async def _held(self, entry: QueueRec) -> bool:
        try:
            return await self.gateways.holds(entry.hold_domain)
        except Exception:
            log.exception("queue: cannot look up gateway %s", entry.hold_domain)
            return True  # never let held mail go out by MX because of a lookup error

    async def _review_held(self, entry: QueueRec) -> None:
        """Held gateway mail is not sent anywhere; its review only gives ``conclude`` the
        chance to send the delay notice and, after ``max_queue_time``, to bounce it."""
        reason = f"held for {entry.hold_domain} until its owner collects it (ATRN)"
        try:
            await self.conclude(entry, Attempt(deferred=dict.fromkeys(entry.recipients, reason)))
        except Exception:
            log.exception("queue: review of held entry %d failed", entry.id)
            await self.queue.release([entry])

    async def _bounce(self, entry: QueueRec) -> None:
        """An administrator asked for this entry to be returned to its sender."""
        attempt = Attempt(failed=[dsn.status(
            r, "failed", smtp.RETURNED, "Returned to the sender by the administrator")
            for r in entry.recipients])
        await self.conclude(entry, attempt)

    # -- local delivery -----------------------------------------------------------------------
    async def local_attempt(self, entry: QueueRec) -> Attempt:
        """The delivery service's plan for ``entry``, as an attempt: each recipient delivered
        (its copies to be written by ``conclude``), unknown (5.1.1), or refused for now."""
        plan = await self.delivery.plan(entry)
        params = entry.param_dict()
        orcpt = per_recipient(params, "orcpt")
        attempt = Attempt(notes=dict(plan.notes))
        for rcpt, refusals in plan.rejects.items():
            # RFC 5429 §2.1: the sender learns of the refusal, as a failure of that member
            if wants(params, rcpt, "FAILURE"):
                attempt.refusals_by_rcpt[rcpt] = [dsn.status(
                    member, "failed", smtp.NOT_AUTHORISED, reason,
                    orcpt.get(rcpt) or f"rfc822;{xtext(rcpt)}") for member, reason in refusals]
        for rcpt in entry.recipients:
            if rcpt in plan.unknown:
                attempt.failed.append(dsn.status(
                    rcpt, "failed", smtp.NO_SUCH_USER, "No such user here (any more)",
                    orcpt.get(rcpt, "")))
            elif rcpt in plan.refused:
                exc = plan.refused[rcpt]
                if exc.kind in TEMPORARY_KINDS:
                    attempt.deferred[rcpt] = exc.text
                else:
                    attempt.failed.append(dsn.status(
                        rcpt, "failed", smtp.reply_for(Stage.RECIPIENT, exc.kind), exc.text,
                        orcpt.get(rcpt, "")))
            else:
                await self._sieve_mail(entry, rcpt, plan, attempt)
                members = plan.forwards.get(rcpt, [])
                if members:
                    forwards = await self.forwarding.entries(entry, rcpt, members)
                    for new in forwards:
                        await self.submission.mark_gateway(new)
                    attempt.forwards_by_rcpt.setdefault(rcpt, []).extend(forwards)
                if plan.targets[rcpt] or not members:
                    attempt.local_by_rcpt[rcpt] = plan.targets[rcpt]
                    attempt.delivered.append(dsn.status(rcpt, "delivered", smtp.DELIVERED,
                                                        orcpt=orcpt.get(rcpt, "")))
                else:  # remote members only: their own entries report (NOTIFY went along)
                    attempt.delivered.append(dsn.status(rcpt, "expanded", smtp.DELIVERED,
                                                        orcpt=orcpt.get(rcpt, "")))
        return attempt

    async def _sieve_mail(self, entry: QueueRec, rcpt: str, plan: Plan,
                          attempt: Attempt) -> None:
        """What the Sieve scripts of the accounts ``rcpt`` reached send and remember: their
        redirected copies and vacation replies (services/sieve/sending.py) ride with the
        forwards, their memory rows with the copies, all committed in one settlement."""
        memory = list(plan.memory.get(rcpt, []))
        redirects, replies = plan.redirects.get(rcpt, []), plan.replies.get(rcpt, [])
        if redirects or replies:
            if self.sieve is None:
                log.warning("queue: entry %d: Sieve redirects and replies for %s dropped "
                            "(no Sieve sending on this queue manager)", entry.id, rcpt)
            else:
                sent = await self.sieve.for_recipient(entry, rcpt, redirects, replies)
                if sent.entries:
                    attempt.forwards_by_rcpt[rcpt] = sent.entries
                memory += sent.memory
        if memory:
            attempt.memory_by_rcpt[rcpt] = memory

    async def deliver_at_acceptance(self, entry: NewEntry) -> int | None:
        """Deliver a just-accepted entry whose recipients are all local in the transaction
        that accepts it (``smtp.deliver_at_acceptance``); returns its queue id, or None when
        it must go through the queue instead: a recipient that cannot take it now or at all
        (their deferral or notice is the queue's job), a success notice asked for, or a copy
        the transaction refused (a mailbox that filled up meanwhile). Nothing is written in
        those cases, so the caller queues the entry as usual.

        The plan is the queue's own (``local_attempt``), so the folders, the gate's
        decisions and the per-delivery prefix are the same either way. The mail log's
        ``delivered`` lines are written just after the caller's ``accepted`` line."""
        if entry.params.get("remote") or entry.state != "ready":
            return None
        now = int(time.time())
        rec = QueueRec(0, entry.sender, tuple(entry.recipients), entry.blob.sha256,
                       entry.prefix, entry.blob.size + len(entry.prefix),
                       json.dumps(entry.params), "active", 0, now, "", now, entry.hold_domain)
        try:
            attempt = await self.local_attempt(rec)
        except Exception:
            # Nothing is written yet: the queue takes the message and its own error handling
            # (retry, notice) applies, rather than the sender losing the reply.
            log.exception("delivery at acceptance could not plan; queueing instead")
            return None
        if attempt.failed or attempt.deferred or attempt.refusals or any(
                wants(entry.params, s.recipient, "SUCCESS") for s in attempt.delivered):
            return None
        try:
            entry_id = await self.queue.deliver_now(entry, attempt.local, attempt.forwards,
                                                    attempt.memory)
        except MailError as exc:
            # The transaction was refused and rolled back (a mailbox filled up or went away
            # meanwhile): the queue plans again and reports what it finds. Any other error
            # leaves the commit's outcome unknown, so it is not retried here (no duplicate).
            log.info("delivery at acceptance refused (%s); queueing instead", exc.text)
            return None
        rec = dataclasses.replace(rec, id=entry_id)
        asyncio.get_running_loop().call_soon(self._log, rec, attempt, [], {}, now, 0)
        self._announce(rec, attempt)
        return entry_id

    async def _split_local(self, entry: QueueRec, attempt: Attempt) -> Attempt:
        """The all-at-once append failed (a full mailbox, say). Deliver recipient by
        recipient, each in its own transaction that takes it off the entry, and defer only
        those that fail. The last recipient is left to the final ``conclude``, so no step
        ever empties the entry early: a crash between steps redelivers nothing."""
        done = Attempt(failed=list(attempt.failed), notes=attempt.notes)
        *first, last = attempt.delivered
        for i, st in enumerate(first):
            # Still open after this step: the later recipients, those deferred so far, and
            # the failed ones (their notice goes out with the final settle).
            remaining = ([s.recipient for s in attempt.delivered[i + 1:]]
                         + list(done.deferred) + [s.recipient for s in attempt.failed])
            try:
                await self.queue.settle(entry.id, Settlement[MailboxHandle](
                    remaining=remaining, count_attempt=False,
                    local=attempt.local_by_rcpt.get(st.recipient, []), state="active",
                    forwards=attempt.forwards_by_rcpt.get(st.recipient, []),
                    memory=attempt.memory_by_rcpt.get(st.recipient, [])))
            except MailError as exc:
                if exc.kind not in TEMPORARY_KINDS:
                    raise
                done.deferred[st.recipient] = exc.text
                continue
            done.delivered.append(st)
            if st.recipient in attempt.refusals_by_rcpt:
                done.refusals_by_rcpt[st.recipient] = attempt.refusals_by_rcpt[st.recipient]
        done.delivered.append(last)
        if last.recipient in attempt.local_by_rcpt:
            done.local_by_rcpt[last.recipient] = attempt.local_by_rcpt[last.recipient]
        if last.recipient in attempt.forwards_by_rcpt:
            done.forwards_by_rcpt[last.recipient] = attempt.forwards_by_rcpt[last.recipient]
        if last.recipient in attempt.refusals_by_rcpt:
            done.refusals_by_rcpt[last.recipient] = attempt.refusals_by_rcpt[last.recipient]
        if last.recipient in attempt.memory_by_rcpt:
            done.memory_by_rcpt[last.recipient] = attempt.memory_by_rcpt[last.recipient]
        return done

    # -- the end of every attempt -------------------------------------------------------------
    async def conclude(self, entry: QueueRec, attempt: Attempt) -> None:
        """Settle ``entry`` after an attempt: local copies, notices, retry or removal, in one
        transaction. When the entry's lease was lost meanwhile (cluster mode: this node
        stalled and another took the entry over) nothing is written and the attempt ends
        here; the new owner delivers it (a remote peer may then get it twice, which RFC 5321
        §6.1 accepts, as after a crash)."""
        try:
            await self._conclude(entry, attempt)
        except LeaseLost as exc:
            log.warning("queue: %s; this node's attempt is dropped", exc)

    async def _conclude(self, entry: QueueRec, attempt: Attempt) -> None:
        params = entry.param_dict()
        orcpt = per_recipient(params, "orcpt")
        now = int(time.time())
        failed = list(attempt.failed)
        deferred = dict(attempt.deferred)
        if deferred and now - entry.created_at >= self.cfg.max_queue_time:
            days = self.cfg.max_queue_time / 86400
            for rcpt, reason in deferred.items():
                failed.append(dsn.RecipientStatus(
                    rcpt, "failed", smtp.QUEUE_EXPIRED.enhanced or "",
                    f"Gave up after {days:g} days; last error: {reason}"[:900],
                    orcpt=orcpt.get(rcpt, "")))
            deferred = {}
        notices: list[NewEntry] = []
        if entry.sender and not params.get("notice"):
            for statuses in (
                    [s for s in failed if wants(params, s.recipient, "FAILURE")],
                    [s for s in attempt.delivered if s.action == "delivered"
                     and wants(params, s.recipient, "SUCCESS")],
                    [s for s in attempt.delivered if s.action == "relayed"]):
                if statuses:
                    notices += await self._notice(entry, params, statuses)
            if attempt.refusals:  # members refused by their Sieve scripts
                notices += await self._notice(entry, params, attempt.refusals)
            late = now - entry.created_at >= self.cfg.delay_warning > 0
            if deferred and late and not params.get("warned"):
                delayed = [dsn.RecipientStatus(r, "delayed", smtp.QUEUE_EXPIRED.enhanced or "",
                                               reason, orcpt=orcpt.get(r, ""))
                           for r, reason in deferred.items() if wants(params, r, "DELAY")]
                if delayed:
                    notices += await self._notice(entry, params, delayed,
                                                  entry.created_at + self.cfg.max_queue_time)
                params["warned"] = True
        schedule = self.cfg.retry_schedule or [300]
        wait = schedule[min(entry.attempts, len(schedule) - 1)]
        next_attempt, state = now + wait, attempt.state
        if deferred and await self._held(entry):  # back to waiting for ATRN (issue 7)
            state = "atrn"
            next_attempt = self.gateways.review_time(entry.created_at,
                                                     bool(params.get("warned")))
            wait = next_attempt - now
        error = "; ".join(dict.fromkeys(deferred.values()))[:500]
        outcome = Settlement[MailboxHandle](
            remaining=list(deferred), next_attempt=next_attempt, error=error, params=params,
            local=attempt.local, notices=notices, state=state, forwards=attempt.forwards,
            memory=attempt.memory)
        try:
            await self.queue.settle(entry.id, outcome)
        except MailError as exc:
            if not attempt.local_by_rcpt or exc.kind not in TEMPORARY_KINDS:
                raise
            if len(attempt.local_by_rcpt) > 1:
                log.warning("queue: entry %d: %s; delivering recipient by recipient",
                            entry.id, exc.text)
                await self._conclude(entry, await self._split_local(entry, attempt))
                return
            (rcpt,) = attempt.local_by_rcpt  # one local recipient left, and it cannot take it
            await self.conclude(entry, Attempt(
                delivered=[s for s in attempt.delivered if s.recipient != rcpt],
                failed=attempt.failed, deferred={**attempt.deferred, rcpt: exc.text},
                memory_by_rcpt={r: m for r, m in attempt.memory_by_rcpt.items() if r != rcpt},
                forwards_by_rcpt={r: f for r, f in attempt.forwards_by_rcpt.items()
                                  if r != rcpt},
                notes=attempt.notes,
                refusals_by_rcpt={r: f for r, f in attempt.refusals_by_rcpt.items()
                                  if r != rcpt}))
            return
        if notices or attempt.forwards:
            self.wake()
        self._log(entry, attempt, failed, deferred, now, wait)
        self._announce(entry, attempt)

    def _announce(self, entry: QueueRec, attempt: Attempt) -> None:
        """Local copies were committed: tell delivery's hooks (incoming iMIP), off the
        queue's path."""
        local = [s.recipient for s in attempt.delivered if attempt.local_by_rcpt.get(s.recipient)]
        if local and self.delivery.delivered:
            self._spawn(self.delivery.announce(entry, local))

    def _log(self, entry: QueueRec, attempt: Attempt, failed: list[dsn.RecipientStatus],
             deferred: dict[str, str], now: int, wait: int) -> None:
        """The mail log's line per recipient (obs/maillog.py), once the outcome committed."""
        delay = float(now - entry.created_at)
        for st in attempt.delivered:
            if st.action == "delivered":
                copies = attempt.local_by_rcpt.get(st.recipient, [])
                where = copies[0][0].name if len(copies) == 1 else \
                    f"{len(copies)} mailboxes" if copies else "-"
                self.metrics.outcome("delivered")
                maillog.outcome("delivered", entry.id, st.recipient, where, st.status,
                                attempt.notes.get(st.recipient, ""), delay)
            elif st.action != "expanded":
                self.metrics.outcome("sent")
                maillog.outcome("sent", entry.id, st.recipient, st.remote_mta,
                                st.diagnostic or st.status, st.action, delay)
        for rcpt, forwards in attempt.forwards_by_rcpt.items():
            # a vacation reply is no forward: its own "sieve vacation" line tells of it
            members = ", ".join(f"<{m}>" for new in forwards if not new.params.get("auto_reply")
                                for m in new.recipients)
            if not members:
                continue
            self.metrics.outcome("forwarded")
            maillog.outcome("forwarded", entry.id, rcpt, "-", smtp.DELIVERED.enhanced or "",
                            f"queued for {members}", delay)
        for st in failed:
            self.metrics.outcome("bounced")
            note = attempt.notes.get(st.recipient)
            maillog.outcome("bounced", entry.id, st.recipient, st.remote_mta, st.status,
                            f"{note}: {st.diagnostic}" if note else st.diagnostic, delay)
        for st in attempt.refusals:
            self.metrics.outcome("bounced")
            maillog.outcome("bounced", entry.id, st.recipient, "-", st.status,
                            f"sieve: reject: {st.diagnostic}", delay)
        for rcpt, reason in deferred.items():
            self.metrics.outcome("deferred")
            maillog.outcome("deferred", entry.id, rcpt, "-", smtp.DEFERRED.enhanced or "",
                            f"{reason} (next try in {wait} s)", delay)

    async def _notice(self, entry: QueueRec, params: dict[str, object],
                      statuses: list[dsn.RecipientStatus],
                      retry_until: int | None = None) -> list[NewEntry]:
        """A DSN for ``statuses``, written to the blob store (fsynced), as queue entries
        from ``<>`` to the sender, to be committed with the attempt's outcome."""
        # A redirected copy that failed has an SRS return path: the notice goes to the sender
        # it encodes (services/sieve/sending.py), as if it had come back through SMTP.
        to = entry.sender if self.sieve is None else await self.sieve.notice_to(entry.sender)
        where = await self.directory.resolve_recipient(to)
        if isinstance(where, Unknown) and where.local_domain:
            # Our own domain, no such address: nobody to tell (sending it would only come
            # back to us and be refused).
            log.info("notice dropped", extra={"queue_id": entry.id, "to": to,
                                              "reason": "no such local address"})
            return []
        domain = await self.submission.primary_domain()
        loop = asyncio.get_running_loop()
        ret = str(params.get("ret", ""))
        if not params.get("auth") and statuses[0].action in UNASKED:
            # The reverse path of unauthenticated mail can be anyone's: a success or delay
            # notice with the text in it would mail that text to a victim the sender chose
            # (NOTIFY=SUCCESS RET=FULL). Such notices carry the header section only.
            ret = "HDRS"

        def build() -> bytes:
            with contextlib.closing(self.queue.open(entry)) as original:
                return dsn.build(reporting_mta=self.hostname, postmaster=f"postmaster@{domain}",
                                 to=to, statuses=statuses, original=original,
                                 original_size=entry.size, arrival=entry.created_at,
                                 envid=str(params.get("envid", "")), ret=ret,
                                 retry_until=retry_until)

        data = await loop.run_in_executor(None, build)
        blob = await self.queue.put_bytes(data)
        notice: dict[str, object] = {"notice": True}
        if isinstance(where, Unknown):
            notice["remote"] = True
        log.info("notice", extra={"queue_id": entry.id, "action": statuses[0].action,
                                  "to": to})
        prefix = await self.sign_notice(data) if self.sign_notice is not None else b""
        out = NewEntry("", [to], blob, prefix, notice)
        if isinstance(where, Unknown):
            await self.submission.mark_gateway(out)  # a sender in a gateway domain
        return [out]

