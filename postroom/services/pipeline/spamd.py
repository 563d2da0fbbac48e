"""The ``spamd`` check: SpamAssassin's score for the content, through spamd (net/spamd.py).

At the content stage the message (up to ``pipeline.spamd.max_size``, as spamc) goes to spamd
with SYMBOLS; the score decides, against our own thresholds (config_filters.SpamdConfig):

- every scanned message gets ``X-Spam-Status`` (Yes/No, score, threshold, the rules that hit)
  and ``X-Spam-Score`` in its per-delivery prefix, and ``X-Spam-Flag: YES`` from ``tag_at``;
- from ``junk_at``: QUARANTINE, which local delivery files into the recipient's ``\\Junk``
  folder (services/delivery.py);
- from ``reject_at``: REJECT with ``Kind.SPAM``, which SMTP says as 550 5.7.1 at DATA.

Not scanned: mail from authenticated senders unless ``scan_authenticated``; mail whose every
recipient opted out (``postroom user set --spam-filter off``); mail larger than ``max_size``.
When only some recipients opted out, the message is still scored and tagged, but neither
filed into Junk nor refused: one delivery serves all of them, and an opted-out recipient must
get their mail as it came.

spamd unreachable or failing: ``on_error`` says accept (tagged ``X-Spam-Status: Unchecked``)
or tempfail (451). Every decision is one ``filter`` line in the mail log.

Before sending, a ``Received`` line naming the client (address and HELO) is put in front of
the content, the one acceptance will write: SpamAssassin's relay rules read it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from postroom.config_filters import SpamdConfig
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.net.spamd import SpamdClient, SpamdError, SpamResult
from postroom.services.pipeline import CONTINUE, Judgement, Message, Verdict
from postroom.services.pipeline.body import read_upto
from postroom.services.pipeline.filterlog import decision

CONTENT = frozenset({Stage.CONTENT})


class OptOuts(Protocol):
    """Which of these recipient addresses opted out of spam filtering."""

    async def opted_out(self, addresses: Sequence[str]) -> set[str]: ...


def fold_tests(symbols: Sequence[str], first: str) -> str:
    """``first`` followed by ``tests=A,B,...``, folded below 78 columns (RFC 5322 §2.2.3)."""
    lines = [first + " tests="]
    for i, name in enumerate(symbols):
        piece = name + ("," if i < len(symbols) - 1 else "")
        if len(lines[-1]) + len(piece) > 76 and not lines[-1].endswith("="):
            lines.append("\t" + piece)
        else:
            lines[-1] += piece
    if not symbols:
        lines[-1] += "none"
    return "\r\n".join(lines)


def spam_headers(result: SpamResult, tag_at: float) -> tuple[str, ...]:
    """The X-Spam-* annotations for a scored message (SpamAssassin's own header names)."""
    flagged = result.score >= tag_at
    status = fold_tests(result.symbols, f"X-Spam-Status: {'Yes' if flagged else 'No'}, "
                        f"score={result.score:.1f} required={tag_at:.1f}")
    lines = [status, f"X-Spam-Score: {result.score:.1f}"]
    if flagged:
        lines.insert(0, "X-Spam-Flag: YES")
    return tuple(lines)


def received_for(message: Message) -> bytes:
    """The client's hop as a ``Received`` line (RFC 5321 §4.4), for SpamAssassin's relay
    rules; nothing for mail made inside the server."""
    if message.client.address == "local":
        return b""
    when = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    helo = message.client.helo or "unknown"
    return (f"Received: from {helo} ([{message.client.address}])\r\n"
            f"\tby postroom with ESMTP; {when}\r\n").encode("utf-8", "replace")


class SpamdCheck:
    name = "spamd"
    stages = CONTENT

    def __init__(self, cfg: SpamdConfig, client: SpamdClient,
                 optouts: OptOuts | None = None) -> None:
        self.cfg = cfg
        self.client = client
        self.optouts = optouts

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        cfg = self.cfg
        if message.client.principal is not None and not cfg.scan_authenticated:
            decision(self.name, message, "skip", "authenticated sender")
            return CONTINUE
        out: set[str] = set()
        if self.optouts is not None:
            local = [r for r in message.recipients if r not in message.remote]
            out = await self.optouts.opted_out(local)
        if message.recipients and all(r in out for r in message.recipients):
            decision(self.name, message, "skip", "every recipient opted out")
            return CONTINUE
        if message.size > cfg.max_size:
            decision(self.name, message, "skip", f"larger than {cfg.max_size} octets",
                     size=message.size)
            return CONTINUE
        data = received_for(message) + await read_upto(message, cfg.max_size)
        started = time.monotonic()
        try:
            result = await self.client.symbols(data)
        except SpamdError as exc:
            ms = round((time.monotonic() - started) * 1000)
            if cfg.on_error == "tempfail":
                decision(self.name, message, "tempfail", str(exc), ms=ms)
                return Judgement.tempfail("Spam filter unavailable; try again later")
            decision(self.name, message, "unchecked", str(exc), ms=ms)
            return Judgement(Verdict.CONTINUE,
                             annotations=("X-Spam-Status: Unchecked (spam filter unavailable)",))
        ms = round((time.monotonic() - started) * 1000)
        notes = spam_headers(result, cfg.tag_at)
        score = f"{result.score:.1f}"
        rules = ",".join(result.symbols) or "-"
        mixed = bool(out)
        if cfg.reject_at and result.score >= cfg.reject_at and not mixed:
            decision(self.name, message, "reject", f"score {score} >= {cfg.reject_at:g}",
                     score=score, rules=rules, ms=ms)
            return Judgement(Verdict.REJECT, Kind.SPAM,
                             f"Message refused as spam (score {score})", notes)
        if cfg.junk_at and result.score >= cfg.junk_at and not mixed:
            decision(self.name, message, "junk", f"score {score} >= {cfg.junk_at:g}",
                     score=score, rules=rules, ms=ms)
            return Judgement(Verdict.QUARANTINE, annotations=notes)
        flagged = result.score >= cfg.tag_at
        reason = "some recipients opted out" if mixed and flagged else \
            f"score {score} {'>=' if flagged else '<'} {cfg.tag_at:g}"
        decision(self.name, message, "tag" if flagged else "pass", reason, score=score,
                 rules=rules, ms=ms)
        return Judgement(Verdict.CONTINUE, annotations=notes)


def build(cfg: SpamdConfig, optouts: OptOuts | None) -> SpamdCheck:
    client = SpamdClient(cfg.address, cfg.timeout, cfg.connect_timeout, cfg.user)
    return SpamdCheck(cfg, client, optouts)
