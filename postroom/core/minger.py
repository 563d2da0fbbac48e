"""Minger wire format (draft-hathcock-minger-06, Aug 2009), sans I/O: shared by the UDP server
(protocols/minger.py) and the client the domain gateways use (mta/minger.py).

One query datagram, one response datagram (§2, §3):

    query-string    = mailbox [SP "d=" digest] [SP tag-list]
    digest          = base64( MD5( shared-secret ":" mailbox ) )
    tag-list        = tag-spec *(SP tag-spec) ; tag-spec = tag-name "=" tag-value
    response-string = mailbox SP status       ; status = one digit 0..5

``mailbox`` is RFC 5321's ``Local-part "@" Domain``. Tag names and values are
``1*(ALPHA / DIGIT / "_")``; a name is never ``d`` and never repeated; unknown tags are
ignored. The draft's response ABNF omits the SP its examples show: we send it and, as a client,
accept both forms (specs.md §6).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

INVALID = 0  # malformed request
DENIED = 1  # the source may not ask (allowed networks)
BAD_CREDENTIALS = 2  # anonymous refused, or a wrong digest
UNKNOWN = 3  # no such address
UNAVAILABLE = 4  # exists, cannot receive mail now (disabled, over quota)
ACTIVE = 5  # exists and accepts mail

STATUS_TEXT = {INVALID: "invalid request", DENIED: "access denied",
               BAD_CREDENTIALS: "bad or missing credentials", UNKNOWN: "address does not exist",
               UNAVAILABLE: "exists but cannot receive mail", ACTIVE: "exists and is active"}

MAX_QUERY = 1024  # octets; a mailbox is at most 256 (RFC 5321 §4.5.3.1.3) plus digest and tags
MAX_SECRET = 50  # §2.1: shared-secret = 1*50 VCHAR

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]"
_DOT_STRING = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]+\]"
MAILBOX = re.compile(rf"^(?:{_DOT_STRING}|{_QUOTED})@(?:{_DOMAIN}|{_LITERAL})$")
_TAG = re.compile(r"^([A-Za-z0-9_]+)=([A-Za-z0-9_]+)$")
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class MingerSyntaxError(ValueError):
    """The datagram does not follow the draft's grammar (status 0)."""


@dataclass(frozen=True, slots=True)
class Query:
    mailbox: str
    digest: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def is_mailbox(text: str) -> bool:
    return len(text) <= 256 and MAILBOX.match(text) is not None


def digest(secret: str, mailbox: str) -> str:
    """§2.1: base64 of MD5 over ``shared-secret ":" mailbox`` (the mailbox as sent)."""
    raw = hashlib.md5(f"{secret}:{mailbox}".encode(), usedforsecurity=False).digest()
    return base64.b64encode(raw).decode("ascii")


def check_secret(secret: str) -> str:
    """A usable shared secret: 1 to 50 visible ASCII characters (§2.1)."""
    if not 1 <= len(secret) <= MAX_SECRET or not all(0x21 <= ord(c) <= 0x7e for c in secret):
        raise ValueError("a Minger secret is 1 to 50 visible ASCII characters, no spaces")
    return secret


def _text(data: bytes) -> str:
    if len(data) > MAX_QUERY:
        raise MingerSyntaxError("datagram too long")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise MingerSyntaxError("not ASCII") from None
    if not text or any(not 0x20 <= ord(c) <= 0x7e for c in text):
        raise MingerSyntaxError("empty, or control characters")
    return text


def _split_mailbox(text: str) -> tuple[str, list[str]]:
    """The mailbox (a quoted local part may hold spaces, RFC 5321 §4.1.2) and the words
    after it."""
    start = 0
    if text.startswith('"'):
        i = 1
        while i < len(text) and text[i] != '"':
            i += 2 if text[i] == "\\" else 1
        start = i
    end = text.find(" ", start)
    if end < 0:
        return text, []
    return text[:end], text[end + 1:].split(" ")


def parse_query(data: bytes) -> Query:
    text = _text(data)
    mailbox, rest = _split_mailbox(text)
    if not is_mailbox(mailbox):
        raise MingerSyntaxError("not a mailbox")
    sent_digest: str | None = None
    if rest and rest[0].startswith("d="):
        sent_digest = rest.pop(0)[2:]
        if not _B64.match(sent_digest):
            raise MingerSyntaxError("digest is not base64")
        try:
            if len(base64.b64decode(sent_digest, validate=True)) != 16:
                raise MingerSyntaxError("digest is not an MD5 value")
        except binascii.Error:
            raise MingerSyntaxError("digest is not base64") from None
    tags: dict[str, str] = {}
    for word in rest:
        m = _TAG.match(word)
        if m is None:
            raise MingerSyntaxError(f"bad tag {word[:40]!r}")
        name, value = m.groups()
        if name == "d" or name in tags:
            raise MingerSyntaxError(f"tag {name} not allowed here or repeated")
        tags[name] = value
    return Query(mailbox, sent_digest, tags)


def echo_token(data: bytes) -> str:
    """What to echo in the reply to a malformed query: its first word, if printable, never
    longer than the query itself (no amplification, specs.md §6)."""
    first = data[:MAX_QUERY].split(b" ", 1)[0].strip()
    try:
        word = first.decode("ascii")
    except UnicodeDecodeError:
        return ""
    return word if word and all(0x21 <= ord(c) <= 0x7e for c in word) else ""


def format_query(mailbox: str, secret: str | None = None,
                 tags: dict[str, str] | None = None) -> bytes:
    parts = [mailbox]
    if secret:
        parts.append("d=" + digest(secret, mailbox))
    parts += [f"{k}={v}" for k, v in (tags or {}).items()]
    return " ".join(parts).encode("ascii")


def format_response(mailbox: str, status: int) -> bytes:
    return (f"{mailbox} {status}" if mailbox else str(status)).encode("ascii")


def parse_response(data: bytes, mailbox: str) -> int:
    """The status digit of a reply to our query for ``mailbox`` (with or without the SP)."""
    text = _text(data)
    status = text[-1:]
    if not status.isdigit() or int(status) > ACTIVE:
        raise MingerSyntaxError("no status digit")
    echoed = text[:-1].rstrip(" ")
    if echoed.lower() != mailbox.lower():
        raise MingerSyntaxError(f"reply names {echoed[:80]!r}, not {mailbox!r}")
    return int(status)
