"""kill -9 under SMTP load to an alias with a local and a remote member (DESIGN.md rule 4).

Eight clients send over port 25 to list@crash.test (members: one@crash.test and
carol@far.test) while the server is SIGKILLed, for each way a forwarded copy is queued:
at acceptance (``smtp.deliver_at_acceptance``, the accepting transaction) and by the queue
manager (the settle transaction). far.test's MX answers nowhere, so every forwarded copy
stays in the queue, where it can be counted. Each message has its own envelope sender, which
the forwarded copy keeps. After the rounds and a restart:
- every message that got 250 is in one's INBOX exactly once and has exactly one forwarded
  entry in the queue;
- for every message, acknowledged or not, the local copy and the forwarded entry exist
  together or not at all (one transaction), and never twice.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.crash import ROUNDS, inbox_subjects, send_raw
from tests.support.mailhost import Dns, Instance, free_port

ALIAS = "list@crash.test"
REMOTE = "carol@far.test"


class Sender(threading.Thread):
    def __init__(self, n: int, port: int, sent: set[str], acked: set[str],
                 lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.n, self.port, self.sent, self.acked, self.lock = n, port, sent, acked, lock

    def run(self) -> None:
        i = 0
        while True:
            i += 1
            try:
                self._one(f"c{self.n}-{i}")
            except OSError:
                return

    def _one(self, tag: str) -> None:
        body = (f"Subject: crash {tag}\r\nFrom: {tag}@load.example\r\n\r\n".encode()
                + b"x" * 1000)

        def sent() -> None:
            with self.lock:
                self.sent.add(tag)
        if send_raw(self.port, f"{tag}@load.example", [ALIAS], body, sent):
            with self.lock:
                self.acked.add(tag)


def _inbox_tags(inst: Instance, user: tuple[str, str]) -> list[str]:
    return [subject.split()[1] for subject in
            inbox_subjects(inst.address, inst.ports["imap"], *user)]


def _forwarded_tags(inst: Instance) -> list[str]:
    result = inst.cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(r["recipients"] == [REMOTE] and r["destination"] == "remote" for r in rows), rows
    return [str(r["sender"]).partition("@")[0] for r in rows]


@pytest.mark.parametrize("at_acceptance", [True, False], ids=["at-acceptance", "queued"])
def test_sigkill_while_forwarding(tmp_path: Path, at_acceptance: bool) -> None:
    dns = Dns()
    port = free_port(("127.0.0.1", "127.0.0.2"))
    dns.zone.add("far.test", "MX", "10 mx.far.test.")
    dns.zone.add("mx.far.test", "A", "127.0.0.2")  # nobody listens there
    inst = Instance(tmp_path, "crash.test", "127.0.0.1", port, dns.port, extra=[
        "--set", f"smtp.deliver_at_acceptance={'true' if at_acceptance else 'false'}"])
    inst.start()
    try:
        one = inst.add_user("one")
        made = inst.cli("alias", "add", ALIAS, one[0], REMOTE)
        assert made.returncode == 0, made.stderr
        sent: set[str] = set()
        acked: set[str] = set()
        lock = threading.Lock()
        for rnd in range(ROUNDS):
            senders = [Sender(rnd * 100 + n, port, sent, acked, lock) for n in range(8)]
            for s in senders:
                s.start()
            deadline = time.monotonic() + 60
            goal = 60 * (rnd + 1)
            while len(acked) < goal and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(acked) >= goal, f"only {len(acked)} acknowledged"
            inst.stop(signal.SIGKILL)  # mid-stream: deliveries and settles in flight
            for s in senders:
                s.join(30)
            inst.start()

        def settled() -> bool:  # the local side drained: only forwarded entries are left
            result = inst.cli("queue", "list", "--json")
            return result.returncode == 0 and all(
                r["destination"] == "remote" for r in json.loads(result.stdout))
        deadline = time.monotonic() + 60
        while not settled():
            assert time.monotonic() < deadline, "local deliveries did not drain"
            time.sleep(0.5)
        local = Counter(_inbox_tags(inst, one))
        forwarded = Counter(_forwarded_tags(inst))
        assert max(local.values()) == 1, "a local copy was stored twice"
        assert max(forwarded.values()) == 1, "a forwarded copy was queued twice"
        assert set(local) == set(forwarded), (
            f"local without forward: {sorted(set(local) - set(forwarded))[:5]}, "
            f"forward without local: {sorted(set(forwarded) - set(local))[:5]}")
        assert acked <= set(local), f"acknowledged but lost: {sorted(acked - set(local))[:5]}"
        assert set(local) <= sent, "delivered without a final dot"
    finally:
        inst.stop()
        dns.stop()
