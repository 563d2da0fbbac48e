"""Bulk account import: the CSV format every face reads, and imports run in the background.

The format is the CLI's (``postroom user import``): ``address,password[,name,quota]`` per
line, an optional header line starting with ``address``, UTF-8 with or without a BOM. The
whole file is checked before anything is created (a typo on line 9,000 imports nothing), and
every domain is checked against the actor's scope first, for the same reason.

A web page cannot hold a request open for the minutes 10,000 argon2id hashes take, so
``ImportJobs`` runs an import as a task on the server's event loop, in batches of one
transaction each (``UsersAdmin.add_many``), and answers "how far" while it runs. A job is
visible only to whoever started it; finished jobs are forgotten after ``keep_seconds``, and at
most ``max_running`` imports run at once, so a busy or hostile administrator cannot pile up
work or memory. Jobs live in this process only: a restart forgets them (the accounts already
created stay, batch by batch, and the audit log names each batch).
"""

from __future__ import annotations

import asyncio
import csv
import secrets
import time
from dataclasses import dataclass, field

from postroom.core.actor import Actor
from postroom.core.address import Address
from postroom.core.errors import Kind, MailError, invalid, not_found
from postroom.directory import passwords
from postroom.directory.quota import parse_size
from postroom.services.admin.directory import NewAccount, UsersAdmin

STOPPED = "the server stopped during the import"


MAX_IMPORT = 10_000  # accounts in one import (a page's upload, an API request)


def parse_accounts_csv(text: str, source: str = "", most: int | None = None,
                       ) -> list[NewAccount]:
    """Every account of a CSV text, or INVALID naming ``source:N`` (a file) or ``line N`` (no
    source) of the first mistake. The CLI, the import page and the API all read CSV here;
    the page and the API pass ``most`` (MAX_IMPORT), the operator's CLI imports any number
    in batches."""
    items: list[NewAccount] = []
    seen: set[str] = set()
    for lineno, row in enumerate(csv.reader(text.removeprefix("\ufeff").splitlines()), 1):
        where = f"{source}:{lineno}" if source else f"line {lineno}"
        if not row or (lineno == 1 and row[0].strip().lower() == "address"):
            continue
        if len(row) < 2:
            raise invalid(f"{where}: expected address,password[,name,quota]")
        try:
            address = str(Address.parse(row[0]))
            passwords.check_password_text(row[1])
            quota = parse_size(row[3]) if len(row) > 3 and row[3].strip() else None
        except MailError as exc:
            raise invalid(f"{where}: {exc.text}") from None
        if address in seen:
            raise invalid(f"{where}: {address} appears twice")
        seen.add(address)
        items.append(NewAccount(address, row[1], row[2].strip() if len(row) > 2 else "",
                                quota))
        if most is not None and len(items) > most:
            raise invalid(f"more than {most} accounts: split the import")
    return items


@dataclass(slots=True)
class ImportJob:
    """How far one import has come (what a progress page shows)."""

    id: str
    owner: str  # who started it: the principal's address, or "operator"
    total: int
    done: int = 0
    state: str = "running"  # running | done | failed
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "total": self.total, "done": self.done, "state": self.state,
                "error": self.error}


def _owner(actor: Actor) -> str:
    p = actor.principal
    return "operator" if p.system and p.address is None else str(p.address)


class ImportJobs:
    def __init__(self, users: UsersAdmin, *, batch: int = 200, max_running: int = 2,
                 keep_seconds: float = 3600.0) -> None:
        self._users = users
        self._batch = max(1, batch)
        self._max_running = max(1, max_running)
        self._keep = keep_seconds
        self._jobs: dict[str, ImportJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, actor: Actor, items: list[NewAccount]) -> ImportJob:
        """Check the actor may add accounts in every domain of ``items``, then import them in
        the background; the job tells how far it has come."""
        self._forget_old()
        if not items:
            raise invalid("the file holds no accounts")
        for domain in sorted({i.address.rsplit("@", 1)[1] for i in items}):
            await self._users.require_domain(actor, domain, "adding accounts")
        owner = _owner(actor)
        running = [j for j in self._jobs.values() if j.state == "running"]
        if any(j.owner == owner for j in running):
            raise MailError(Kind.LIMIT, "your last import is still running; wait for it to end")
        if len(running) >= self._max_running:
            raise MailError(Kind.LIMIT, f"{len(running)} imports are running; wait for one "
                                        "to end")
        job = ImportJob(secrets.token_urlsafe(12), owner, len(items))
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(actor, job, items))
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, actor: Actor, job: ImportJob, items: list[NewAccount]) -> None:
        try:
            for start in range(0, len(items), self._batch):
                chunk = items[start:start + self._batch]
                # the rights as of each batch: a role revoked meanwhile stops the import
                current = await self._users.as_of_now(actor)
                job.done += len(await self._users.add_many(current, chunk))
            job.state = "done"
        except MailError as exc:
            job.state, job.error = "failed", exc.text
        except asyncio.CancelledError:
            job.state, job.error = "failed", STOPPED
            raise
        except Exception:  # logged by the loop's handler would lose the job; say it here
            job.state, job.error = "failed", "the import stopped on a server error"
            raise
        finally:
            job.finished = time.time()

    def get(self, actor: Actor, job_id: str) -> ImportJob:
        """A job the actor started (NOT_FOUND for anyone else's, as for a missing one)."""
        self._forget_old()
        job = self._jobs.get(job_id)
        if job is None or job.owner != _owner(actor):
            raise not_found(f"no import {job_id}")
        return job

    def _forget_old(self) -> None:
        now = time.time()
        for key in [k for k, j in self._jobs.items()
                    if j.finished is not None and now - j.finished > self._keep]:
            del self._jobs[key]

    async def close(self) -> None:
        """Stop running imports (server shutdown); finished batches stay committed."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for job in self._jobs.values():  # also those whose task never got to run
            if job.state == "running":
                job.state, job.error = "failed", STOPPED
                job.finished = time.time()
