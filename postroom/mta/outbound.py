"""Remote delivery: per-destination workers that send queued mail over reused SMTP connections.

Every remote queue entry names one domain (split at acceptance). ``submit`` puts a claimed entry
on its domain's line; up to ``per_destination`` workers per domain, and ``max_connections``
over all, each open one connection (MX routing by mta/dns.py, or the smart host) and send the
line's entries over it one after another, up to ``messages_per_connection``
(RFC 5321 §4.5.4: one copy per destination host, connections reused). Each entry's outcome goes
back to the queue manager's ``conclude``: 2xx delivered, 5xx failed (a DSN), 4xx or a broken
connection deferred (retried on the schedule).

Hosts are tried in MX order, every address of each; a host that does not answer, or greets
with something other than 220, is skipped for the next one (specs.md §4.3).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from postroom.config import OutboundConfig
from postroom.core import smtp
from postroom.core.aio import cancel
from postroom.core.locks import Locks, slot
from postroom.core.records import QueueRec
from postroom.mta import dsn
from postroom.mta.attempt import Attempt, Conclude, per_recipient, wants
from postroom.mta.client import Envelope, Reply, SmtpClient, SmtpClientError
from postroom.net.dns import MxHost, RouteError, Router, split_host_port
from postroom.services.gateways import Gateways
from postroom.services.queue import QueueService
from postroom.services.submission import domain_of

log = logging.getLogger("postroom.outbound")

SLOT_WAIT = 1.0  # seconds before asking again when other nodes use every slot of a domain


class Outbound:
    def __init__(self, cfg: OutboundConfig, hostname: str, router: Router,
                 queue: QueueService, gateways: Gateways, conclude: Conclude) -> None:
        self.cfg = cfg
        self.hostname = hostname
        self.router = router
        self.queue = queue
        self.gateways = gateways
        self.conclude = conclude
        self.lines: dict[str, deque[QueueRec]] = {}
        self.workers: dict[str, int] = {}
        self.connections = asyncio.Semaphore(self.cfg.max_connections)
        self.tasks: set[asyncio.Task[None]] = set()
        # The envelope sender as sent on the wire (services/batv.py signs our senders'
        # return paths while batv.enabled is on); the queue keeps the real one, so notices
        # made here still reach the sender. None: sent as queued.
        self.return_path: Callable[[str], Awaitable[str]] | None = None
        # Cluster mode: the cluster's locks, so that per_destination counts every node's
        # connections (set by the server); None: this process's own count is the limit.
        self.locks: Locks | None = None

    def submit(self, entry: QueueRec) -> None:
        domain = domain_of(entry.recipients[0]) if entry.recipients else ""
        line = self.lines.setdefault(domain, deque())
        line.append(entry)
        running = self.workers.get(domain, 0)
        if running < min(self.cfg.per_destination, len(line)):
            self.workers[domain] = running + 1
            task = asyncio.create_task(self._worker(domain), name=f"outbound {domain}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        await cancel(*self.tasks)

    # -- one worker: connections to one domain, one after another ------------------------------
    async def _worker(self, domain: str) -> None:
        line = self.lines[domain]
        try:
            while line:
                async with self.connections:
                    if self.locks is None:
                        await self._connection(domain, line)
                        continue
                    # Cluster mode: per_destination holds across all nodes, each connection
                    # holding one of the domain's cluster-wide slots (core/locks.py).
                    async with slot(self.locks, f"dest:{domain}",
                                    self.cfg.per_destination) as got:
                        if got is not None:
                            await self._connection(domain, line)
                            continue
                await asyncio.sleep(SLOT_WAIT)  # every slot in use on other nodes
        finally:
            self.workers[domain] -= 1
            if not self.workers[domain]:
                del self.workers[domain]
                if not line:
                    self.lines.pop(domain, None)

    async def _hosts(self, domain: str) -> tuple[list[MxHost], int, bool]:
        """Where mail for ``domain`` goes: (hosts in order, port, through the smart host)."""
        gateway = await self.gateways.find(domain)
        if gateway is not None and gateway.deliver_to:  # a gateway's destination (issue 7)
            host, port = split_host_port(gateway.deliver_to, 25)
            addresses = await self.router.addresses(host)
            if not addresses:
                raise RouteError(smtp.NO_ROUTE, f"gateway host {host} has no address")
            return [MxHost(host, addresses)], port, False
        if self.cfg.smart_host:
            default = 465 if self.cfg.smart_host_tls == "implicit" else 587
            host, port = split_host_port(self.cfg.smart_host, default)
            addresses = await self.router.addresses(host)
            if not addresses:
                raise RouteError(smtp.NO_ROUTE, f"smart host {host} has no address")
            return [MxHost(host, addresses)], port, True
        return await self.router.route(domain), self.cfg.port, False

    async def _connection(self, domain: str, line: deque[QueueRec]) -> None:
        try:
            hosts, port, smart = await self._hosts(domain)
        except RouteError as exc:
            await self._fail_all(line, exc.temporary, f"{exc.code} {exc.enhanced} {exc.text}",
                                 exc.enhanced, "")
            return
        client, host, error = await self._connect(hosts, port, smart)
        if client is None:
            await self._fail_all(line, True, error, smtp.NO_CONNECTION.enhanced or "", "")
            return
        try:
            sent = 0
            while line and sent < self.cfg.messages_per_connection:
                entry = line.popleft()
                sent += 1
                try:
                    attempt = await self.send_entry(client, host, entry)
                except SmtpClientError as exc:
                    await self._conclude(entry, self._deferred(entry, str(exc)))
                    return
                await self._conclude(entry, attempt)
        finally:
            await client.quit()

    async def _connect(self, hosts: list[MxHost], port: int, smart: bool,
                       ) -> tuple[SmtpClient | None, str, str]:
        cfg = self.cfg
        starttls = "required" if cfg.require_tls or (smart and cfg.smart_host_tls ==
                                                     "starttls") else "opportunistic"
        if smart and cfg.smart_host_tls == "none":
            starttls = "never"
        error = "no host to try"
        for mx in hosts:
            for address in mx.addresses:
                client = SmtpClient(cfg.command_timeout)
                try:
                    greeting = await client.connect(
                        address, port, self.hostname, server_name=mx.name,
                        implicit_tls=smart and cfg.smart_host_tls == "implicit",
                        starttls=starttls, connect_timeout=cfg.connect_timeout)
                    if greeting.code != smtp.GREETING.code:
                        error = f"{mx.name} [{address}] greeted with {greeting}"
                        await client.quit()
                        continue
                    if smart and cfg.smart_host_user:
                        reply = await client.auth(cfg.smart_host_user, cfg.smart_host_password)
                        if reply.code != smtp.AUTH_SUCCEEDED.code:
                            error = f"smart host {mx.name} refused our login: {reply}"
                            log.error("outbound: %s", error)
                            await client.quit()
                            continue
                except SmtpClientError as exc:
                    error = str(exc)
                    client.close()
                    continue
                return client, mx.name, ""
        log.info("outbound: no connection", extra={"reason": error})
        return None, "", error

    async def send_entry(self, client: SmtpClient, host: str, entry: QueueRec) -> Attempt:
        """One queue entry over an open connection (also used by the ODMR turnaround)."""
        params = entry.param_dict()
        orcpt = per_recipient(params, "orcpt")
        body = str(params.get("body", ""))
        sender = entry.sender
        if self.return_path is not None:
            try:
                sender = await self.return_path(sender)
            except Exception:  # never lose a message over its return path: send it plain
                log.exception("outbound: cannot sign the return path of entry %d", entry.id)
        env = Envelope(sender, list(entry.recipients), entry.size,
                       body="" if body == "7BIT" else body,
                       smtputf8=bool(params.get("smtputf8")), ret=str(params.get("ret", "")),
                       envid=str(params.get("envid", "")),
                       notify=per_recipient(params, "notify"), orcpt=orcpt)
        loop = asyncio.get_running_loop()
        content = await loop.run_in_executor(None, self.queue.open, entry)
        try:
            result = await client.send(env, content)
        finally:
            content.close()
        attempt = Attempt()
        for rcpt in entry.recipients:
            reply: Reply = result.per_recipient[rcpt]
            if reply.ok:
                # A peer with DSN reports success itself when asked; without it, NOTIFY=SUCCESS
                # ends here with a "relayed" notice (RFC 3461 §6.2.3).
                relayed = not result.dsn_passed and wants(params, rcpt, "SUCCESS")
                attempt.delivered.append(dsn.RecipientStatus(
                    rcpt, "relayed" if relayed else "sent", reply.enhanced, str(reply), host,
                    orcpt.get(rcpt, "")))
            elif reply.temporary:
                attempt.deferred[rcpt] = f"{host} said: {reply}"
            else:
                attempt.failed.append(dsn.RecipientStatus(
                    rcpt, "failed", reply.enhanced, str(reply), host, orcpt.get(rcpt, "")))
        return attempt

    @staticmethod
    def _deferred(entry: QueueRec, reason: str) -> Attempt:
        return Attempt(deferred=dict.fromkeys(entry.recipients, reason))

    async def _fail_all(self, line: deque[QueueRec], temporary: bool, reason: str,
                        status: str, host: str) -> None:
        """The whole destination failed (no route, no connection): every waiting entry."""
        while line:
            entry = line.popleft()
            if temporary:
                attempt = self._deferred(entry, reason)
            else:  # ORCPT carried (RFC 3464 §2.3.1), as for a refusal by the remote host
                orcpt = per_recipient(entry.param_dict(), "orcpt")
                attempt = Attempt(failed=[dsn.RecipientStatus(r, "failed", status, reason, host,
                                                              orcpt.get(r, ""))
                                          for r in entry.recipients])
            await self._conclude(entry, attempt)

    async def _conclude(self, entry: QueueRec, attempt: Attempt) -> None:
        try:
            await self.conclude(entry, attempt)
        except Exception:
            log.exception("outbound: cannot settle entry %d", entry.id)

