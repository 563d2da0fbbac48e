"""Webmail's contact form as vCard and back (RFC 6350 4.0, RFC 2426 3.0), with ``vobject``.

New cards are vCard 3.0 (RFC 2426): every CardDAV client reads it (RFC 6352 §5.1 requires
3.0 support) and a 4.0-only client gets 4.0 through address-data conversion (pim/vcard.py).
An edit writes the form's properties into the stored card and keeps everything else (PHOTO,
X- properties, other clients' fields, the card's own VERSION), so editing in webmail never
loses what a phone stored.

Groups are CATEGORIES (RFC 6350 §6.7.1, RFC 2426 §3.6.1), not KIND:group cards with MEMBER
(RFC 6350 §6.1.4, §6.6.5): each card carries its own groups, so a group needs no extra
resource that can drift out of step (a deleted card leaves no dangling MEMBER), it works in
vCard 3.0 and every common client (Apple, Thunderbird, DAVx5 in its "categories" mode) shows
it, and a group of a shared or public address book is simply the cards that name it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import vobject

from postroom.core.errors import invalid

MAX_FIELD = 500
MAX_NOTE = 4000  # below web.form_max_field (4096 by default), so the form says why
MAX_VALUES = 20  # emails, phones, groups each


@dataclass(frozen=True, slots=True)
class PostalAddress:
    street: str = ""
    city: str = ""
    region: str = ""
    code: str = ""
    country: str = ""

    def empty(self) -> bool:
        return not any((self.street, self.city, self.region, self.code, self.country))

    def lines(self) -> list[str]:
        return [x for x in (self.street, " ".join(p for p in (self.code, self.city) if p),
                            self.region, self.country) if x]


@dataclass(frozen=True, slots=True)
class ContactDraft:
    """A contact as the form shows it. ``name`` is FN (required by RFC 6350 §6.2.1)."""

    name: str
    given: str = ""
    family: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    org: str = ""
    address: PostalAddress = PostalAddress()
    note: str = ""
    groups: tuple[str, ...] = ()


def new_name() -> str:
    return f"{uuid.uuid4()}.vcf"


def check(draft: ContactDraft) -> None:
    if not draft.name.strip() and not draft.given.strip() and not draft.family.strip() \
            and not draft.org.strip() and not draft.emails:
        raise invalid("name: a contact needs a name, an organisation or an address")
    for text in (draft.name, draft.given, draft.family, draft.org, *draft.address.lines()):
        if len(text) > MAX_FIELD:
            raise invalid(f"name: fields are at most {MAX_FIELD} characters")
    if len(draft.note) > MAX_NOTE:
        raise invalid(f"note: at most {MAX_NOTE} characters")
    for label, values in (("emails", draft.emails), ("phones", draft.phones),
                          ("groups", draft.groups)):
        if len(values) > MAX_VALUES:
            raise invalid(f"{label}: at most {MAX_VALUES}")
        if any(len(v) > MAX_FIELD for v in values):
            raise invalid(f"{label}: at most {MAX_FIELD} characters each")
    for e in draft.emails:
        local, at, domain = e.partition("@")
        if not at or not local or not domain or any(c in e for c in " <>,;\"\\"):
            raise invalid(f"emails: {e[:100]} is not an address")
    for p in draft.phones:
        if not any(c.isdigit() for c in p):
            raise invalid(f"phones: {p[:100]} is not a phone number")
    if any(not g.strip() or "," in g for g in draft.groups):
        raise invalid("groups: a group name has no comma")


def _display(draft: ContactDraft) -> str:
    return (draft.name.strip() or " ".join(p for p in (draft.given.strip(), draft.family.strip())
                                           if p) or draft.org.strip() or draft.emails[0])


def _write(card: Any, draft: ContactDraft) -> None:
    """The draft into ``card``. A property whose value the form did not change keeps its
    parameters (TYPE=work, PREF, ...); N keeps its prefix and suffix; addresses after the
    first (the form shows one) stay."""
    before = {k: list(card.contents.get(k, [])) for k in ("n", "email", "tel", "org", "adr")}
    for key in ("fn", "n", "email", "tel", "org", "adr", "note", "categories"):
        card.contents.pop(key, None)
    card.add("fn").value = _display(draft)
    old_n = before["n"][0] if before["n"] else None
    if old_n is not None and isinstance(old_n.value, vobject.vcard.Name):
        old_n.value.family = draft.family.strip()
        old_n.value.given = draft.given.strip()
        card.contents["n"] = [old_n]
    else:
        card.add("n").value = vobject.vcard.Name(family=draft.family.strip(),
                                                 given=draft.given.strip())
    _values_into(card, "email", draft.emails, before["email"], "mailto:")
    _values_into(card, "tel", draft.phones, before["tel"], "tel:")
    if draft.org.strip():
        old_org = before["org"][0] if before["org"] else None
        if old_org is not None and _org_text(old_org.value) == draft.org.strip():
            card.contents["org"] = [old_org]
        else:
            card.add("org").value = [draft.org.strip()]
    a = draft.address
    rest = before["adr"][1:]
    first = before["adr"][0] if before["adr"] else None
    if first is not None and isinstance(first.value, vobject.vcard.Address) \
            and _address_of(first.value) == a:
        card.contents["adr"] = [first]
    elif not a.empty():
        card.add("adr").value = vobject.vcard.Address(street=a.street, city=a.city,
                                                      region=a.region, code=a.code,
                                                      country=a.country)
    if rest:
        card.contents.setdefault("adr", []).extend(rest)
    if draft.note.strip():
        card.add("note").value = draft.note.strip()
    if draft.groups:
        card.add("categories").value = list(draft.groups)


def _values_into(card: Any, key: str, values: tuple[str, ...], old: list[Any],
                 scheme: str) -> None:
    """EMAIL or TEL lines for ``values``, reusing the stored line of an unchanged value."""
    stored = {_text(p.value).removeprefix(scheme).casefold(): p for p in old}
    for v in values:
        prop = stored.pop(v.casefold(), None)
        if prop is not None:
            card.contents.setdefault(key, []).append(prop)
            continue
        prop = card.add(key)
        prop.value = v
        if key == "email":
            prop.type_param = "INTERNET"


def _org_text(value: Any) -> str:
    """ORG as one line: its units joined with " / " (RFC 6350 §6.6.4)."""
    if isinstance(value, list):
        return " / ".join(str(v) for v in value if v)
    return str(value or "")


def _address_of(a: Any) -> PostalAddress:
    return PostalAddress(_text(a.street), _text(a.city), _text(a.region), _text(a.code),
                         _text(a.country))


def _serialize(card: Any) -> bytes:
    text: str = card.serialize()
    return text.encode("utf-8")


def build(draft: ContactDraft) -> bytes:
    check(draft)
    card = vobject.vCard()
    card.add("version").value = "3.0"
    card.add("uid").value = f"urn:uuid:{uuid.uuid4()}"
    _write(card, draft)
    return _serialize(card)


def _parse(data: bytes) -> Any:
    try:
        return vobject.readOne(data.decode("utf-8", "replace"))
    except Exception as exc:  # vobject raises many kinds for a malformed card
        raise invalid(f"the stored card cannot be read: {str(exc)[:200]}") from None


def update(data: bytes, draft: ContactDraft) -> bytes:
    check(draft)
    card = _parse(data)
    _write(card, draft)
    return _serialize(card)


def _values(card: Any, key: str) -> list[Any]:
    return [p.value for p in card.contents.get(key, [])]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v)
    return str(value or "")


def read(data: bytes) -> ContactDraft:
    """A stored card as the form shows it (3.0 or 4.0; unknown properties are ignored)."""
    card = _parse(data)
    n = card.contents.get("n")
    given = family = ""
    if n and isinstance(n[0].value, vobject.vcard.Name):
        given, family = _text(n[0].value.given), _text(n[0].value.family)
    adrs = _values(card, "adr")
    address = PostalAddress()
    if adrs and isinstance(adrs[0], vobject.vcard.Address):
        address = _address_of(adrs[0])
    groups: list[str] = []
    for value in _values(card, "categories"):
        groups.extend(v.strip() for v in (value if isinstance(value, list) else
                                          str(value).split(",")) if str(v).strip())
    orgs = _values(card, "org")
    notes = _values(card, "note")
    fns = _values(card, "fn")
    return ContactDraft(
        name=_text(fns[0]) if fns else "", given=given, family=family,
        emails=tuple(_text(v).removeprefix("mailto:") for v in _values(card, "email")),
        phones=tuple(_text(v).removeprefix("tel:") for v in _values(card, "tel")),
        org=_org_text(orgs[0]) if orgs else "",
        address=address, note=_text(notes[0]) if notes else "",
        groups=tuple(dict.fromkeys(groups)))
