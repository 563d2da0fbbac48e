"""Ping (web/eas/ping.py over services/eas/push.py) on a real server: a message delivered
over SMTP wakes a Ping on the Inbox within 2 s (acceptance), the heartbeat expires, an empty
Ping reuses the device's last parameters, every bound gives its status (3, 4, 5, 6, 7), a new
Ping of the device ends the old one, a change between two Pings answers the next at once, and
a watched folder whose sharing changes asks for a FolderSync.

The handler is called on the server's loop with the command context app.py would build (the
HTTP layer, WBXML and device admission are tested by their own parts): the services, the
store, the change feed and SMTP delivery are the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import Future
from typing import Any, cast

import pytest

from postroom.protocols.eas import wbxml
from postroom.protocols.eas.element import E, Element
from postroom.protocols.eas.request import CommandLine
from postroom.services.eas.model import Device
from postroom.web.eas import ping
from postroom.web.eas.common import CommandContext
from tests.support.dav import Dav
from tests.support.eas import eas_of, principal
from tests.support.server import RunningServer

_names = itertools.count(1)
NS = "Ping"


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false", "web.eas.min_heartbeat=1",
            "web.eas.max_heartbeat=600", "web.eas.max_ping_folders=3",
            "web.eas.max_pings_per_user=2"]




def folder_ids(srv: RunningServer, address: str) -> dict[str, str]:
    refs = srv.call(eas_of(srv).folders.hierarchy(principal(srv, address)))
    return {r.name: r.server_id for r in refs}


def start(srv: RunningServer, address: str, body: Element | None,
          device: str = "phone1") -> Future[Any]:
    """A Ping of ``address``'s device, running on the server's loop."""
    who = principal(srv, address)
    ctx = CommandContext(
        request=cast(Any, None), line=CommandLine("Ping", address, device, "iPhone"),
        version="14.1", principal=who, device=Device(0, who.account_id or 0, address, device,
                                                     "iPhone"),
        eas=eas_of(srv), services=cast(Any, None), settings=cast(Any, None), raw=b"")
    return asyncio.run_coroutine_threadsafe(ping.handle(ctx, body), srv.loop)


def run(srv: RunningServer, address: str, body: Element | None, device: str = "phone1",
        timeout: float = 10) -> Element:
    answer = start(srv, address, body, device).result(timeout)
    assert isinstance(answer, Element)
    return answer


def request(heartbeat: int | str | None, *folders: tuple[str, str]) -> Element:
    root = E(NS, "Ping")
    if heartbeat is not None:
        root.add(NS, "HeartbeatInterval", heartbeat)
    if folders:
        listed = root.add(NS, "Folders")
        for server_id, cls in folders:
            listed.append(E(NS, "Folder", E(NS, "Id", text=server_id),
                            E(NS, "Class", text=cls)))
    return root


def status(answer: Element) -> int:
    return int(answer.value("Status") or 0)


def changed(answer: Element) -> list[str]:
    listed = answer.find("Folders")
    return [f.text or "" for f in listed.findall("Folder")] if listed else []


def waiting(srv: RunningServer, count: int) -> None:
    deadline = time.monotonic() + 5
    while eas_of(srv).push.waiting() != count:
        assert time.monotonic() < deadline, "the Ping never started waiting"
        time.sleep(0.02)


def test_a_delivered_message_wakes_a_ping_on_the_inbox_within_2_s(
        srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"push{next(_names)}@example.test")
    ids = folder_ids(srv, me)
    inbox = ids["INBOX"]
    pending = start(srv, me, request(300, (inbox, "Email"), (ids["Calendar"], "Calendar")))
    waiting(srv, 1)
    sent = time.monotonic()
    dav.deliver(me, subject="wake up")
    answer = pending.result(10)
    elapsed = time.monotonic() - sent
    assert status(answer) == 2 and changed(answer) == [inbox]
    assert elapsed < 2.0, f"the Ping answered {elapsed:.2f} s after the delivery began"


def test_the_heartbeat_expires_and_an_empty_ping_reuses_the_parameters(
        srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"beat{next(_names)}@example.test")
    assert status(run(srv, me, None)) == 3  # nothing cached yet
    assert status(run(srv, me, E(NS, "Ping"))) == 3
    inbox = folder_ids(srv, me)["INBOX"]
    started = time.monotonic()
    assert status(run(srv, me, request(1, (inbox, "Email")))) == 1
    assert 0.9 < time.monotonic() - started < 5
    started = time.monotonic()
    assert status(run(srv, me, None)) == 1  # the same folders, the same heartbeat
    assert 0.9 < time.monotonic() - started < 5
    assert status(run(srv, me, request(1))) == 1  # folders from the cache
    assert status(run(srv, me, None, device="other")) == 3  # per device


def test_bounds_and_bad_input_get_their_statuses(srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"bounds{next(_names)}@example.test")
    ids = folder_ids(srv, me)
    inbox = (ids["INBOX"], "Email")
    low = run(srv, me, request(0, inbox))
    assert status(low) == 5 and low.value("HeartbeatInterval") == "1"
    high = run(srv, me, request(601, inbox))
    assert status(high) == 5 and high.value("HeartbeatInterval") == "600"
    many = run(srv, me, request(1, *[(ids[n], "Email") for n in
                                     ("INBOX", "Sent", "Drafts", "Trash")]))
    assert status(many) == 6 and many.value("MaxFolders") == "3"
    assert status(run(srv, me, request("soon", inbox))) == 4
    assert status(run(srv, me, request(1, ("", "Email")))) == 4
    assert status(run(srv, me, request(1, ("x" * 65, "Email")))) == 4
    assert status(run(srv, me, E("AirSync", "Sync"))) == 4
    assert status(run(srv, me, request(1, ("999999999", "Email")))) == 7
    assert status(run(srv, me, request(1, ("not-an-id", "Email")))) == 7
    # a folder FolderSync does not offer (the DAV notes list) is not watched either
    notes = srv.call(srv.services.store.mailboxes.list_owned(principal(srv, me).account_id))
    note_ids = [str(mb.id) for mb in notes if mb.kind == "notes"]
    assert note_ids
    assert status(run(srv, me, request(1, (note_ids[0], "Notes")))) == 7
    # none of the refused Pings was cached
    assert status(run(srv, me, None)) == 3


def test_a_folder_of_another_user_is_missing_and_losing_l_asks_for_a_folder_sync(
        srv: RunningServer, dav: Dav) -> None:
    alice = dav.account(f"owner{next(_names)}@example.test")
    bob = dav.account(f"reader{next(_names)}@example.test")
    alice_inbox = folder_ids(srv, alice)["INBOX"]
    assert status(run(srv, bob, request(1, (alice_inbox, "Email")))) == 7
    imap = dav.imap(alice)
    try:
        assert imap.create("Shared")[0] == "OK"
        assert imap._simple_command("SETACL", "Shared", bob, "lr")[0] == "OK"
        shared = folder_ids(srv, bob)[f"Other Users/{alice}/Shared"]
        pending = start(srv, bob, request(300, (shared, "Email")))
        waiting(srv, 1)
        assert imap._simple_command("DELETEACL", "Shared", bob)[0] == "OK"
        assert status(pending.result(10)) == 7
        assert status(run(srv, bob, None)) == 7  # still gone
    finally:
        imap.logout()


def test_a_new_ping_of_the_device_ends_the_old_one_and_users_are_bounded(
        srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"again{next(_names)}@example.test")
    inbox = (folder_ids(srv, me)["INBOX"], "Email")
    first = start(srv, me, request(300, inbox))
    waiting(srv, 1)
    second = start(srv, me, request(300, inbox))
    assert status(first.result(5)) == 1
    waiting(srv, 1)
    third = start(srv, me, request(300, inbox), device="tablet")
    waiting(srv, 2)
    refused = start(srv, me, request(300, inbox), device="laptop").result(5)
    assert not isinstance(refused, Element)
    assert refused.status_code == 503 and refused.headers["retry-after"]
    dav.deliver(me, subject="for both")
    assert status(second.result(10)) == 2 and status(third.result(10)) == 2


def test_a_change_between_two_pings_answers_the_next_at_once(
        srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"between{next(_names)}@example.test")
    inbox = folder_ids(srv, me)["INBOX"]
    assert status(run(srv, me, request(1, (inbox, "Email")))) == 1
    dav.deliver(me, subject="while you were syncing")
    started = time.monotonic()
    answer = run(srv, me, request(300, (inbox, "Email")))
    assert status(answer) == 2 and changed(answer) == [inbox]
    assert time.monotonic() - started < 2
    # and it is not reported twice
    assert status(run(srv, me, request(1, (inbox, "Email")))) == 1


# -- as a phone does it, over HTTPS and WBXML (the PyPI client pyactivesync, EAS 16.1) ---------
def phone(srv: RunningServer, address: str, device: str) -> Any:
    pyactivesync = pytest.importorskip("pyactivesync")
    from tests.support.webmail import PASSWORD
    client = pyactivesync.Client(f"127.0.0.1:{srv.port('https')}", address, PASSWORD,
                                 device_id=device, device_type="Phone", verify_ssl=False,
                                 timeout=30)
    client._provisioned = True  # this server is run with require_provisioning=false
    # a CA bundle named in the environment (REQUESTS_CA_BUNDLE) would override verify=False
    client._transport.session.trust_env = False
    return client


def test_a_phone_ping_over_https_is_woken_by_smtp_within_2_s(srv: RunningServer,
                                                              dav: Dav) -> None:
    me = dav.account(f"phone{next(_names)}@example.test")
    client = phone(srv, me, "PingPhone1")
    try:
        inbox = next(f.id for f in client.list_folders() if int(f.type) == 2)
        assert client.ping(inbox, heartbeat=1).status == "1"
        box: dict[str, Any] = {}

        def wait() -> None:
            box["result"] = client.ping(inbox, heartbeat=300, timeout=60)
        import threading
        thread = threading.Thread(target=wait)
        thread.start()
        waiting(srv, 1)
        sent = time.monotonic()
        dav.deliver(me, subject="to the phone")
        thread.join(10)
        elapsed = time.monotonic() - sent
        result = box["result"]
        assert result.status == "2" and result.changed_folder_ids == [inbox]
        assert elapsed < 2.0, f"the Ping answered {elapsed:.2f} s after the delivery began"
    finally:
        client.close()


# -- what a waiting Ping keeps (issue 25: server memory per waiting device) ----------------
def _live(srv: RunningServer, *names: str) -> dict[str, int]:
    """Objects of those class names alive in the server (after a collection), counted on its
    loop so that no request is half-way through meanwhile."""
    import gc

    async def count() -> dict[str, int]:
        gc.collect()
        found = dict.fromkeys(names, 0)
        for obj in gc.get_objects():
            name = type(obj).__name__
            if name in found:
                found[name] += 1
        return found
    return cast(dict[str, int], srv.call(count()))


def test_a_waiting_ping_over_https_keeps_neither_its_request_nor_its_body(
        srv: RunningServer, dav: Dav) -> None:
    """The app awaits the wait after the command's frames returned (web/eas/longpoll.py): the
    request object, the command context and the decoded body are gone while it waits, and
    the Ping still answers the change and then the next heartbeat."""
    from tests.support.eas import EasClient
    me = dav.account(f"lean{next(_names)}@example.test")
    client = EasClient(srv, me, device="LeanPhone1")
    inbox = folder_ids(srv, me)["INBOX"]
    # encoded here: the test's own tree would be counted (the server runs in this process)
    body = wbxml.encode(request(300, (inbox, "Email")))
    names = ("CommandContext", "Element", "Request", "PingWait")
    idle = _live(srv, *names)
    box: dict[str, Any] = {}

    def wait() -> None:
        box["answer"] = client.post("Ping", body, timeout=60)
    import threading
    thread = threading.Thread(target=wait)
    thread.start()
    try:
        waiting(srv, 1)
        during = _live(srv, *names)
        assert during["PingWait"] == idle["PingWait"] + 1
        assert during["CommandContext"] == idle["CommandContext"], during
        assert during["Request"] == idle["Request"], during
        assert during["Element"] == idle["Element"], during
        dav.deliver(me, subject="lean")
    finally:
        thread.join(15)
    http_status, headers, data = box["answer"]
    answer = wbxml.decode(data)
    assert http_status == 200
    assert status(answer) == 2 and changed(answer) == [inbox]
    assert headers["ms-server-activesync"]
    assert eas_of(srv).push.waiting() == 0
    http_status, _, answer = client.send("Ping", request(1, (inbox, "Email")))
    assert http_status == 200 and answer is not None and status(answer) == 1
    assert _live(srv, "PingWait")["PingWait"] == idle["PingWait"]
