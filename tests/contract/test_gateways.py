"""Gateways, held queue entries and ATRN providers on both backends (issue 7): what the
ODMR provider, the queue manager and the CLI rely on."""

from __future__ import annotations

import time

import pytest

from postroom.app import Services
from postroom.core.errors import Kind, MailError
from postroom.services.pipeline import Client, Message
from tests.support.factory import account


async def _enqueue(s: Services, rcpt: str) -> int:
    """Mail accepted for one remote recipient (as from a trusted relay client)."""
    blob = s.store.blobs.put_bytes(b"Subject: x\r\n\r\nbody\r\n")
    message = Message(Client("127.0.0.1", trusted=True), "a@example.org", [rcpt], {rcpt})
    return await s.submission.accept(message, blob, b"", {})


async def test_gateway_rows_and_held_entries(services: Services) -> None:
    owner = await account(services, "owner@example.com")
    assert owner.address is not None
    gw = await services.gateways.add("held.test", atrn_users=[owner.address])
    assert gw.holds and gw.atrn_users == (owner.address,)
    assert owner.account_id is not None
    assert await services.gateways.atrn_scope(owner.account_id, []) == (["held.test"], [])
    assert await services.gateways.atrn_scope(owner.account_id, ["held.test", "x.test"]) == \
        (["held.test"], ["x.test"])
    await services.gateways.add("fwd.test", deliver_to="Relay.example:2525")
    first = await _enqueue(services, "x@held.test")
    await _enqueue(services, "y@fwd.test")
    await _enqueue(services, "z@elsewhere.test")
    rows = {r.recipients[0]: r for r in await services.store.queue.list()}
    assert (rows["x@held.test"].state, rows["x@held.test"].hold_domain) == ("atrn", "held.test")
    assert rows["x@held.test"].next_attempt > time.time() + 3600  # reviewed, not retried
    assert (rows["y@fwd.test"].state, rows["y@fwd.test"].hold_domain) == ("ready", "fwd.test")
    assert rows["z@elsewhere.test"].hold_domain is None
    # the normal queue run never sees held mail
    assert all(r.hold_domain != "held.test" for r in await services.store.queue.claim_due())
    claimed = await services.store.queue.claim_held(["held.test"])
    assert [r.id for r in claimed] == [first]
    assert await services.store.queue.claim_held(["held.test"]) == []  # claimed once
    await services.store.queue.release(claimed)
    assert (await services.store.queue.get(first)).state == "atrn"
    # a restart after a crash mid-ATRN puts held mail back to waiting, not to MX delivery
    await services.store.queue.claim_held(["held.test"])
    await services.store.queue.reset_active()
    assert (await services.store.queue.get(first)).state == "atrn"
    assert await services.store.queue.count_held("held.test") == (1, rows["x@held.test"].size)


async def test_gateway_validation_and_removal(services: Services) -> None:
    await account(services, "admin@example.com")
    with pytest.raises(MailError) as exc:
        await services.gateways.add("example.com")
    assert "our own domains" in exc.value.text
    await services.gateways.add("g.test", verify="static", recipients=["A@G.test"])
    with pytest.raises(MailError) as exc:
        await services.gateways.add("g.test")
    assert exc.value.kind is Kind.EXISTS
    rec = await services.gateways.update("g.test", fields={}, add_recipients=["b@g.test"],
                                         drop_recipients=["a@g.test"])
    assert rec.recipients == ("b@g.test",)
    with pytest.raises(MailError):  # a static list may not become empty
        await services.gateways.update("g.test", fields={}, drop_recipients=["b@g.test"])
    await _enqueue(services, "b@g.test")
    with pytest.raises(MailError) as exc:
        await services.gateways.remove("g.test")
    assert "--force" in exc.value.text
    assert await services.gateways.remove("g.test", force=True) == 1
    (entry,) = await services.store.queue.list()
    assert entry.state == "ready"  # ordinary remote mail now


async def test_switching_to_a_destination_releases_held_mail(services: Services) -> None:
    await services.gateways.add("later.test")
    entry_id = await _enqueue(services, "x@later.test")
    assert (await services.store.queue.get(entry_id)).state == "atrn"
    await services.gateways.update("later.test", fields={"deliver_to": "mx.later.test"})
    assert (await services.store.queue.get(entry_id)).state == "ready"


async def test_minger_secret_is_sealed(services: Services) -> None:
    rec = await services.gateways.add("m.test", verify="minger", minger_host="127.0.0.1",
                                      minger_secret="a-secret-of-16chars")
    assert rec.minger_secret and "a-secret" not in rec.minger_secret
    assert services.secrets.open(rec.minger_secret, "minger") == "a-secret-of-16chars"


async def test_provider_rows(services: Services) -> None:
    repo = services.store.gateways
    rec = await repo.add_provider("isp", {"host": "odmr.isp.test", "port": 366,
                                          "tls": "starttls", "username": "cust",
                                          "password": "sealed", "domains": "a.test,b.test",
                                          "interval_s": 600, "tls_verify": True,
                                          "enabled": True})
    assert rec.domain_list == ["a.test", "b.test"] and rec.enabled
    assert [p.name for p in await repo.due_providers(int(time.time()))] == ["isp"]
    await repo.record_run("isp", ok=False, error="refused", received=0,
                          next_run=int(time.time()) + 900)
    failed = await repo.provider("isp")
    assert failed is not None and failed.failures == 1 and failed.last_error == "refused"
    assert await repo.due_providers(int(time.time())) == []
    await repo.record_run("isp", ok=True, error="", received=7, next_run=0)
    done = await repo.provider("isp")
    assert done is not None and (done.failures, done.last_received) == (0, 7)
    with pytest.raises(MailError):
        await repo.add_provider("isp", {"host": "h", "port": 1, "tls": "none",
                                        "username": "u", "password": "p", "interval_s": 60})
    await repo.remove_provider("isp")
    assert await repo.providers() == []
