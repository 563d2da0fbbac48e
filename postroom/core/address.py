"""Mail addresses and domains: parsing, validation and the canonical form we store.

Canonical form: local part folded to lower case (we treat local parts case-insensitively, as
nearly every deployed server does, although RFC 5321 §2.4 allows case-sensitivity) and the domain
as lower-case A-labels (IDNA 2008 with UTS #46 mapping via the ``idna`` package), so that
``Müller@Bücher.example`` and ``müller@xn--bcher-kva.example`` are the same account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import idna

from postroom.core.errors import invalid

# RFC 5322 §3.2.3 atext, plus any non-ASCII UTF-8 character (RFC 6531 §3.3 extends atext).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"^{_ATEXT}+(\.{_ATEXT}+)*$")
_LDH_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1
MAX_DOMAIN = 255  # RFC 5321 §4.5.3.1.2


def normalize_domain(text: str) -> str:
    """Return the canonical A-label form of ``text`` or raise INVALID naming the problem."""
    raw = text.strip().rstrip(".") if text.strip().endswith(".") and text.strip() != "." else text
    raw = raw.strip()
    if not raw:
        raise invalid("empty domain")
    if raw.startswith("[") or raw.replace(".", "").isdigit():
        raise invalid(f"'{text}' is an address literal, not a domain name")
    try:
        ascii_form = idna.encode(raw, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise invalid(f"'{text}' is not a valid domain name ({exc})") from None
    if len(ascii_form) > MAX_DOMAIN:
        raise invalid(f"domain '{text}' is longer than {MAX_DOMAIN} octets")
    labels = ascii_form.split(".")
    if len(labels) < 2 and ascii_form != "localhost":
        raise invalid(f"'{text}' is not a fully qualified domain name")
    for label in labels:
        if not _LDH_LABEL.match(label):
            raise invalid(f"'{text}' is not a valid domain name (label '{label}')")
    return ascii_form


def display_domain(ascii_domain: str) -> str:
    """The U-label form for people; falls back to the stored form."""
    try:
        return idna.decode(ascii_domain)
    except (idna.IDNAError, UnicodeError):
        return ascii_domain


def normalize_local(text: str) -> str:
    local = text.strip()
    if not local:
        raise invalid("empty local part")
    if len(local.encode("utf-8")) > MAX_LOCAL:
        raise invalid(f"local part '{local}' is longer than {MAX_LOCAL} octets")
    if not _DOT_ATOM.match(local):
        raise invalid(f"'{local}' is not a valid local part (use letters, digits and . _ - +)")
    return local.lower()


@dataclass(frozen=True, slots=True)
class Address:
    """A canonical ``local@domain`` pair."""

    local: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse a plain address (no display name, no angle brackets, no quoted local part)."""
        text = text.strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1]
        if text.count("@") != 1:
            raise invalid(f"'{text}' is not an address of the form user@domain")
        local, domain = text.rsplit("@", 1)
        return cls(normalize_local(local), normalize_domain(domain))

    def without_tag(self, separator: str = "+") -> Address | None:
        """``user+tag@d`` → ``user@d`` (plus-addressing); None when there is no tag."""
        base, sep, _tag = self.local.partition(separator)
        if not sep or not base:
            return None
        return Address(base, self.domain)
