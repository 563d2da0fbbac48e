"""SIGKILL one node of three in the middle of SMTP load spread over all of them (issue 27).

Twelve clients send to two users through the three nodes' MX ports; everything goes through
the queue (``smtp.deliver_at_acceptance = false``), so every node holds leases on entries it
is delivering. Node n3 is frozen (SIGSTOP) at a moment it holds claims, then SIGKILLed and
never restarted. Afterwards:
- its claims are taken over by the other nodes once their leases run out, and delivered;
- every message that got 250 (from any node, the dead one included) is in each of its
  recipients' INBOX exactly once; nothing is stored that was not sent in full.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import psycopg

from tests.support.cluster import Cluster, running_cluster
from tests.support.crash import inbox_subjects, send_raw


class Sender(threading.Thread):
    def __init__(self, n: int, port: int, users: list[str], book: Book) -> None:
        super().__init__(daemon=True)
        self.n, self.port, self.users, self.book = n, port, users, book

    def run(self) -> None:
        i = 0
        while not self.book.stop.is_set():
            i += 1
            tag = f"c{self.n}-{i}"
            rcpts = self.users if i % 3 == 0 else [self.users[i % 2]]
            with self.book.lock:
                self.book.targets[tag] = rcpts
            body = (f"Subject: crash {tag}\r\nFrom: load@example.net\r\n\r\n".encode()
                    + b"x" * 2000)

            def sent(tag: str = tag) -> None:
                with self.book.lock:
                    self.book.sent.add(tag)
            try:
                ok = send_raw(self.port, "load@example.net", rcpts, body, sent)
            except OSError:
                return  # the node was killed
            if ok:
                with self.book.lock:
                    self.book.acked.add(tag)


class Book:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.targets: dict[str, list[str]] = {}


def _claims_of(dsn: str, node: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id FROM queue WHERE state = 'active' AND "
                            "substr(owner, 1, %s) = %s", (len(node) + 1, node + "/")).fetchall()
    return [int(r[0]) for r in rows]


def _queue_size(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM queue").fetchone()
    return int(row[0]) if row else 0


def _kill_holding_claims(cluster: Cluster, i: int) -> list[int]:
    """Freeze node ``i`` when it holds claims (retrying a few times), then SIGKILL it."""
    node = cluster[i]
    for _ in range(200):
        node.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        claims = _claims_of(cluster.dsn, node.name)
        if claims:
            node.kill()
            return claims
        node.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        time.sleep(0.02)
    raise AssertionError(f"{node.name} never held a claim under load")


def test_sigkill_a_node_under_smtp_load(tmp_path: Path) -> None:
    extra = ["--set", "smtp.deliver_at_acceptance=false"]
    with running_cluster(tmp_path, size=3, extra=extra) as cluster:
        users = [cluster.add_user("one"), cluster.add_user("two")]
        addresses = [u[0] for u in users]
        book = Book()
        senders = [Sender(n, cluster[n % 3].ports["smtp"], addresses, book) for n in range(12)]
        for s in senders:
            s.start()
        deadline = time.monotonic() + 60
        while len(book.acked) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(book.acked) >= 150, f"only {len(book.acked)} acknowledged"
        taken = _kill_holding_claims(cluster, 2)
        killed_at = time.monotonic()
        time.sleep(1.0)  # the survivors go on accepting for a while
        book.stop.set()
        for s in senders:
            s.join(40)
        deadline = time.monotonic() + 60
        while _queue_size(cluster.dsn) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _queue_size(cluster.dsn) == 0, "the queue did not drain without n3"
        assert not cluster[2].running
        print(f"n3 died holding {len(taken)} claims; queue drained "
              f"{time.monotonic() - killed_at:.1f} s after the kill "
              f"({len(book.acked)} acknowledged)")
        for address, password in users:
            tags = [s.split()[1] for s in
                    inbox_subjects("127.0.0.1", cluster[0].ports["imap"], address, password)
                    if s.startswith("crash ")]
            assert len(tags) == len(set(tags)), "a message was stored twice"
            got = set(tags)
            wanted = {t for t in book.acked if address in book.targets[t]}
            assert wanted <= got, f"acknowledged but lost: {sorted(wanted - got)[:5]}"
            assert got <= book.sent, f"stored without a final dot: {sorted(got - book.sent)[:5]}"
            for tag in got:
                assert address in book.targets[tag]
        assert taken  # n3 died holding these; the queue is empty, so others delivered them
