"""Contacts items (MS-ASCNTC §2.2.2, Contacts and Contacts2 code pages) ↔ vCards (RFC 2426
vCard 3.0 and RFC 6350 vCard 4.0, written back as the version stored).

Each EAS field is a *slot* in the vCard: a property (and, for structured ones, a component)
picked by its TYPE parameters, e.g. HomePhoneNumber is the first TEL typed HOME and not FAX.
A phone's field replaces the value of its slot and keeps the property's other parameters and
group; a field the phone did not send leaves its slot alone; properties no slot names (X-,
IMPP beyond three, KEY, a fourth EMAIL…) are never touched.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from postroom.pim import vcard
from postroom.pim.vcard import Card, Prop
from postroom.protocols.eas.element import Element
from postroom.web.eas.classes import SyncOptions
from postroom.web.eas.pim import body, dates

NS = "Contacts"
NS2 = "Contacts2"
# MS-ASCNTC §2.2.2.54 Picture: a device may send up to 48 KB; a larger stored photo is not
# sent (it would not be shown) and a larger received one is refused as a bad item. The
# default of web.eas.max_picture_size when the configuration has none.
PICTURE_MAX = 48 * 1024


class BadItem(ValueError):
    """The phone's ApplicationData cannot be a contact (Sync Status 6)."""


def _types(p: Prop) -> set[str]:
    out: set[str] = set()
    for v in p.params.get("TYPE", []):
        out |= {t.strip().upper() for t in v.split(",")}
    return out


def _tel(want: str, exclude: tuple[str, ...] = ()) -> Callable[[Prop], bool]:
    def match(p: Prop) -> bool:
        t = _types(p)
        return want in t and not any(x in t for x in exclude)
    return match


def _tel_fax(want: str) -> Callable[[Prop], bool]:
    def match(p: Prop) -> bool:
        t = _types(p)
        return "FAX" in t and want in t
    return match


def _any(p: Prop) -> bool:
    return True


@dataclass(frozen=True)
class Slot:
    """One EAS field in a vCard: ``prop`` (name), which match (``nth`` of those ``match``
    accepts), its component index for structured values (None: the whole value) and the
    TYPE a new property gets."""

    field: str
    ns: str
    prop: str
    match: Callable[[Prop], bool]
    nth: int = 0
    part: int | None = None
    new_type: str = ""


def _not_typed(*types: str) -> Callable[[Prop], bool]:
    def match(p: Prop) -> bool:
        return not (_types(p) & set(types))
    return match


_ADDRESS_SLOTS = tuple(
    Slot(f"{prefix}Address{part}", NS, "ADR", match, 0, index, kind)
    for prefix, match, kind in (("Home", _tel("HOME"), "HOME"),
                                ("Business", _tel("WORK"), "WORK"),
                                ("Other", _not_typed("HOME", "WORK"), "OTHER"))
    for part, index in (("Street", 2), ("City", 3), ("State", 4), ("PostalCode", 5),
                        ("Country", 6))
)
SLOTS: tuple[Slot, ...] = (
    Slot("Email1Address", NS, "EMAIL", _any, 0),
    Slot("Email2Address", NS, "EMAIL", _any, 1),
    Slot("Email3Address", NS, "EMAIL", _any, 2),
    Slot("MobilePhoneNumber", NS, "TEL", _tel("CELL"), 0, None, "CELL"),
    Slot("HomePhoneNumber", NS, "TEL", _tel("HOME", ("FAX", "CELL")), 0, None, "HOME"),
    Slot("Home2PhoneNumber", NS, "TEL", _tel("HOME", ("FAX", "CELL")), 1, None, "HOME"),
    Slot("BusinessPhoneNumber", NS, "TEL", _tel("WORK", ("FAX", "CELL")), 0, None, "WORK"),
    Slot("Business2PhoneNumber", NS, "TEL", _tel("WORK", ("FAX", "CELL")), 1, None, "WORK"),
    Slot("HomeFaxNumber", NS, "TEL", _tel_fax("HOME"), 0, None, "HOME,FAX"),
    Slot("BusinessFaxNumber", NS, "TEL", _tel_fax("WORK"), 0, None, "WORK,FAX"),
    Slot("PagerNumber", NS, "TEL", _tel("PAGER"), 0, None, "PAGER"),
    Slot("CarPhoneNumber", NS, "TEL", _tel("CAR"), 0, None, "CAR"),
    Slot("LastName", NS, "N", _any, 0, 0),
    Slot("FirstName", NS, "N", _any, 0, 1),
    Slot("MiddleName", NS, "N", _any, 0, 2),
    Slot("Title", NS, "N", _any, 0, 3),
    Slot("Suffix", NS, "N", _any, 0, 4),
    Slot("CompanyName", NS, "ORG", _any, 0, 0),
    Slot("Department", NS, "ORG", _any, 0, 1),
    Slot("JobTitle", NS, "TITLE", _any),
    Slot("WebPage", NS, "URL", _any),
    Slot("NickName", NS2, "NICKNAME", _any),
    Slot("IMAddress", NS2, "IMPP", _any, 0),
    Slot("IMAddress2", NS2, "IMPP", _any, 1),
    Slot("IMAddress3", NS2, "IMPP", _any, 2),
    Slot("FileAs", NS, "FN", _any),
    *_ADDRESS_SLOTS,
)


def _find(card: Card, slot: Slot) -> Prop | None:
    found = [p for p in card.props if p.name == slot.prop and slot.match(p)]
    return found[slot.nth] if len(found) > slot.nth else None


def _read(p: Prop, slot: Slot) -> str:
    if slot.part is None:
        value = vcard.unescape(p.decoded())
        return value[4:] if slot.prop == "IMPP" and value.lower().startswith("xmpp:") \
            else value
    parts = vcard.split_value(p.decoded(), ";")
    return vcard.unescape(parts[slot.part]) if len(parts) > slot.part else ""


def _date_out(text: str) -> str | None:
    """BDAY/ANNIVERSARY (1980-05-01, 19800501, --0501 without year) → MS-ASDTYPE form."""
    digits = text.strip().split("T")[0].replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}T00:00:00.000Z"


def to_app(data: bytes, options: SyncOptions | None = None,
           picture_max: int = PICTURE_MAX) -> Element:
    """The ApplicationData of a stored vCard (MS-ASCNTC §2.2.2)."""
    card = vcard.parse(data)
    app = Element("AirSync", "ApplicationData")
    for slot in SLOTS:
        p = _find(card, slot)
        if p is None:
            continue
        value = _read(p, slot)
        if value:
            app.add(slot.ns, slot.field, value)
    for name, field in (("BDAY", "Birthday"), ("ANNIVERSARY", "Anniversary"),
                        ("X-ANNIVERSARY", "Anniversary")):
        p = card.get(name)
        if p is not None and not app.has(field):
            out = _date_out(p.decoded())
            if out:
                app.add(NS, field, out)
    cats = card.get("CATEGORIES")
    if cats is not None:
        node = app.add(NS, "Categories")
        for c in vcard.split_value(cats.decoded(), ","):
            if c:
                node.add(NS, "Category", vcard.unescape(c))
    note = card.get("NOTE")
    app.append(body.element(vcard.unescape(note.decoded()) if note else "", options))
    photo = _photo(card)
    if photo is not None and len(photo) <= picture_max:
        app.add(NS, "Picture", base64.b64encode(photo).decode())
    return app


def _photo(card: Card) -> bytes | None:
    p = card.get("PHOTO")
    if p is None:
        return None
    value = p.value.strip()
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    elif value.lower().startswith(("http:", "https:")):
        return None
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None


def _set_slot(card: Card, slot: Slot, value: str, v4: bool, p: Prop | None,
              gone: list[Prop]) -> Prop | None:
    """Write one slot into ``p`` (its property as found before any change, so that clearing
    Email1 does not make the second EMAIL the first); returns the property now holding it
    (a new one for a slot that had none). Emptied properties are collected in ``gone``."""
    if slot.part is not None:
        if p is None:
            if not value:
                return None
            size = {"N": 5, "ORG": 2, "ADR": 7}[slot.prop]
            p = Prop(slot.prop, ";" * (size - 1),
                     {"TYPE": [_type_text(slot.new_type, v4)]} if slot.new_type else {})
            card.props.append(p)
        parts = vcard.split_value(p.decoded(), ";")
        while len(parts) <= slot.part:
            parts.append("")
        parts[slot.part] = vcard.escape(value)
        p.value = ";".join(parts)
        p.params.pop("ENCODING", None)
        return p
    if slot.prop == "IMPP" and value and ":" not in value:
        value = f"xmpp:{value}"
    escaped = value if slot.prop in ("URL", "IMPP") else vcard.escape(value)
    if p is None:
        if not value:
            return None
        p = Prop(slot.prop, escaped,
                 {"TYPE": [_type_text(slot.new_type, v4)]} if slot.new_type else {})
        card.props.append(p)
        return p
    if not value:
        if slot.prop != "FN":
            gone.append(p)
        return p
    p.value = escaped
    p.params.pop("ENCODING", None)
    return p


def _type_text(types: str, v4: bool) -> str:
    return types.lower() if v4 else types


def _date_in(text: str, v4: bool) -> str | None:
    """A device's Birthday/Anniversary as a vCard date. Devices east of UTC send the local
    midnight in UTC, i.e. the evening before (``1980-04-30T22:00:00.000Z`` for 1 May): a
    time from noon on is the next day's date."""
    moment = dates.parse(text)
    if moment is None:
        return None
    day = moment.date() + timedelta(days=1) if moment.hour >= 12 else moment.date()
    return day.strftime("%Y%m%d" if v4 else "%Y-%m-%d")


def _replace(card: Card, name: str, value: str | None) -> None:
    old = card.get(name)
    if value is None:
        if old is not None:
            card.props.remove(old)
        return
    if old is None:
        card.props.append(Prop(name, value))
    else:
        old.value = value
        old.params.pop("ENCODING", None)
        old.params.pop("VALUE", None)


def merge(existing: bytes | None, app: Element, picture_max: int = PICTURE_MAX) -> bytes:
    """The stored vCard after a phone's Add (``existing`` None: a new vCard 3.0) or Change."""
    if existing is not None:
        card = vcard.parse(existing)
    else:
        card = Card([Prop("VERSION", "3.0"), Prop("PRODID", "-//Postroom//ActiveSync//EN"),
                     Prop("UID", str(uuid.uuid4()))])
    v4 = card.version == "4.0"
    # MS-ASCMD §2.2.3.24 Change: the device sends the item whole, so a Contacts field it
    # leaves out was cleared on the device (the way a phone deletes a number). Contacts2
    # fields only for a device that sends any (one that knows the code page), and Picture
    # and Body only when sent (devices ghost them). Unmapped properties are never touched.
    replace = existing is not None
    knows2 = any(child.ns == NS2 for child in app.children)
    bound = [_find(card, slot) for slot in SLOTS]  # before any change: indexes hold still
    gone: list[Prop] = []
    for i, slot in enumerate(SLOTS):
        child = app.find(slot.field, slot.ns)
        if child is None and (not replace or slot.field == "FileAs"
                              or (slot.ns == NS2 and not knows2)):
            continue
        held = _set_slot(card, slot, child.text or "" if child is not None else "", v4,
                         bound[i], gone)
        if held is not None and bound[i] is None:
            # the components of one new N/ORG/ADR share the property just made
            for j, other in enumerate(SLOTS):
                if other.prop == slot.prop and other.match is slot.match \
                        and other.nth == slot.nth and bound[j] is None:
                    bound[j] = held
    for p in card.props[:]:
        if p.name in ("ORG", "ADR") and not any(vcard.split_value(p.decoded(), ";")):
            gone.append(p)
    card.props = [p for p in card.props if not any(p is g for g in gone)]
    for field, name in (("Birthday", "BDAY"), ("Anniversary",
                                               "ANNIVERSARY" if v4 else "X-ANNIVERSARY")):
        child = app.find(field, NS)
        if child is not None:
            _replace(card, name, _date_in(child.text or "", v4))
        elif replace:
            _replace(card, name, None)
    cats = app.find("Categories", NS)
    if cats is None and replace:
        _replace(card, "CATEGORIES", None)
    elif cats is not None:
        names = [vcard.escape(c.text or "") for c in cats.findall("Category") if c.text]
        _replace(card, "CATEGORIES", ",".join(names) if names else None)
    text = body.text_of(app)
    if text is not None:
        _replace(card, "NOTE", vcard.escape(text) if text else None)
    picture = app.find("Picture", NS)
    if picture is not None:
        _set_photo(card, picture.text or "", v4, picture_max)
    fn = card.get("FN")
    renamed = not app.has("FileAs") and any(
        app.find(f, NS) is not None for f in ("FirstName", "MiddleName", "LastName"))
    if fn is None or not fn.value or renamed:
        # FN follows the names unless the phone sent FileAs (vCard requires FN)
        _replace(card, "FN", vcard.escape(_display(app, card) or "Contact"))
    if card.get("N") is None and not v4:
        card.props.append(Prop("N", ";;;;"))  # vCard 3.0 requires N (RFC 2426 §5)
    return vcard.serialize(card)


def _set_photo(card: Card, text: str, v4: bool, picture_max: int) -> None:
    for old in card.all("PHOTO"):
        card.props.remove(old)
    if not text.strip():
        return
    try:
        raw = base64.b64decode(text.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise BadItem("the Picture is not base64") from None
    if len(raw) > picture_max:
        raise BadItem(f"pictures are at most {picture_max} octets")
    encoded = base64.b64encode(raw).decode()
    if v4:
        card.props.append(Prop("PHOTO", f"data:image/jpeg;base64,{encoded}"))
    else:
        card.props.append(Prop("PHOTO", encoded, {"ENCODING": ["b"], "TYPE": ["JPEG"]}))


def _display(app: Element, card: Card) -> str:
    parts = [app.value("FirstName") or "", app.value("MiddleName") or "",
             app.value("LastName") or ""]
    name = " ".join(p for p in parts if p)
    if name:
        return name
    n = card.get("N")
    if n is not None and n.text():
        return n.text()
    return app.value("CompanyName") or app.value("Email1Address") or ""
