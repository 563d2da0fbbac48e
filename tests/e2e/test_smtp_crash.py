"""kill -9 under concurrent SMTP deliveries (issue 5 acceptance; DESIGN.md rule 4).

Twelve clients send to two local users (some messages to both) over port 25 while the server is
SIGKILLed. After a restart and once the queue has drained:
- every message that got 250 is in each of its recipients' INBOX exactly once;
- nothing is delivered that the client had not finished sending (the final dot);
- a message whose dot went out but whose 250 was lost in the kill may be delivered (the server
  had committed it) — RFC 5321 §6.1 allows that duplicate for the *sender*; it is still stored
  only once.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

from tests.support.crash import ROUNDS, inbox_subjects, report, send_raw
from tests.support.mailhost import Instance, free_port


class Sender(threading.Thread):
    def __init__(self, n: int, port: int, users: list[str], sent: set[str], acked: set[str],
                 targets: dict[str, list[str]], lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.n, self.port, self.users = n, port, users
        self.sent, self.acked, self.targets, self.lock = sent, acked, targets, lock

    def run(self) -> None:
        i = 0
        while True:
            i += 1
            tag = f"c{self.n}-{i}"
            rcpts = self.users if i % 3 == 0 else [self.users[i % 2]]
            with self.lock:
                self.targets[tag] = rcpts
            try:
                self._one(tag, rcpts)
            except OSError:
                return

    def _one(self, tag: str, rcpts: list[str]) -> None:
        body = (f"Subject: crash {tag}\r\nFrom: load@example.net\r\n\r\n".encode()
                + b"x" * 2000)

        def sent() -> None:
            with self.lock:
                self.sent.add(tag)
        if send_raw(self.port, "load@example.net", rcpts, body, sent):
            with self.lock:
                self.acked.add(tag)


def _inbox_tags(inst: Instance, user: str, password: str) -> list[str]:
    return [subject.split()[1] for subject in
            inbox_subjects(inst.address, inst.ports["imap"], user, password)
            if subject.startswith("crash ")]


def test_sigkill_under_smtp_load(tmp_path: Path) -> None:
    port = free_port(("127.0.0.1",))
    inst = Instance(tmp_path, "crash.test", "127.0.0.1", port, dns_port=9)
    inst.start()
    users = [inst.add_user("one"), inst.add_user("two")]
    addresses = [u[0] for u in users]
    passwords = dict(users)
    sent: set[str] = set()
    acked: set[str] = set()
    targets: dict[str, list[str]] = {}
    lock = threading.Lock()
    for rnd in range(ROUNDS):
        senders = [Sender(rnd * 100 + n, port, addresses, sent, acked, targets, lock)
                   for n in range(12)]
        for s in senders:
            s.start()
        deadline = time.monotonic() + 60
        goal = 200 * (rnd + 1)
        while len(acked) < goal and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acked) >= goal, f"only {len(acked)} acknowledged"
        inst.stop(signal.SIGKILL)  # mid-stream: sessions are in DATA, the queue is busy
        for s in senders:
            s.join(30)
        inst.start()
    try:
        def drained() -> bool:
            result = inst.cli("queue", "list", "--json")
            return result.returncode == 0 and json.loads(result.stdout) == []
        deadline = time.monotonic() + 60
        while not drained():
            assert time.monotonic() < deadline, "queue did not drain"
            time.sleep(0.5)
        for address in addresses:
            tags = _inbox_tags(inst, address, passwords[address])
            assert len(tags) == len(set(tags)), "a message was stored twice"
            got = set(tags)
            wanted = {t for t in acked if address in targets[t]}
            assert wanted <= got, f"acknowledged but lost: {sorted(wanted - got)[:5]}"
            assert got <= sent, f"delivered without a final dot: {sorted(got - sent)[:5]}"
            for tag in got:
                assert address in targets[tag]
        report("smtp", acknowledged=len(acked), lost=0, duplicated=0)
    finally:
        inst.stop()
