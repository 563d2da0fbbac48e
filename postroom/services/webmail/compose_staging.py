"""Messages being written, staged on disk: one directory per compose session.

A compose session is named by a ``cid``: 24 random URL-safe characters (144 bits), so it
cannot be guessed, and it lives under the account that opened it::

    <data>/webmail-uploads/<account id>/<cid>/state.json    what the form held last
                                              /<aid>.part   an attachment's bytes
                                              /<aid>.json   its name, type and size

The account id is part of the path, so another user's cid names a directory that does not
exist for this user: NOT_FOUND, the same as a cid that never existed. Directories are 0700 and
files 0600 (the umask does not matter: modes are set explicitly).

An attachment's ``.json`` is written only after its bytes are complete, so a listing never
shows a half-written upload; a ``.part`` without its ``.json`` (an interrupted upload) is
removed with the session. ``state.json`` is replaced atomically (write, rename). Nothing here
is fsynced: a staged session is a scratch copy. What the user *saves* goes to the Drafts folder
through the message services, which fsync (DESIGN.md rule 4).

Sessions are removed after send and discard, and by ``sweep`` (run by the Composer's janitor)
once untouched for ``upload_keep_seconds``; an account keeps at most ``max_sessions`` of them,
the least recently touched going first when another opens (a reload-happy user cannot fill
the disk with empty sessions).

All methods here block (file system): the Composer calls them in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from postroom.core.errors import Kind, MailError

CID = re.compile(r"^[A-Za-z0-9_-]{24}$")
AID = re.compile(r"^[0-9a-f]{16}$")
STATE = "state.json"
DIR_MODE = 0o700
FILE_MODE = 0o600


class Fields(msgspec.Struct, kw_only=True):
    """What the compose form holds: kept between requests, restored on every render."""

    identity: str = ""  # the From address chosen
    from_name: str = ""  # the display name shown with it
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""  # the text; with ``rich``, the editor's HTML (sanitised when used)
    rich: bool = False


class State(msgspec.Struct, kw_only=True):
    fields: Fields = msgspec.field(default_factory=Fields)
    in_reply_to: str = ""  # RFC 5322 §3.6.4, for a reply
    references: str = ""
    reply_to: tuple[int, int] | None = None  # (folder id, uid) to flag \Answered after send
    forward_of: tuple[int, int] | None = None  # ... $Forwarded (RFC 5550 §5.9)
    draft: tuple[int, int] | None = None  # (Drafts folder id, uid) of the saved version
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class Staged:
    """One staged attachment."""

    id: str
    name: str
    content_type: str
    size: int
    path: Path


class _Meta(msgspec.Struct):
    name: str
    content_type: str
    size: int
    added: float


_state_decode = msgspec.json.Decoder(State)
_meta_decode = msgspec.json.Decoder(_Meta)


def missing() -> MailError:
    """The one answer for a cid that is not this user's (never existed, expired, someone
    else's)."""
    return MailError(Kind.NOT_FOUND, "this message is no longer being written (it was sent, "
                     "discarded or has expired)")


class Staging:
    def __init__(self, root: Path, keep_seconds: float, max_sessions: int) -> None:
        self.root = root
        self.keep_seconds = keep_seconds
        self.max_sessions = max_sessions
        # ``sweep`` removes an account's directory once it is empty; ``create`` makes it
        # again: the two (both in worker threads) must not interleave.
        self._tree = threading.Lock()

    # -- sessions ---------------------------------------------------------------------------
    def _account_dir(self, account: int) -> Path:
        return self.root / str(int(account))

    def usage(self, account: int) -> int:
        """Octets staged on disk by ``account``: every file of every session it has, but
        the bytes of uploads still arriving (a ``.part`` without its ``.json``: the composer
        counts those as they arrive)."""
        base = self._account_dir(account)
        total = 0
        if base.is_dir():
            for path in base.rglob("*"):
                try:
                    if not path.is_file() or (path.suffix == ".part" and not
                                              path.with_suffix(".json").is_file()):
                        continue
                    total += path.stat().st_size
                except OSError:  # removed meanwhile (the janitor, a discard)
                    continue
        return total

    def dir(self, account: int, cid: str) -> Path:
        """The session's directory; NOT_FOUND unless it is this account's and exists."""
        if not CID.match(cid):
            raise missing()
        path = self._account_dir(account) / cid
        if not (path / STATE).is_file():
            raise missing()
        return path

    def create(self, account: int, state: State) -> str:
        """A new session holding ``state``; the oldest beyond ``max_sessions`` go."""
        with self._tree:
            _mkdir(self.root)
            base = self._account_dir(account)
            _mkdir(base)
            self._evict(base)
            cid = secrets.token_urlsafe(18)
            path = base / cid
            path.mkdir(mode=DIR_MODE)
            os.chmod(path, DIR_MODE)
            state.created = time.time()
            self._write_state(path, state)
        return cid

    def _evict(self, base: Path) -> None:
        sessions = []
        for entry in base.iterdir():
            try:
                sessions.append((entry.stat().st_mtime, entry))
            except OSError:
                continue
        sessions.sort()
        while len(sessions) >= self.max_sessions:
            _, oldest = sessions.pop(0)
            shutil.rmtree(oldest, ignore_errors=True)

    def load(self, account: int, cid: str) -> State:
        path = self.dir(account, cid)
        try:
            return _state_decode.decode((path / STATE).read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            raise missing() from None

    def save(self, account: int, cid: str, state: State) -> None:
        self._write_state(self.dir(account, cid), state)

    @staticmethod
    def _write_state(path: Path, state: State) -> None:
        tmp = path / (STATE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.encode(state))
        os.replace(tmp, path / STATE)
        os.utime(path)  # the session was used: the janitor measures from here

    def remove(self, account: int, cid: str) -> None:
        if CID.match(cid):
            shutil.rmtree(self._account_dir(account) / cid, ignore_errors=True)

    # -- attachments ------------------------------------------------------------------------
    def attachments(self, account: int, cid: str) -> list[Staged]:
        """The complete attachments, in the order they were added."""
        path = self.dir(account, cid)
        found: list[tuple[float, Staged]] = []
        for meta_file in path.glob("*.json"):
            aid = meta_file.stem
            if meta_file.name == STATE or not AID.match(aid):
                continue
            try:
                meta = _meta_decode.decode(meta_file.read_bytes())
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                continue
            found.append((meta.added, Staged(aid, meta.name, meta.content_type, meta.size,
                                             path / f"{aid}.part")))
        found.sort(key=lambda item: (item[0], item[1].id))
        return [staged for _, staged in found]

    def new_part(self, account: int, cid: str) -> tuple[str, Path]:
        """A fresh attachment id and the (0600) file its bytes go to."""
        path = self.dir(account, cid)
        aid = secrets.token_hex(8)
        part = path / f"{aid}.part"
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        return aid, part

    def finish_part(self, account: int, cid: str, aid: str, name: str, content_type: str,
                    size: int) -> Staged:
        """The attachment's bytes are complete: record it, so listings show it."""
        path = self.dir(account, cid)
        meta = path / f"{aid}.json"
        fd = os.open(meta, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.encode(_Meta(name, content_type, size, time.time())))
        os.utime(path)
        return Staged(aid, name, content_type, size, path / f"{aid}.part")

    def add_bytes(self, account: int, cid: str, name: str, content_type: str,
                  data: bytes) -> Staged:
        """An attachment whose bytes are at hand (a forwarded original's part)."""
        aid, part = self.new_part(account, cid)
        with open(part, "wb") as out:
            out.write(data)
        return self.finish_part(account, cid, aid, name, content_type, len(data))

    def drop_part(self, account: int, cid: str, aid: str) -> bool:
        """Remove one attachment; False when there is none by that id."""
        path = self.dir(account, cid)
        if not AID.match(aid) or not (path / f"{aid}.json").is_file():
            return False
        for suffix in (".json", ".part"):
            (path / f"{aid}{suffix}").unlink(missing_ok=True)
        return True

    def discard_part(self, part: Path) -> None:
        """An upload that failed half-way: its bytes go."""
        part.unlink(missing_ok=True)

    def pending(self, account: int, cid: str) -> int:
        """Attachments of the session, complete or still arriving (their ``.part`` files)."""
        return len(list(self.dir(account, cid).glob("*.part")))

    # -- sending ----------------------------------------------------------------------------
    def claim_send(self, account: int, cid: str) -> None:
        """Before a send: nothing to fence in one process (the composer's per-session lock
        serialises sends, and a sent session is gone). compose_shared.py fences across
        nodes."""
        self.dir(account, cid)

    def release_send(self, account: int, cid: str) -> None:
        """A send that failed: the session may be sent again."""

    # -- the janitor ------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Remove every session untouched for ``keep_seconds``; returns how many went."""
        if not self.root.is_dir():
            return 0
        limit = (time.time() if now is None else now) - self.keep_seconds
        removed = 0
        for account in self.root.iterdir():
            if not account.is_dir():
                continue
            for session in account.iterdir():
                try:
                    stale = session.stat().st_mtime < limit
                except OSError:
                    continue
                if stale:
                    shutil.rmtree(session, ignore_errors=True)
                    removed += 1
            with self._tree, contextlib.suppress(OSError):
                account.rmdir()  # only when empty
        return removed


def _mkdir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
