"""Sort keys of one message (RFC 5256 §2.1-§3, RFC 5957 §3), computed from its stored ENVELOPE.

These are the values SORT compares. They used to be computed from every message's stored
ENVELOPE at each SORT; now the store keeps them in columns of the message row, written when
the row is inserted, so SORT orders in SQL. To keep the two from ever disagreeing there is one
implementation, here, used both by the store (at insert and in the backfill of older rows) and
by ``protocols/imap/sort.py`` (which still sorts and threads ``Item``s in memory).

Invariants:
- Text keys are stored as UTF-8 octets (``surrogatepass``, so any Python string survives) in
  BLOB/BYTEA columns. UTF-8 preserves code point order and both databases compare octet
  strings like ``memcmp`` (shorter prefix first), so ``ORDER BY`` on a stored key orders
  exactly as Python's ``str`` comparison of the key, independent of any collation.
- The sent date (RFC 5256 §2.2) is stored as a float (REAL / double precision): the Date
  header in UTC, else the INTERNALDATE, the same number ``sent_date`` returns.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from typing import Any

from postroom.mime.text import decode_words

_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def casemap(text: str) -> str:
    """The i;ascii-casemap comparator (RFC 4790 §9.2): only ASCII letters fold."""
    return text.translate(_ASCII_UPPER)


def sent_date(header: str | None, internal_date: int) -> float:
    """RFC 5256 §2.2: the Date: header in UTC, else the INTERNALDATE."""
    if header:
        try:
            parsed = email.utils.parsedate_tz(header)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            try:
                return float(email.utils.mktime_tz(parsed))
            except (OverflowError, ValueError):
                pass
    return float(internal_date)


# -- base subject (RFC 5256 §2.1) ----------------------------------------------------------------
_WSP = re.compile(r"[ \t\r\n]+")
_TRAILER = re.compile(r"(?:\s|\(fwd\))$", re.I)
_BLOB = r"\[[^\[\]]*\]\s*"
_LEADER = re.compile(rf"^(?:(?:{_BLOB})*(?:re|fwd?)\s*(?:{_BLOB})?:|\s+)", re.I)
_LEADING_BLOB = re.compile(rf"^{_BLOB}")
_FWD_WRAP = re.compile(r"^\[fwd:(.*)\]$", re.I | re.S)


def base_subject(raw: str) -> tuple[str, bool]:
    """The base subject and whether it was a reply or forward (for REFERENCES step 6)."""
    # Step 1: decode encoded words, turn every run of white space into one space.
    subject = _WSP.sub(" ", decode_words(raw))
    reply = False
    while True:
        # Step 2: remove trailing "(fwd)" and white space, repeatedly.
        while (m := _TRAILER.search(subject)) is not None:
            if m.group(0) != " ":
                reply = True
            subject = subject[:m.start()]
        # Steps 3-5: leading "Re:", "Fwd:", "[blob]" and white space, until nothing changes.
        while True:
            before = subject
            while (m := _LEADER.match(subject)) is not None and m.end() > 0:
                if not m.group(0).isspace():
                    reply = True
                subject = subject[m.end():]
            m = _LEADING_BLOB.match(subject)
            if m is not None and subject[m.end():]:  # step 4: only if something is left
                subject = subject[m.end():]
            if subject == before:
                break
        # Step 6: "[fwd: subject]" is a forward of subject; unwrap and start over.
        m = _FWD_WRAP.match(subject)
        if m is None:
            return subject, reply
        subject, reply = m.group(1), True


# -- address keys (RFC 5256 §3, RFC 5957 §3) -----------------------------------------------------
def first_mailbox(addrs: list[list[str | None]] | None) -> str:
    """RFC 5256 §3: the addr-mailbox of the first address (FROM, TO, CC). The first entry
    counts even when it opens a group: a group start's mailbox field is the group name
    (RFC 9051 §7.5.2), which is what Dovecot sorts on; only an entry without one (a group's
    end marker) is passed over."""
    for addr in addrs or []:
        if addr[2] is not None:
            return casemap(decode_words(addr[2]))
    return ""


def display(addrs: list[list[str | None]] | None) -> str:
    """RFC 5957 §3: the decoded display name of the first address, else its addr-spec
    (``mailbox@host``, or the mailbox alone when there is no host); a group sorts by its
    name (the mailbox field of its start marker)."""
    for name, _adl, mailbox, host in addrs or []:
        if mailbox is None:
            continue
        if name:
            return decode_words(name).casefold()
        return (mailbox if host is None else f"{mailbox}@{host}").casefold()
    return ""


@dataclass(frozen=True, slots=True)
class SortKeys:
    """Every stored key of one message, as SORT compares them."""

    subject: str  # SUBJECT: the casemapped base subject
    from_: str  # FROM
    to: str  # TO
    cc: str  # CC
    display_from: str  # DISPLAYFROM
    display_to: str  # DISPLAYTO
    sent: float  # DATE

    def stored(self) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes, float]:
        """The column values, in ``STORED_COLUMNS`` order."""
        return (_octets(self.subject), _octets(self.from_), _octets(self.to),
                _octets(self.cc), _octets(self.display_from), _octets(self.display_to),
                self.sent)


# The message-row columns that hold the keys, in ``SortKeys.stored`` order.
STORED_COLUMNS = ("sort_subject", "sort_from", "sort_to", "sort_cc", "sort_displayfrom",
                  "sort_displayto", "sort_date")


def _octets(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def sort_keys(env: list[Any], internal_date: int) -> SortKeys:
    """The keys of a message with this ENVELOPE (RFC 9051 §7.5.2 field order) and
    INTERNALDATE."""
    return SortKeys(casemap(base_subject(env[1] or "")[0]), first_mailbox(env[2]),
                    first_mailbox(env[5]), first_mailbox(env[6]), display(env[2]),
                    display(env[5]), sent_date(env[0], internal_date))
