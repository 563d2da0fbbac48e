"""kill -9 under SMTP load to a user whose Sieve script keeps, redirects and answers
(DESIGN.md rule 4, for what Sieve sends).

one@crash.test has ``redirect :copy "carol@far.test"`` and a vacation reply. Eight clients send
over port 25, each message from its own sender (so each deserves one reply), while the server
is SIGKILLed, for both ways the copies are settled: at acceptance (``smtp.deliver_at_acceptance``)
and by the queue manager. far.test and load.example have an MX where nobody listens, so every
redirected copy and every reply stays in the queue, where it can be counted. After the rounds
and a restart:
- every message that got 250 is in one's INBOX exactly once, with exactly one redirected
  copy (its SRS return path encoding the message's sender) and one vacation reply queued;
- for every message, acknowledged or not, the local copy, the redirected copy and the reply
  exist together or not at all (one transaction), and never twice.
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

USER = "one@crash.test"
REMOTE = "carol@far.test"
SCRIPT = ('require ["copy", "vacation"];\nredirect :copy "carol@far.test";\n'
          'vacation :subject "Away" "I am away.";\n')


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
        body = (f"Subject: crash {tag}\r\nFrom: {tag}@load.example\r\nTo: {USER}\r\n"
                f"Message-ID: <{tag}@load.example>\r\n\r\n".encode() + b"x" * 1000)

        def sent() -> None:
            with self.lock:
                self.sent.add(tag)
        if send_raw(self.port, f"{tag}@load.example", [USER], body, sent):
            with self.lock:
                self.acked.add(tag)


def _queued(inst: Instance) -> tuple[list[str], list[str]]:
    """(tags of the redirected copies, tags of the vacation replies) in the queue."""
    result = inst.cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    redirected, replies = [], []
    for row in json.loads(result.stdout):
        assert row["destination"] == "remote", row
        if row["recipients"] == [REMOTE]:
            sender = str(row["sender"])
            assert sender.startswith("SRS0=") and sender.endswith("@crash.test"), sender
            redirected.append(sender.rpartition("@")[0].rpartition("=")[2])
        else:
            assert row["sender"] in ("", "<>"), row
            [rcpt] = row["recipients"]
            replies.append(str(rcpt).partition("@")[0])
    return redirected, replies


@pytest.mark.parametrize("at_acceptance", [True, False], ids=["at-acceptance", "queued"])
def test_sigkill_while_redirecting_and_answering(tmp_path: Path, at_acceptance: bool) -> None:
    dns = Dns()
    port = free_port(("127.0.0.1", "127.0.0.2"))
    for domain in ("far.test", "load.example"):
        dns.zone.add(domain, "MX", "10 mx.far.test.")
    dns.zone.add("mx.far.test", "A", "127.0.0.2")  # nobody listens there
    inst = Instance(tmp_path, "crash.test", "127.0.0.1", port, dns.port, extra=[
        "--set", f"smtp.deliver_at_acceptance={'true' if at_acceptance else 'false'}",
        "--set", "sieve.managesieve.port=0"])
    inst.start()
    try:
        one = inst.add_user("one")
        put = inst.cli("sieve", "put", "--user", USER, "--activate", "main", stdin=SCRIPT)
        assert put.returncode == 0, put.stderr
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

        def settled() -> bool:  # the local side drained: only remote entries are left
            result = inst.cli("queue", "list", "--json")
            return result.returncode == 0 and all(
                r["destination"] == "remote" for r in json.loads(result.stdout))
        deadline = time.monotonic() + 60
        while not settled():
            assert time.monotonic() < deadline, "local deliveries did not drain"
            time.sleep(0.5)
        local = Counter(s.split()[1] for s in inbox_subjects(inst.address, inst.ports["imap"],
                                                             *one))
        redirected, replies = (Counter(tags) for tags in _queued(inst))
        assert max(local.values()) == 1, "a local copy was stored twice"
        assert max(redirected.values()) == 1, "a redirected copy was queued twice"
        assert max(replies.values()) == 1, "a vacation reply was queued twice"
        assert set(local) == set(redirected) == set(replies), (
            f"local without redirect: {sorted(set(local) - set(redirected))[:5]}, "
            f"local without reply: {sorted(set(local) - set(replies))[:5]}, "
            f"redirect or reply without local: "
            f"{sorted((set(redirected) | set(replies)) - set(local))[:5]}")
        assert acked <= set(local), f"acknowledged but lost: {sorted(acked - set(local))[:5]}"
        assert set(local) <= sent, "delivered without a final dot"
    finally:
        inst.stop()
        dns.stop()
