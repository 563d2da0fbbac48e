"""The gate's rule for Sieve's fileinto (access/ops.py Op.FILE_INSERT / Op.FILE_POST,
access/gate.py): the configured right on someone else's folder, every right on one's own; a
folder without that right does not exist for the script (NOT_FOUND, the error a missing
folder gets), whatever else its owner lets the user do."""

from __future__ import annotations

import pytest

from postroom.access.gate import AccessGate, mailbox_missing
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec

OWNER = Principal(1, "owner@a.example", 10)
BOB = Principal(2, "bob@a.example", 10)
FOLDER = MailboxRec(99, 1, 10, "Shared", None, "mail", "", None, 1, 1, 1, 0, 0)


class _Unread:
    """``decide`` judges the entries it is given and reads none itself."""

    async def get_acl(self, mailbox_id: int) -> list[AclEntry]:
        raise AssertionError("not read")

    async def get_acls(self, mailbox_ids: list[int]) -> dict[int, list[AclEntry]]:
        raise AssertionError("not read")


GATE = AccessGate(_Unread())


def decide(who: Principal, rights: str, op: Op) -> Kind | None:
    acl = [AclEntry("bob@a.example", rights)] if rights else []
    try:
        GATE.decide(who, FOLDER, acl, "Other Users/owner@a.example/Shared", op)
    except MailError as exc:
        assert exc.text == mailbox_missing("Other Users/owner@a.example/Shared").text
        return exc.kind
    return None


@pytest.mark.parametrize("op", [Op.FILE_INSERT, Op.FILE_POST])
def test_the_owner_files_anywhere_in_their_own_folders(op: Op) -> None:
    assert decide(OWNER, "", op) is None


@pytest.mark.parametrize(("rights", "insert", "post"), [
    ("i", True, False), ("p", False, True), ("lrswtekxa", False, False), ("ip", True, True),
    ("", False, False), ("lr", False, False)])
def test_someone_elses_folder_needs_the_configured_right(rights: str, insert: bool,
                                                         post: bool) -> None:
    assert (decide(BOB, rights, Op.FILE_INSERT) is None) is insert
    assert (decide(BOB, rights, Op.FILE_POST) is None) is post
    # refused or invisible alike: the folder does not exist for the script
    for op, allowed in ((Op.FILE_INSERT, insert), (Op.FILE_POST, post)):
        assert decide(BOB, rights, op) in ((None,) if allowed else (Kind.NOT_FOUND,))
