"""Domain gateways (issue 7; MDaemon's "Domain Gateways"): domains that are not ours but whose
mail we accept and keep in the queue, as a backup MX does.

A gateway either delivers to a fixed destination host (``deliver_to``: the domain's own
server, reached when it is back) or *holds* the mail until an account authorised for the domain
collects it by ATRN on the ODMR port (RFC 2645; protocols/smtp/odmr.py). Held mail keeps the
queue's normal expiry and delay notices ([PRODUCT] specs.md §5).

Before RCPT is accepted the recipient may be verified (``verify``):
- ``none``: every address of the domain is accepted;
- ``static``: only the addresses listed with the gateway;
- ``minger``: the destination is asked over Minger (specs.md §6; mta/minger.py), answers
  cached. 5 accepts, 3 refuses (550 5.1.1), 4 defers (450 4.2.1). When no usable answer comes
  (no reply, access denied, bad credentials) ``unverifiable`` decides: ``defer`` (450 4.4.3,
  the default: the sender retries, nothing is accepted that might bounce later) or ``accept``.

One module for the gateway rules, shared by SMTP RCPT, the queue manager, the ODMR session and
the CLI, so every path applies the same checks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from postroom.config import Config
from postroom.core import minger as wire
from postroom.core.address import Address, normalize_domain
from postroom.core.errors import Kind, MailError, invalid, not_found
from postroom.core.records import GatewayRec
from postroom.directory.secretbox import SecretBox, SecretError
from postroom.directory.service import Directory
from postroom.net.dns import split_host_port
from postroom.net.minger import PORT as MINGER_PORT
from postroom.net.minger import MingerCache, MingerError
from postroom.services.queue import QueueService
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.gateway")

VERIFY_MODES = ("none", "static", "minger")
UNVERIFIABLE = ("defer", "accept")
SECRET_PURPOSE = "minger"


def parse_host(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port``; INVALID with a reason otherwise."""
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        raise invalid(f"{text!r}: give host or host:port")
    try:
        host, port = split_host_port(text, default_port)
    except ValueError:
        raise invalid(f"{text!r}: the port must be a number") from None
    if not host or not 1 <= port <= 65535:
        raise invalid(f"{text!r}: give host or host:port, port 1 to 65535")
    return host.lower(), port


class Gateways:
    def __init__(self, store: SqlStore, directory: Directory, queue: QueueService,
                 cfg: Config, secrets: SecretBox) -> None:
        self._queue = queue
        self.directory = directory
        self.cfg = cfg
        self.repo = store.gateways
        self.secrets = secrets
        self.cache = MingerCache(cfg.minger.cache_positive, cfg.minger.cache_negative)
        self.timeout = cfg.minger.query_timeout

    # -- lookups on the mail path -------------------------------------------------------------
    async def find(self, domain: str) -> GatewayRec | None:
        return await self.repo.get(domain.lower().rstrip("."))

    async def holds(self, domain: str | None) -> bool:
        """Is mail for ``domain`` to wait for ATRN (a gateway without a destination host)?"""
        if not domain:
            return False
        gateway = await self.find(domain)
        return gateway is not None and gateway.holds

    async def atrn_scope(self, account_id: int, requested: Sequence[str],
                         ) -> tuple[list[str], list[str]]:
        """The ATRN access decision (RFC 2645 §4): (domains this request collects, domains it
        names that the account may not collect). Naming no domain means every domain the
        account may collect."""
        allowed = await self.repo.atrn_domains(account_id)
        if not requested:
            return allowed, []
        return ([d for d in requested if d in allowed],
                [d for d in requested if d not in allowed])

    async def check_recipient(self, gateway: GatewayRec, address: str) -> None:
        """A recipient in a gateway domain: the verification the gateway asks for. Returns
        when the address may be accepted; raises NOT_FOUND (no such user there), UNAVAILABLE
        (the destination says it cannot take mail now) or TEMPORARY (no usable answer, and
        the gateway defers what it cannot verify)."""
        unknown = MailError(Kind.NOT_FOUND, f"No such user at {gateway.domain}: <{address}>")
        if gateway.verify == "static":
            if address.lower() in gateway.recipients:
                return
            raise unknown
        if gateway.verify != "minger":
            return
        status, why = await self._minger(gateway, address)
        if status == wire.ACTIVE:
            return
        if status == wire.UNKNOWN:
            raise unknown
        if status == wire.UNAVAILABLE:
            raise MailError(Kind.UNAVAILABLE, f"<{address}> cannot receive mail now")
        log.warning("gateway %s: cannot verify <%s>: %s", gateway.domain, address, why)
        if gateway.unverifiable == "accept":
            return
        raise MailError(Kind.TEMPORARY, f"Cannot verify <{address}> now; try again later")

    def minger_target(self, gateway: GatewayRec) -> tuple[str, int]:
        if gateway.minger_host:
            return parse_host(gateway.minger_host, MINGER_PORT)
        host, _ = parse_host(gateway.deliver_to, 25)
        return host, MINGER_PORT

    async def _minger(self, gateway: GatewayRec, address: str) -> tuple[int | None, str]:
        try:
            host, port = self.minger_target(gateway)
        except MailError as exc:
            return None, f"no Minger host: {exc.text}"
        secret: str | None = None
        if gateway.minger_secret:
            try:
                secret = self.secrets.open(gateway.minger_secret, SECRET_PURPOSE)
            except SecretError:
                return None, "cannot open the gateway's Minger secret (wrong key file?)"
        try:
            status = await self.cache.lookup(host, port, address, secret,
                                             timeout=self.timeout, attempts=2)
        except MingerError as exc:
            return None, str(exc)
        return status, f"{host}:{port} answered {status} ({wire.STATUS_TEXT[status]})"

    # -- administration (postroom gateway) ----------------------------------------------------
    async def add(self, domain: str, *, deliver_to: str = "", verify: str = "none",
                  minger_host: str = "", minger_secret: str | None = None,
                  unverifiable: str = "defer", recipients: Sequence[str] = (),
                  atrn_users: Sequence[str] = ()) -> GatewayRec:
        name = normalize_domain(domain)
        if await self.directory.is_local_domain(name):
            raise invalid(f"{name} is one of our own domains; a gateway is for someone "
                          "else's domain")
        fields = self._fields(name, deliver_to=deliver_to, verify=verify,
                              minger_host=minger_host, minger_secret=minger_secret,
                              unverifiable=unverifiable)
        self._check_complete(fields, recipients)
        accounts = await self._accounts(atrn_users)
        return await self.repo.add(name, fields, self._addresses(name, recipients), accounts)

    async def update(self, domain: str, *, fields: dict[str, str | None],
                     add_recipients: Sequence[str] = (), drop_recipients: Sequence[str] = (),
                     add_users: Sequence[str] = (), drop_users: Sequence[str] = (),
                     ) -> GatewayRec:
        current = await self.require(domain)
        clean = self._fields(current.domain, **fields)
        merged: dict[str, object] = {
            "deliver_to": current.deliver_to, "verify": current.verify,
            "minger_host": current.minger_host, "minger_secret": current.minger_secret,
            **clean}
        left = set(current.recipients) | set(self._addresses(current.domain, add_recipients))
        left -= {a.lower() for a in drop_recipients}
        self._check_complete(merged, sorted(left))
        rec = await self.repo.update(
            current.domain, clean,
            add_recipients=self._addresses(current.domain, add_recipients),
            drop_recipients=[a.lower() for a in drop_recipients],
            add_accounts=await self._accounts(add_users),
            drop_accounts=await self._accounts(drop_users))
        if current.holds and not rec.holds:  # now delivered to a host: send what waits
            await self._queue.release_domain(rec.domain)
        return rec

    async def all(self) -> list[GatewayRec]:
        return await self.repo.all()

    async def require(self, domain: str) -> GatewayRec:
        rec = await self.find(normalize_domain(domain))
        if rec is None:
            raise not_found(f"no gateway {domain}")
        return rec

    async def remove(self, domain: str, force: bool = False) -> int:
        """Remove a gateway; mail still waiting for it becomes ordinary remote mail (delivered
        by MX). Refused while mail waits unless ``force``. Returns how many entries waited."""
        rec = await self.require(domain)
        waiting, _ = await self._queue.count_held(rec.domain)
        if waiting and not force:
            raise invalid(f"{waiting} queued messages wait for {rec.domain}; collect or "
                          "delete them first, or use --force to hand them to normal MX "
                          "delivery")
        await self.repo.remove(rec.domain)
        if waiting:
            await self._queue.release_domain(rec.domain)
        return waiting

    def _fields(self, domain: str, **given: str | None) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in given.items():
            if value is None and key != "minger_secret":
                continue
            if key == "deliver_to" and value:
                parse_host(value, 25)
                out[key] = value.strip().lower()
            elif key == "deliver_to":
                out[key] = ""
            elif key == "minger_host":
                if value:
                    parse_host(value, MINGER_PORT)
                out[key] = (value or "").strip().lower()
            elif key == "verify":
                if value not in VERIFY_MODES:
                    raise invalid(f"verify: one of {', '.join(VERIFY_MODES)}")
                out[key] = value
            elif key == "unverifiable":
                if value not in UNVERIFIABLE:
                    raise invalid(f"unverifiable: one of {', '.join(UNVERIFIABLE)}")
                out[key] = value
            elif key == "minger_secret":
                if value is None:
                    continue
                if value == "":
                    out[key] = None
                    continue
                try:
                    wire.check_secret(value)
                except ValueError as exc:
                    raise invalid(str(exc)) from None
                out[key] = self.secrets.seal(value, SECRET_PURPOSE)
        return out

    @staticmethod
    def _check_complete(fields: dict[str, object], recipients: Sequence[str]) -> None:
        if fields.get("verify") == "minger" and not (fields.get("minger_host")
                                                      or fields.get("deliver_to")):
            raise invalid("verify minger needs --minger-host (or --deliver-to, whose host is "
                          "asked on port 4069)")
        if fields.get("verify") == "static" and not recipients:
            raise invalid("verify static needs at least one --recipient (or "
                          "--recipients-file)")

    @staticmethod
    def _addresses(domain: str, addresses: Sequence[str]) -> list[str]:
        out = []
        for text in addresses:
            addr = Address.parse(text)
            if addr.domain != domain:
                raise invalid(f"{addr} is not in {domain}")
            out.append(str(addr))
        return out

    async def _accounts(self, addresses: Sequence[str]) -> list[int]:
        return [(await self.directory.require_account(a)).id for a in addresses]

    def review_time(self, created_at: int, warned: bool) -> int:
        """When a held entry is next looked at: the delay notice, then expiry."""
        cfg = self.cfg.smtp.outbound
        now = int(time.time())
        if cfg.delay_warning > 0 and not warned and created_at + cfg.delay_warning > now:
            return created_at + cfg.delay_warning
        return max(now + 60, created_at + cfg.max_queue_time)
