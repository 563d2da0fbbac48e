"""Compose sessions every node of a cluster sees: the database holds them, local files only
cache attachment bytes (docs/cluster.md "Per-node state").

No sticky sessions are promised: a browser may open a message on one node, upload an
attachment through a second and send from a third. ``SharedStaging`` keeps
compose_staging.py's interface (the composer calls it from worker threads, as it does the
file version) and keeps the truth in the ``compose_sessions`` / ``compose_parts`` /
``compose_chunks`` tables (store/repo/compose.py, migration 0026):

- the form's state is a row, written at each step (one UPDATE);
- an upload streams to a local file ``<aid>.upload`` first (the size limits are checked as its
  bytes arrive, as before), then goes into the database in one transaction with its part row
  (rows of 1 MiB), and only then does any node list it; the local file becomes this node's
  cached copy ``<aid>.part``;
- a node that lists an attachment it has no copy of fetches it once, row by row, into its
  cache (``<cache>/<account>/<cid>/<aid>.part``), because building the message reads files;
  attachments never change once complete, so a cached copy is never stale. Losing the cache
  loses nothing;
- a send is fenced in the database (``sending_until``), so a double click reaching two nodes
  sends once: the second answers ``IN_USE`` while the first runs, then NOT_FOUND (the session
  is gone once sent);
- the janitor's sweep deletes sessions untouched for ``upload_keep_seconds`` (every node runs
  it: two deleting the same stale rows at once is harmless) and empties this node's cache of
  what nobody touched for as long.

Bounds that stay per node: ``max_staged_size`` counts what the database holds plus the uploads
arriving at *this* node (uploads in flight on another node are counted there).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from pathlib import Path

import msgspec

from postroom.core.errors import Kind, MailError
from postroom.services.webmail.compose_staging import (
    AID,
    CID,
    FILE_MODE,
    Staged,
    Staging,
    State,
    _mkdir,
    missing,
)
from postroom.store.repo.compose import ComposeRepo, PartRow

UPLOADING = ".upload"  # an upload still arriving at this node
SEND_FENCE = 300  # seconds a send holds its session against another node's send of it

_state_decode = msgspec.json.Decoder(State)


class SharedStaging(Staging):
    def __init__(self, cache: Path, keep_seconds: float, max_sessions: int,
                 repo: ComposeRepo) -> None:
        super().__init__(cache, keep_seconds, max_sessions)
        self.repo = repo

    def _cache_dir(self, account: int, cid: str) -> Path:
        path = self._account_dir(account) / cid
        with self._tree:
            _mkdir(self.root)
            _mkdir(self._account_dir(account))
            _mkdir(path)
        return path

    # -- sessions ---------------------------------------------------------------------------
    def usage(self, account: int) -> int:
        return self.repo.usage(account)

    def dir(self, account: int, cid: str) -> Path:
        """This node's cache directory of the session; NOT_FOUND unless the session is this
        account's and exists (in the database)."""
        if not CID.match(cid) or not self.repo.exists(account, cid):
            raise missing()
        return self._cache_dir(account, cid)

    def create(self, account: int, state: State) -> str:
        cid = secrets.token_urlsafe(18)
        state.created = time.time()
        self.repo.create(account, cid, msgspec.json.encode(state), int(state.created),
                         self.max_sessions)
        return cid

    def load(self, account: int, cid: str) -> State:
        data = self.repo.state(account, cid) if CID.match(cid) else None
        if data is None:
            raise missing()
        try:
            return _state_decode.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise missing() from None

    def save(self, account: int, cid: str, state: State) -> None:
        if not CID.match(cid) or not self.repo.save(account, cid, msgspec.json.encode(state),
                                                    int(time.time())):
            raise missing()

    def remove(self, account: int, cid: str) -> None:
        if CID.match(cid):
            self.repo.remove(account, cid)
            shutil.rmtree(self._account_dir(account) / cid, ignore_errors=True)

    # -- attachments ------------------------------------------------------------------------
    def attachments(self, account: int, cid: str) -> list[Staged]:
        rows = self.repo.parts(account, cid) if CID.match(cid) else None
        if rows is None:
            raise missing()
        if not rows:
            return []
        path = self._cache_dir(account, cid)
        out = []
        for row in rows:
            part = path / f"{row.aid}.part"
            if not part.is_file():
                self._fetch(account, cid, row, part)
            out.append(Staged(row.aid, row.name, row.content_type, row.size, part))
        return out

    def _fetch(self, account: int, cid: str, row: PartRow, part: Path) -> None:
        """Copy an attachment another node received into this node's cache (complete, or
        not at all: written aside, then renamed)."""
        tmp = part.with_name(f"{row.aid}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as out:
                for block in self.repo.chunks(account, cid, row.aid):
                    out.write(block)
            os.replace(tmp, part)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def new_part(self, account: int, cid: str) -> tuple[str, Path]:
        path = self.dir(account, cid)
        aid = secrets.token_hex(8)
        part = path / f"{aid}{UPLOADING}"
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        return aid, part

    def finish_part(self, account: int, cid: str, aid: str, name: str, content_type: str,
                    size: int) -> Staged:
        """The upload is complete: into the database (then every node lists it), and the
        local file becomes this node's cached copy."""
        path = self._account_dir(account) / cid
        upload, part = path / f"{aid}{UPLOADING}", path / f"{aid}.part"
        row = PartRow(aid, name, content_type, size, time.time())
        try:
            with open(upload, "rb") as data:
                stored = self.repo.add_part(account, cid, row, data, int(time.time()))
        except BaseException:
            upload.unlink(missing_ok=True)
            raise
        if not stored:
            upload.unlink(missing_ok=True)
            raise missing()
        os.replace(upload, part)
        return Staged(aid, name, content_type, size, part)

    def drop_part(self, account: int, cid: str, aid: str) -> bool:
        if not CID.match(cid) or not AID.match(aid):
            return False
        if not self.repo.exists(account, cid):
            raise missing()
        gone = self.repo.drop_part(account, cid, aid, int(time.time()))
        (self._account_dir(account) / cid / f"{aid}.part").unlink(missing_ok=True)
        return gone

    def pending(self, account: int, cid: str) -> int:
        """Complete attachments (anywhere) and uploads arriving at this node."""
        rows = self.repo.parts(account, cid) if CID.match(cid) else None
        if rows is None:
            raise missing()
        local = self._account_dir(account) / cid
        arriving = len(list(local.glob(f"*{UPLOADING}"))) if local.is_dir() else 0
        return len(rows) + arriving

    # -- sending ----------------------------------------------------------------------------
    def claim_send(self, account: int, cid: str) -> None:
        claimed = self.repo.claim_send(account, cid, int(time.time()), SEND_FENCE) \
            if CID.match(cid) else None
        if claimed is None:
            raise missing()
        if not claimed:
            raise MailError(Kind.IN_USE, "this message is being sent already")

    def release_send(self, account: int, cid: str) -> None:
        if CID.match(cid):
            self.repo.release_send(account, cid)

    # -- the janitor ------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        limit = (time.time() if now is None else now) - self.keep_seconds
        removed = self.repo.sweep(int(limit))
        if self.root.is_dir():  # this node's cache: rebuilt on demand, so age alone decides
            for account in self.root.iterdir():
                if not account.is_dir():
                    continue
                for session in account.iterdir():
                    with contextlib.suppress(OSError):
                        if session.stat().st_mtime < limit:
                            shutil.rmtree(session, ignore_errors=True)
                with self._tree, contextlib.suppress(OSError):
                    account.rmdir()  # only when empty
        return removed


__all__ = ["SEND_FENCE", "SharedStaging"]
