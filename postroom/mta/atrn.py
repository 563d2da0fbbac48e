"""The customer side of ODMR ("mail release", RFC 2645): providers that hold mail for our
domains, collected by ATRN on a schedule (``postroom atrn``).

Administration and the scheduler live here; the network exchange itself is
``protocols/smtp/odmr.py collect``, handed in by the composition root as ``runner`` (after
the turnaround we *are* an SMTP server, and that is a protocol front-end's job). The password is
sealed at rest (directory/secretbox.py). A failed run waits ``interval × 2^failures``, at most
``odmr.max_backoff`` seconds; ``postroom atrn show`` tells the administrator why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postroom.core.address import normalize_domain
from postroom.core.aio import cancel
from postroom.core.errors import invalid, not_found
from postroom.core.records import ProviderRec
from postroom.directory.secretbox import SecretBox, SecretError

if TYPE_CHECKING:
    from postroom.app import Services
    from postroom.mta.queue import QueueManager

log = logging.getLogger("postroom.atrn")

TLS_MODES = ("starttls", "implicit", "none")
DEFAULT_PORT = 366  # RFC 2645 §3
MIN_INTERVAL = 30
PURPOSE = "atrn"


@dataclass
class Provider:
    """One provider to collect from (an ``atrn_providers`` row with its password opened)."""

    host: str
    port: int
    tls: str  # "starttls" | "implicit" | "none"
    tls_verify: bool
    username: str
    password: str
    domains: list[str] = field(default_factory=list)


class AtrnError(Exception):
    """The collection failed; the message says where and why."""


Runner = Callable[[Provider], Awaitable[int]]


@dataclass
class RunResult:
    received: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class Atrn:
    def __init__(self, services: Services, secrets: SecretBox, runner: Runner | None) -> None:
        self.services = services
        self.repo = services.store.gateways
        self.secrets = secrets
        self.runner = runner
        self.cfg = services.cfg.odmr

    # -- administration -----------------------------------------------------------------------
    async def add(self, name: str, *, host: str, username: str, password: str,
                  domains: Sequence[str] = (), tls: str = "starttls", port: int | None = None,
                  tls_verify: bool = True, interval: int = 600, enabled: bool = True,
                  ) -> ProviderRec:
        if not name or any(c.isspace() for c in name):
            raise invalid("name: one word, e.g. the provider's host name")
        fields = self._fields(host=host, username=username, tls=tls, port=port,
                              interval=interval, domains=domains)
        fields.update(password=self._seal(password), tls_verify=tls_verify, enabled=enabled,
                      next_run=0)
        return await self.repo.add_provider(name, fields)

    async def update(self, name: str, *, password: str | None = None,
                     host: str | None = None, username: str | None = None,
                     tls: str | None = None, port: int | None = None,
                     interval: int | None = None, domains: Sequence[str] | None = None,
                     tls_verify: bool | None = None, enabled: bool | None = None,
                     ) -> ProviderRec:
        """Change what is given (None = keep), checked as ``add`` checks; runs soon after."""
        cur = await self.one(name)
        fields = self._fields(host=host or cur.host, username=username or cur.username,
                              tls=tls or cur.tls, port=cur.port if port is None else port,
                              interval=cur.interval_s if interval is None else interval,
                              domains=cur.domain_list if domains is None else domains)
        if tls_verify is not None:
            fields["tls_verify"] = tls_verify
        if enabled is not None:
            fields["enabled"] = enabled
        if password is not None:
            fields["password"] = self._seal(password)
        fields.update(next_run=0, failures=0)
        return await self.repo.update_provider(name, fields)

    def _seal(self, password: str) -> str:
        if not password or any(c in password for c in "\r\n\0"):
            raise invalid("password: give the provider password (no line breaks)")
        return self.secrets.seal(password, PURPOSE)

    @staticmethod
    def _fields(*, host: str, username: str, tls: str, port: int | None, interval: int,
                domains: Sequence[str]) -> dict[str, object]:
        if not host or any(c.isspace() for c in host):
            raise invalid("host: give the provider's host name or address")
        if not username or any(c.isspace() for c in username):
            raise invalid("user: give the login the provider gave you")
        if tls not in TLS_MODES:
            raise invalid(f"tls: one of {', '.join(TLS_MODES)}")
        port = DEFAULT_PORT if port is None else port
        if not 1 <= port <= 65535:
            raise invalid("port: 1 to 65535")
        if interval < MIN_INTERVAL:
            raise invalid(f"interval: at least {MIN_INTERVAL} seconds")
        clean = [normalize_domain(d) for d in domains]
        return {"host": host.strip().lower(), "username": username, "tls": tls, "port": port,
                "interval_s": interval, "domains": ",".join(clean)}

    async def providers(self) -> list[ProviderRec]:
        return await self.repo.providers()

    async def one(self, name: str) -> ProviderRec:
        rec = await self.repo.provider(name)
        if rec is None:
            raise not_found(f"no ATRN provider {name}")
        return rec

    async def remove(self, name: str) -> None:
        await self.repo.remove_provider(name)

    # -- one run ------------------------------------------------------------------------------
    async def run(self, rec: ProviderRec) -> RunResult:
        """Collect once from ``rec`` and record the outcome (schedule, error, backoff)."""
        assert self.runner is not None
        result = RunResult()
        try:
            password = self.secrets.open(rec.password, PURPOSE)
            result.received = await self.runner(Provider(
                rec.host, rec.port, rec.tls, rec.tls_verify, rec.username, password,
                rec.domain_list))
        except SecretError:
            result.error = "cannot open the stored password (wrong key file?)"
        except AtrnError as exc:
            result.error = str(exc)
        except Exception as exc:  # a bug: logged with its trace, recorded, backed off
            log.exception("atrn: collection from %s failed", rec.name)
            result.error = f"internal error: {type(exc).__name__}"
        now = int(time.time())
        if result.ok:
            next_run = now + rec.interval_s
            log.info("atrn: collected", extra={"provider": rec.name,
                                               "received": result.received})
        else:
            wait = min(rec.interval_s * 2 ** min(rec.failures + 1, 20), self.cfg.max_backoff)
            next_run = now + max(wait, rec.interval_s)
            log.warning("atrn: collection failed", extra={"provider": rec.name,
                                                          "reason": result.error,
                                                          "retry_in": next_run - now})
        await self.repo.record_run(rec.name, ok=result.ok, error=result.error,
                                   received=result.received, next_run=next_run)
        return result


class AtrnScheduler:
    """In the server: every ``odmr.check_every`` seconds, run the providers that are due,
    one at a time (a customer has few providers; one connection each is plenty)."""

    def __init__(self, atrn: Atrn, queue: QueueManager | None) -> None:
        self.atrn = atrn
        self.queue = queue
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="atrn")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                due = await self.atrn.repo.due_providers(int(time.time()))
            except Exception:
                log.exception("atrn: cannot read providers")
                due = []
            for rec in due:
                result = await self.atrn.run(rec)
                if result.received and self.queue is not None:
                    self.queue.wake()
            await asyncio.sleep(self.atrn.cfg.check_every)
