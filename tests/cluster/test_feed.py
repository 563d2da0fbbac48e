"""The change feed across nodes (store/postgres/feed.py; docs/cluster.md "Change feed").

Issue 27's acceptance: a message delivered through node A's SMTP is seen by an IMAP IDLE
session on node B within one second; a flag set on B reaches a session on A; an ACL change on
A (over IMAP, or with the CLI) applies to an open session on B; a node cut off PostgreSQL for
ten seconds reconnects, and its IDLE sessions see every change made meanwhile.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.cluster import Cluster, Node, running_cluster
from tests.support.imapclient import RawImap


def _session(node: Node, user: tuple[str, str], folder: str = "INBOX") -> RawImap:
    imap = RawImap(node.ports["imap"])
    imap.starttls()
    imap.login(*user)
    imap.ok(f'SELECT "{folder}"')
    return imap


def _idle(imap: RawImap) -> None:
    imap.send(b"I1 IDLE\r\n")
    assert imap.line().startswith(b"+ ")


def _until(imap: RawImap, wanted: Callable[[bytes], bool], seconds: float) -> list[bytes]:
    """Lines from the IDLE session until one is ``wanted``; fails after ``seconds``."""
    seen: list[bytes] = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"not seen within {seconds} s; got {seen}"
        imap.sock.settimeout(left)
        try:
            line = imap.line()
        except TimeoutError:
            raise AssertionError(f"not seen within {seconds} s; got {seen}") from None
        seen.append(line)
        if wanted(line):
            return seen


def _send(node: Node, rcpt: str, subject: str) -> float:
    """Deliver through ``node``'s MX; the moment the 250 came."""
    with smtplib.SMTP("127.0.0.1", node.ports["smtp"], timeout=30) as smtp:
        smtp.sendmail("someone@example.net", [rcpt],
                      f"Subject: {subject}\r\nFrom: someone@example.net\r\n\r\nhi\r\n".encode())
    return time.monotonic()


def test_delivery_flags_and_acl_cross_nodes(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        a, b = cluster[0], cluster[1]
        alice = cluster.add_user("alice")
        bob = cluster.add_user("bob")

        # A delivery through A's SMTP reaches an IDLE session on B within a second.
        on_b = _session(b, alice)
        _idle(on_b)
        latencies: list[float] = []
        for n in range(1, 6):
            acked = _send(a, alice[0], f"to B {n}")
            exists = b"* %d EXISTS" % n
            _until(on_b, exists.__eq__, 5)
            latencies.append(time.monotonic() - acked)
        assert max(latencies) < 1.0, latencies

        # A flag set on B reaches an IDLE session on A.
        on_a = _session(a, alice)
        _idle(on_a)
        setter = _session(b, alice)
        setter.ok("STORE 2 +FLAGS (\\Flagged)")
        _until(on_a, lambda line: line.startswith(b"* 2 FETCH") and b"\\Flagged" in line, 5)

        # An ACL change made on A applies to bob's open session on B: first granted by the
        # CLI (run on A), then revoked over IMAP on A, which ends bob's session on B.
        granted = a.cli("acl", "set", alice[0], "INBOX", bob[0], "lrs")
        assert granted.returncode == 0, granted.stderr
        shared = f"Other Users/{alice[0]}/INBOX"
        bobs = _session(b, bob, shared)
        _idle(bobs)
        owner = _session(a, alice)
        owner.ok(f'SETACL INBOX {bob[0]} "lr"')
        # s lost: B's session says so (PERMANENTFLAGS without \Seen) while still idle
        _until(bobs, lambda line: b"PERMANENTFLAGS" in line, 5)
        owner.ok(f"DELETEACL INBOX {bob[0]}")
        _until(bobs, lambda line: line.startswith(b"* BYE"), 5)
        for s in (on_b, on_a, setter, owner):
            s.close()


def test_cli_acl_change_reaches_a_live_session(tmp_path: Path) -> None:
    """A CLI command writes through its own connection; the node's sessions hear it."""
    with running_cluster(tmp_path, size=1) as cluster:
        node = cluster[0]
        alice = cluster.add_user("alice")
        bob = cluster.add_user("bob")
        assert node.cli("acl", "set", alice[0], "INBOX", bob[0], "lr").returncode == 0
        bobs = _session(node, bob, f"Other Users/{alice[0]}/INBOX")
        _idle(bobs)
        done = node.cli("acl", "delete", alice[0], "INBOX", bob[0])
        assert done.returncode == 0, done.stderr
        _until(bobs, lambda line: line.startswith(b"* BYE"), 5)


def _changes_while_cut(cluster: Cluster, alice: tuple[str, str], flag: str,
                       silent: bool) -> None:
    """Node B (index 1) cut off PostgreSQL for 10 s while A delivers two messages, flags the
    first and expunges the second; B's IDLE session must then tell all of it."""
    a, b = cluster[0], cluster[1]
    on_b = _session(b, alice)
    status = on_b.ok("STATUS INBOX (MESSAGES)")
    before = int(status[0].rsplit(b"MESSAGES ", 1)[1].rstrip(b")"))
    _idle(on_b)
    proxy = cluster.proxies[1]
    started = time.monotonic()
    cutter = threading.Thread(target=proxy.cut, args=(10,), kwargs={"silent": silent})
    cutter.start()
    time.sleep(0.2)
    _send(a, alice[0], f"during cut {flag} a")
    _send(a, alice[0], f"during cut {flag} b")
    on_a = _session(a, alice)
    on_a.ok(f"STORE 1 +FLAGS ({flag})")
    on_a.ok("STORE 2 +FLAGS (\\Deleted)")
    on_a.ok("EXPUNGE")
    on_a.close()
    cutter.join()
    while time.monotonic() - started < 10:
        time.sleep(0.1)
    # After the cut B's session hears all of it: one expunge, the flag, two new messages.
    seen: list[bytes] = []

    def complete() -> bool:
        return (b"* 2 EXPUNGE" in seen
                and b"* %d EXISTS" % (before + 1) in seen
                and any(line.startswith(b"* 1 FETCH") and flag.encode() in line
                        for line in seen))
    deadline = time.monotonic() + 25
    while not complete():
        seen += _until(on_b, lambda line: True, max(0.1, deadline - time.monotonic()))
    on_b.send(b"DONE\r\n")
    on_b.close()
    assert b.running, "node B died while cut off"


def test_node_cut_off_postgresql_catches_up(tmp_path: Path) -> None:
    with running_cluster(tmp_path, proxied=[1]) as cluster:
        alice = cluster.add_user("alice")
        for n in range(3):
            _send(cluster[0], alice[0], f"before {n}")
        _changes_while_cut(cluster, alice, "\\Answered", silent=False)
        _changes_while_cut(cluster, alice, "\\Flagged", silent=True)
        assert "change feed connection restored" in cluster[1].log_text()
        # B works normally again: a new delivery through B reaches a session on A.
        on_a = _session(cluster[0], alice)
        _idle(on_a)
        _send(cluster[1], alice[0], "after the cuts")
        _until(on_a, lambda line: line.endswith(b" EXISTS"), 5)
        on_a.close()
