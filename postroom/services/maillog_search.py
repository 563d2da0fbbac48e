"""Searching the mail log (obs/maillog.py) by address, queue id or Message-ID, for WebAdmin.

The mail log is the ``postroom.mail`` logger's lines in the log file (``log.file``; its
rotated copy ``log.file.1`` is read after it), in either format the server writes
(obs/log.py): ``key=value`` text, where a value with a space or a quote is JSON-quoted, or one
JSON object per line. Design:

- **Newest first, bounded.** The file is read backwards in blocks, so the recent mail an
  administrator asks about is found first; a search stops after ``max_bytes`` octets or
  ``max_lines`` lines (both configurable) and says so, so a large log never makes the page
  slow or the server read gigabytes for one question.
- **Grouped by queue id.** A message's trail is its ``smtp accept`` line and one outcome line
  per recipient (``delivered``, ``sent``, ``deferred``, ``bounced``), all carrying its queue
  id; a Message-ID appears only on the accept line, an address on some lines only. So a
  search is two passes over the same window: the first finds the lines that match and notes
  their queue ids (at most ``max_results`` of them); the second collects every line of those
  queue ids, stopping once each trail's ``smtp accept`` (its oldest line) is found. A refusal
  (``smtp reject``) has no queue id and is a result of its own.
- **Cheap filter first.** A line is parsed only when the query's text occurs in it (compared
  in lower case), so most lines of a large log cost one substring test.
- **Who may search:** global administrators (the log holds every domain's mail).

The file is read in a worker thread; nothing here writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from postroom.config_web import WebOperationsConfig
from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError, invalid

QueryKind = Literal["auto", "address", "queue", "msgid"]
KINDS: tuple[QueryKind, ...] = ("auto", "address", "queue", "msgid")
LOGGER = "postroom.mail"
BLOCK = 64 * 1024
MAX_LINE = 64 * 1024  # longer lines are not the mail log's (it writes short lines); skipped
MAX_QUERY = 998  # RFC 5322 §2.1.1: no header line, so no Message-ID, is longer
_TEXT_HEAD = re.compile(r"^(\S+Z) (\w+) (\S+) conn=(\S*) ")
_QUEUE_ID = re.compile(rb'queue_id(?:=|": )(\d{1,18})')  # text and JSON formats
_PAIR = re.compile(r'(?:^| )([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)')


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One mail-log line: when, which connection, what happened, and its fields."""

    at: str  # as written: ISO 8601 UTC (text) or Unix seconds (JSON)
    conn: str
    event: str  # "smtp accept", "delivered", "smtp reject", …
    fields: Mapping[str, str]

    @property
    def queue_id(self) -> int | None:
        value = self.fields.get("queue_id", "")
        return int(value) if value.isdigit() else None


@dataclass(frozen=True, slots=True)
class MailTrail:
    """What the log says about one queued message (or one refusal), oldest line first."""

    queue_id: int | None
    entries: tuple[LogEntry, ...]

    @property
    def message_id(self) -> str:
        for e in self.entries:
            if e.fields.get("msgid", "-") != "-":
                return e.fields["msgid"]
        return ""


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    kind: QueryKind
    trails: tuple[MailTrail, ...]
    lines_read: int
    bytes_read: int
    complete: bool  # every line of the log files was read (nothing older was left unread)
    truncated: bool  # more matches may exist: max_results was reached
    note: str = ""  # why nothing could be searched (no log file, unreadable)


@dataclass(slots=True)
class _Budget:
    max_bytes: int
    max_lines: int
    bytes: int = 0
    lines: int = 0
    cut: bool = False  # a limit ended the reading before the oldest line

    def take(self, size: int) -> int:
        """How much of ``size`` octets may still be read."""
        allowed = max(0, min(size, self.max_bytes - self.bytes))
        self.bytes += allowed
        if allowed < size:
            self.cut = True
        return allowed


def _reverse_lines(path: Path, budget: _Budget) -> Iterator[bytes]:
    """The file's complete lines, last first, within the budget."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        pos = fh.tell()
        rest = b""
        skipping = False  # inside a line too long to be ours, reading back to its start
        while pos > 0:
            size = budget.take(min(BLOCK, pos))
            if size == 0:
                return
            pos -= size
            fh.seek(pos)
            lines = (fh.read(size) + rest).split(b"\n")
            if skipping:
                if len(lines) == 1:  # no line start in this block either
                    rest = b""
                    continue
                lines[-1] = b""  # the huge line's head: dropped, not yielded as a line
                skipping = False
            rest = lines[0]
            for line in reversed(lines[1:]):
                if line:
                    if budget.lines >= budget.max_lines:
                        budget.cut = True
                        return
                    budget.lines += 1
                    yield line
            if len(rest) > MAX_LINE:  # one huge line: not ours; skip to its start
                rest = b""
                skipping = True
        if rest:
            budget.lines += 1
            yield rest


def parse_line(line: bytes) -> LogEntry | None:
    """A mail-log entry from one line of either format, or None for any other line."""
    if len(line) > MAX_LINE:
        return None
    text = line.decode("utf-8", "replace").rstrip("\r")
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("logger") != LOGGER:
            return None
        fields = {str(k): str(v) for k, v in data.items()
                  if k not in ("ts", "level", "logger", "conn", "msg")}
        return LogEntry(str(data.get("ts", "")), str(data.get("conn", "-")),
                        str(data.get("msg", "")), fields)
    head = _TEXT_HEAD.match(text)
    if head is None or head.group(3) != LOGGER:
        return None
    body = text[head.end():]
    first = _PAIR.search(body)
    event = (body[:first.start()] if first else body).strip()
    pairs: dict[str, str] = {}
    for m in _PAIR.finditer(body, first.start() if first else len(body)):
        value = m.group(2)
        if value.startswith('"'):
            with contextlib.suppress(ValueError):  # a value cut by a crash: shown as is
                value = str(json.loads(value))
        pairs[m.group(1)] = value
    return LogEntry(head.group(1), head.group(4), event, pairs)


def _angle(text: str) -> str:
    text = text.strip()
    return text if text.startswith("<") else f"<{text}>"


def classify(query: str, kind: QueryKind) -> QueryKind:
    """What ``auto`` means for this query: digits are a queue id; otherwise an address or a
    Message-ID (both look like local@domain), and either may match."""
    if kind != "auto":
        return kind
    return "queue" if query.isdigit() else "auto"


class _Matcher:
    def __init__(self, query: str, kind: QueryKind) -> None:
        self.kind = kind
        self.query = query
        if kind == "queue":
            self.needle = f"queue_id={query}".encode()
            self.json_needle = f'"queue_id": {query}'.encode()
        else:
            self.needle = query.strip("<>").lower().encode()
            self.json_needle = self.needle
        self.address = _angle(query).lower()
        self.msgid = _angle(query)

    def may_match(self, line: bytes) -> bool:
        if self.kind == "queue":
            return self.needle in line or self.json_needle in line
        return self.needle in line.lower()

    def matches(self, entry: LogEntry) -> bool:
        f = entry.fields
        if self.kind == "queue":
            return f.get("queue_id") == self.query
        hit = False
        if self.kind in ("address", "auto"):
            for key in ("from", "to"):
                if self.address in f.get(key, "").lower().split(","):
                    hit = True
        if self.kind in ("msgid", "auto"):
            hit = hit or f.get("msgid") == self.msgid
        return hit


class MailLogSearch:
    def __init__(self, file: str, *, max_bytes: int = 64 << 20, max_lines: int = 500_000,
                 max_results: int = 100) -> None:
        self.file = file
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.max_results = max_results

    def configure(self, file: str, limits: WebOperationsConfig) -> None:
        """Take the log file and the limits from the configuration (at start and reload)."""
        self.file = file
        self.max_bytes = limits.maillog_max_bytes
        self.max_lines = limits.maillog_max_lines
        self.max_results = limits.maillog_max_results

    def _paths(self) -> list[Path]:
        base = Path(self.file)
        return [p for p in (base, base.with_name(base.name + ".1")) if p.is_file()]

    async def search(self, actor: Actor, query: str, kind: QueryKind = "auto",
                     ) -> SearchResult:
        p = actor.principal
        if not (p.system or p.global_admin):
            raise MailError(Kind.NO_PERM, "the mail log is for global administrators")
        query = query.strip()
        if kind not in KINDS:
            raise invalid(f"search by one of: {', '.join(KINDS)}")
        if not query:
            raise invalid("give an address, a queue id or a Message-ID to search for")
        if len(query) > MAX_QUERY or not query.isprintable():
            raise invalid(f"a search is at most {MAX_QUERY} printable characters")
        kind = classify(query, kind)
        if kind == "queue" and not query.isdigit():
            raise invalid(f"{query!r}: a queue id is a number")
        if kind == "address" and "@" not in query:
            raise invalid(f"{query!r}: an address is local@domain")
        if not self.file:
            return SearchResult(query, kind, (), 0, 0, True, False,
                                "the log goes to standard error (log.file is empty): set "
                                "log.file to search the mail log here")
        try:
            return await asyncio.to_thread(self._search, query, kind)
        except OSError as exc:
            return SearchResult(query, kind, (), 0, 0, False, False,
                                f"cannot read the log file: {exc.strerror or exc}")

    def _lines(self, budget: _Budget) -> Iterator[bytes]:
        paths = self._paths()
        for path in paths:
            yield from _reverse_lines(path, budget)
            if budget.cut:
                return

    def _search(self, query: str, kind: QueryKind) -> SearchResult:
        matcher = _Matcher(query, kind)
        # pass 1: which queue ids (and which refusals) match, newest first
        budget = _Budget(self.max_bytes, self.max_lines)
        found: list[int | LogEntry] = []  # a queue id, or a refusal (no queue id), newest first
        ids: list[int] = []
        before_queue: list[LogEntry] = []  # matching lines of a session before its queue id
        truncated = False
        for line in self._lines(budget):
            if not matcher.may_match(line):
                continue
            entry = parse_line(line)
            if entry is None or not matcher.matches(entry):
                continue
            qid = entry.queue_id
            if qid is None and entry.event != "smtp reject" and entry.conn != "-":
                if len(before_queue) >= self.max_results:  # bounded like the results
                    truncated = True
                    continue
                before_queue.append(entry)  # e.g. "dkim sign": joins its message's trail
                continue
            if qid is None:
                found.append(entry)
            elif qid not in ids:
                ids.append(qid)
                found.append(qid)
            if len(found) >= self.max_results:
                truncated = True
                break
        # pass 2: every line of those queue ids, until each trail's first line is found
        lines_by_id: dict[int, list[LogEntry]] = {qid: [] for qid in ids}
        started: set[int] = set()
        second = _Budget(self.max_bytes, self.max_lines)
        if ids:
            for line in self._lines(second):
                found_id = _QUEUE_ID.search(line)  # one scan per line, whatever len(ids)
                if found_id is None or int(found_id.group(1)) not in lines_by_id:
                    continue
                entry = parse_line(line)
                if entry is None or entry.queue_id not in lines_by_id:
                    continue
                qid = entry.queue_id
                assert qid is not None
                lines_by_id[qid].append(entry)
                if entry.event == "smtp accept":
                    started.add(qid)
                    if len(started) == len(ids):
                        break
        # a line written during the SMTP session before the message had a queue id (a DKIM
        # signing decision) joins the trail accepted on the same connection, else stands alone
        trails: list[MailTrail] = []
        for item in found:
            if isinstance(item, LogEntry):
                trails.append(MailTrail(None, (item,)))
                continue
            entries = list(reversed(lines_by_id[item]))
            conns = {e.conn for e in entries if e.event == "smtp accept"}
            early = [e for e in before_queue if e.conn in conns]
            before_queue = [e for e in before_queue if e.conn not in conns]
            trails.append(MailTrail(item, tuple(reversed(early)) + tuple(entries)))
        trails += [MailTrail(None, (e,)) for e in before_queue]
        return SearchResult(query, kind, tuple(trails), budget.lines,
                            budget.bytes, not budget.cut and not truncated, truncated)

