"""cadaver (Debian's package, a desktop WebDAV shell) on the file area /dav/files/<user>/:
MKCOL, PUT, GET, COPY, MOVE, LOCK (discovered, then UNLOCK), PROPSET/PROPGET of a dead
property, DELETE, each checked on the server afterwards with raw requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.dav import Dav
from tests.support.dav_interop import CADAVER, SCRIPT, cadaver

pytestmark = pytest.mark.skipif(CADAVER is None or SCRIPT is None,
                                reason="Debian package cadaver (or script) is not installed")

USER = "cade@example.test"


def test_cadaver_session(dav: Dav, tmp_path: Path) -> None:
    dav.account(USER)
    home = tmp_path / "home"
    home.mkdir()
    payload = "first line\nsecond line, ünïcode\n" * 200
    (home / "notes.txt").write_text(payload)
    base = f"/dav/files/{USER}"
    out = cadaver(f"{dav.base}{base}/", [
        "mkcol work",
        "put notes.txt work/notes.txt",
        "ls work",
        "get work/notes.txt back.txt",
        "copy work/notes.txt work/copy.txt",
        "move work/copy.txt work/moved.txt",
        "lock work/moved.txt",
        "discover work/moved.txt",
        "unlock work/moved.txt",
        "propset work/moved.txt colour red",
        "propget work/moved.txt colour",
        "delete work/notes.txt",
        "ls work",
    ], home, USER)
    assert "failed" not in out.lower(), out
    assert out.count("succeeded") >= 11, out
    assert "Lock token <" in out, out
    assert "Value of colour is: red" in out, out
    assert (home / "back.txt").read_text() == payload
    status, _, body = dav.request(USER, "GET", f"{base}/work/moved.txt")
    assert status == 200 and body.decode() == payload
    assert dav.request(USER, "GET", f"{base}/work/notes.txt")[0] == 404
    assert dav.request(USER, "GET", f"{base}/work/copy.txt")[0] == 404
    # The lock is gone: a PUT without a token is accepted.
    assert dav.request(USER, "PUT", f"{base}/work/moved.txt", b"x",
                       {"Content-Type": "text/plain"})[0] == 204


def test_cadaver_lock_blocks_other_writer(dav: Dav, tmp_path: Path) -> None:
    """A lock cadaver takes (and keeps: the session ends without UNLOCK) makes a write
    without its token 423 Locked (RFC 4918 §9.10)."""
    dav.account(USER)
    home = tmp_path / "home"
    home.mkdir()
    (home / "a.txt").write_text("locked\n")
    base = f"/dav/files/{USER}"
    out = cadaver(f"{dav.base}{base}/", ["put a.txt kept.txt", "lock kept.txt"], home, USER)
    assert "Locking `kept.txt': succeeded" in out, out
    assert dav.request(USER, "PUT", f"{base}/kept.txt", b"other",
                       {"Content-Type": "text/plain"})[0] == 423
    assert dav.request(USER, "DELETE", f"{base}/kept.txt")[0] == 423


def test_cadaver_names_trees_and_collection_locks(dav: Dav, tmp_path: Path) -> None:
    """Names with spaces and non-ASCII letters (cadaver percent-encodes them), COPY and MOVE
    of a whole folder, a depth-infinity lock on a folder that cadaver's own PUT inside passes
    (it sends the token) while another writer gets 423, then RMCOL."""
    dav.account(USER)
    home = tmp_path / "home"
    home.mkdir()
    (home / "sp ace ü.txt").write_text("hi\n")
    base = f"/dav/files/{USER}"
    out = cadaver(f"{dav.base}{base}/", [
        'mkcol "My Dir"',
        'put "sp ace ü.txt" "My Dir/sp ace ü.txt"',
        'copy "My Dir" "Copy Dir"',
        'move "Copy Dir" moved',
        "mkcol moved/sub",
        "lock moved",
        'put "sp ace ü.txt" moved/sub/inside.txt',
    ], home, USER)
    assert "failed" not in out.lower(), out
    assert "Locking collection `moved': succeeded" in out, out
    assert dav.request(USER, "GET", f"{base}/My%20Dir/sp%20ace%20%C3%BC.txt")[2] == b"hi\n"
    assert dav.request(USER, "GET", f"{base}/moved/sp%20ace%20%C3%BC.txt")[2] == b"hi\n"
    assert dav.request(USER, "GET", f"{base}/moved/sub/inside.txt")[0] == 200
    assert dav.request(USER, "GET", f"{base}/Copy%20Dir/sp%20ace%20%C3%BC.txt")[0] == 404
    status, _, body = dav.request(USER, "PUT", f"{base}/moved/sub/other.txt", b"x",
                                  {"Content-Type": "text/plain"})
    assert status == 423 and b"lock-token-submitted" in body
    # A new cadaver session knows no token: `discover` shows the lock, `unlock` by its token
    # is what a user does next; here the lock is left and RMCOL is refused, 423.
    out = cadaver(f"{dav.base}{base}/", ["discover moved", "rmcol moved"], home, USER)
    assert "Lock token <" in out and "Depth infinity" in out, out
    assert dav.request(USER, "GET", f"{base}/moved/sub/inside.txt")[0] == 200
