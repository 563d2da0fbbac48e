"""ActiveSync folders, pure parts: the rights table (access/eas.py), the hierarchy a device is
shown (types, one default of each, flattened shared and public folders, parents first) and
the FolderSync difference between two snapshots."""

from __future__ import annotations

import asyncio

from postroom.access.eas import eas_access, offered
from postroom.access.gate import AccessGate
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec
from postroom.core.rights import Rights
from postroom.services.eas.folders import ROOT, build_hierarchy, diff, snapshot
from postroom.services.mailboxes import ListedMailbox

ME = Principal(1, "me@example.test", 1)
DEFAULTS = {"calendar": "Calendar", "contacts": "Contacts", "tasks": "Tasks"}


class _Acls:
    """ACL entries per mailbox id, as the store's repository would give them."""

    def __init__(self, acls: dict[int, list[AclEntry]]) -> None:
        self.acls = acls

    async def get_acl(self, mailbox_id: int) -> list[AclEntry]:
        return self.acls.get(mailbox_id, [])

    async def get_acls(self, mailbox_ids: list[int]) -> dict[int, list[AclEntry]]:
        return {i: self.acls.get(i, []) for i in mailbox_ids}


def box(mid: int, name: str, kind: str = "mail", use: str = "", owner: int | None = 1,
        parent: int | None = None) -> MailboxRec:
    return MailboxRec(mid, owner, 1, name, parent, kind, use, None, 1, 1, 1, 0, 0)


def listed(boxes: list[tuple[MailboxRec, str]],
           acls: dict[int, list[AclEntry]] | None = None) -> list[ListedMailbox]:
    gate = AccessGate(_Acls(acls or {}))
    handles = asyncio.run(gate.listed(ME, [b for b, _ in boxes], [n for _, n in boxes]))
    return [ListedMailbox(h.name, h) for h in handles]


def test_rights_table() -> None:
    assert not offered(Rights.parse("l"))
    assert not offered(Rights.parse("r"))
    assert offered(Rights.parse("lr"))
    ro = eas_access(Rights.parse("lr"), "calendar")
    assert ro.offered and ro.read_only and not ro.add
    add_only = eas_access(Rights.parse("lri"), "calendar")
    assert add_only.add and not add_only.change and not add_only.delete
    assert not add_only.read_only
    pim = eas_access(Rights.parse("lrite"), "contacts")
    assert pim.add and pim.change and pim.delete
    seen = eas_access(Rights.parse("lrs"), "mail")
    assert seen.read_flag and not seen.other_flags and seen.change and not seen.read_only
    flags = eas_access(Rights.parse("lrw"), "mail")
    assert flags.other_flags and not flags.read_flag
    assert eas_access(Rights.parse("lrte"), "mail").delete
    assert not eas_access(Rights.parse("lrt"), "mail").delete
    hidden = eas_access(Rights.parse("ri"), "mail")
    assert not hidden.offered and not hidden.add and hidden.read_only


def test_own_folders_get_one_default_of_each_type() -> None:
    items = listed([
        (box(1, "INBOX"), "INBOX"), (box(2, "Drafts", use="\\Drafts"), "Drafts"),
        (box(3, "Sent", use="\\Sent"), "Sent"), (box(4, "Trash", use="\\Trash"), "Trash"),
        (box(5, "Junk", use="\\Junk"), "Junk"), (box(6, "Old Sent", use="\\Sent"), "Old Sent"),
        (box(7, "Work", kind="calendar"), "Work"),
        (box(8, "Calendar", kind="calendar"), "Calendar"),
        (box(9, "Contacts", kind="contacts"), "Contacts"),
        (box(10, "Tasks", kind="tasks"), "Tasks"), (box(11, "Chores", kind="tasks"), "Chores"),
        (box(12, "INBOX/Lists", parent=1), "INBOX/Lists")])
    refs = {r.ref.server_id: r.ref for r in build_hierarchy(ME, items, DEFAULTS)}
    types = {sid: r.eas_type for sid, r in refs.items()}
    assert types == {"1": 2, "2": 3, "3": 5, "4": 4, "5": 12, "6": 12, "7": 13, "8": 8,
                     "9": 9, "10": 7, "11": 15, "12": 12}
    assert refs["1"].display_name == "Inbox" and refs["1"].parent_id == ROOT
    assert refs["12"].parent_id == "1" and refs["12"].display_name == "Lists"
    assert refs["8"].item_class == "Calendar" and refs["9"].item_class == "Contacts"
    assert refs["11"].item_class == "Tasks" and refs["5"].item_class == "Email"
    assert not any(r.read_only for r in refs.values())


def test_without_the_configured_name_the_oldest_calendar_is_the_default() -> None:
    items = listed([(box(5, "Home", kind="calendar"), "Home"),
                    (box(3, "Office", kind="calendar"), "Office")])
    types = {r.ref.server_id: r.ref.eas_type for r in build_hierarchy(ME, items, DEFAULTS)}
    assert types == {"3": 8, "5": 13}


def test_shared_and_public_folders_are_flattened_user_folders() -> None:
    alice, public = 2, None
    acl = [AclEntry("me@example.test", "lr")]
    items = listed([
        (box(1, "INBOX"), "INBOX"),
        (box(20, "INBOX", owner=alice), "Other Users/alice@example.test/INBOX"),
        (box(21, "Projects", owner=alice), "Other Users/alice@example.test/Projects"),
        (box(22, "Projects/2026", owner=alice, parent=21),
         "Other Users/alice@example.test/Projects/2026"),
        (box(23, "Calendar", kind="calendar", owner=alice),
         "Other Users/alice@example.test/Calendar"),
        (box(30, "News", owner=public), "Public Folders/News"),
        (box(31, "Hidden", owner=alice), "Other Users/alice@example.test/Hidden")],
        {20: acl, 21: acl, 22: acl, 23: acl, 30: acl,
         31: [AclEntry("me@example.test", "l")]})  # l without r: not offered
    entries = build_hierarchy(ME, [i for i in items if offered(i.rights)], DEFAULTS)
    refs = {r.ref.server_id: r.ref for r in entries}
    assert "31" not in refs
    assert refs["20"].eas_type == 12 and refs["20"].display_name == "INBOX (alice@example.test)"
    assert refs["1"].eas_type == 2  # only one Inbox: the user's own
    assert refs["21"].parent_id == ROOT and refs["22"].parent_id == "21"
    assert refs["22"].display_name == "2026"
    assert refs["23"].eas_type == 13 and refs["23"].display_name == "Calendar (alice@example.test)"
    assert refs["30"].eas_type == 12 and refs["30"].display_name == "Public: News"
    assert all(r.read_only for sid, r in refs.items() if sid != "1")
    order = [e.ref.server_id for e in entries]
    assert order.index("21") < order.index("22")
    assert order[0] == "1"  # own first, then shared, then public
    assert order.index("30") > order.index("23")


def test_parents_come_before_children_whatever_the_names() -> None:
    items = listed([(box(3, "A/B/C", parent=2), "A/B/C"), (box(2, "A/B", parent=1), "A/B"),
                    (box(1, "A"), "A")])
    assert [e.ref.server_id for e in build_hierarchy(ME, items, DEFAULTS)] == ["1", "2", "3"]


def test_diff_of_snapshots() -> None:
    items = listed([(box(1, "INBOX"), "INBOX"), (box(2, "A"), "A"), (box(3, "B"), "B")])
    old = snapshot([e.ref for e in build_hierarchy(ME, items, DEFAULTS)])
    assert diff(old, old).count == 0
    items2 = listed([(box(1, "INBOX"), "INBOX"), (box(2, "A2"), "A2"),
                     (box(4, "C", parent=2), "A2/C")])
    new = snapshot([e.ref for e in build_hierarchy(ME, items2, DEFAULTS)])
    changes = diff(old, new)
    assert changes.adds == ["4"] and changes.updates == ["2"] and changes.deletes == ["3"]
    assert changes.count == 3
    assert diff({}, new).adds == list(new)
