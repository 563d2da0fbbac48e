"""What a Sieve script costs per message: a 20-rule script, as users write them (folders by
list, sender and subject, flags, a spam score, a subaddress), over a typical message.

The script is compiled once (as the delivery service keeps bound scripts), then run over
``--messages`` messages; printed: µs per run with the Message already built, µs per run
including building the Message from its header block (what the delivery pays per
recipient), and the compile time. Pure CPU, no I/O: measured in CPU time (process time),
so that other work on the machine does not count:

    .venv/bin/python -m bench.sieve_speed [--messages 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from postroom.sieve import compile_script
from postroom.sieve.bind import BoundScript
from postroom.sieve.interp import execute
from postroom.sieve.limits import DEFAULT
from postroom.sieve.message import Envelope, Message

SCRIPT = r'''require ["fileinto", "envelope", "imap4flags", "relational", "subaddress",
         "comparator-i;ascii-numeric"];
if header :contains "list-id" "<dev.lists.example.org>" { fileinto "Lists/dev"; stop; }
if header :contains "list-id" "<announce.example.org>" { fileinto "Lists/announce"; stop; }
if address :is :domain "from" "partner.example.com" { fileinto "Partners"; }
if address :is "from" ["boss@example.org", "ceo@example.org"] { addflag "\\Flagged"; }
if header :matches "subject" "*[SPAM]*" { fileinto "Junk"; stop; }
if header :contains "x-spam-flag" "YES" { fileinto "Junk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "8" { discard; stop; }
if envelope :detail "to" "shopping" { fileinto "Shopping"; }
if exists "x-github-reason" { fileinto "GitHub"; }
if header :contains "subject" ["invoice", "receipt", "order confirmation"] {
    fileinto "Receipts";
}
if size :over 10M { fileinto "Large"; }
if address :contains ["to", "cc"] "team@example.org" { fileinto "Team"; }
if anyof (header :contains "subject" "urgent", header :is "importance" "high") {
    addflag "\\Flagged";
}
if header :contains "from" "newsletter" { fileinto "Newsletters"; }
if allof (address :domain "from" "example.net", not header :contains "subject" "re:") {
    fileinto "Net";
}
if header :is "auto-submitted" "auto-replied" { discard; }
if header :contains "precedence" ["bulk", "list", "junk"] { addflag "$Bulk"; }
if address :localpart "from" ["noreply", "no-reply", "donotreply"] { addflag "$NoReply"; }
if header :matches "received" "*from mail.bad.example*" { fileinto "Suspicious"; }
if envelope :domain "from" "bounces.example.com" { fileinto "Bounces"; }
'''

HEADER = (
    b"Return-Path: <alice@example.com>\r\n"
    b"Received: from mx.example.com (mx.example.com [192.0.2.1]) by mail.example.org with "
    b"ESMTPS id abc; Thu, 3 Dec 2026 10:00:00 +0000\r\n"
    b"Received: from client (client [198.51.100.2]) by mx.example.com with ESMTPSA id def;\r\n"
    b"\tThu, 3 Dec 2026 09:59:59 +0000\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to:subject;\r\n"
    b"\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\n"
    b"From: Alice Example <alice@example.com>\r\n"
    b"To: Bob <bob@example.org>, Carol <carol@example.org>\r\n"
    b"Cc: dave@example.net\r\n"
    b"Subject: =?utf-8?q?Notes_from_Thursday=E2=80=99s_meeting?=\r\n"
    b"Date: Thu, 3 Dec 2026 09:59:58 +0000\r\n"
    b"Message-ID: <1234@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n")
SIZE = len(HEADER) + 4000


class _Env:
    """No folder, metadata or include lookups happen in this script."""

    async def mailbox_exists(self, name: str) -> bool:
        return True

    async def metadata(self, mailbox: str | None, annotation: str) -> str | None:
        return None

    async def duplicate(self, tracking: str, seconds: int, last: bool) -> bool:
        return False

    async def include(self, name: str, location: str) -> BoundScript | None:
        return None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def user_addresses(self) -> tuple[str, ...]:
        return ("bob@example.org",)

    def environment(self, item: str) -> str | None:
        return None


def _message() -> Message:
    return Message(HEADER, size=SIZE,
                   envelope=Envelope("alice@example.com", "bob+shopping@example.org"))


async def measure(count: int) -> dict[str, float]:
    env = _Env()
    start = time.process_time()
    for _ in range(20):
        script = compile_script(SCRIPT)
    compile_us = (time.process_time() - start) / 20 * 1e6
    for _ in range(200):  # warm up
        await execute(script, _message(), env, DEFAULT)
    messages = [_message() for _ in range(count)]
    start = time.process_time()
    for message in messages:
        result = await execute(script, message, env, DEFAULT)
    run_us = (time.process_time() - start) / count * 1e6
    assert result.error is None and result.actions
    start = time.process_time()
    for _ in range(count):
        await execute(script, _message(), env, DEFAULT)
    with_message_us = (time.process_time() - start) / count * 1e6
    return {"run_us": run_us, "with_message_us": with_message_us, "compile_us": compile_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    got = asyncio.run(measure(max(100, min(args.messages, 1_000_000))))
    print(f"20-rule script: {got['run_us']:.1f} µs per run, "
          f"{got['with_message_us']:.1f} µs with the Message built, "
          f"compile {got['compile_us']:.0f} µs")


if __name__ == "__main__":
    main()
