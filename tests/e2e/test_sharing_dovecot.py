"""The sharing matrix and scenario against Dovecot, the reference (issue 4).

Dovecot (Debian's dovecot-imapd, ``acl`` + ``imap_acl``, started privately on loopback by
tests/support/dovecot.py) must give, for every case, what specs.md requires, except where a
rule below says how and why it differs; docs/sharing.md lists the same rules. The assertion is
exact both ways: an undocumented difference fails, and so does a documented one that no longer
happens, so the page cannot drift from what Dovecot does.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterator

import pytest

from bench.reference import Dovecot
from tests.support.dovecot import available, sharing_dovecot
from tests.support.sharing_matrix import (
    MAILBOX_COMMANDS,
    Target,
    expectations,
    run_matrix,
)
from tests.support.sharing_scenario import EXPECTED, run_scenario

pytestmark = pytest.mark.skipif(not available(), reason="Dovecot is not installed "
                                "(make test installs dovecot-imapd as root)")

ACL_COMMANDS = ("GETACL", "SETACL", "DELETEACL")
INTO = ("APPEND", "COPY-into", "UID COPY-into", "MOVE-into", "UID MOVE-into")
STORES = ("STORE-seen", "STORE-deleted", "STORE-flagged", "STORE-keyword", "UID STORE-flagged")


def _needs_l(rights: str, command: str, spec: str) -> str | None:
    """Dovecot: without ``l`` a folder does not exist for the ACL commands, DELETE, RENAME
    and the commands that put mail into it. Ours: any of ``l r i k x a`` makes it exist
    (Product decision 8, after RFC 4314 §4's MYRIGHTS rule), so the holder hears NOPERM."""
    if "l" in rights or spec != "NO [NOPERM]" or command not in MAILBOX_COMMANDS:
        return None
    if command in (*ACL_COMMANDS, "DELETE", "RENAME-from"):
        return "NO [NONEXISTENT]"
    if command in INTO:
        return "NO [TRYCREATE]"
    return None


def _no_code(rights: str, command: str, spec: str) -> str | None:
    """Dovecot: SELECT, EXAMINE, STATUS and SUBSCRIBE on a folder without ``l`` refuse
    without a response code. Ours: ``[NONEXISTENT]`` (RFC 5530), or ``[NOPERM]`` when the
    folder is visible to the caller. Dovecot's SUBSCRIBE also succeeds with ``r`` or ``i``
    alone, where ours needs ``l`` (RFC 4314 §4)."""
    if command == "SUBSCRIBE" and set(rights) & set("ri"):
        return "OK"
    if command in ("SELECT", "EXAMINE", "STATUS", "SUBSCRIBE") and spec.startswith("NO [") \
            and "l" not in rights:
        return "NO"
    return None


def _myrights(rights: str, command: str, spec: str) -> str | None:
    """Dovecot answers MYRIGHTS to a holder of any right but ``p``; ours only where the folder
    is visible (``l r i k x a``, RFC 4314 §4), so ``s w t e`` alone reveal nothing."""
    return "OK" if command == "MYRIGHTS" and rights != "p" else None


def _listrights(rights: str, command: str, spec: str) -> str | None:
    """Dovecot answers LISTRIGHTS without checking ``a``, for any folder name, even missing
    ones; RFC 4314 §4 requires ``a``, and so do we."""
    return "OK" if command == "LISTRIGHTS" else None


def _readonly_store(rights: str, command: str, spec: str) -> str | None:
    """Dovecot: STORE in a read-only mailbox answers OK and changes nothing. Ours: NO [NOPERM]
    when no requested flag can be set in a mailbox opened read-only (specs.md §2.5: STORE
    succeeds when any requested flag is allowed)."""
    return "OK -" if command in STORES and spec == "NO [NOPERM]" else None


def _expunge(rights: str, command: str, spec: str) -> str | None:
    """Dovecot: EXPUNGE without ``e`` answers OK and removes nothing. Ours: NO [NOPERM]
    (RFC 4314 §4: EXPUNGE requires ``e``), so the client knows nothing was removed."""
    return "OK 2" if command in ("EXPUNGE", "UID EXPUNGE") and "e" not in rights else None


def _move(rights: str, command: str, spec: str) -> str | None:
    """Dovecot's MOVE needs only ``e`` on the source; ours needs ``t`` and ``e`` as well as
    ``r``, the rights of the COPY + STORE \\Deleted + EXPUNGE it replaces (RFC 6851 §3.3)."""
    if command in ("MOVE-from", "UID MOVE-from") and "e" in rights and "t" not in rights:
        return "OK 1"
    return None


def _delete(rights: str, command: str, spec: str) -> str | None:
    """Dovecot refuses DELETE of a non-empty folder to a holder of ``x`` alone (it must
    expunge first and needs the rights for that); ours deletes it (RFC 4314 §4: ``x``)."""
    return "NO [CANNOT]" if command == "DELETE" and rights == "x" else None


RULES: list[Callable[[str, str, str], str | None]] = [
    _needs_l, _no_code, _myrights, _listrights, _readonly_store, _expunge, _move, _delete]


def dovecot_expected(key: str, spec: str) -> str:
    rights, command = key.split(":", 1)
    for rule in RULES:
        got = rule(rights, command, spec)
        if got is not None:
            return got
    return spec


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    yield from sharing_dovecot()


def _target(dc: Dovecot) -> Target:
    counter = itertools.count(1)

    def add_user(name: str) -> tuple[str, str]:
        address = f"{name}{next(counter)}-{secrets.token_hex(3)}@example.test"
        password = secrets.token_urlsafe(12)
        dc.add_user(address, password)
        # Dovecot re-reads its passwd-file at most once a second: let a new second start.
        time.sleep(1.05)
        return address, password
    return Target("dovecot", dc.imap_port, add_user)


def test_matrix_against_dovecot(dovecot: Dovecot) -> None:
    got = run_matrix(_target(dovecot))
    spec = expectations()
    want = {k: dovecot_expected(k, v) for k, v in spec.items()}
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, "\n".join(f"{k}: Dovecot {g!r}, documented {w!r}"
                                for k, (g, w) in wrong.items())
    # Every rule is still needed: each explains at least one case.
    used = {rule.__name__ for k, v in spec.items() for rule in RULES
            if rule(*k.split(":", 1), v) is not None and got[k] != v}
    assert used == {rule.__name__ for rule in RULES}


def test_scenario_against_dovecot(dovecot: Dovecot) -> None:
    got = run_scenario(_target(dovecot))
    got.pop("replies")
    # Dovecot keeps the rights a session had when it logged in (its ACL cache is per
    # session): Bob's open session never learns of the ``w`` Alice grants, SELECT stays
    # READ-ONLY and his STORE is accepted and ignored. Ours takes the change at once.
    stale = {"flag without w": "OK", "select after w": "OK [READ-ONLY]", "flag with w": "OK",
             "alice sees flag": False}
    assert got == {**EXPECTED, **stale}


def test_identifier_rules_against_dovecot(dovecot: Dovecot) -> None:
    """The identifier rows of docs/sharing.md: ``anyone``/``authenticated`` from IMAP, and an
    ACL entry naming the owner (Product decision 2: ours never reduces the owner)."""
    target = _target(dovecot)
    user = target.add_user("owner")
    c = target.login(user)
    c.ok("CREATE P")
    for ident in ("anyone", "authenticated"):
        assert c.cmd(f"SETACL P {ident} lr")[1].split()[1] == b"BAD"
    c.ok(f"SETACL P {user[0]} lr")
    assert c.ok("MYRIGHTS P") == [b"* MYRIGHTS P lra"]  # reduced, except a
    c.close()
