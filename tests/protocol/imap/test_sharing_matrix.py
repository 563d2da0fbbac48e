"""Every right × every command for a grantee holding exactly that right (specs.md §2.5).

The matrix itself is tests/support/sharing_matrix.py, shared with the run against Dovecot.
"""

from __future__ import annotations

from tests.support.server import RunningServer
from tests.support.sharing_matrix import Target, expectations, run_matrix
from tests.support.sharing_scenario import EXPECTED, run_scenario


def test_every_right_against_every_command(imap_server: RunningServer) -> None:
    target = Target("postroom", imap_server.port("imap"), imap_server.add_user)
    got = run_matrix(target)
    want = expectations()
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, "\n".join(f"{k}: got {g!r}, want {w!r}" for k, (g, w) in wrong.items())


def test_scenario_share_grant_revoke(imap_server: RunningServer) -> None:
    """Issue 4's scenario; after DELETEACL, Bob's replies about the folder are byte-identical
    (tag aside) to those for a folder that never existed, and to those once it is deleted."""
    got = run_scenario(Target("postroom", imap_server.port("imap"), imap_server.add_user))
    replies = got.pop("replies")
    assert got == EXPECTED
    assert isinstance(replies, list)
    # What "does not exist" looks like: no LIST line, NO [NONEXISTENT] for the rest.
    assert replies[0] == replies[1] == b"OK LIST completed"
    assert all(r.startswith(b"NO [NONEXISTENT] Mailbox doesn't exist: Other Users/")
               for r in replies[2:]), replies
