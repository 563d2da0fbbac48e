"""POP3 and MultiPOP on both backends: the maildrop (lock, listing, UPDATE in one
transaction), APOP secrets, and the MultiPOP rows (leases, exactly-once recording)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from postroom.app import Services
from postroom.core import flags as F
from postroom.core.changes import FlagsChanged, MessagesExpunged
from postroom.core.errors import Kind, MailError
from postroom.core.records import NewEntry
from tests.support.factory import account, message


async def test_maildrop_lock_listing_and_update(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    data = [message(f"m{i}") for i in range(4)]
    await services.messages.append(alice, "INBOX", [(d, [], None) for d in data])
    drops = services.maildrops
    drop = await drops.open(alice)
    assert [size for _, size in drop.messages] == [len(d) for d in data]
    assert drop.uidl(2) == f"{drop.uidvalidity}.2"
    with pytest.raises(MailError) as exc:
        await drops.open(alice)
    assert exc.value.kind is Kind.IN_USE
    sub = services.feed.subscribe([drop.handle])
    drop.retrieved.update({1, 2})
    drop.deleted.update({2, 4})
    assert await drops.update(drop) == (1, 2)  # 2 was both read and deleted: just removed
    await asyncio.sleep(0)
    events = sub.pending()
    assert [type(e) for e in events] == [FlagsChanged, MessagesExpunged]
    assert events[1].uids == (2, 4)  # type: ignore[union-attr]
    sub.close()
    drops.close(drop)
    again = await drops.open(alice)  # the lock is free again
    assert [uid for uid, _ in again.messages] == [1, 3]
    rows = await services.store.messages.flag_rows(again.handle.mailbox.id)
    assert [(r.uid, bool(r.flags & F.SEEN)) for r in rows] == [(1, True), (3, False)]
    box = await services.store.mailboxes.get(again.handle.mailbox.id)
    assert box is not None and box.message_count == 2
    assert box.total_size == len(data[0]) + len(data[2])
    drops.close(again)


async def test_apop_secret(services: Services) -> None:
    await account(services, "bob@example.com")
    d = services.directory
    stamp = "<1.2@host>"
    digest = hashlib.md5(f"{stamp}s3cret-apop".encode()).hexdigest()
    assert await d.apop("bob@example.com", stamp, digest) is None  # no secret yet
    await d.set_apop_secret("bob@example.com", "s3cret-apop")
    assert await d.has_apop_secret("bob@example.com")
    principal = await d.apop("bob@example.com", stamp, digest)
    assert principal is not None and principal.address == "bob@example.com"
    assert await d.apop("bob@example.com", "<other@host>", digest) is None
    assert await d.apop("nobody@example.com", stamp, digest) is None
    await d.set_state("bob@example.com", "disabled")
    with pytest.raises(MailError):
        await d.apop("bob@example.com", stamp, digest)
    await d.set_apop_secret("bob@example.com", None)
    assert not await d.has_apop_secret("bob@example.com")


async def test_multipop_rows(services: Services) -> None:
    await account(services, "carol@example.com")
    mp = services.multipop
    remote = await mp.add("carol@example.com", host="POP.example.org", username="carol",
                          password="remote-pw", leave_on_server=True, delete_after_days=3)
    assert (remote.host, remote.port, remote.tls) == ("pop.example.org", 995, "implicit")
    assert remote.password != "remote-pw"
    assert services.secrets.open(remote.password, "multipop") == "remote-pw"
    with pytest.raises(MailError) as exc:
        await mp.add("carol@example.com", host="pop.example.org", username="carol",
                     password="x")
    assert exc.value.kind is Kind.EXISTS
    off = await mp.add("carol@example.com", host="other.example.org", username="c",
                       password="x", enabled=False)
    repo = services.store.multipop
    # only the enabled one is due; a lease keeps a second collector out
    claimed = await repo.claim("host:1", 300, limit=10)
    assert [r.id for r in claimed] == [remote.id]
    assert await repo.claim("host:2", 300, limit=10) == []
    assert await repo.claim("host:2", 300, remote_id=remote.id) == []
    assert [r.id for r in await repo.claim("host:2", 300, remote_id=off.id)] == [off.id]
    assert sorted(await repo.leases()) == [(remote.id, "host:1"), (off.id, "host:2")]
    # exactly once: the second record of a UIDL queues nothing
    blob = await asyncio.get_running_loop().run_in_executor(
        None, services.store.blobs.put_bytes, message("fetched"))
    entry = NewEntry("", ["carol@example.com"], blob, b"", {"folder": "INBOX"})
    before = len(await services.store.queue.list())
    assert await repo.record(remote.id, "uidl-1", entry)
    assert not await repo.record(remote.id, "uidl-1", entry)
    assert await repo.record(remote.id, "uidl-big", None)  # skipped: no queue entry
    assert len(await services.store.queue.list()) == before + 1
    seen = await repo.seen(remote.id)
    assert set(seen) == {"uidl-1", "uidl-big"} and seen["uidl-big"].skipped
    assert abs(seen["uidl-1"].first_seen - time.time()) < 60
    await repo.forget(remote.id, ["uidl-big"])
    assert set(await repo.seen(remote.id)) == {"uidl-1"}
    # the outcome frees the lease
    await repo.release(remote.id, "host:1", ok=False, error="boom", next_run=0, failures=1)
    rec = await repo.get(remote.id)
    assert rec is not None and rec.last_error == "boom" and rec.failures == 1
    assert rec.lease_owner == "" and rec.last_success is None
    await repo.release(off.id, "host:2", ok=True, next_run=123, failures=0, fetched=7)
    rec = await repo.get(off.id)
    assert rec is not None and rec.last_success and rec.last_fetched == 7
    await repo.drop_lease(off.id, "host:2")
    # changes are checked like additions
    with pytest.raises(MailError, match="needs --leave-on-server"):
        await mp.update("carol@example.com", off.id, delete_after_days=5)
    with pytest.raises(MailError, match="nothing to change"):
        await mp.update("carol@example.com", off.id)
    on = await mp.update("carol@example.com", off.id, enabled=True, password="new-pw",
                         leave_on_server=True, delete_after_days=5, interval=900)
    assert on.enabled and on.next_run == 0 and on.failures == 0 and on.interval_s == 900
    assert on.delete_after_days == 5 and services.secrets.open(on.password, "multipop") == \
        "new-pw"
    assert (await mp.update("carol@example.com", off.id, delete_after_days=0)) \
        .delete_after_days is None
    # removing the remote account forgets its UIDLs
    await mp.remove("carol@example.com", remote.id)
    assert await repo.seen(remote.id) == {}
    assert [r.id for r in await mp.remotes("carol@example.com")] == [off.id]
    with pytest.raises(MailError):
        await mp.one("carol@example.com", remote.id)


@pytest.mark.parametrize("kwargs,words", [
    ({"interval": 10}, "interval"), ({"tls": "maybe"}, "tls"), ({"port": 0}, "port"),
    ({"delete_after_days": 2}, "needs --leave-on-server"), ({"host": "a b"}, "host"),
    ({"folder": "Nope"}, "does not exist")])
async def test_multipop_validation(services: Services, kwargs: dict[str, object],
                                   words: str) -> None:
    await account(services, "dave@example.com")
    mp = services.multipop
    args: dict[str, object] = {"host": "pop.example.org", "username": "d", "password": "p",
                               **kwargs}
    with pytest.raises(MailError, match=words):
        await mp.add("dave@example.com", **args)  # type: ignore[arg-type]


async def test_multipop_ids_no_row_can_have_are_not_found(services: Services) -> None:
    """Found by webmail's bad-input sweep: an id past 64 bits reached the database (500)."""
    await account(services, "dave@example.com")
    for junk in (0, -1, 1 << 63, 10**23):
        with pytest.raises(MailError) as exc:
            await services.multipop.one("dave@example.com", junk)
        assert exc.value.kind is Kind.NOT_FOUND
