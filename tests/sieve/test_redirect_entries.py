"""Redirected copies as queue entries (services/sieve/redirect.py), on both stores: the SRS
reverse path and the loop marker of a remote copy, the local copy keeping its sender, the DSN
parameters moving with the recipient, the memory of a redirect done, and the loop check.
Exactly once over a failed settlement and a retry, and over SMTP: test_redirect_smtp.py."""

from __future__ import annotations

from postroom.app import Services
from postroom.core.records import MemoryRow, QueueRec
from postroom.services.forwarding import Forwarding
from postroom.services.pipeline import Client
from postroom.services.sieve.memory import REDIRECT, SieveMemory, key_hash
from postroom.services.sieve.redirect import (
    MAX_HOPS,
    REDIRECT_SECONDS,
    Redirector,
    RedirectOrder,
    loop_reason,
)
from postroom.services.sieve.srs import SenderRewriting, Srs
from tests.support.factory import account, message
from tests.support.sieve import make_message

NOW = 1_800_000_000


def redirector(s: Services) -> Redirector:
    srs = SenderRewriting(s.directory, s.cfg.sieve, s.cfg.data_path)
    return Redirector(Forwarding(s.queue), srs, SieveMemory(s.store, s.cfg.sieve),
                      s.directory, s.submission)


async def accepted(s: Services, sender: str, rcpt: str, params: dict[str, object],
                   ) -> QueueRec:
    m = await s.submission.start(Client("192.0.2.1"), sender)
    await s.submission.add_recipient(m, rcpt)
    blob = await s.queue.put_bytes(message("redirect me"))
    return await s.queue.get(await s.submission.accept(m, blob, b"Received: test\r\n", params))


async def test_remote_and_local_redirects(services: Services) -> None:
    s = services
    alice = await account(s, "alice@a.example")
    await account(s, "bob@a.example")
    assert alice.account_id is not None
    entry = await accepted(s, "dave@b.example", "alice@a.example", {
        "notify": {"alice@a.example": "FAILURE"}, "envid": "E1", "ret": "HDRS"})
    red = redirector(s)
    orders = [RedirectOrder("carol@c.example", alice.account_id, "alice@a.example", "<m@x>"),
              RedirectOrder("bob@a.example", alice.account_id, "alice@a.example", "<m@x>")]
    entries, rows = await red.entries(entry, "alice@a.example", orders, NOW)
    remote, local = entries
    # remote: SRS reverse path signed by the user's domain, the loop marker above the prefix
    assert remote.recipients == ["carol@c.example"]
    assert remote.sender.startswith("SRS0=") and remote.sender.endswith("=b.example=dave@a.example")
    assert Srs(red.srs.scheme().secret).reverse(remote.sender) == "dave@b.example"
    assert remote.prefix == b"Delivered-To: alice@a.example\r\nReceived: test\r\n"
    assert remote.blob.sha256 == entry.blob  # the message unchanged (RFC 5228 §4.2)
    p = remote.params
    assert p["remote"] is True and p["forwarded_for"] == "alice@a.example"
    assert p["notify"] == {"carol@c.example": "FAILURE"} and p["envid"] == "E1"
    assert p["orcpt"] == {"carol@c.example": "rfc822;alice@a.example"}
    # local: the sender kept (no SRS), a local entry for the queue to deliver
    assert (local.sender, list(local.recipients)) == ("dave@b.example", ["bob@a.example"])
    assert "remote" not in local.params and local.params["forwarded_for"] == "alice@a.example"
    assert local.prefix.startswith(b"Delivered-To: alice@a.example\r\n")
    assert local.params["orcpt"] == {"bob@a.example": "rfc822;alice@a.example"}
    # each redirect remembered with the delivery
    assert rows == [MemoryRow(alice.account_id, REDIRECT,
                              key_hash("<m@x>", target), NOW + REDIRECT_SECONDS)
                    for target in ("carol@c.example", "bob@a.example")]
    await s.store.sieve.remember(rows)
    again, more = await red.entries(entry, "alice@a.example", orders, NOW + 60)
    assert again == [] and more == []  # the same message to the same targets: done already
    other = [RedirectOrder("carol@c.example", alice.account_id, "alice@a.example", "")]
    assert len((await red.entries(entry, "alice@a.example", other, NOW + 60))[0]) == 1


async def test_null_sender_stays_null_and_own_senders_are_not_rewritten(
        services: Services) -> None:
    s = services
    alice = await account(s, "alice@a.example")
    assert alice.account_id is not None
    red = redirector(s)
    order = [RedirectOrder("carol@c.example", alice.account_id, "alice@a.example")]
    bounce = await accepted(s, "", "alice@a.example", {})
    [copy], _ = await red.entries(bounce, "alice@a.example", order, NOW)
    assert copy.sender == ""  # RFC 5228 §4.2
    own = await accepted(s, "bob@a.example", "alice@a.example", {})
    [copy], _ = await red.entries(own, "alice@a.example", order, NOW)
    assert copy.sender == "bob@a.example"


def test_loop_reason() -> None:
    plain = make_message("From: d@b.example\nSubject: x\n\nhi\n")
    assert loop_reason(plain, ["alice@a.example"]) is None
    marked = make_message("Delivered-To: Alice@A.example\nFrom: d@b.example\n\nhi\n")
    reason = loop_reason(marked, ["alice@a.example", "team@a.example"])
    assert reason is not None and "Delivered-To" in reason
    assert loop_reason(marked, ["bob@a.example"]) is None  # someone else's redirect
    hops = make_message("Received: x\n" * (MAX_HOPS + 1) + "From: d@b.example\n\nhi\n")
    reason = loop_reason(hops, ["bob@a.example"])
    assert reason is not None and "Received" in reason
