"""FETCH attributes: parsing (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ) and the
static parts of rendering. The async driver that reads blobs lives in ``cmd_fetch``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from postroom.protocols.imap.structure import Section, parse_section
from postroom.protocols.imap.wire import ParseError, Token, atom_of, list_of, number_of

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class FetchAtt:
    kind: str  # UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE MODSEQ
    #            SECTION (BODY[...], RFC822*, BINARY[...]) BINARY.SIZE
    section: Section | None = None
    partial: tuple[int, int | None] | None = None  # (origin, count)
    peek: bool = True
    binary: bool = False
    label: str = ""  # the name echoed in the response, e.g. "BODY[HEADER]<0>"


MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
SIMPLE = {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE",
          "MODSEQ"}
_SECTION_ATT = re.compile(r"^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[(.*)\]"
                          r"(?:<(\d+)(?:\.(\d+))?>)?$", re.I | re.S)


def parse_att(text: str, rev1: bool = True) -> FetchAtt:
    upper = text.upper()
    if upper in SIMPLE:
        return FetchAtt(upper)
    if upper in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
        # RFC 3501 §6.4.5: RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER],
        # RFC822.TEXT = BODY[TEXT]; removed in IMAP4rev2 but still sent by rev1 clients.
        sec = {"RFC822": "", "RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}[upper]
        return FetchAtt("SECTION", parse_section(sec), None, upper == "RFC822.HEADER",
                        label=upper)
    m = _SECTION_ATT.match(text)
    if not m:
        raise ParseError(f"unknown FETCH attribute {text}")
    name = m.group(1).upper()
    binary = name.startswith("BINARY")
    section = parse_section(m.group(2), binary=binary)
    partial: tuple[int, int | None] | None = None
    if m.group(3) is not None:
        if name == "BINARY.SIZE":
            raise ParseError("BINARY.SIZE takes no partial")
        if m.group(4) is None:
            raise ParseError("partial needs <origin.count>")  # RFC 9051 §6.4.5 grammar
        count = int(m.group(4))
        if count == 0:
            raise ParseError("partial count must be non-zero")
        partial = (int(m.group(3)), count)
    if name == "BINARY.SIZE":
        return FetchAtt("BINARY.SIZE", section, None, True, True,
                        f"BINARY.SIZE[{section.spec()}]")
    label_name = "BINARY" if binary else "BODY"
    label = f"{label_name}[{section.spec()}]"
    if partial is not None:
        label += f"<{partial[0]}>"
    return FetchAtt("SECTION", section, partial, name.endswith(".PEEK"), binary, label)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    atts: tuple[FetchAtt, ...]
    changed_since: int | None = None
    vanished: bool = False

    @property
    def light(self) -> bool:
        """Only UID/FLAGS/MODSEQ: answered from the flags index, no message metadata."""
        return all(a.kind in ("UID", "FLAGS", "MODSEQ") for a in self.atts)

    @property
    def sets_seen(self) -> bool:
        return any(a.kind == "SECTION" and not a.peek for a in self.atts)


def parse_fetch(args: list[Token], uid: bool) -> FetchRequest:
    """``FETCH set atts [(modifiers)]`` without the set."""
    if not args:
        raise ParseError("FETCH needs attributes")
    first = args[0]
    atts: list[FetchAtt] = []
    if isinstance(first, str) and first.upper() in MACROS:
        atts = [FetchAtt(n) for n in MACROS[first.upper()]]
    elif isinstance(first, list):
        if not first:
            raise ParseError("empty FETCH attribute list")
        atts = [parse_att(atom_of(t, "FETCH attribute")) for t in first]
    else:
        atts = [parse_att(atom_of(first, "FETCH attribute"))]
    changed: int | None = None
    vanished = False
    if len(args) > 2:
        raise ParseError("too many FETCH arguments")
    if len(args) == 2:
        mods = list_of(args[1], "FETCH modifiers")
        i = 0
        while i < len(mods):
            name = atom_of(mods[i], "FETCH modifier").upper()
            if name == "CHANGEDSINCE" and i + 1 < len(mods):  # RFC 7162 §3.1.4.1
                changed = number_of(mods[i + 1], "CHANGEDSINCE")
                i += 2
            elif name == "VANISHED" and uid:  # RFC 7162 §3.2.6
                vanished = True
                i += 1
            else:
                raise ParseError(f"unknown FETCH modifier {name}")
        if vanished and changed is None:
            raise ParseError("VANISHED needs CHANGEDSINCE")
    if changed is not None and not any(a.kind == "MODSEQ" for a in atts):
        atts.append(FetchAtt("MODSEQ"))  # RFC 7162 §3.1.4.1: implied
    if uid and not any(a.kind == "UID" for a in atts):
        atts.insert(0, FetchAtt("UID"))  # RFC 9051 §6.4.9: UID FETCH always returns UID
    return FetchRequest(tuple(atts), changed, vanished)


def internal_date(epoch: int) -> bytes:
    """``"dd-Mon-yyyy hh:mm:ss +0000"`` (RFC 9051 §9 date-time), in UTC."""
    t = time.gmtime(epoch)
    return (f'"{t.tm_mday:02d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} '
            f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"').encode()


_DATE_TIME = re.compile(r"^\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) "
                        r"([+-])(\d{2})(\d{2})$")
_DATE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$")


def parse_date_time(text: str) -> int:
    """APPEND's date-time argument → epoch seconds."""
    import calendar
    m = _DATE_TIME.match(text)
    if not m:
        raise ParseError(f"invalid date-time {text!r}")
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = _month(mon)
    base = calendar.timegm((int(year), month, int(day), int(hh), int(mm), int(ss), 0, 0, 0))
    offset = (int(zh) * 60 + int(zm)) * 60
    return base - offset if sign == "+" else base + offset


def parse_date(text: str) -> tuple[int, int, int]:
    """SEARCH's date argument (``1-Feb-1994``) → (year, month, day)."""
    m = _DATE.match(text.strip('"'))
    if not m:
        raise ParseError(f"invalid date {text!r}")
    return int(m.group(3)), _month(m.group(2)), int(m.group(1))


def _month(name: str) -> int:
    for i, mon in enumerate(_MONTHS):
        if mon.lower() == name.lower():
            return i + 1
    raise ParseError(f"invalid month {name!r}")
