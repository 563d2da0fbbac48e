"""The customer side of ODMR ("mail release", RFC 2645): providers that hold mail for our
domains, collected by ATRN on a schedule (``postroom atrn``).

Administration is services/atrn.py's; one run and the scheduler live here; the network
exchange itself is ``protocols/smtp/odmr.py collect``, handed in by the composition root as
``runner`` (after the turnaround we *are* an SMTP server, and that is a protocol front-end's
job). The password is
sealed at rest (directory/secretbox.py). A failed run waits ``interval × 2^failures``, at most
``odmr.max_backoff`` seconds; ``postroom atrn show`` tells the administrator why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from postroom.config import OdmrConfig
from postroom.core.aio import cancel
from postroom.core.locks import LocalLocks, Locks, singleton
from postroom.core.records import ProviderRec
from postroom.directory.secretbox import SecretError
from postroom.services.atrn import AtrnProviders

log = logging.getLogger("postroom.atrn")



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
    """One collection from a provider, with its outcome recorded; shared by the scheduler and
    ``postroom atrn run-now``."""

    def __init__(self, providers: AtrnProviders, cfg: OdmrConfig, runner: Runner) -> None:
        self.providers = providers
        self.runner = runner
        self.cfg = cfg

    # -- one run ------------------------------------------------------------------------------
    async def run(self, rec: ProviderRec) -> RunResult:
        """Collect once from ``rec`` and record the outcome (schedule, error, backoff)."""
        result = RunResult()
        try:
            password = self.providers.password(rec)
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
        await self.providers.record_run(rec.name, ok=result.ok, error=result.error,
                                        received=result.received, next_run=next_run)
        return result


class AtrnScheduler:
    """In the server: every ``odmr.check_every`` seconds, run the providers that are due,
    one at a time (a customer has few providers; one connection each is plenty)."""

    def __init__(self, atrn: Atrn, locks: Locks | None = None) -> None:
        self.atrn = atrn
        # one node at a time runs a provider (cluster mode; core/locks.py)
        self.locks = locks or LocalLocks()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="atrn")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                due = await self.atrn.providers.due(int(time.time()))
            except Exception:
                log.exception("atrn: cannot read providers")
                due = []
            for rec in due:
                try:
                    async with singleton(self.locks, f"atrn:{rec.name}") as mine:
                        if mine:
                            await self.atrn.run(rec)
                except Exception:
                    log.exception("atrn: run of provider %s failed", rec.name)
            await asyncio.sleep(self.atrn.cfg.check_every)
