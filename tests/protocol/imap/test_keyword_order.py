"""New keywords under concurrent load: no connection ever sees a keyword in FETCH FLAGS before
an untagged FLAGS response has announced it (RFC 3501 §7.2.6), whichever session set it and
whether the watching session polls (FETCH, NOOP) or sits in IDLE."""

from __future__ import annotations

import re
import threading
import time

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer

DURATION = 2.5
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


class Watcher:
    """Checks one connection's untagged lines, in the order they arrive."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.announced: set[str] = set()
        self.errors: list[str] = []
        self.fetches = 0

    def see(self, line: bytes) -> None:
        m = _FLAGS.search(line)
        if m is None:
            return
        names = {f.decode().casefold() for f in m.group(1).split()
                 if not f.startswith(b"\\")}
        if line.startswith(b"* FLAGS ("):
            self.announced = names  # RFC 3501 §7.2.6: replaces what the client knew
        elif b" FETCH " in line:
            self.fetches += 1
            unknown = names - self.announced
            if unknown:
                self.errors.append(f"{self.name}: {sorted(unknown)} before FLAGS in {line!r}")

    def run(self, c: RawImap, text: str) -> None:
        untagged, tagged = c.cmd(text)
        for line in untagged:
            self.see(line)
        assert b" OK " in tagged, (text, tagged)


def _open(server: RunningServer, user: tuple[str, str], w: Watcher) -> RawImap:
    c = RawImap(server.port("imap"))
    c.login(*user)
    w.run(c, "SELECT INBOX")
    return c


def test_keywords_announced_first_under_load(imap_server: RunningServer,
                                             user: tuple[str, str]) -> None:
    seed = RawImap(imap_server.port("imap"))
    seed.login(*user)
    for i in range(5):
        seed.append("INBOX", message(f"k{i}"))
    seed.close()
    stop = time.monotonic() + DURATION
    watchers: list[Watcher] = []
    failures: list[BaseException] = []

    def storer(n: int) -> None:
        w = Watcher(f"storer{n}")
        watchers.append(w)
        c = _open(imap_server, user, w)
        i = 0
        while time.monotonic() < stop:
            i += 1
            w.run(c, f"STORE {1 + i % 5} +FLAGS ($k{n}x{i})")
            if i % 3 == 0:
                w.run(c, f"UID STORE 1:* -FLAGS ($k{n}x{i - 1})")
        c.close()

    def poller(n: int) -> None:
        w = Watcher(f"poller{n}")
        watchers.append(w)
        c = _open(imap_server, user, w)
        while time.monotonic() < stop:
            w.run(c, "FETCH 1:* FLAGS" if n % 2 else "NOOP")
        c.close()

    def idler(n: int) -> None:
        w = Watcher(f"idler{n}")
        watchers.append(w)
        c = _open(imap_server, user, w)
        c.send(b"I1 IDLE\r\n")
        while (line := c.line()) != b"+ idling":  # changes may be told before "+"
            w.see(line)
        c.sock.settimeout(0.5)
        while time.monotonic() < stop:
            try:
                w.see(c.line())
            except TimeoutError:
                continue
        c.sock.settimeout(20)
        c.send(b"DONE\r\n")
        untagged, tagged = c.response("I1")
        for line in untagged:
            w.see(line)
        assert tagged == b"I1 OK IDLE terminated"
        c.close()

    def guard(fn: object, n: int) -> None:
        try:
            fn(n)  # type: ignore[operator]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guard, args=(fn, n))
               for fn, count in ((storer, 4), (poller, 4), (idler, 3)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    errors = [e for w in watchers for e in w.errors]
    assert not errors, f"{len(errors)} FETCHes before FLAGS, e.g. {errors[:3]}"
    idle_fetches = sum(w.fetches for w in watchers if w.name.startswith("idler"))
    assert idle_fetches > 0  # the idlers did hear of the changes
