"""Submission and delivery as services, without any protocol: what webmail and ActiveSync
SendMail will call, and what the queue manager calls for local copies (both backends)."""

from __future__ import annotations

import pytest

from postroom.app import Services
from postroom.core.actor import Origin
from postroom.core.envelope import Stage
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.pipeline import Client
from tests.support.factory import account, message

TEST_ORIGIN = Origin("test", "local")


def webmail(principal: Principal | None) -> Client:
    return Client("192.0.2.7", tls=True, principal=principal, channel="webmail")


async def test_submit_without_smtp(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    await account(services, "bob@example.com")
    data = message("from webmail").replace(b"sender@example.net", b"alice@example.com")
    queue_id = await services.submission.submit(
        webmail(alice), "alice@example.com", ["bob@example.com", "carol@far.example"], data)
    entries = {e.id: e for e in await services.queue.list()}
    assert queue_id in entries
    local = [e for e in entries.values() if e.recipients == ("bob@example.com",)]
    remote = [e for e in entries.values() if e.recipients == ("carol@far.example",)]
    assert len(local) == len(remote) == 1
    assert local[0].param_dict()["auth"] == "alice@example.com"
    assert remote[0].param_dict()["remote"] is True


async def test_the_same_refusals_as_smtp(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    await account(services, "bob@example.com")
    await account(services, "postmaster@example.com")
    sub = services.submission
    with pytest.raises(MailError) as exc:  # a submission door needs a login
        await sub.submit(webmail(None), "x@example.com", ["bob@example.com"], message())
    assert exc.value.kind is Kind.AUTH_REQUIRED
    with pytest.raises(MailError) as exc:  # the envelope sender must be hers
        await sub.submit(webmail(alice), "bob@example.com", ["bob@example.com"], message())
    assert exc.value.kind is Kind.NO_PERM and "bob@example.com" in exc.value.text
    with pytest.raises(MailError) as exc:  # and so must From:
        await sub.submit(webmail(alice), "alice@example.com", ["bob@example.com"],
                         message().replace(b"sender@example.net", b"bob@example.com"))
    assert exc.value.kind is Kind.NO_PERM and "From:" in exc.value.text
    with pytest.raises(MailError) as exc:
        await sub.submit(webmail(alice), "alice@example.com", ["nobody@example.com"],
                         message())
    assert exc.value.kind is Kind.NOT_FOUND
    outsider = Client("192.0.2.9")  # MX traffic: no relaying for strangers
    m = await sub.start(outsider, "someone@far.example")
    with pytest.raises(MailError) as exc:
        await sub.add_recipient(m, "carol@far.example")
    assert exc.value.kind is Kind.NO_PERM
    route = await sub.add_recipient(m, "Postmaster")  # RFC 5321 §4.5.1
    assert route.address == "postmaster@example.com" and not route.remote
    with pytest.raises(MailError) as exc:
        await sub.start(outsider, "x@far.example", size=services.cfg.limits.max_message_size + 1)
    assert exc.value.kind is Kind.LIMIT
    assert Stage.CONTENT.value == "content"


async def test_quarantined_mail_is_filed_as_junk_by_the_recipient(services: Services) -> None:
    await account(services, "bob@example.com")
    m = await services.submission.start(Client("192.0.2.1"), "x@far.example")
    await services.submission.add_recipient(m, "bob@example.com")
    m.quarantine = True
    data = message("suspicious")
    blob = await services.queue.put_bytes(data)
    await services.submission.accept(m, blob, b"Received: test\r\n", {})
    [entry] = [e for e in await services.queue.list() if e.recipients == ("bob@example.com",)]
    assert entry.param_dict()["quarantine"] is True
    plan = await services.delivery.plan(entry)
    [(handle, copy)] = plan.targets["bob@example.com"]
    assert handle.mailbox.name == "Junk" and handle.mailbox.special_use == "\\Junk"
    assert copy.prefix.startswith(b"Return-Path: <x@far.example>\r\nReceived: test\r\n")


async def test_public_folder_delivery_is_judged_again_by_the_gate(services: Services) -> None:
    op = Principal.operator()
    await account(services, "staff@example.com")  # example.com becomes a local domain
    await services.mailboxes.create(op, "Public Folders/Orders", address="orders@example.com")
    await services.acl.set(op, "Public Folders/Orders", "anyone", "p", TEST_ORIGIN)
    m = await services.submission.start(Client("192.0.2.1"), "x@far.example")
    await services.submission.add_recipient(m, "orders@example.com")
    blob = await services.queue.put_bytes(message("order"))
    await services.submission.accept(m, blob, b"", {})
    [entry] = [e for e in await services.queue.list()
               if e.recipients == ("orders@example.com",)]
    assert (await services.delivery.plan(entry)).targets["orders@example.com"]
    # Posting rights withdrawn after acceptance: delivery is refused, not silently done.
    await services.acl.set(op, "Public Folders/Orders", "anyone", "-p", TEST_ORIGIN)
    plan = await services.delivery.plan(entry)
    assert not plan.targets and plan.refused["orders@example.com"].kind is Kind.NO_PERM


async def test_disabled_and_frozen_accounts_take_no_mail(services: Services) -> None:
    """A disabled account refuses mail for good (550 5.2.1 at RCPT, a failure notice for mail
    already queued), a frozen one for now (450 4.2.1, queued mail waits); a group delivers
    to its other members."""
    for name in ("dis", "ice", "ok"):
        await account(services, f"{name}@example.com")
    await services.directory.add_group("team@example.com", ["dis@example.com", "ok@example.com"])
    sub = services.submission
    m = await sub.start(Client("192.0.2.1"), "x@far.example")
    await sub.add_recipient(m, "dis@example.com")
    await sub.add_recipient(m, "ice@example.com")
    await sub.add_recipient(m, "team@example.com")
    blob = await services.queue.put_bytes(message("queued before"))
    await sub.accept(m, blob, b"", {})
    [entry] = [e for e in await services.queue.list() if len(e.recipients) == 3]
    await services.directory.set_state("dis@example.com", "disabled")
    await services.directory.set_state("ice@example.com", "frozen")
    m = await sub.start(Client("192.0.2.1"), "x@far.example")
    with pytest.raises(MailError) as exc:
        await sub.add_recipient(m, "dis@example.com")
    assert exc.value.kind is Kind.DISABLED and "disabled" in exc.value.text
    with pytest.raises(MailError) as exc:
        await sub.add_recipient(m, "ice@example.com")
    assert exc.value.kind is Kind.UNAVAILABLE
    await sub.add_recipient(m, "team@example.com")  # the group still takes mail
    plan = await services.delivery.plan(entry)
    assert plan.refused["dis@example.com"].kind is Kind.DISABLED
    assert plan.refused["ice@example.com"].kind is Kind.UNAVAILABLE
    [(handle, _)] = plan.targets["team@example.com"]  # only ok@, not the disabled member
    assert handle.mailbox.owner_id == (await services.directory.require_account(
        "ok@example.com")).id
    assert await sub.address_status("dis@example.com") == 4  # Minger: cannot take mail
