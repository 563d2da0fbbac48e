"""Every right against every operation, for every kind of principal (specs.md §2.5, §2.7).

Pure: effective rights from ACL entries, then the one OP_RIGHTS table. The service-level tests
in tests/contract/test_sharing.py check that the services really consult this table.
"""

from __future__ import annotations

import pytest

from postroom.access.ops import OP_RIGHTS, Op
from postroom.access.rights_eval import effective_rights
from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec
from postroom.core.rights import ALL_LETTERS, VISIBLE_RIGHTS, Rights

OWNER = Principal(1, "owner@a.example", 10)
BOB = Principal(2, "bob@a.example", 10, groups=frozenset({"$team@a.example"}))
ANON = Principal.anonymous()
ADMIN_A = Principal(3, "admin@a.example", 10, admin_domain_ids=frozenset({10}))
ADMIN_B = Principal(4, "admin@b.example", 20, admin_domain_ids=frozenset({20}))
GLOBAL = Principal(5, "root@b.example", 20, global_admin=True)

# Which single right each operation needs (the expectation, written out independently).
EXPECTED: dict[Op, str] = {
    Op.LIST: "l", Op.SUBSCRIBE: "l", Op.SELECT: "r", Op.READ: "r", Op.COPY_FROM: "r",
    Op.MOVE_FROM: "rte", Op.SET_SEEN: "s", Op.SET_DELETED: "t", Op.SET_OTHER_FLAGS: "w",
    Op.APPEND: "i", Op.POST: "p", Op.CREATE_CHILD: "k", Op.DELETE: "x", Op.RENAME_FROM: "x",
    Op.EXPUNGE: "e", Op.ADMIN: "a", Op.ITEM_READ: "r", Op.ITEM_CREATE: "i",
    Op.ITEM_DELETE: "te", Op.ITEM_EDIT: "ite", Op.FILE_INSERT: "i", Op.FILE_POST: "p",
}


def mailbox(kind: str = "mail", owner: int | None = 1, domain: int | None = 10) -> MailboxRec:
    return MailboxRec(99, owner, domain, "Shared", None, kind, "", None, 1, 1, 1, 0, 0)


def allowed(p: Principal, acl: list[AclEntry], op: Op, kind: str = "mail",
            owner: int | None = 1) -> bool:
    return OP_RIGHTS[op].satisfied_by(effective_rights(p, mailbox(kind, owner), acl))


ANY_OF = {Op.MYRIGHTS, Op.DELIVER}  # satisfied by any one of several rights


def test_table_covers_every_operation() -> None:
    assert set(EXPECTED) | ANY_OF == set(OP_RIGHTS)


@pytest.mark.parametrize("op", list(Op))
def test_owner_may_do_everything_even_with_empty_or_negative_acl(op: Op) -> None:
    acl = [AclEntry("-owner@a.example", ALL_LETTERS)]
    assert allowed(OWNER, [], op)
    assert allowed(OWNER, acl, op)


@pytest.mark.parametrize("right", list(ALL_LETTERS))
@pytest.mark.parametrize("op", [op for op in Op if op not in ANY_OF])
@pytest.mark.parametrize("who,identifier", [
    (BOB, "bob@a.example"), (BOB, "$team@a.example"), (BOB, "anyone"),
    (BOB, "authenticated"), (ANON, "anyone")])
def test_single_right_grants_exactly_its_operations(who: Principal, identifier: str,
                                                    right: str, op: Op) -> None:
    need = EXPECTED[op]
    expect = need == right
    assert allowed(who, [AclEntry(identifier, right)], op) is expect


@pytest.mark.parametrize("op", list(Op))
def test_authenticated_does_not_match_anonymous(op: Op) -> None:
    assert not allowed(ANON, [AclEntry("authenticated", ALL_LETTERS)], op)


def test_negative_entries_subtract() -> None:
    acl = [AclEntry("anyone", "lrs"), AclEntry("-bob@a.example", "r")]
    rights = effective_rights(BOB, mailbox(), acl)
    assert rights.storage() == "ls"
    acl = [AclEntry("$team@a.example", "lrw"), AclEntry("-$team@a.example", "w")]
    assert effective_rights(BOB, mailbox(), acl).storage() == "lr"
    # A negative entry naming someone else changes nothing for Bob.
    acl = [AclEntry("bob@a.example", "lr"), AclEntry("-carol@a.example", "lr")]
    assert effective_rights(BOB, mailbox(), acl).storage() == "lr"


def test_administrators_get_a_in_scope_only() -> None:
    assert effective_rights(ADMIN_A, mailbox(), []).storage() == "a"
    assert effective_rights(ADMIN_B, mailbox(), []).storage() == ""  # another domain
    assert effective_rights(GLOBAL, mailbox(), []).storage() == "a"
    assert effective_rights(GLOBAL, mailbox(owner=None, domain=None), []).storage() == "a"
    assert effective_rights(ADMIN_A, mailbox(owner=None, domain=None), []).storage() == ""
    # ... on top of what the ACL grants them.
    acl = [AclEntry("admin@a.example", "lr")]
    assert effective_rights(ADMIN_A, mailbox(), acl).storage() == "lra"


@pytest.mark.parametrize("kind", ["calendar", "contacts", "tasks", "notes", "journal",
                                  "documents"])
def test_groupware_ignores_s_w_p_and_edit_needs_i_and_delete(kind: str) -> None:
    acl = [AclEntry("bob@a.example", "lrswip")]
    rights = effective_rights(BOB, mailbox(kind), acl)
    assert rights.storage() == "lri"
    assert not allowed(BOB, acl, Op.SET_SEEN, kind)
    assert not allowed(BOB, acl, Op.POST, kind)
    assert not allowed(BOB, acl, Op.ITEM_EDIT, kind)
    assert allowed(BOB, [AclEntry("bob@a.example", "lrite")], Op.ITEM_EDIT, kind)
    assert not allowed(BOB, [AclEntry("bob@a.example", "lrit")], Op.ITEM_EDIT, kind)
    assert effective_rights(OWNER, mailbox(kind), []).storage() == "lrikxtea"


@pytest.mark.parametrize("right", list(ALL_LETTERS))
def test_delivery_into_someone_elses_folder_needs_insert_or_post(right: str) -> None:
    """Filing a delivered message (a filing rule into a shared folder): ``i`` or ``p``."""
    assert allowed(BOB, [AclEntry("bob@a.example", right)], Op.DELIVER) is (right in "ip")
    assert allowed(OWNER, [], Op.DELIVER)


@pytest.mark.parametrize("right", list(ALL_LETTERS))
def test_visibility_rights(right: str) -> None:
    rights = effective_rights(BOB, mailbox(), [AclEntry("bob@a.example", right)])
    assert OP_RIGHTS[Op.MYRIGHTS].satisfied_by(rights) is (right in VISIBLE_RIGHTS)


def test_rights_parse_and_display_c_d() -> None:
    assert Rights.parse("c").storage() == "kx"
    assert Rights.parse("d").storage() == "te"
    assert Rights.parse("lrk").display() == "lrkc"
    assert Rights.parse("lrt").display() == "lrtd"
    for bad in ("Q", "L", "1", "lr!"):
        with pytest.raises(MailError, match="right"):
            Rights.parse(bad)
