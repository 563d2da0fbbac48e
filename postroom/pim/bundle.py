"""Whole calendars and address books as one file (.ics, .vcf): split for import, join for
export, streaming so that a large file is never held twice.

Memory: ``split_*`` hold one item (plus the VTIMEZONEs seen so far, which are small and
capped by ``max_timezones``); ``join_*`` hold one item and the set of TZIDs already written.

Rules of the split:
- One calendar object per UID *run*: consecutive components with the same UID (a master
  and its overrides, as every exporter writes them) form one object. Components of a UID
  that reappears later are yielded as another object with that UID; the importer decides
  (merge or replace) — a streaming split cannot look ahead.
- Each object carries the VTIMEZONEs its TZID parameters name (those defined earlier in the
  stream; a TZID defined nowhere stays as it is, index_calendar reads IANA names).
- VERSION, PRODID and CALSCALE of the VCALENDAR are copied into each object; METHOD is not
  (RFC 4791 §4.1 forbids it in stored objects), nor calendar-wide X- properties.
- An item without UID gets ``UID:postroom-<hash of its content>``: deterministic, so importing
  the same file twice produces the same UIDs and no duplicates.
- Line ends become CRLF; folding is kept as written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator

from postroom.pim.model import CALDAV_NS, CARDDAV_NS, InvalidItem

_TZID = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)", re.IGNORECASE)
_KEEP_CAL_PROPS = ("VERSION", "PRODID", "CALSCALE")
MAX_ITEM = 10 * 1024 * 1024


def _lines(chunks: Iterable[bytes], ns: str, what: str,
           most: int = MAX_ITEM) -> Iterator[tuple[str, str]]:
    """Logical lines from a byte stream: (unfolded text, raw text with folds and CRLF)."""
    buf = b""
    pending: list[str] = []

    def flush() -> tuple[str, str] | None:
        if not pending:
            return None
        raw = "".join(p + "\r\n" for p in pending)
        flat = pending[0] + "".join(p[1:] for p in pending[1:])
        pending.clear()
        return flat, raw

    def physical(data: bytes) -> str:
        try:
            return data.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidItem((ns, f"valid-{what}-data"), "not UTF-8") from None

    first = True
    for chunk in chunks:
        buf += chunk
        if b"\n" not in chunk:  # no line ends yet: nothing to split (keeps long lines linear)
            if len(buf) > most:
                raise InvalidItem((ns, f"valid-{what}-data"), "a line longer than the limit")
            continue
        *complete, buf = buf.split(b"\n")
        for data in complete:
            line = physical(data)
            if first:
                line = line.removeprefix("\ufeff")
                first = False
            if line[:1] in (" ", "\t") and pending:
                pending.append(line)
                continue
            out = flush()
            if out is not None:
                yield out
            if line.strip():
                pending.append(line)
    if buf:
        line = physical(buf)
        if line[:1] in (" ", "\t") and pending:
            pending.append(line)
        else:
            out = flush()
            if out is not None:
                yield out
            if line.strip():
                pending.append(line)
    out = flush()
    if out is not None:
        yield out


def _kw(flat: str) -> tuple[str, str]:
    """(NAME upper, value upper-stripped) of a BEGIN/END/other line, cheaply."""
    colon = flat.find(":")
    if colon < 0:
        return flat.upper(), ""
    name = flat[:colon].split(";", 1)[0].upper()
    return name, flat[colon + 1:].strip().upper()


def _uid_of(lines: list[tuple[str, str]]) -> str | None:
    for flat, _ in lines:
        name, _ = _kw(flat)
        if name == "UID" and ":" in flat:
            return flat.split(":", 1)[1].strip() or None
    return None


def _with_uid(lines: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str]:
    """The component's lines and its UID, adding a content-hash UID when it has none."""
    uid = _uid_of(lines)
    if uid:
        return lines, uid
    digest = hashlib.sha256("".join(r for _, r in lines).encode()).hexdigest()[:32]
    uid = f"postroom-{digest}"
    return [lines[0], (f"UID:{uid}", f"UID:{uid}\r\n"), *lines[1:]], uid


def split_calendar(chunks: Iterable[bytes], *, max_item_size: int = MAX_ITEM,
                   max_timezones: int = 1000) -> Iterator[bytes]:
    """One calendar object resource per UID (with the VTIMEZONEs it uses) from a VCALENDAR
    stream; ``InvalidItem`` for a stream that is not iCalendar."""
    def bad(text: str) -> InvalidItem:
        return InvalidItem((CALDAV_NS, "valid-calendar-data"), text)

    timezones: dict[str, str] = {}
    head: list[str] = []
    group: list[list[tuple[str, str]]] = []
    group_uid: str | None = None
    comp: list[tuple[str, str]] = []
    size = 0
    depth = 0
    seen_calendar = False

    def emit() -> bytes:
        used: dict[str, None] = {}
        for c in group:
            for flat, _ in c:
                for m in _TZID.finditer(flat.split(":", 1)[0] if ":" in flat else flat):
                    used.setdefault(m.group(1).strip('"'), None)
        parts = ["BEGIN:VCALENDAR\r\n", *head]
        parts.extend(timezones[t] for t in used if t in timezones)
        for c in group:
            parts.extend(r for _, r in c)
        parts.append("END:VCALENDAR\r\n")
        return "".join(parts).encode()

    for flat, raw in _lines(chunks, CALDAV_NS, "calendar", max_item_size):
        name, val = _kw(flat)
        if depth == 0:
            if name == "BEGIN" and val == "VCALENDAR":
                depth, head, seen_calendar = 1, [], True
                continue
            raise bad(f"text outside BEGIN:VCALENDAR: {flat[:40]!r}")
        if depth == 1:
            if name == "END" and val == "VCALENDAR":
                if group:
                    yield emit()
                group, group_uid, depth = [], None, 0
                continue
            if name == "BEGIN":
                comp, size, depth = [(flat, raw)], len(raw), 2
                continue
            if name == "END":
                raise bad(f"END:{val[:20]} without BEGIN")
            if name in _KEEP_CAL_PROPS:
                head.append(raw)
            continue
        # inside a component
        comp.append((flat, raw))
        size += len(raw)
        if size > max_item_size:
            raise bad(f"a component larger than {max_item_size} bytes")
        if name == "BEGIN":
            depth += 1
            if depth > 8:
                raise bad("components nested too deeply")
        elif name == "END":
            depth -= 1
            if depth == 1:
                kind = _kw(comp[0][0])[1]
                if kind == "VTIMEZONE":
                    tzid = next((f.partition(":")[2].strip() for f, _ in comp
                                 if _kw(f)[0] == "TZID"), "")
                    if tzid and (tzid in timezones or len(timezones) < max_timezones):
                        timezones[tzid] = "".join(r for _, r in comp)
                    continue
                lines, uid = _with_uid(comp)
                if group and uid != group_uid:
                    yield emit()
                    group = []
                group.append(lines)
                group_uid = uid
    if depth != 0:
        raise bad("the stream ends inside a component")
    if not seen_calendar:
        raise bad("no BEGIN:VCALENDAR")


def join_calendar(objects: Iterable[bytes]) -> Iterator[bytes]:
    """One VCALENDAR from many objects, each VTIMEZONE once."""
    yield b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Postroom//export//EN\r\n"
    written: set[str] = set()
    for obj in objects:
        depth = 0
        comp: list[tuple[str, str]] = []
        out: list[str] = []
        for flat, raw in _lines([obj], CALDAV_NS, "calendar", len(obj) + 1):
            name = _kw(flat)[0]
            if name == "BEGIN":
                depth += 1
            if depth >= 2:
                comp.append((flat, raw))
            if name == "END":
                depth -= 1
                if depth == 1 and comp:
                    if _kw(comp[0][0])[1] == "VTIMEZONE":
                        tzid = next((f.partition(":")[2].strip() for f, _ in comp
                                     if _kw(f)[0] == "TZID"), "")
                        if tzid in written:
                            comp = []
                            continue
                        written.add(tzid)
                    out.extend(r for _, r in comp)
                    comp = []
        if out:
            yield "".join(out).encode()
    yield b"END:VCALENDAR\r\n"


def split_cards(chunks: Iterable[bytes], *, max_item_size: int = MAX_ITEM) -> Iterator[bytes]:
    """Each top-level vCard of a .vcf stream, CRLF line ends, a content-hash UID added to a
    card without one (after VERSION, RFC 6352 §5.1 needs it)."""
    def bad(text: str) -> InvalidItem:
        return InvalidItem((CARDDAV_NS, "valid-address-data"), text)

    depth = 0
    card: list[tuple[str, str]] = []
    size = 0
    seen = False
    for flat, raw in _lines(chunks, CARDDAV_NS, "address", max_item_size):
        name, val = _kw(flat)
        if depth == 0:
            if name == "BEGIN" and val == "VCARD":
                depth, card, size, seen = 1, [(flat, raw)], len(raw), True
                continue
            raise bad(f"text outside BEGIN:VCARD: {flat[:40]!r}")
        card.append((flat, raw))
        size += len(raw)
        if size > max_item_size:
            raise bad(f"a vCard larger than {max_item_size} bytes")
        if name == "BEGIN":
            depth += 1
            if depth > 4:
                raise bad("vCards nested too deeply")
        elif name == "END":
            depth -= 1
            if depth == 0:
                if _uid_of(card) is None:
                    digest = hashlib.sha256("".join(r for _, r in card).encode()).hexdigest()
                    at = next((i + 1 for i, (f, _) in enumerate(card)
                               if _kw(f)[0] == "VERSION"), 1)
                    card.insert(at, ("", f"UID:postroom-{digest[:32]}\r\n"))
                yield "".join(r for _, r in card).encode()
    if depth != 0:
        raise bad("the stream ends inside a vCard")
    if not seen:
        raise bad("no BEGIN:VCARD")


def join_cards(cards: Iterable[bytes]) -> Iterator[bytes]:
    """The cards one after the other (a .vcf is just that, RFC 6350 §3.1), each ending in
    CRLF."""
    for card in cards:
        if not card:
            continue
        yield card if card.endswith(b"\n") else card + b"\r\n"
