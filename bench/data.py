"""The same accounts and the same mail for every server in a run.

Generated deterministically (a seeded ``random.Random``), written into Postroom through its
services and into Dovecot as Maildir files (``cur/`` with ``:2,S`` for seen), so both servers
hold byte-identical messages with identical flags.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from postroom.app import Services
from postroom.core import flags as F
from postroom.core.principal import Principal
from postroom.core.records import NewMessage

T = TypeVar("T")
DOMAIN = "bench.test"
WORDS = ("budget", "meeting", "invoice", "release", "travel", "lunch", "report", "hiring",
         "design", "backup", "contract", "roadmap", "security", "offsite", "customer")
BIG_DISTINCT = 1000
EPOCH = 1_700_000_000


def in_order(round_index: int, first: T, second: T) -> tuple[T, T]:
    """Who runs first in a round: A B, B A, A B … so that neither server always meets the
    machine after the other one has warmed (or loaded) it."""
    return (first, second) if round_index % 2 == 0 else (second, first)


def account(i: int) -> str:
    return f"u{i:03d}@{DOMAIN}"


def password(address: str) -> str:
    return "pw-" + address.split("@")[0] + "-bench"


BIG = f"big@{DOMAIN}"
SINK = f"sink@{DOMAIN}"  # the SMTP workload's recipient


def message(i: int, j: int, size: int) -> bytes:
    """Message ``j`` of account ``i``: plain text, about ``size`` octets."""
    rnd = random.Random(i * 100_003 + j)
    word = WORDS[j % len(WORDS)]
    head = (f"From: Sender {j % 17} <s{j % 17}@example.org>\r\n"
            f"To: {account(i)}\r\n"
            f"Subject: {word} update {j}\r\n"
            f"Date: Mon, 6 Nov 2023 {j % 24:02d}:{j % 60:02d}:00 +0000\r\n"
            f"Message-ID: <a{i}.m{j}@{DOMAIN}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    lines = []
    total = len(head)
    while total < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(10)) + "\r\n"
        lines.append(line)
        total += len(line)
    return (head + "".join(lines)).encode()


@dataclasses.dataclass(frozen=True)
class Mail:
    data: bytes
    seen: bool
    when: int


def account_mail(i: int, count: int) -> Iterator[Mail]:
    for j in range(count):
        size = 2000 + (j * 397) % 4000
        yield Mail(message(i, j, size), j % 3 != 0, EPOCH + j * 60)


def big_mail(count: int) -> Iterator[Mail]:
    distinct = []
    for k in range(BIG_DISTINCT):
        word = "needle" if k == 123 else f"hay{k}"
        distinct.append((f"From: s{k}@example.org\r\nTo: {BIG}\r\nSubject: bulk {k}\r\n"
                         f"Date: Mon, 6 Nov 2023 10:00:00 +0000\r\n\r\n"
                         f"body {word} text\r\n").encode())
    for n in range(count):
        yield Mail(distinct[n % BIG_DISTINCT], n % 10 != 0, EPOCH + n)


# -- Postroom ------------------------------------------------------------------------------------
async def fill_postroom(services: Services, accounts: int, per_account: int,
                        big: int) -> None:
    directory = services.directory
    if not await services.store.directory.list_domains():
        await directory.add_domain(DOMAIN)
    for i in range(accounts):
        await fill_account(services, account(i), account_mail(i, per_account))
    if big:
        await fill_account(services, BIG, big_mail(big))
    await fill_account(services, SINK, iter(()))


async def fill_account(services: Services, address: str, mails: Iterator[Mail]) -> None:
    rec = await services.directory.add_account(address, password(address))
    await services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
    who = Principal.operator_as(rec.id, rec.address, rec.domain_id)
    handle = await services.mailboxes.open(who, "INBOX")
    prepared: dict[bytes, NewMessage] = {}  # the big mailbox repeats its distinct bodies
    chunk = []
    for mail in mails:
        m = prepared.get(mail.data)
        if m is None:
            m = await services.messages.prepare(mail.data, internal_date=mail.when)
            if len(prepared) < BIG_DISTINCT:
                prepared[mail.data] = m
        # Same content, this message's flags and date.
        chunk.append(dataclasses.replace(m, flags=F.SEEN if mail.seen else 0,
                                         internal_date=mail.when))
        if len(chunk) == 5000:
            await services.messages.append_prepared(who, handle, chunk)
            chunk = []
    if chunk:
        await services.messages.append_prepared(who, handle, chunk)


# -- Dovecot -------------------------------------------------------------------------------------
def fill_maildir(root: Path, mails: Iterator[Mail]) -> None:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cur = root / "cur"
    for n, mail in enumerate(mails):
        name = f"{mail.when}.M{n}P1.bench,S={len(mail.data)}:2,{'S' if mail.seen else ''}"
        path = cur / name
        path.write_bytes(mail.data)
        os.utime(path, (mail.when, mail.when))  # Maildir INTERNALDATE is the file's mtime
