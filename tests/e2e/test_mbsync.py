"""mbsync (isync, Debian) against a real Postroom: a two-way sync of a 1,000-message account
with several folders and flags, then a run that finds nothing to do (issue 3 acceptance)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None,
                                reason="mbsync missing: make test installs isync")

FOLDERS = {"INBOX": 600, "Work": 300, "Lists/Python": 100}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path / "data", extra=[
        'server.plaintext_auth_networks=["127.0.0.1/32"]']))
    yield srv
    srv.stop()


def _flags(i: int) -> str:
    names = []
    if i % 3 == 0:
        names.append("\\Seen")
    if i % 7 == 0:
        names.append("\\Flagged")
    if i % 11 == 0:
        names.append("\\Answered")
    return " ".join(names)


def _mbsync(rc: Path) -> None:
    proc = subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def _state(c: RawImap) -> dict[str, bytes]:
    out = {}
    for name in FOLDERS:
        out[name] = c.ok(f'STATUS "{name}" (MESSAGES UIDNEXT HIGHESTMODSEQ UNSEEN)')[0]
    return out


def _local(root: Path) -> dict[str, list[str]]:
    return {str(p.relative_to(root)): sorted(os.listdir(p)) for p in root.rglob("*")
            if p.is_dir() and p.name in ("cur", "new")}


def _maildir_flags(folder: Path) -> list[str]:
    return [f.split(":2,")[-1] for sub in ("cur", "new") for f in os.listdir(folder / sub)]


def test_two_way_sync(server: RunningServer, tmp_path: Path) -> None:
    user, password = server.add_user()
    c = RawImap(server.port("imap"))
    c.login(user, password)
    c.ok("CREATE Work")
    c.ok("CREATE Lists/Python")
    n = 0
    for folder, count in FOLDERS.items():
        for _ in range(count):
            n += 1
            msg = (f"From: sender{n}@example.org\r\nTo: {user}\r\nSubject: message {n}\r\n"
                   f"Message-ID: <m{n}@example.org>\r\n\r\nBody of message {n}\r\n").encode()
            assert b" OK " in c.append(folder, msg, _flags(n))
    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""IMAPAccount t
Host 127.0.0.1
Port {server.port('imap')}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore far
Account t

MaildirStore near
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel ch
Far :far:
Near :near:
Patterns INBOX Work Lists/Python
Create Both
Expunge Both
SyncState *
Sync All
""")
    _mbsync(rc)
    inbox = local / "INBOX"
    assert len(_maildir_flags(inbox)) == 600
    assert len(_maildir_flags(local / "Work")) == 300
    assert len(_maildir_flags(local / "Lists" / "Python")) == 100
    all_flags = [f for name in ("INBOX", "Work", "Lists/Python")
                 for f in _maildir_flags(local / name)]
    assert sum("S" in f for f in all_flags) == len([i for i in range(1, 1001) if i % 3 == 0])
    assert sum("F" in f for f in all_flags) == len([i for i in range(1, 1001) if i % 7 == 0])
    assert sum("R" in f for f in all_flags) == len([i for i in range(1, 1001) if i % 11 == 0])

    # Changes on both sides.
    cur = inbox / "cur"
    files = sorted(os.listdir(cur))
    flagged = 0
    for name in files[:10]:  # flag ten locally
        base, _, flags = name.partition(":2,")
        if "F" not in flags:
            flagged += 1
        os.rename(cur / name, cur / f"{base}:2,{''.join(sorted(set(flags + 'F')))}")
    for name in sorted(os.listdir(cur))[10:15]:  # delete five locally (trashed + expunged)
        base, _, flags = name.partition(":2,")
        os.rename(cur / name, cur / f"{base}:2,{''.join(sorted(set(flags + 'T')))}")
    for i in range(2):
        (local / "Work" / "new" / f"local{i}.host").write_bytes(
            f"From: me@example.test\r\nSubject: local {i}\r\n\r\nwritten offline\r\n".encode())
    for i in range(3):
        c.append("INBOX", f"Subject: server {i}\r\n\r\nnew on server\r\n".encode())
    c.ok("SELECT Work")
    c.ok("STORE 1:5 +FLAGS.SILENT (\\Seen)")
    c.ok("UNSELECT")
    flagged_before = len(re.findall(rb"\* \d+", b"".join(
        _search(c, "INBOX", "FLAGGED"))))

    _mbsync(rc)
    assert b"MESSAGES 598" in c.ok("STATUS INBOX (MESSAGES)")[0]  # 600 + 3 - 5
    assert b"MESSAGES 302" in c.ok("STATUS Work (MESSAGES)")[0]
    flagged_after = len(re.findall(rb"\* \d+", b"".join(_search(c, "INBOX", "FLAGGED"))))
    assert flagged_after >= flagged_before + flagged - 5
    assert len(_maildir_flags(inbox)) == 598
    assert sum("S" in f for f in _maildir_flags(local / "Work")) >= 5
    assert any(b"written offline" in (local / "Work" / sub / f).read_bytes()
               for sub in ("cur", "new") for f in os.listdir(local / "Work" / sub))

    # A third run finds nothing to do: neither side changes.
    before_server, before_local = _state(c), _local(local)
    _mbsync(rc)
    assert _state(c) == before_server
    assert _local(local) == before_local


def _search(c: RawImap, folder: str, key: str) -> list[bytes]:
    c.ok(f'EXAMINE "{folder}"')
    lines = c.ok(f"SEARCH {key}")
    c.ok("UNSELECT")
    return [b"* " + x for x in lines[-1].split()[2:]]
