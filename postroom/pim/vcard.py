"""vCard (RFC 6350 4.0, RFC 2426 3.0; RFC 6352 §5.1): parse, validate, index, convert.

An own small parser rather than vobject: vobject's parse costs ~160 µs a card, which makes a
1,000-card text-match too slow (query.card_matches only splits the lines it needs), and it
rejects cards that real clients send (vCard 2.1 bare TYPE parameters from phones, stray
blank lines, LF line ends). The parser is lenient about those and strict about what CardDAV
needs: exactly one VCARD, a UID (RFC 6352 §5.1), well-formed content lines.
"""

from __future__ import annotations

import quopri
from dataclasses import dataclass, field

from postroom.pim.model import CARDDAV_NS, InvalidItem, ItemIndex

CONTENT_TYPE = "text/vcard; charset=utf-8"
_TEXT_PROPS = ("FN", "N", "NICKNAME", "EMAIL", "TEL", "ORG")
# Deepest BEGIN nesting accepted (vCard 2.1/3.0 AGENT may embed one card).
_MAX_DEPTH = 4


def invalid(text: str) -> InvalidItem:
    return InvalidItem((CARDDAV_NS, "valid-address-data"), text)


@dataclass(slots=True)
class Prop:
    """One content line (RFC 6350 §3.3): ``group.NAME;PARAM=v,v:value``. ``name`` and param
    names upper-cased; ``value`` still escaped as on the wire."""

    name: str
    value: str
    params: dict[str, list[str]] = field(default_factory=dict)
    group: str = ""

    def text(self) -> str:
        """The value unescaped (RFC 6350 §3.4), structured parts joined by a space."""
        value = self.decoded()
        return " ".join(p for p in (unescape(x) for x in split_value(value, ";")) if p)

    def decoded(self) -> str:
        """The value as on the wire, except that a vCard 2.1 QUOTED-PRINTABLE value is decoded
        (in its CHARSET, UTF-8 by default)."""
        value = self.value
        if any(e.upper() == "QUOTED-PRINTABLE" for e in self.params.get("ENCODING", [])
               + self.params.get("TYPE", [])):
            charset = (self.params.get("CHARSET") or ["utf-8"])[0]
            raw = quopri.decodestring(value.encode("utf-8", "replace"))
            try:
                value = raw.decode(charset, "replace")
            except LookupError:
                value = raw.decode("utf-8", "replace")
        return value


def unfold(text: str) -> list[str]:
    """Content lines with folding undone (RFC 6350 §3.2: a line break followed by a space or
    a tab continues the line); CRLF, LF and CR alike; blank lines dropped."""
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n " in text or "\n\t" in text:
        text = text.replace("\n ", "").replace("\n\t", "")
    lines = [line for line in text.split("\n") if line.strip()]
    if "QUOTED-PRINTABLE" in text.upper():
        lines = _join_soft_breaks(lines)
    return lines


def _join_soft_breaks(lines: list[str]) -> list[str]:
    """vCard 2.1 (phones' exports): a QUOTED-PRINTABLE value ending in "=" goes on in the
    next line (RFC 2045 §6.7 soft line break)."""
    out: list[str] = []
    joining = False
    for line in lines:
        if joining:
            out[-1] = out[-1][:-1] + line
        else:
            out.append(line)
        head = out[-1].split(":", 1)[0].upper()
        joining = "QUOTED-PRINTABLE" in head and out[-1].endswith("=")
    return out


def _split_head(line: str) -> tuple[str, str]:
    """``line`` split at the colon that ends the name and parameters (a colon inside a
    double-quoted parameter value does not count)."""
    colon = line.find(":")
    quote = line.find('"')
    if colon < 0:
        raise invalid(f"content line without a colon: {line[:60]!r}")
    if quote < 0 or quote > colon:
        return line[:colon], line[colon + 1:]
    inq = False
    for i, ch in enumerate(line):
        if ch == '"':
            inq = not inq
        elif ch == ":" and not inq:
            return line[:i], line[i + 1:]
    raise invalid(f"unterminated quoted parameter: {line[:60]!r}")


def line_name(line: str) -> str:
    """The property name of a content line, upper-cased, group stripped; cheap."""
    end = len(line)
    for sep in (":", ";"):
        i = line.find(sep)
        if 0 <= i < end:
            end = i
    name = line[:end]
    dot = name.rfind(".")
    return (name[dot + 1:] if dot >= 0 else name).upper()


def parse_line(line: str) -> Prop:
    head, value = _split_head(line)
    parts = split_value(head, ";", quotes=True)
    name = parts[0].strip()
    group = ""
    if "." in name:
        group, name = name.rsplit(".", 1)
    if not name:
        raise invalid(f"content line without a name: {line[:60]!r}")
    params: dict[str, list[str]] = {}
    for raw in parts[1:]:
        if not raw:
            continue
        if "=" in raw:
            key, val = raw.split("=", 1)
            vals = [v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v
                    for v in split_value(val, ",", quotes=True)]
        else:  # vCard 2.1 bare parameter: "TEL;CELL:..." means TYPE=CELL
            key, vals = "TYPE", [raw]
        params.setdefault(key.strip().upper(), []).extend(vals)
    return Prop(name=name.upper(), value=value, params=params, group=group)


def split_value(text: str, sep: str, quotes: bool = False) -> list[str]:
    """Split at ``sep`` not escaped by a backslash (and, for parameters, not quoted)."""
    if "\\" not in text and not (quotes and '"' in text):
        return text.split(sep)
    out: list[str] = []
    cur: list[str] = []
    esc = inq = False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\" and not quotes:
            cur.append(ch)
            esc = True
        elif ch == '"' and quotes:
            cur.append(ch)
            inq = not inq
        elif ch == sep and not inq:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    esc = False
    for ch in text:
        if esc:
            out.append("\n" if ch in "nN" else ch)
            esc = False
        elif ch == "\\":
            esc = True
        else:
            out.append(ch)
    return "".join(out)


def escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\n", "\\n"))


@dataclass(slots=True)
class Card:
    """One parsed vCard: its properties in order (without BEGIN/END)."""

    props: list[Prop]

    def get(self, name: str) -> Prop | None:
        for p in self.props:
            if p.name == name:
                return p
        return None

    def all(self, name: str) -> list[Prop]:
        return [p for p in self.props if p.name == name]

    @property
    def version(self) -> str:
        p = self.get("VERSION")
        return p.value.strip() if p is not None else "3.0"


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(f"not UTF-8 at byte {exc.start}") from None


def parse(data: bytes) -> Card:
    """Exactly one VCARD (RFC 6352 §5.1), or ``InvalidItem(valid-address-data)``."""
    lines = unfold(decode(data))
    cards: list[list[Prop]] = []
    depth = 0
    current: list[Prop] = []
    for line in lines:
        prop = parse_line(line)
        if prop.name == "BEGIN":
            if prop.value.strip().upper() != "VCARD" and depth == 0:
                raise invalid(f"BEGIN:{prop.value[:20]} is not a vCard")
            depth += 1
            if depth > _MAX_DEPTH:
                raise invalid("vCards nested too deeply")
            if depth == 1:
                current = []
                continue
        elif prop.name == "END":
            depth -= 1
            if depth < 0:
                raise invalid("END:VCARD without BEGIN:VCARD")
            if depth == 0:
                cards.append(current)
                continue
        elif depth == 0:
            raise invalid(f"text outside BEGIN:VCARD/END:VCARD: {line[:40]!r}")
        current.append(prop)
    if depth != 0:
        raise invalid("BEGIN:VCARD without END:VCARD")
    if len(cards) != 1:
        raise invalid(f"an address object holds one vCard, found {len(cards)}")
    card = Card(cards[0])
    version = card.version
    if version not in ("2.1", "3.0", "4.0"):
        raise invalid(f"unknown vCard VERSION {version[:10]!r}")
    return card


def summary_of(card: Card) -> str:
    """FN, else the N parts, ORG or EMAIL: a title for lists even for sloppy cards."""
    for name in ("FN", "N", "ORG", "EMAIL"):
        p = card.get(name)
        if p is not None:
            text = " ".join(p.text().split())
            if text:
                return text[:500]
    return ""


def index_card(data: bytes) -> ItemIndex:
    """Check that ``data`` is one vCard with a UID (RFC 6352 §5.1) and index it; raise
    ``InvalidItem`` (CARDDAV:valid-address-data) otherwise."""
    card = parse(data)
    uid = card.get("UID")
    if uid is None or not uid.value.strip():
        raise invalid("a vCard in an address book needs a UID (RFC 6352 §5.1)")
    seen: dict[str, None] = {}
    for p in card.props:
        if p.name in _TEXT_PROPS:
            v = " ".join(p.text().lower().split())
            if v:
                seen.setdefault(v, None)
    return ItemIndex(component="VCARD", uid=unescape(uid.value.strip()), text="\n".join(seen),
                     summary=summary_of(card), content_type=CONTENT_TYPE)


# --- 3.0 <-> 4.0 (RFC 6350 Appendix A; Apple's X-ADDRESSBOOKSERVER-* for 3.0 groups) ---

_TO4 = {"X-ADDRESSBOOKSERVER-KIND": "KIND", "X-ADDRESSBOOKSERVER-MEMBER": "MEMBER",
        "X-ANNIVERSARY": "ANNIVERSARY", "X-GENDER": "GENDER"}
_TO3 = {v: k for k, v in _TO4.items()}
_MEDIA = ("PHOTO", "LOGO", "SOUND", "KEY")


def fold(line: str) -> str:
    """RFC 6350 §3.2: lines longer than 75 octets folded, never inside a UTF-8 sequence."""
    raw = line.encode()
    if len(raw) <= 75:
        return line + "\r\n"
    out: list[str] = []
    start = 0
    limit = 75
    while start < len(raw):
        end = min(len(raw), start + limit)
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1
        out.append(raw[start:end].decode())
        start = end
        limit = 74  # the leading space of a continuation counts
    return "\r\n ".join(out) + "\r\n"


def _param_text(params: dict[str, list[str]]) -> str:
    out = ""
    for k, vals in params.items():
        quoted = [f'"{v}"' if any(c in v for c in ":;,") else v for v in vals]
        out += f";{k}=" + ",".join(quoted)
    return out


def serialize(card: Card) -> bytes:
    lines = ["BEGIN:VCARD\r\n"]
    for p in card.props:
        name = f"{p.group}.{p.name}" if p.group else p.name
        lines.append(fold(name + _param_text(p.params) + ":" + p.value))
    lines.append("END:VCARD\r\n")
    return "".join(lines).encode()


def _media_to4(p: Prop) -> Prop:
    enc = [e.upper() for e in p.params.get("ENCODING", [])]
    if "B" not in enc and "BASE64" not in enc:
        p.params.pop("VALUE", None)
        return p
    kinds = [t.lower() for t in p.params.get("TYPE", []) if "/" not in t]
    mime = {"jpg": "jpeg"}.get(kinds[0], kinds[0]) if kinds else "jpeg"
    major = {"SOUND": "audio", "KEY": "application"}.get(p.name, "image")
    params = {k: v for k, v in p.params.items() if k not in ("ENCODING", "TYPE", "VALUE")}
    value = "".join(p.value.split())
    return Prop(p.name, f"data:{major}/{mime};base64,{value}", params, p.group)


def _media_to3(p: Prop) -> Prop:
    if not p.value.startswith("data:") or ";base64," not in p.value[:80]:
        return p
    head, payload = p.value[5:].split(";base64,", 1)
    params = {k: v for k, v in p.params.items() if k not in ("MEDIATYPE", "VALUE")}
    params["ENCODING"] = ["b"]
    params["TYPE"] = [head.split("/", 1)[-1].upper() or "JPEG"]
    return Prop(p.name, payload, params, p.group)


def _plain(p: Prop) -> Prop:
    """A vCard 2.1 QUOTED-PRINTABLE property as plain UTF-8 text (3.0 and 4.0 have no QP)."""
    kinds = [v.upper() for v in p.params.get("ENCODING", []) + p.params.get("TYPE", [])]
    if "QUOTED-PRINTABLE" not in kinds:
        return p
    params = {k: v for k, v in p.params.items() if k not in ("ENCODING", "CHARSET")}
    if "TYPE" in params:
        params["TYPE"] = [t for t in params["TYPE"] if t.upper() != "QUOTED-PRINTABLE"]
        if not params["TYPE"]:
            del params["TYPE"]
    return Prop(p.name, p.decoded().replace("\r\n", "\\n").replace("\n", "\\n"), params,
                p.group)


def _to4(p: Prop) -> Prop:
    p = _plain(p)
    p = Prop(_TO4.get(p.name, p.name), p.value, dict(p.params), p.group)
    types = p.params.get("TYPE")
    if types:
        rest = [t for t in types if t.upper() not in ("PREF", "INTERNET", "X400")]
        if len(rest) != len(types) and any(t.upper() == "PREF" for t in types):
            p.params["PREF"] = ["1"]
        if rest:
            p.params["TYPE"] = [t.lower() for t in rest]
        else:
            del p.params["TYPE"]
    p.params.pop("CHARSET", None)
    if p.name in _MEDIA:
        p = _media_to4(p)
    return p


def _to3(p: Prop) -> Prop:
    p = _plain(p)
    p = Prop(_TO3.get(p.name, p.name), p.value, dict(p.params), p.group)
    if "PREF" in p.params:
        del p.params["PREF"]
        p.params.setdefault("TYPE", []).append("pref")
    for k in ("ALTID", "PID", "CALSCALE", "SORT-AS", "GEO", "TZ", "CC", "INDEX", "LEVEL"):
        p.params.pop(k, None)
    if p.name == "TEL" and p.value.lower().startswith("tel:"):
        p.value = p.value[4:]
        p.params.pop("VALUE", None)
    if p.name in _MEDIA:
        p = _media_to3(p)
    return p


def convert(data: bytes, version: str) -> bytes:
    """The same card as vCard ``version`` ("3.0" or "4.0") (RFC 6352 §10.4.1 address-data
    content-type/version; RFC 6350 Appendix A). A card already in that version comes back
    unchanged, byte for byte."""
    if version not in ("3.0", "4.0"):
        raise invalid(f"unsupported vCard version {version!r}")
    card = parse(data)
    if card.version == version:
        return data
    change = _to4 if version == "4.0" else _to3
    props = [Prop("VERSION", version)]
    props.extend(change(p) for p in card.props if p.name != "VERSION")
    if version == "3.0" and not any(p.name == "N" for p in props):
        props.insert(1, Prop("N", ";;;;"))  # RFC 2426 §5: N is required in 3.0
    if not any(p.name == "FN" for p in props):
        props.insert(1, Prop("FN", escape(summary_of(card))))
    return serialize(Card(props))
