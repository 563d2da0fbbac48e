"""The delivery-time MIME scan over a stream: ``scan`` + ``searchable`` in bounded memory.

Why: ``scan(data)`` and ``searchable(data, info)`` need the whole message in memory, and local
delivery runs them on messages of up to 50 MB, many at a time. ``StreamScanner`` takes the
message in chunks (``feed``) and returns, from ``finish``, exactly what
``(scan(data), searchable(data, scan(data)))`` returns for the concatenated input: the same
``MessageInfo`` and ``Part`` objects, offsets, ``lines``, envelopes and search text, except past
the caps below.

Design. The scanner keeps a stack of frames, outermost first: multiparts, embedded messages
(message/rfc822 and message/global), and on top either a header block being read or a leaf body.
A cursor ``pos`` only moves forward; every byte before it is decided. Each step works out
``bound``, the earliest place where the range of the top frame may end:

* every open multipart on the stack, outermost first, looks for its next delimiter line
  (RFC 2046 §5.1.1) between ``pos`` and the bound left by the multiparts outside it, exactly as
  ``scan`` searches a part's range with ``endpos`` at the range end. Outer delimiters thereby
  win: an inner search never looks past an outer delimiter, and ``$`` matches there;
* a match is *final* when it consumed its line break, or when the bound it was searched against
  is a real range end (an outer delimiter, or the end of input); then it is a cut, and the frames
  inside that multipart end at the match start. A match that ended by ``$`` at the end of the
  data seen so far is *tentative* (more padding, a line break or other bytes may follow), and
  nothing at or after its start is decided yet;
* the header block on top looks for its blank line (``split_header``'s rules) before the bound;
  leaf bodies, preambles and epilogues just move ``pos`` up to the bound.

Straddling chunks: a delimiter line or blank line split across chunks is never matched in part.
A search stops short of the data's end by a margin (the length of ``CRLF--boundary--``, or three
bytes for a blank line) and also leaves out a trailing CR whose LF may be next; only what lies
before that point is consumed, and the undecided tail (plus the one byte before ``pos``, which
``^`` looks at) is carried into the next ``feed``. Searches run over whole chunks with
``bytes.find`` for the literal ``--boundary`` and only then try the delimiter regex at the (at
most three) places a match can start, so skipping a large base64 body runs at ``find`` speed;
a blank line is found the same way (``find`` LF LF and LF CR LF, then the regex there); line
counts are ``bytes.count`` over the consumed span, against one running total. No Python loop
runs per line or per byte of a body.

Memory: the carried tail, the header block of the one part whose header is being read, and the
raw body of the one text leaf being read; each is capped, so use is bounded independent of the
message size. The caps are the only places the result may differ from ``scan``/``searchable``;
below them it is the same:

* ``HEADER_CAP`` (256 KiB, 2.5 times Postfix's default ``header_size_limit``): only the lines
  of a header block that end within its first ``HEADER_CAP`` bytes are parsed (content type,
  envelope, search header text). Offsets stay exact: the blank line is still found past it.
* ``TEXT_CAP`` (2 MiB, two raw bytes per indexed character: enough for 7bit, quoted-printable
  or base64 Latin text to fill ``MAX_BODY_TEXT``): of a text/* leaf only the first
  ``TEXT_CAP`` raw bytes are decoded for the search text. Past it the text may differ: less
  of a part that needs more bytes per character, and whole-part effects (a non-UTF-8 byte later
  on switches ``to_text`` to Latin-1, a base64 quantum or an HTML tag cut at the cap).
* ``PADDING_CAP`` (64 KiB): a delimiter line whose transport padding (the blanks after
  ``--boundary``) is longer is not taken as a delimiter, so the carried tail stays bounded.

The carried tail is at most a delimiter line: the longest open boundary (within ``HEADER_CAP``)
plus ``PADDING_CAP`` plus a few bytes. Decoding the text of a leaf at its end briefly takes a
few times ``TEXT_CAP`` more (``leaf_text``; HTML tag stripping most, about ten bytes per raw
byte).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from postroom.mime.scanner import (
    _HEADER_END,
    MAX_PARTS,
    MessageInfo,
    Part,
    _first,
    child_type,
    delimiter,
    empty_part,
    envelope,
    nesting,
    parse_headers,
    part_from_headers,
)
from postroom.mime.text import MAX_BODY_TEXT, header_text, leaf_text

HEADER_CAP = 256 * 1024
TEXT_CAP = 2 * MAX_BODY_TEXT
PADDING_CAP = 64 * 1024
CHUNK = 256 * 1024

_CR, _LF = 13, 10
_BLANK_MARGIN = 3  # a blank line is at most CRLF CRLF: its start is within 3 bytes of the end
_BLANK_WINDOW = 8192  # most header blocks end within this: look there before looking further


class _Header:
    """A part whose header block is being read."""

    __slots__ = ("begun", "buf", "default", "depth", "full", "start")

    def __init__(self, start: int, depth: int, default: tuple[str, str]) -> None:
        self.start = start
        self.depth = depth
        self.default = default
        self.buf = bytearray()
        self.full = False  # HEADER_CAP reached: later bytes are not kept
        self.begun = False  # the "no header at all" rule of split_header is settled


class _Leaf:
    """A body read as a whole: text/* (lines counted, raw kept for the index) or opaque."""

    __slots__ = ("nl0", "part", "raw")

    def __init__(self, part: Part, nl0: int | None, raw: bytearray | None) -> None:
        self.part = part
        self.nl0 = nl0  # newlines before body_start, for text parts
        self.raw = raw  # raw body while the index still wants text from this part


class _Message:
    """message/rfc822 or message/global: one embedded message fills the body."""

    __slots__ = ("nl0", "part")

    def __init__(self, part: Part, nl0: int) -> None:
        self.part = part
        self.nl0 = nl0


class _Multipart:
    """A multipart and the search for its delimiter lines."""

    __slots__ = ("child_default", "clean", "delim", "depth", "found", "margin", "memo", "open",
                 "part", "pattern")

    def __init__(self, part: Part, depth: int) -> None:
        self.part = part
        self.depth = depth
        self.delim, self.pattern = delimiter(part.params["boundary"])
        # The longest undecided delimiter prefix at the data's end: CRLF "--boundary" "-".
        self.margin = len(self.delim) + 4
        self.child_default = child_type(part)
        self.open = True  # False after the close delimiter or at MAX_PARTS: no more body parts
        self.clean = part.body_start  # no delimiter line starts before this
        self.found: tuple[int, int, bool] | None = None  # final match: start, end, is close
        self.memo: tuple[tuple[int, int, bool], tuple[int, int]] | None = None


_Frame = _Header | _Leaf | _Message | _Multipart
_Cut = tuple[_Multipart, tuple[int, int, bool]]

_NONE, _TENTATIVE, _FOUND = 0, 1, 2


class StreamScanner:
    """Feed a message in chunks, then ``finish()``: ``(MessageInfo, (header_text, body_text))``
    equal to ``scan`` and ``searchable`` of the concatenated chunks (within the caps)."""

    def __init__(self, *, header_cap: int = HEADER_CAP, text_cap: int = TEXT_CAP,
                 padding_cap: int = PADDING_CAP) -> None:
        self._header_cap = header_cap
        self._text_cap = text_cap
        self._padding_cap = padding_cap
        self._buf = b""  # data[off:off + len(buf)]: from the byte before pos to what was fed
        self._off = 0
        self._pos = 0  # every byte before this is decided
        self._nl = 0  # b"\n" in data[:pos]
        self._stack: list[_Frame] = [_Header(0, 0, ("text", "plain"))]
        self._parts = 1  # parts begun, as scan counts them for MAX_PARTS
        self._root: Part | None = None
        self._envelope: list[Any] = []
        self._references: str | None = None
        self._header_text = ""
        self._texts: list[str] = []
        self._size = 0  # characters in _texts
        self._result: tuple[MessageInfo, tuple[str, str]] | None = None

    def feed(self, chunk: bytes) -> None:
        """The next bytes of the message; chunks may split it anywhere, and may be empty."""
        if self._result is not None:
            raise ValueError("feed() after finish()")
        if not chunk:
            return
        self._buf += chunk
        self._run(eof=False)
        # Keep only the undecided tail and the byte before pos (``^`` looks at it).
        keep = max(0, self._pos - 1 - self._off)
        if keep:
            self._buf = self._buf[keep:]
            self._off += keep

    def finish(self) -> tuple[MessageInfo, tuple[str, str]]:
        """End of input: ``(scan(data), searchable(data, scan(data)))``. Idempotent."""
        if self._result is None:
            self._run(eof=True)
            self._buf = b""
            assert self._root is not None
            env = self._envelope
            info = MessageInfo(env, self._root, env[0], self._references)
            self._result = (info, (self._header_text, "\n".join(self._texts)))
        return self._result

    # -- the step loop ---------------------------------------------------------------------

    def _run(self, eof: bool) -> None:
        while True:
            bound, final, cut = self._bound(eof)
            if self._advance(bound, final):
                continue
            if not final:
                return  # wait for more data
            assert self._pos == bound
            if cut is None:  # the end of the input ends every frame
                while self._stack:
                    self._finalize(self._stack.pop(), self._pos)
                return
            self._cut(*cut)

    def _bound(self, eof: bool) -> tuple[int, bool, _Cut | None]:
        """(bound, final, cut): nothing before ``bound`` ends the top frame's range; ``final``
        when ``bound`` is a real range end, by ``cut`` (a delimiter) or by the end of input."""
        bound = self._off + len(self._buf)
        final = eof
        cut: _Cut | None = None
        for frame in self._stack:
            if not isinstance(frame, _Multipart) or not frame.open:
                continue
            kind, at = self._search(frame, bound, final)
            assert at <= bound  # an inner range never reaches past an outer delimiter
            if kind == _FOUND:
                assert frame.found is not None
                bound, final, cut = at, True, (frame, frame.found)
            elif kind == _TENTATIVE:
                bound, final, cut = at, False, None
            elif not final:
                bound = at
        return bound, final, cut

    def _eff(self, end: int) -> int:
        """Search end for a bound that is not a range end: leave out a trailing CR, whose LF
        may come next and make a line break that ``\\r?\\n`` would take."""
        if end > self._pos and self._buf[end - 1 - self._off] == _CR:
            return end - 1
        return end

    def _search(self, level: _Multipart, end: int, final: bool) -> tuple[int, int]:
        """Next delimiter line of ``level`` in [pos, end): (_FOUND, start) — stored in
        ``level.found`` —, (_TENTATIVE, start), or (_NONE, safe) with no delimiter line
        starting before ``safe`` for certain."""
        if level.found is not None:
            return _FOUND, level.found[0]
        eb = end if final else self._eff(end)
        start = max(self._pos, level.clean)
        key = (start, end, final)
        if level.memo is not None and level.memo[0] == key:
            return level.memo[1]
        buf, off, delim, pattern = self._buf, self._off, level.delim, level.pattern
        lo = start  # lowest start not tried yet
        while True:
            o = buf.find(delim, lo - off, eb - off)
            if o < 0:
                break
            o += off
            m = None
            # RFC 2046 §5.1.1: the delimiter follows CRLF (LF accepted) or starts the range
            # after a line break, so a match starts at most 2 bytes before "--boundary".
            for j in range(max(lo, o - 2), o + 1):
                m = pattern.match(buf, j - off, eb - off)
                if m:
                    break
            if m is None:
                lo = o + 1
                continue
            if m.end(2) - m.start(2) > self._padding_cap:
                lo = m.end(2) + off  # documented cap: too much padding, not a delimiter
                continue
            s = m.start() + off
            if m.group(3) or final:  # line break taken, or ``$`` at a real range end
                level.found = (s, m.end() + off, bool(m.group(1)))
                return _FOUND, s
            level.clean = s
            level.memo = (key, (_TENTATIVE, s))
            return level.memo[1]
        if final:
            level.clean = max(level.clean, eb)
            return _NONE, eb
        # Every start before eb - margin failed on bytes already here; later ones may not.
        safe = min(end, max(start, eb - level.margin))
        level.clean = max(level.clean, safe)
        level.memo = (key, (_NONE, safe))
        return _NONE, safe

    def _advance(self, bound: int, final: bool) -> bool:
        """Move the top frame as far towards ``bound`` as the data allows. True when a header
        block was opened: the frames changed, so the bound must be worked out again; False
        when ``pos`` went as far as it can (to ``bound`` when ``final``)."""
        top = self._stack[-1]
        if isinstance(top, _Header):
            return self._advance_header(top, bound, final)
        if self._pos < bound:
            self._consume(bound)
        return False

    def _advance_header(self, h: _Header, bound: int, final: bool) -> bool:
        pos, buf, off = self._pos, self._buf, self._off
        if not h.begun:
            # split_header: a part that starts with a line break has no header fields at all.
            if pos >= bound:
                if not final:
                    return False
                self._open_part(h, bound)
                return True
            c = buf[pos - off]
            if c == _LF:
                self._open_part(h, pos + 1)
                return True
            if c == _CR:
                if pos + 1 < bound:
                    if buf[pos + 1 - off] == _LF:
                        self._open_part(h, pos + 2)
                        return True
                elif final:
                    self._open_part(h, bound)
                    return True
                else:
                    return False
            h.begun = True
        eb = bound if final else self._eff(bound)
        end = _blank_line(buf, pos - off, eb - off)
        if end >= 0:
            self._open_part(h, end + off)
            return True
        if final:
            self._open_part(h, bound)
            return True
        if eb - _BLANK_MARGIN > pos:
            self._consume(eb - _BLANK_MARGIN)
        return False

    def _consume(self, to: int) -> None:
        """Decide data[pos:to] for the top frame: count its line ends, keep what it needs."""
        a, b = self._pos - self._off, to - self._off
        buf = self._buf
        self._nl += buf.count(b"\n", a, b)
        top = self._stack[-1]
        if isinstance(top, _Header):
            if not top.full:
                room = self._header_cap - len(top.buf)
                top.buf += buf[a:min(b, a + room)]
                top.full = b - a > room
        elif isinstance(top, _Leaf) and top.raw is not None:
            room = self._text_cap - len(top.raw)
            if room > 0:
                top.raw += buf[a:min(b, a + room)]
        self._pos = to

    # -- frame transitions -----------------------------------------------------------------

    def _open_part(self, h: _Header, body_start: int) -> None:
        """The header block of ``h`` ends at ``body_start``: describe the part, attach it to its
        parent and push what reads its body."""
        self._consume(body_start)
        raw = bytes(h.buf)
        if h.full:  # documented cap: only lines that end within HEADER_CAP are parsed
            raw = raw[:raw.rfind(b"\n") + 1]
        headers = parse_headers(raw)
        part = part_from_headers(h.start, body_start, body_start, headers, h.default)
        self._stack.pop()
        parent = self._stack[-1] if self._stack else None
        if parent is None:  # what finish() needs of the message header; not the fields
            self._root = part
            self._envelope = envelope(headers)
            self._references = _first(headers, "references")
            self._header_text = header_text(headers)
        elif isinstance(parent, _Multipart):
            parent.part.children.append(part)
        elif isinstance(parent, _Message):
            parent.part.message = part
            parent.part.envelope = envelope(headers)
        kind = nesting(part, h.depth, self._parts)
        if kind == "multipart":
            self._stack.append(_Multipart(part, h.depth))
        elif kind == "message":
            # The embedded message (RFC 2046 §5.2.1) spans the whole body: same range end.
            self._stack.append(_Message(part, self._nl))
            self._stack.append(_Header(body_start, h.depth + 1, ("text", "plain")))
            self._parts += 1
        elif part.mtype == "text":
            wanted = self._size < MAX_BODY_TEXT
            self._stack.append(_Leaf(part, self._nl, bytearray() if wanted else None))
        else:
            self._stack.append(_Leaf(part, None, None))

    def _cut(self, level: _Multipart, match: tuple[int, int, bool]) -> None:
        """A delimiter line of ``level`` at [start, end): the body part before it ends at its
        start (RFC 2046 §5.1.1: the CRLF before the boundary belongs to the delimiter)."""
        start, end, closing = match
        while self._stack[-1] is not level:
            self._finalize(self._stack.pop(), start)
        level.found = None
        level.memo = None
        level.clean = end
        self._consume(end)
        if closing or self._parts >= MAX_PARTS:
            # After the close delimiter only the epilogue follows; nothing in it is searched.
            level.open = False
        else:
            self._stack.append(_Header(end, level.depth + 1, level.child_default))
            self._parts += 1

    def _finalize(self, frame: _Frame, end: int) -> None:
        """``frame``'s range ends at ``end`` (== pos)."""
        if isinstance(frame, _Header):  # _advance opens every header before a range ends
            raise AssertionError("header block still open at a range end")
        part = frame.part
        part.body_end = end
        if isinstance(frame, _Leaf):
            if frame.nl0 is not None:
                part.lines = self._lines(frame.nl0, part.body_start, end)
            if part.mtype == "text":
                self._add_text(part, frame.raw)
        elif isinstance(frame, _Message):
            part.lines = self._lines(frame.nl0, part.body_start, end)
        elif not part.children:  # as scan: a multipart without body parts gets an empty one
            empty = empty_part(part.body_start)
            part.children.append(empty)
            self._add_text(empty, bytearray())

    def _lines(self, nl0: int, start: int, end: int) -> int:
        """scanner._count_lines over [start, end), from the running count (pos == end)."""
        last = self._buf[end - 1 - self._off] if end > start else _LF
        return self._nl - nl0 + (1 if last != _LF else 0)

    def _add_text(self, part: Part, raw: bytearray | None) -> None:
        """The next text leaf in document order, as searchable() walks them."""
        if self._size >= MAX_BODY_TEXT:
            return
        assert raw is not None  # kept whenever the budget was open at the leaf's start
        body = bytes(raw)
        raw.clear()
        # leaf_text undoes the transfer encoding (RFC 2045 §6.7, §6.8) and the charset.
        text = leaf_text(body, part)[:MAX_BODY_TEXT - self._size]
        self._texts.append(text)
        self._size += len(text)


def _blank_line(buf: bytes, a: int, b: int) -> int:
    """End of the first blank line (``scanner._HEADER_END``) in buf[a:b], or -1.

    The regex is slow over long spans, so first ``find`` its core, LF [CR] LF, which every match
    holds at its start or one byte in (after a CR); then the regex from there. The core is
    looked for in a short window first so that a CRLF message never scans far for LF LF."""
    lo, hi = a, min(b, a + _BLANK_WINDOW)
    while lo < b:
        cores = [i for i in (buf.find(b"\n\n", lo, hi), buf.find(b"\n\r\n", lo, hi)) if i >= 0]
        if cores:
            m = _HEADER_END.search(buf, max(a, min(cores) - 1), b)
            assert m is not None
            return m.end()
        if hi >= b:
            break
        lo, hi = hi - 2, b  # a core may straddle the window's end
    return -1


def scan_stream(chunks: Iterable[bytes], **caps: int) -> tuple[MessageInfo, tuple[str, str]]:
    """``StreamScanner`` over an iterable of chunks."""
    scanner = StreamScanner(**caps)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()


def describe_stream(fh: BinaryIO, chunk: int = CHUNK) -> tuple[str, tuple[str, str]]:
    """What ``postroom.services.messages.describe`` returns, read from ``fh`` in chunks:
    (the scan as JSON, (header text, body text))."""
    scanner = StreamScanner()
    while data := fh.read(chunk):
        scanner.feed(data)
    info, text = scanner.finish()
    return info.to_json(), text
