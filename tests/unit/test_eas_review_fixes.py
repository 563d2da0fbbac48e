"""Pure pieces the ActiveSync security review asked for: UIDs parsed as ASCII within IMAP's
range (non-ASCII digits or huge numbers are no ServerId), and the request an empty Sync
repeats keeps no Commands (a device cannot park a large body in the server's memory)."""

from __future__ import annotations

from postroom.protocols.eas.element import E
from postroom.web.eas.email import parse_uid
from postroom.web.eas.sync import _summary


def test_uids_are_ascii_and_within_imaps_range() -> None:
    assert parse_uid("1") == 1 and parse_uid("4294967295") == 4294967295
    for bad in ("", "0", "١", "+1", "-1", "4294967296", "99999999999999999999", "1.0", " 1"):
        assert parse_uid(bad) is None, bad


def test_the_repeated_request_keeps_no_commands() -> None:
    ns = "AirSync"
    body = E(ns, "Sync", E(ns, "Collections", E(
        ns, "Collection", E(ns, "SyncKey", text=3), E(ns, "CollectionId", text="7"),
        E(ns, "Commands", *[E(ns, "Delete", E(ns, "ServerId", text=f"7:{i}"))
                            for i in range(1000)]))), E(ns, "WindowSize", text=50))
    kept = _summary(body)
    col = kept.path("Collections", "Collection")
    assert col is not None and col.value("SyncKey") == "3" and col.value("CollectionId") == "7"
    assert not col.has("Commands") and kept.value("WindowSize") == "50"
    assert sum(1 for _ in kept.iter()) < 10
