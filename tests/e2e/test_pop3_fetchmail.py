"""fetchmail (Debian's) pulls a 500-message mailbox from Postroom over STLS and over 995:
first keeping the messages, then deleting them, then a rerun that finds nothing (issue 6)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.protocol.pop3.conftest import POP3_EXTRA, deliver
from tests.support.server import RunningServer, server_config

pytestmark = pytest.mark.skipif(shutil.which("fetchmail") is None,
                                reason="fetchmail is not installed (make test-deps)")
COUNT = 500


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path_factory.mktemp("fetchmail"), extra=POP3_EXTRA))
    yield srv
    srv.stop()


def fill(srv: RunningServer, address: str) -> None:
    for start in range(0, COUNT, 100):
        deliver(srv, address, *(
            (f"From: a@example.org\r\nTo: {address}\r\nSubject: m{i}\r\n"
             f"Message-ID: <m{i}@fetchmail.test>\r\n\r\nbody {i}\r\n.line starting with a dot\r\n"
             ).encode() for i in range(start, start + 100)))


def fetch(home: Path, port: int, address: str, password: str, *, implicit: bool,
          keep: bool) -> tuple[int, str]:
    """One fetchmail run; each message goes to the MDA, which appends it to ``out.txt``."""
    out = home / "out.txt"
    tls = "ssl" if implicit else "sslproto 'TLS1.2+'"
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll 127.0.0.1 service {port} protocol POP3 uidl timeout 60\n"
        f'  user "{address}" there with password "{password}" is root here\n'
        f"  {tls} no sslcertck\n"
        f"  {'keep' if keep else 'no keep fetchall'}\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n")
    rc.chmod(0o600)
    proc = subprocess.run(
        ["fetchmail", "--nodetach", "-f", str(rc), "--idfile", str(home / "ids"),
         "--pidfile", str(home / "pid")],
        env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def received(home: Path) -> list[str]:
    path = home / "out.txt"
    text = path.read_text() if path.exists() else ""
    path.unlink(missing_ok=True)
    return re.findall(r"^Message-ID: <(m\d+)@fetchmail.test>", text, re.M)


@pytest.mark.parametrize("implicit", [False, True], ids=["stls-110", "tls-995"])
def test_fetchmail_keep_then_delete(server: RunningServer, tmp_path: Path,
                                    implicit: bool) -> None:
    address, password = server.add_user()
    fill(server, address)
    port = server.port("pop3s" if implicit else "pop3")
    expected = sorted(f"m{i}" for i in range(COUNT))

    code, log = fetch(tmp_path, port, address, password, implicit=implicit, keep=True)
    assert code == 0, log
    got = received(tmp_path)
    assert sorted(got) == expected, log[-2000:]
    assert f"{COUNT} messages" in log

    # keep + UIDL: a rerun sees nothing new (fetchmail's exit status 1 = no mail)
    code, log = fetch(tmp_path, port, address, password, implicit=implicit, keep=True)
    assert code == 1 and received(tmp_path) == [], log

    # now fetch everything and delete it on the server
    code, log = fetch(tmp_path, port, address, password, implicit=implicit, keep=False)
    assert code == 0, log
    assert sorted(received(tmp_path)) == expected
    account = server.call(server.services.store.directory.get_account(address))
    inbox = server.call(server.services.store.mailboxes.by_name(account.id, "INBOX"))
    assert inbox.message_count == 0

    code, log = fetch(tmp_path, port, address, password, implicit=implicit, keep=False)
    assert code == 1 and received(tmp_path) == [], log
