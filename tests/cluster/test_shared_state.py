"""Limits that hold across the nodes (docs/cluster.md "Shared limits"): one POP3 session per
maildrop on the whole cluster, failed logins counted together, an automatic block made on one
node refusing at once on the others."""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import socket
import time
from pathlib import Path

import pytest

from tests.support.cluster import Node, running_cluster
from tests.support.tls import insecure_context


def _pop(node: Node) -> poplib.POP3:
    pop = poplib.POP3("127.0.0.1", node.ports["pop3"], timeout=30)
    pop.stls(insecure_context())
    return pop


def _fail_login(node: Node, user: str) -> float:
    """One wrong password over POP3; how long the answer took."""
    pop = _pop(node)
    pop.user(user)
    started = time.monotonic()
    with pytest.raises(poplib.error_proto):
        pop.pass_("wrong password")
    took = time.monotonic() - started
    pop.quit()
    return took


def test_limits_hold_across_nodes(tmp_path: Path) -> None:
    extra = ["--set", "limits.auth_failures_per_ip=3", "--set", "screening.exempt_networks=[]",
             "--set", "screening.auth_failures=6", "--set", "screening.refresh=600"]
    with running_cluster(tmp_path, extra=extra) as cluster:
        a, b = cluster[0], cluster[1]
        alice = cluster.add_user("alice")

        # RFC 1939 §8: the maildrop is one session's, whichever node it is on.
        first = _pop(a)
        first.user(alice[0])
        first.pass_(alice[1])
        second = _pop(b)
        second.user(alice[0])
        with pytest.raises(poplib.error_proto, match="IN-USE"):
            second.pass_(alice[1])
        second.quit()
        first.quit()
        time.sleep(0.3)  # the lock is released as the session ends
        third = _pop(b)
        third.user(alice[0])
        third.pass_(alice[1])
        third.quit()

        # Failed logins: two on each node, then a fifth on B is delayed as B had seen four.
        for node in (a, a, b, b):
            _fail_login(node, alice[0])
        time.sleep(0.3)  # the other node's notices arrive
        took = _fail_login(b, alice[0])
        assert took >= 2.0, f"B answered in {took:.2f} s: it did not count A's failures"

        # The sixth offence (on A) blocks the address on A and, told at once, on B, whose
        # own look at the store would come only every 600 s.
        _fail_login(a, alice[0])
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", b.ports["pop3"]), timeout=10) as s:
            greeting = s.recv(512)
        assert not greeting.startswith(b"+OK"), greeting


def _imap_login(node: Node, user: str, password: str) -> bool:
    imap = imaplib.IMAP4("127.0.0.1", node.ports["imap"], timeout=30)
    try:
        imap.starttls(insecure_context())
        try:
            imap.login(user, password)
        except imaplib.IMAP4.error:
            return False
        imap.logout()
        return True
    finally:
        with contextlib.suppress(OSError):
            imap.shutdown()


def test_directory_changes_on_one_node_apply_on_the_other_at_once(tmp_path: Path) -> None:
    """The bound for mail logins is zero: every login reads the account, and the login cache
    remembers a success only together with the stored hash it was checked against
    (directory/login_cache.py), so nothing cached on B outlives a change made through A."""
    with running_cluster(tmp_path) as cluster:
        a, b = cluster[0], cluster[1]
        alice, old = cluster.add_user("alice")
        assert _imap_login(b, alice, old)  # B now remembers this success
        assert _imap_login(b, alice, old)

        changed = a.cli("user", "passwd", alice, "--password-stdin",
                        stdin="A-new-pass-word-5678\n")
        assert changed.returncode == 0, changed.stderr
        assert not _imap_login(b, alice, old)  # the very next attempt
        assert _imap_login(b, alice, "A-new-pass-word-5678")

        disabled = a.cli("user", "disable", alice)
        assert disabled.returncode == 0, disabled.stderr
        assert not _imap_login(b, alice, "A-new-pass-word-5678")
        assert a.cli("user", "enable", alice).returncode == 0
        assert _imap_login(b, alice, "A-new-pass-word-5678")


def test_a_dead_nodes_maildrop_lock_is_released(tmp_path: Path) -> None:
    """RFC 1939 §8's lock is an advisory lock of A's lock connection: SIGKILL A in the middle
    of a POP3 session and B opens the maildrop as soon as PostgreSQL sees the connection go
    (at once: the kernel closes the dead process's sockets)."""
    with running_cluster(tmp_path) as cluster:
        a, b = cluster[0], cluster[1]
        alice = cluster.add_user("alice")
        held = _pop(a)
        held.user(alice[0])
        held.pass_(alice[1])
        a.kill()
        deadline = time.monotonic() + 10
        while True:
            pop = _pop(b)
            pop.user(alice[0])
            try:
                pop.pass_(alice[1])
                break
            except poplib.error_proto as exc:
                assert b"IN-USE" in exc.args[0], exc
                assert time.monotonic() < deadline, "B never got the dead node's maildrop"
                time.sleep(0.2)
            finally:
                with contextlib.suppress(OSError, poplib.error_proto):
                    pop.quit()
        took = 10 - (deadline - time.monotonic())
        assert took < 3, f"the lock outlived its node by {took:.1f} s"
