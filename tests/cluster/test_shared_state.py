"""Limits that hold across the nodes (docs/cluster.md "Shared limits"): one POP3 session per
maildrop on the whole cluster, failed logins counted together, an automatic block made on one
node refusing at once on the others."""

from __future__ import annotations

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
