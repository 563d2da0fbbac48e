"""The ``clamav`` check: the content streamed to clamd with INSTREAM (net/clamd.py).

clamd does the unpacking (MIME parts, base64, zip and other archives, nested), so the whole
received content goes as it is, in chunks, never whole in memory. Outcomes
(config_filters.ClamavConfig):

- clean: CONTINUE, with ``X-Virus-Status: Clean`` in the per-delivery prefix;
- infected: REJECT with ``Kind.VIRUS`` (554 5.7.1, the text names the signature), or with
  ``on_infected = "quarantine"`` QUARANTINE into the recipients' ``\\Junk`` folder, marked
  ``X-Virus-Status: Infected (<signature>)``;
- longer than clamd's StreamMaxLength (``max_stream``): accepted unscanned with
  ``X-Virus-Status: Unchecked``, or refused with 552 (``oversize``);
- clamd unavailable: the scan is tried again ``retries`` times after ``retry_delay`` when
  clamd refused or dropped the connection (a restart; signature reloads are clamd's business,
  and the server keeps serving through them), then ``on_error``: TEMPFAIL (451 4.3.0: the
  sender keeps the message and retries, nothing is lost) or accept with
  ``X-Virus-Status: Unchecked``.

Every decision is one ``filter`` line in the mail log.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

from postroom.config_filters import ClamavConfig
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.net.clamd import ClamdClient, ClamdError, ClamdUnavailable, ScanResult, StreamTooLong
from postroom.services.pipeline import CONTINUE, Judgement, Message, Verdict
from postroom.services.pipeline.body import chunks
from postroom.services.pipeline.filterlog import decision

CONTENT = frozenset({Stage.CONTENT})
UNCHECKED = "X-Virus-Status: Unchecked"


class ClamavCheck:
    name = "clamav"
    stages = CONTENT

    def __init__(self, cfg: ClamavConfig, client: ClamdClient) -> None:
        self.cfg = cfg
        self.client = client

    async def scan(self, message: Message) -> ScanResult:
        """One scan, tried again on a refused or dropped connection (``retries``)."""
        attempt = 0
        while True:
            try:
                async with aclosing(chunks(message, self.cfg.chunk_size)) as content:
                    return await self.client.instream(content)
            except ClamdUnavailable:
                if attempt >= self.cfg.retries:
                    raise
                attempt += 1
                await asyncio.sleep(self.cfg.retry_delay)

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        cfg = self.cfg
        if message.client.principal is not None and not cfg.scan_authenticated:
            decision(self.name, message, "skip", "authenticated sender")
            return CONTINUE
        started = time.monotonic()
        try:
            if message.size > cfg.max_stream:
                raise StreamTooLong(f"larger than the stream limit ({cfg.max_stream} octets)")
            result = await self.scan(message)
        except StreamTooLong as exc:
            if cfg.oversize == "reject":
                decision(self.name, message, "reject", str(exc), size=message.size)
                return Judgement.reject(Kind.LIMIT, "Message too large to be scanned for "
                                        "viruses")
            decision(self.name, message, "unchecked", str(exc), size=message.size)
            return Judgement(Verdict.CONTINUE, annotations=(f"{UNCHECKED} (too large)",))
        except ClamdError as exc:
            ms = round((time.monotonic() - started) * 1000)
            if cfg.on_error == "accept":
                decision(self.name, message, "unchecked", str(exc), ms=ms)
                return Judgement(Verdict.CONTINUE,
                                 annotations=(f"{UNCHECKED} (virus scanner unavailable)",))
            decision(self.name, message, "tempfail", str(exc), ms=ms)
            return Judgement.tempfail("Virus scanner unavailable; try again later")
        ms = round((time.monotonic() - started) * 1000)
        if not result.infected:
            decision(self.name, message, "pass", "clean", ms=ms)
            return Judgement(Verdict.CONTINUE, annotations=("X-Virus-Status: Clean",))
        note = (f"X-Virus-Status: Infected ({result.signature})",)
        if cfg.on_infected == "quarantine":
            decision(self.name, message, "quarantine", "infected",
                     signature=result.signature, ms=ms)
            return Judgement(Verdict.QUARANTINE, annotations=note)
        decision(self.name, message, "reject", "infected", signature=result.signature, ms=ms)
        return Judgement(Verdict.REJECT, Kind.VIRUS,
                         f"Message refused: virus found ({result.signature})", note)


def build(cfg: ClamavConfig) -> ClamavCheck:
    return ClamavCheck(cfg, ClamdClient(cfg.address, cfg.timeout, cfg.connect_timeout,
                                        cfg.chunk_size, cfg.max_stream))
