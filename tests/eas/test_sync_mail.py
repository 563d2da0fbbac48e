"""Sync of mail on a real server, driven by pyactivesync as a phone (EAS 16.1) and by the raw
client at 14.1: 1,000 messages in windows (acceptance), flags and a move from the phone seen
over IMAP (acceptance), IMAP's changes reaching the phone (new mail, flags, expunge), a
retried key answered the same, a restart that does not force a resync, GetItemEstimate,
ItemOperations (a message, an attachment) and the statuses of bad collections and keys."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from postroom.protocols.eas.element import E
from tests.support.dav import DAV, Dav
from tests.support.eas import EasClient
from tests.support.server import RunningServer, server_config
from tests.support.webmail import PASSWORD

pyactivesync = pytest.importorskip("pyactivesync")
_names = itertools.count(1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("eas-sync"))


@pytest.fixture(scope="module")
def srv(data_dir: Path) -> Iterator[RunningServer]:
    server = RunningServer(server_config(data_dir, extra=[*DAV]))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dav(srv: RunningServer) -> Dav:
    return Dav(srv)


def _user(dav: Dav) -> str:
    return dav.account(f"sync{next(_names)}@example.test")


def _phone(srv: RunningServer, address: str, device: str) -> Any:
    client = pyactivesync.Client(f"127.0.0.1:{srv.port('https')}", address, PASSWORD,
                                 device_id=device, device_type="iPhone", verify_ssl=False,
                                 timeout=60)
    client._transport.session.trust_env = False
    client.provision()
    return client


def _fill(srv: RunningServer, address: str, count: int, folder: str = "INBOX") -> None:
    """``count`` messages appended through the message service (as IMAP APPEND does)."""
    async def go() -> None:
        rec = await srv.services.store.directory.get_account(address)
        assert rec is not None
        who = await srv.services.directory.principal_for(rec)
        items = []
        for i in range(count):
            raw = (f"From: sender{i}@example.net\r\nTo: {address}\r\nSubject: note {i}\r\n"
                   f"Message-ID: <n{i}.{address}>\r\n\r\nBody of note {i}.\r\n").encode()
            items.append((raw, (), None))
        for start in range(0, count, 200):
            await srv.services.messages.append(who, folder, items[start:start + 200])
    srv.call(go(), timeout=300)


def _inbox(phone: Any) -> str:
    return str(next(f.id for f in phone.list_folders() if int(f.type) == 2))


def _drain(phone: Any, folder: str, key: str, window: int = 100) -> tuple[str, list[Any], int]:
    """Sync until MoreAvailable stops: (last key, every Add, rounds)."""
    added: list[Any] = []
    rounds = 0
    while True:
        result = phone.sync_folder(folder, key, window_size=window)
        added += result.added
        key = result.sync_key
        rounds += 1
        assert rounds < 100
        if not result.more_available:
            return key, added, rounds


def test_a_thousand_messages_arrive_in_windows(srv: RunningServer, dav: Dav) -> None:
    me = _user(dav)
    _fill(srv, me, 1000)
    phone = _phone(srv, me, "Win1")
    try:
        inbox = _inbox(phone)
        key = phone.sync_folder(inbox).sync_key
        assert key == "1"
        assert phone.get_item_estimate(inbox, key) == 1000
        key, added, rounds = _drain(phone, inbox, key, window=100)
        ids = [a.server_id for a in added]
        assert len(ids) == 1000 and len(set(ids)) == 1000 and rounds == 10
        subjects = {a.fields.get("Email.Subject") for a in added}
        assert subjects == {f"note {i}" for i in range(1000)}
        again = phone.sync_folder(inbox, key)
        assert not again.added and not again.changed and not again.deleted
    finally:
        phone.close()


def test_flags_and_moves_from_the_phone_are_seen_over_imap(srv: RunningServer,
                                                           dav: Dav) -> None:
    me = _user(dav)
    _fill(srv, me, 3)
    phone = _phone(srv, me, "Flags1")
    try:
        inbox = _inbox(phone)
        key, added, _ = _drain(phone, inbox, phone.sync_folder(inbox).sync_key)
        by_subject = {a.fields["Email.Subject"]: a.server_id for a in added}
        result = phone.apply_email_changes(inbox, key, [
            pyactivesync.EmailChange(by_subject["note 0"], read=True, flagged=True)])
        assert set(result.statuses.values()) == {"1"}
        archive = next(f.id for f in phone.list_folders() if f.name == "Archive") \
            if any(f.name == "Archive" for f in phone.list_folders()) else None
        target = archive or str(next(f.id for f in phone.list_folders() if int(f.type) == 4))
        new_id = phone.move_item(by_subject["note 1"], inbox, target)
        assert new_id.startswith(f"{target}:")
        imap = dav.imap(me)
        imap.select("INBOX")
        _, data = imap.uid("SEARCH", None, "SUBJECT", '"note 0"')
        uid = data[0].split()[0]
        _, flags = imap.uid("FETCH", uid, "(FLAGS)")
        assert b"\\Seen" in flags[0] and b"\\Flagged" in flags[0]
        _, data = imap.uid("SEARCH", None, "SUBJECT", '"note 1"')
        assert data == [b""]  # moved away
        imap.logout()
        # the phone's own changes are not echoed back at its next Sync
        after = phone.sync_folder(inbox, result.sync_key)
        assert not after.added and not after.changed and not after.deleted
    finally:
        phone.close()


def test_imap_changes_reach_the_phone(srv: RunningServer, dav: Dav) -> None:
    me = _user(dav)
    _fill(srv, me, 2)
    phone = _phone(srv, me, "Imap1")
    try:
        inbox = _inbox(phone)
        key, added, _ = _drain(phone, inbox, phone.sync_folder(inbox).sync_key)
        assert len(added) == 2
        imap = dav.imap(me)
        imap.select("INBOX")
        imap.uid("STORE", "1", "+FLAGS", "(\\Seen)")
        imap.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
        imap.expunge()
        imap.logout()
        dav.deliver(me, subject="fresh")
        result = phone.sync_folder(inbox, key)
        assert [a.fields["Email.Subject"] for a in result.added] == ["fresh"]
        assert [c.fields.get("Email.Read") for c in result.changed] == ["1"]
        assert len(result.deleted) == 1
    finally:
        phone.close()


def test_a_retried_key_gets_the_same_answer(srv: RunningServer, dav: Dav) -> None:
    me = _user(dav)
    _fill(srv, me, 5)
    client = EasClient(srv, me, device="Retry1", version="14.1")
    client.provision()
    inbox = client.folder_id("2")
    _status, root = client.sync(inbox, "0")
    assert root is not None
    _, first = client.sync(inbox, "1", window=3)
    _, repeat = client.sync(inbox, "1", window=3)  # the answer to key 1 was "lost"
    assert first is not None and repeat is not None

    def ids(root: Any) -> list[str]:
        commands = root.path("Collections", "Collection", "Commands")
        return [c.value("ServerId") for c in commands.children] if commands else []
    assert ids(first) == ids(repeat) and len(ids(first)) == 3
    key = repeat.path("Collections", "Collection").value("SyncKey")
    assert key == "2"


def test_get_item_estimate_item_operations_and_bad_collections(srv: RunningServer,
                                                               dav: Dav) -> None:
    me = _user(dav)
    msg = EmailMessage()
    msg["From"] = "a@example.net"
    msg["To"] = me
    msg["Subject"] = "with a file"
    msg.set_content("See the file.")
    msg.add_attachment(b"\x00\x01 binary bytes", maintype="application",
                       subtype="octet-stream", filename="data.bin")
    async def put() -> None:
        rec = await srv.services.store.directory.get_account(me)
        assert rec is not None
        who = await srv.services.directory.principal_for(rec)
        await srv.services.messages.append(who, "INBOX", [(msg.as_bytes(), (), None)])
    srv.call(put())
    phone = _phone(srv, me, "Ops1")
    try:
        inbox = _inbox(phone)
        _key, added, _ = _drain(phone, inbox, phone.sync_folder(inbox).sync_key)
        [item] = added
        fetched = phone.fetch_item(inbox, item.server_id,
                                   body_type=pyactivesync.BodyType.PLAIN_TEXT)
        assert "See the file." in str(fetched.bodies[0].data)
        [attachment] = fetched.attachments
        assert attachment.display_name == "data.bin"
        assert phone.fetch_attachment(attachment.file_reference) == b"\x00\x01 binary bytes"
    finally:
        phone.close()
    client = EasClient(srv, me, device="Bad1", version="14.1")
    client.provision()
    _, root = client.sync("999999", "0")
    assert root is not None
    assert root.path("Collections", "Collection").value("Status") == "8"
    _, root = client.sync(client.folder_id("2"), "77")
    assert root is not None
    assert root.path("Collections", "Collection").value("Status") == "3"
    # an empty Sync repeats the device's last request (the bad key again: Status 3) …
    _, _, root = client.send("Sync", None)
    assert root is not None
    assert root.path("Collections", "Collection").value("Status") == "3"
    # … and a device with no last request is told so (Status 13)
    fresh = EasClient(srv, me, device="Empty1", version="14.1")
    fresh.provision()
    _, _, root = fresh.send("Sync", None)
    assert root is not None and root.value("Status") == "13"
    ns = "GetItemEstimate"
    _, _, root = client.send("GetItemEstimate", E(ns, "GetItemEstimate", E(
        ns, "Collections", E(ns, "Collection", E("AirSync", "SyncKey", text="0"),
                             E(ns, "CollectionId", text=client.folder_id("2"))))))
    assert root is not None and root.path("Response").value("Status") == "3"


def test_a_restart_does_not_force_a_resync(tmp_path: Path) -> None:
    """The device's policy key and sync states are in the store: after a restart its next
    Sync with the last key carries on (only the new message), no Status 3, no reprovision."""
    cfg = server_config(tmp_path, extra=[*DAV])
    first = RunningServer(cfg)
    try:
        me = Dav(first).account("restart@example.test")
        _fill(first, me, 4)
        client = EasClient(first, me, device="Restart1", version="14.1")
        client.provision()
        inbox = client.folder_id("2")
        client.sync(inbox, "0")
        _, root = client.sync(inbox, "1")
        assert root is not None
        key = root.path("Collections", "Collection").value("SyncKey")
    finally:
        first.stop()
    second = RunningServer(server_config(tmp_path, extra=[*DAV]))
    try:
        Dav(second).deliver(me, subject="after the restart")
        again = EasClient(second, me, device="Restart1", version="14.1")
        again.policy_key = client.policy_key
        _, root = again.sync(inbox, key or "")
        assert root is not None
        col = root.path("Collections", "Collection")
        assert col is not None and col.value("Status") == "1", root
        commands = col.find("Commands")
        assert commands is not None and [c.name for c in commands.children] == ["Add"]
    finally:
        second.stop()


def test_a_device_repeating_one_key_is_sent_back_to_zero(srv: RunningServer,
                                                          dav: Dav) -> None:
    """Loop protection (web.eas.loop_threshold, 10 by default): a device that keeps asking
    with the same key (a retry is fine, a loop is not) is reset to key 0 instead of being
    served the same answer forever."""
    me = _user(dav)
    _fill(srv, me, 2)
    client = EasClient(srv, me, device="Loop1", version="14.1")
    client.provision()
    inbox = client.folder_id("2")
    client.sync(inbox, "0")
    statuses = []
    for _ in range(srv.cfg.web.eas.loop_threshold):
        _, root = client.sync(inbox, "1")
        assert root is not None
        statuses.append(root.path("Collections", "Collection").value("Status"))  # type: ignore[union-attr]
    assert statuses[:-1] == ["1"] * (len(statuses) - 1) and statuses[-1] == "3"


def test_deletes_from_the_phone_go_to_deleted_items_or_away(srv: RunningServer,
                                                            dav: Dav) -> None:
    """A device's Delete moves mail to Deleted Items (DeletesAsMoves, the default) or removes
    it (DeletesAsMoves 0); many deletes in one Sync are one request's work."""
    me = _user(dav)
    _fill(srv, me, 5)
    phone = _phone(srv, me, "Del1")
    try:
        inbox = _inbox(phone)
        key, added, _ = _drain(phone, inbox, phone.sync_folder(inbox).sync_key)
        ids = sorted(a.server_id for a in added)
        result = phone.apply_email_changes(inbox, key, [
            pyactivesync.EmailChange(sid, delete=True) for sid in ids[:3]])
        assert set(result.statuses.values()) == {"1"}
        phone.apply_email_changes(inbox, result.sync_key, [
            pyactivesync.EmailChange(ids[3], delete=True)], deletes_as_moves=False)
    finally:
        phone.close()
    imap = dav.imap(me)
    try:
        imap.select("INBOX")
        _, data = imap.uid("SEARCH", "ALL")
        assert len(data[0].split()) == 1
        imap.select("Trash")
        _, data = imap.uid("SEARCH", "ALL")
        assert len(data[0].split()) == 3
    finally:
        imap.logout()


def test_a_window_rendered_in_batches_keeps_each_message_its_own(srv: RunningServer,
                                                                 dav: Dav) -> None:
    """A window is rendered a batch at a time in the mail service's threads (at most
    BATCH_MESSAGES messages or BATCH_OCTETS octets per batch, a larger message alone): every
    Add still carries its own message, in order, newest first, and a message larger than a
    batch is there too, truncated as asked."""
    from postroom.services.eas.mail import BATCH_MESSAGES, BATCH_OCTETS
    me = _user(dav)
    count = 2 * BATCH_MESSAGES + 5
    _fill(srv, me, count)
    big = EmailMessage()
    big["From"] = "a@example.net"
    big["To"] = me
    big["Subject"] = "the big one"
    big.set_content("x" * (BATCH_OCTETS + 1000))

    async def put() -> None:
        rec = await srv.services.store.directory.get_account(me)
        assert rec is not None
        who = await srv.services.directory.principal_for(rec)
        await srv.services.messages.append(who, "INBOX", [(big.as_bytes(), (), None)])
    srv.call(put(), timeout=120)
    _fill(srv, me, 3)  # three more after it: the big one sits between two batches
    client = EasClient(srv, me, device="Batch1", version="14.1")
    client.provision()
    inbox = client.folder_id("2")
    client.sync(inbox, "0")
    options = [E("AirSyncBase", "BodyPreference", E("AirSyncBase", "Type", text=1),
                 E("AirSyncBase", "TruncationSize", text=100))]
    _, root = client.sync(inbox, "1", window=512, options=options)
    assert root is not None
    commands = root.path("Collections", "Collection", "Commands")
    assert commands is not None
    adds = commands.findall("Add")
    assert len(adds) == count + 4
    uids = [int((a.value("ServerId") or "").partition(":")[2]) for a in adds]
    assert uids == sorted(uids, reverse=True)
    subjects = [a.path("ApplicationData").value("Subject") for a in adds]  # type: ignore[union-attr]
    assert subjects == [f"note {i}" for i in (2, 1, 0)] + ["the big one"] + \
        [f"note {i}" for i in range(count - 1, -1, -1)]
    for add in adds:
        body = add.path("ApplicationData", "Body")
        assert body is not None
        subject = add.path("ApplicationData").value("Subject")  # type: ignore[union-attr]
        if subject == "the big one":
            assert body.value("Truncated") == "1" and len(body.value("Data") or "") == 100
        else:
            assert body.value("Data") == f"Body of {subject}.\r\n"
