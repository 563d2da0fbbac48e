"""Forwarding to remote members of aliases and groups, at the services and the queue's
settle transaction (both backends): the forwarded copy is a new remote entry committed with
the local copies, never without them and never twice.

The queue manager runs in-process without its loop: these tests call ``local_attempt`` and
``conclude`` (what the loop calls) and ``deliver_at_acceptance`` (what SMTP calls).
"""

from __future__ import annotations

import pytest

from postroom.access.gate import MailboxHandle
from postroom.app import Services
from postroom.core.errors import Kind, MailError
from postroom.core.records import BlobRef, QueueRec, Settlement
from postroom.mta.queue import QueueManager
from postroom.services.forwarding import DkimSealingKeys, xtext
from postroom.services.pipeline import Client
from postroom.services.submission import split_entries
from tests.support.factory import account, message


def manager(services: Services) -> QueueManager:
    return QueueManager(services.cfg, "mx.example.com", services.queue, services.delivery,
                        services.submission, services.directory, services.gateways)


async def accept(services: Services, sender: str, rcpts: list[str],
                 params: dict[str, object] | None = None, subject: str = "fwd") -> QueueRec:
    sub = services.submission
    m = await sub.start(Client("192.0.2.1"), sender)
    for rcpt in rcpts:
        await sub.add_recipient(m, rcpt)
    blob = await services.queue.put_bytes(message(subject))
    entry_id = await sub.accept(m, blob, b"Received: test\r\n", params or {})
    return await services.queue.get(entry_id)


async def inbox_count(services: Services, address: str) -> int:
    rec = await services.directory.require_account(address)
    box = await services.store.mailboxes.by_name(rec.id, "INBOX")
    assert box is not None
    return box.message_count


def forwards(entries: list[QueueRec]) -> list[QueueRec]:
    return [e for e in entries if e.param_dict().get("forwarded_for")]


async def test_alias_forwards_its_remote_member_with_the_local_copy(services: Services) -> None:
    await account(services, "bob@example.com")
    await services.directory.add_alias("list@example.com",
                                       ["bob@example.com", "carol@far.example"])
    entry = await accept(services, "x@sender.example", ["list@example.com"], {
        "notify": {"list@example.com": "SUCCESS,FAILURE"}, "envid": "ENV1", "ret": "HDRS"})
    plan = await services.delivery.plan(entry)
    assert plan.forwards == {"list@example.com": ["carol@far.example"]}
    assert len(plan.targets["list@example.com"]) == 1
    mgr = manager(services)
    await mgr.conclude(entry, await mgr.local_attempt(entry))
    entries = await services.queue.list()
    assert entry.id not in [e.id for e in entries]  # settled
    [fwd] = forwards(entries)
    # NOTIFY=SUCCESS: the local copy's success notice; the remote one is its entry's to send
    [notice] = [e for e in entries if e.param_dict().get("notice")]
    assert notice.recipients == ("x@sender.example",)
    p = fwd.param_dict()
    assert fwd.sender == "x@sender.example" and fwd.recipients == ("carol@far.example",)
    assert p["remote"] is True and p["forwarded_for"] == "list@example.com"
    assert p["notify"] == {"carol@far.example": "SUCCESS,FAILURE"}
    assert p["orcpt"] == {"carol@far.example": "rfc822;list@example.com"}
    assert p["envid"] == "ENV1" and p["ret"] == "HDRS"
    assert fwd.blob == entry.blob and bytes(fwd.prefix) == b"Received: test\r\n"  # unsealed
    assert await inbox_count(services, "bob@example.com") == 1


async def test_alias_of_remote_members_only_and_null_sender(services: Services) -> None:
    """Such an alias used to bounce ("No such user here"); now its members get the mail,
    a null reverse path stays null, and an ORCPT given by the sender is passed on."""
    await account(services, "staff@example.com")  # example.com is ours
    await services.directory.add_alias("out@example.com", ["a@one.example", "b@two.example",
                                                           "c@one.example"])
    entry = await accept(services, "", ["out@example.com"],
                         {"orcpt": {"out@example.com": "rfc822;Out+40example.com"}})
    mgr = manager(services)
    attempt = await mgr.local_attempt(entry)
    assert not attempt.failed and not attempt.local
    assert [s.action for s in attempt.delivered] == ["expanded"]
    await mgr.conclude(entry, attempt)
    copies = sorted(await services.queue.list(), key=lambda e: e.recipients)
    assert [c.recipients for c in copies] == [("a@one.example", "c@one.example"),
                                              ("b@two.example",)]  # one per domain
    assert all(c.sender == "" for c in copies)
    assert copies[0].param_dict()["orcpt"] == {
        "a@one.example": "rfc822;Out+40example.com", "c@one.example": "rfc822;Out+40example.com"}
    assert "notify" not in copies[0].param_dict()


async def test_group_nested_alias_loop_and_duplicates(services: Services) -> None:
    """Expansion follows nested aliases and groups once each (a loop ends) and one remote
    address gets one copy however often it is reached; a plain account in the same message
    is delivered as before."""
    await account(services, "bob@example.com")
    await account(services, "dan@example.com")
    await services.directory.add_group("team@example.com", ["bob@example.com"])
    await services.directory.add_alias("loop-b@example.com",
                                       ["team@example.com", "carol@far.example"])
    # team -> loop-b -> team: a loop, and carol reached twice
    await services.store.directory.set_group_member("team@example.com", "loop-b@example.com",
                                                    True)
    await services.store.directory.set_group_member("team@example.com", "carol@far.example",
                                                    True)
    entry = await accept(services, "x@sender.example",
                         ["team@example.com", "loop-b@example.com", "dan@example.com"])
    plan = await services.delivery.plan(entry)
    assert plan.forwards == {"team@example.com": ["carol@far.example"]}
    assert "dan@example.com" not in plan.forwards
    mgr = manager(services)
    await mgr.conclude(entry, await mgr.local_attempt(entry))
    [fwd] = await services.queue.list()
    assert fwd.recipients == ("carol@far.example",)
    assert await inbox_count(services, "bob@example.com") == 1
    assert await inbox_count(services, "dan@example.com") == 1


async def test_failed_settle_queues_no_copy_and_the_retry_queues_one(
        services: Services) -> None:
    """The crash-safety contract at the layer where it lives: the forwarded copy is in the
    settle transaction. A settle that fails (here a mailbox that filled up between plan and
    commit; a crash before the commit is the same: nothing committed) leaves no forwarded
    entry and no local copy; the retry queues exactly one of each."""
    await account(services, "bob@example.com", quota=1_000_000)
    await services.directory.add_alias("list@example.com",
                                       ["bob@example.com", "carol@far.example"])
    entry = await accept(services, "x@sender.example", ["list@example.com"])
    mgr = manager(services)
    attempt = await mgr.local_attempt(entry)
    assert len(attempt.forwards) == 1 and len(attempt.local) == 1
    await services.store.directory.update_account("bob@example.com", quota_bytes=10)
    with pytest.raises(MailError) as exc:  # the transaction itself, as the manager calls it
        await services.queue.settle(entry.id, Settlement[MailboxHandle](
            local=attempt.local, forwards=attempt.forwards))
    assert exc.value.kind is Kind.OVER_QUOTA
    assert [e.id for e in await services.queue.list()] == [entry.id]
    assert await inbox_count(services, "bob@example.com") == 0
    # What the manager does with it: the recipient is deferred, its forward not queued.
    await mgr.conclude(entry, attempt)
    [kept] = await services.queue.list()
    assert kept.id == entry.id and kept.recipients == ("list@example.com",)
    assert not forwards([kept])
    # The retry, once there is room: one local copy, one forwarded copy.
    await services.store.directory.update_account("bob@example.com", quota_bytes=None)
    kept = await services.queue.get(entry.id)
    await mgr.conclude(kept, await mgr.local_attempt(kept))
    [fwd] = await services.queue.list()
    assert fwd.recipients == ("carol@far.example",)
    assert await inbox_count(services, "bob@example.com") == 1


async def test_delivery_at_acceptance_queues_the_forward_in_the_same_transaction(
        services: Services) -> None:
    await account(services, "bob@example.com")
    await services.directory.add_alias("list@example.com",
                                       ["bob@example.com", "carol@far.example"])
    mgr = manager(services)
    services.submission.direct = mgr.deliver_at_acceptance
    woken = []
    services.queue.on_enqueue(lambda: woken.append(1))
    try:
        entry_id = await services.submission.submit(
            Client("192.0.2.1"), "x@sender.example", ["list@example.com"], message("direct"))
    finally:
        services.submission.direct = None
    [fwd] = await services.queue.list()
    assert fwd.id != entry_id and fwd.recipients == ("carol@far.example",)
    assert await inbox_count(services, "bob@example.com") == 1
    assert woken  # the queue manager is told of the forwarded copy at once


async def test_sealing_keys_come_from_the_dkim_rsa_key(services: Services) -> None:
    await account(services, "staff@example.com")
    keys = DkimSealingKeys(services.dkim_keys)
    assert await keys.key_for("example.com") is None  # no key: forwarded unsealed
    await services.dkim_keys.generate("example.com")
    key = await keys.key_for("example.com")
    assert key is not None and key.algorithm == "rsa-sha256" and key.domain == "example.com"
    assert key.private_key.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    await account(services, "staff@ed.example")
    await services.dkim_keys.generate("ed.example", ["ed25519"])
    assert await keys.key_for("ed.example") is None  # RFC 8617 §4.1.3: rsa-sha256 only
    services.dkim_keys.cfg.sign = False
    assert await keys.key_for("example.com") is None


def test_xtext() -> None:
    assert xtext("a+b=c d@example.com") == "a+2Bb+3Dc+20d@example.com"


async def test_delivery_at_acceptance_hands_a_failed_plan_to_the_queue(
        services: Services) -> None:
    """A plan that fails (here the stored content is gone, so the MIME description cannot be
    read) writes nothing and returns None: the submission then queues the message as usual,
    so the sender still gets its reply and the queue's retry and notice rules apply."""
    await account(services, "bob@example.com")
    entry, = split_entries("x@sender.example", ["bob@example.com"], [],
                           BlobRef("0" * 64, 100), b"", {})
    assert await manager(services).deliver_at_acceptance(entry) is None
    assert await services.queue.list() == []
    assert await inbox_count(services, "bob@example.com") == 0


async def test_quarantined_mail_is_not_forwarded(services: Services) -> None:
    """A message a filter quarantined (filed in the local members' Junk) is not relayed to
    the remote members: nothing judged junk or infected leaves the server by forwarding."""
    await account(services, "bob@example.com")
    await services.directory.add_alias("list@example.com",
                                       ["bob@example.com", "carol@far.example"])
    entry = await accept(services, "x@sender.example", ["list@example.com"],
                         {"quarantine": True})
    mgr = manager(services)
    attempt = await mgr.local_attempt(entry)
    assert not attempt.failed and not attempt.forwards
    await mgr.conclude(entry, attempt)
    assert forwards(await services.queue.list()) == []
    rec = await services.directory.require_account("bob@example.com")
    junk = await services.store.mailboxes.by_name(rec.id, "Junk")
    assert junk is not None and junk.message_count == 1  # the local copy, in Junk
    assert await inbox_count(services, "bob@example.com") == 0


async def test_queue_count_matches_the_list(services: Services) -> None:
    """The metrics gauge counts the queue without reading its rows (services/health.py)."""
    await account(services, "staff@example.com")
    await services.directory.add_alias("out@example.com", ["a@one.example", "b@two.example"])
    assert await services.queue.count() == 0
    entry = await accept(services, "x@sender.example", ["out@example.com"])
    mgr = manager(services)
    await mgr.conclude(entry, await mgr.local_attempt(entry))
    assert await services.queue.count() == len(await services.queue.list()) == 2
