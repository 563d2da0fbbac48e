"""Messages written in webmail, as bytes; and originals read for replies and forwards.

Building (``build``): ``email.message.EmailMessage`` with ``policy.SMTP`` (CRLF, lines folded
at 78), so that header fields are encoded where needed: display names and subjects as RFC 2047
encoded words, attachment file names as RFC 2231 parameters (``filename*=utf-8''…``). When an
address itself is not ASCII the whole message is written with ``policy.SMTPUTF8`` (RFC 6532
§3: UTF-8 in header fields) instead. Every message gets Message-ID (``<random@host>``), Date
and MIME-Version (RFC 5322 §3.6.1, §3.6.4; RFC 2045 §4). Plain text goes as text/plain;
charset=utf-8; rich text as multipart/alternative with the plain reading first (RFC 2046
§5.1.4). A forwarded message travels as a message/rfc822 part (RFC 2046 §5.2.1) byte for byte:
the library would re-encode it, so a placeholder is swapped for the original after
flattening, with a 7bit or 8bit Content-Transfer-Encoding as its bytes require (base64 is not
allowed on message/rfc822).

Reading (``Original``): the stored message parsed with ``policy.default``; its text (HTML
read as text through mime/richtext.py), the addresses a reply goes to, the threading fields
(RFC 5322 §3.6.4) and its attachments.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

import idna

from postroom.core.errors import Kind, MailError
from postroom.mime import richtext

MAX_REFERENCES = 20  # ids kept in References: the first and the newest (RFC 5322 §3.6.4)
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3, a path without its brackets
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|fwd?|wg)(\[\d+\])?\s*:\s*)+", re.I)
_RE_PREFIX = re.compile(r"^\s*((re|aw|sv|antw)(\[\d+\])?\s*:\s*)+", re.I)
_FWD_PREFIX = re.compile(r"^\s*(fwd?|wg)\s*:", re.I)
_MSGID = re.compile(r"<[^<>\s]+>")
_CTYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_ATOM_LOCAL = re.compile(r"^[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f]+$")


# -- addresses ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str

    def header(self) -> Address:
        local, _, domain = self.address.rpartition("@")
        return Address(display_name=self.name, username=local, domain=domain)

    def shown(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


def check_address(address: str) -> str:
    """``address`` if it is one we can send to (local@domain, no spaces or controls);
    INVALID otherwise, naming it."""
    local, at, domain = address.rpartition("@")
    ok = bool(at and local and domain) and len(address) <= MAX_ADDRESS and \
        _ATOM_LOCAL.match(local) is not None and not local.startswith(".") and \
        not local.endswith(".") and ".." not in local
    if ok:
        try:
            idna.encode(domain.rstrip("."), uts46=True)
        except (idna.IDNAError, UnicodeError, ValueError):
            ok = False
    if not ok:
        shown = address if len(address) < 80 else address[:77] + "..."
        raise MailError(Kind.INVALID, f"“{shown}” is not an e-mail address")
    return address


def parse_people(text: str) -> list[Person]:
    """An address list as typed (``Ann <ann@x>, bob@y; …``): every entry checked."""
    text = text.replace(";", ",").replace("\r", " ").replace("\n", " ")
    people: list[Person] = []
    seen: set[str] = set()
    for entry in _split(text):
        pairs = getaddresses([entry])
        if len(pairs) != 1 or not pairs[0][1]:
            raise MailError(Kind.INVALID, f"“{entry[:80]}” is not an e-mail address")
        name, address = pairs[0]
        typed = entry[entry.rfind("<") + 1:].rstrip(">") if "<" in entry else entry
        if len(typed.split()) != 1:  # the parser would join "a@exa mple.test" silently
            raise MailError(Kind.INVALID, f"“{entry[:80]}” is not an e-mail address")
        check_address(address)
        if address.lower() not in seen:
            seen.add(address.lower())
            people.append(Person(" ".join(name.split()), address))
    return people


def _split(text: str) -> list[str]:
    """Split on commas outside quotes and angle brackets."""
    out: list[str] = []
    current: list[str] = []
    quoted = angle = False
    for char in text:
        if char == '"' and not angle:
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        if char == "," and not quoted and not angle:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    out.append("".join(current).strip())
    return [entry for entry in out if entry]


def one_line(value: str, limit: int = 998) -> str:
    """A single header value: no line breaks or controls (no header injection)."""
    cleaned = "".join(" " if ch in "\r\n\t" or ord(ch) < 32 or ord(ch) == 127 else ch
                      for ch in value)
    return " ".join(cleaned.split())[:limit]


# -- subjects and threading -----------------------------------------------------------------
def reply_subject(subject: str) -> str:
    """``Re: `` once, however many the original had (RFC 5322 §3.6.5)."""
    base = _RE_PREFIX.sub("", subject).strip()
    return f"Re: {base}" if base else "Re:"


def forward_subject(subject: str) -> str:
    subject = subject.strip()
    return subject if _FWD_PREFIX.match(subject) else f"Fwd: {subject}".rstrip()


def references_for(original_refs: str, original_irt: str, original_id: str) -> str:
    """References of a reply (RFC 5322 §3.6.4): the original's References (else its
    In-Reply-To when that holds one id), then its Message-ID; at most MAX_REFERENCES ids,
    keeping the thread's first."""
    ids = _MSGID.findall(original_refs)
    if not ids:
        irt = _MSGID.findall(original_irt)
        ids = irt if len(irt) == 1 else []
    if original_id:
        ids.append(original_id)
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1):]
    return " ".join(ids)


# -- building --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content_type: str
    path: Path


@dataclass(frozen=True, slots=True)
class Outgoing:
    sender: Person
    to: Sequence[Person]
    cc: Sequence[Person]
    bcc: Sequence[Person]
    subject: str
    text: str  # the plain text (the reading of the HTML for rich text)
    html: str | None  # the sanitised fragment, or None for plain text
    attachments: Sequence[Attachment]
    in_reply_to: str = ""
    references: str = ""
    extra: Sequence[tuple[str, str]] = ()  # further fields (a draft's own)


def safe_type(content_type: str) -> str:
    """A declared media type kept if it is one, else application/octet-stream."""
    value = content_type.split(";")[0].strip().lower()
    return value if _CTYPE.match(value) else "application/octet-stream"


def safe_name(name: str) -> str:
    """A file name as given by a browser or a message, made harmless: the last path
    component, no controls, at most 200 characters; "attachment" when nothing is left."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ord(ch) >= 32 and ord(ch) != 127).strip(" .")
    return name[:200] or "attachment"


def _needs_utf8(people: Iterable[Person]) -> bool:
    return any(not p.address.isascii() for p in people)


def build(out: Outgoing, hostname: str, *, with_bcc: bool, message_id: str = "",
          date: str = "") -> bytes:
    """The message as bytes (CRLF). ``with_bcc``: keep the Bcc field (the Sent copy and
    drafts); a copy for the recipients never has it (RFC 5322 §3.6.3)."""
    everyone = [out.sender, *out.to, *out.cc, *out.bcc]
    pol = policy.SMTPUTF8 if _needs_utf8(everyone) else policy.SMTP
    msg = EmailMessage(policy=pol)
    try:
        msg["From"] = out.sender.header()
        if out.to:
            msg["To"] = tuple(p.header() for p in out.to)
        if out.cc:
            msg["Cc"] = tuple(p.header() for p in out.cc)
        if with_bcc and out.bcc:
            msg["Bcc"] = tuple(p.header() for p in out.bcc)
        msg["Subject"] = one_line(out.subject)
        msg["Date"] = date or format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id or f"<{secrets.token_hex(16)}@{hostname}>"
        if out.in_reply_to:
            msg["In-Reply-To"] = one_line(out.in_reply_to)
        if out.references:
            msg["References"] = one_line(out.references)
        for name, value in out.extra:
            msg[name] = one_line(value)
    except (ValueError, TypeError, IndexError) as exc:  # the email package refuses a value
        raise MailError(Kind.INVALID, f"a header field could not be written: {exc}") from None
    text = out.text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    msg.set_content(text, subtype="plain", charset="utf-8")
    if out.html is not None:
        msg.add_alternative(richtext.document(out.html), subtype="html", charset="utf-8")
    swaps: list[tuple[bytes, Path]] = []
    if out.attachments:
        msg.make_mixed()
        for item in out.attachments:
            msg.attach(_part(item, pol, swaps))  # type: ignore[arg-type]
    data = msg.as_bytes()
    for token, path in swaps:
        raw = _crlf(path.read_bytes())
        data = data.replace(token, raw, 1)
    return data


def _part(item: Attachment, pol: Any, swaps: list[tuple[bytes, Path]],
          ) -> MIMEPart:
    part = MIMEPart(policy=pol)
    maintype, _, subtype = safe_type(item.content_type).partition("/")
    if (maintype, subtype) == ("message", "rfc822"):
        token = f"X-Postroom-Placeholder-{secrets.token_hex(16)}"
        raw = item.path.read_bytes()
        part["Content-Type"] = "message/rfc822"
        part["Content-Transfer-Encoding"] = "7bit" if raw.isascii() else "8bit"
        part["Content-Disposition"] = "attachment"
        part.set_param("filename", item.name, header="Content-Disposition")
        part.set_payload(token)
        swaps.append((token.encode(), item.path))
        return part
    if maintype in ("multipart", "message"):  # never a structure of its own: opaque bytes
        maintype, subtype = "application", "octet-stream"
    part.set_content(item.path.read_bytes(), maintype, subtype, disposition="attachment",
                     filename=item.name)
    return part


def _crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw).rstrip(b"\r\n") + b"\r\n"


# -- reading originals ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OriginalPart:
    name: str
    content_type: str
    data: bytes


class Original:
    """A stored message, read for a reply, a forward or a draft to continue."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)

    def header(self, name: str) -> str:
        try:
            value = self.msg.get(name)
        except (ValueError, TypeError, IndexError):  # a header the parser cannot decode
            return ""
        return one_line(str(value)) if value is not None else ""

    def people(self, *names: str) -> list[Person]:
        out: list[Person] = []
        for name in names:
            try:
                values = [str(v) for v in self.msg.get_all(name) or []]
            except (ValueError, TypeError, IndexError):
                continue
            for display, address in getaddresses(values):
                if address and "@" in address:
                    out.append(Person(one_line(display), address))
        return out

    @property
    def subject(self) -> str:
        return self.header("Subject")

    @property
    def message_id(self) -> str:
        found = _MSGID.findall(self.header("Message-ID"))
        return found[0] if found else ""

    def date_text(self) -> str:
        value = self.header("Date")
        try:
            return format_datetime(parsedate_to_datetime(value)) if value else ""
        except (TypeError, ValueError, IndexError):
            return value

    def _body_part(self, prefer: tuple[str, ...]) -> EmailMessage | None:
        try:
            part = self.msg.get_body(preferencelist=prefer)
        except (KeyError, ValueError, TypeError, IndexError):
            return None
        return part if isinstance(part, EmailMessage) else None

    @staticmethod
    def _content(part: EmailMessage) -> str:
        try:
            content = part.get_content()
        except (LookupError, ValueError, TypeError, AssertionError):
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        return content if isinstance(content, str) else ""

    def text(self) -> str:
        """The body as plain text: the text/plain part, else the HTML read as text."""
        part = self._body_part(("plain", "html"))
        if part is None:
            return ""
        content = self._content(part)
        if part.get_content_subtype() == "html":
            return richtext.html_to_text(content)
        return content.replace("\r\n", "\n")

    def html(self) -> str | None:
        """The body's HTML, sanitised for the editor; None when it has none."""
        part = self._body_part(("html",))
        if part is None:
            return None
        return richtext.sanitize(self._content(part))

    def attachments(self) -> list[OriginalPart]:
        """Every part that is not the body: what a forward carries along."""
        out = []
        try:
            parts = list(self.msg.iter_attachments())
        except (KeyError, ValueError, TypeError, AttributeError):
            return []
        for part in parts:
            if part.get_content_maintype() == "multipart":
                continue
            ctype = part.get_content_type()
            if ctype == "message/rfc822":
                inner = part.get_payload()
                first = inner[0] if isinstance(inner, list) and inner else None
                try:
                    data = first.as_bytes() if isinstance(first, Message) else b""
                except (UnicodeError, ValueError, TypeError, LookupError):
                    data = b""  # an inner message the library cannot write back
            else:
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
            name = part.get_filename() or ("message.eml" if ctype == "message/rfc822"
                                           else "attachment")
            out.append(OriginalPart(safe_name(name), safe_type(ctype), data))
        return out


def quote_plain(original: Original) -> str:
    """"On <date>, <who> wrote:" and the original's lines with "> " (RFC 3676 §4.5)."""
    who = original.people("From")
    author = who[0].shown() if who else "someone"
    date = original.date_text()
    lead = f"On {date}, {author} wrote:" if date else f"{author} wrote:"
    lines = original.text().rstrip("\n").split("\n")
    quoted = "\n".join((">" + line) if line.startswith(">") else ("> " + line).rstrip()
                       for line in lines)
    return f"{lead}\n{quoted}\n"


def forward_block(original: Original) -> list[tuple[str, str]]:
    """The original's header fields shown above a forwarded text."""
    rows = [("From", ", ".join(p.shown() for p in original.people("From"))),
            ("Date", original.date_text()), ("Subject", original.subject),
            ("To", ", ".join(p.shown() for p in original.people("To"))),
            ("Cc", ", ".join(p.shown() for p in original.people("Cc")))]
    return [(name, value) for name, value in rows if value]


def forward_plain(original: Original) -> str:
    head = "\n".join(f"{name}: {value}" for name, value in forward_block(original))
    return f"---------- Forwarded message ----------\n{head}\n\n{original.text()}"


def forward_html(original: Original) -> str:
    head = "<br>".join(f"{richtext.text_to_html(name)}: {richtext.text_to_html(value)}"
                       for name, value in forward_block(original))
    body = original.html() or richtext.text_to_html(original.text())
    return (f"<p>---------- Forwarded message ----------<br>{head}</p>"
            f"<div>{body}</div>")


def quote_html(original: Original) -> str:
    who = original.people("From")
    author = who[0].shown() if who else "someone"
    date = original.date_text()
    lead = f"On {date}, {author} wrote:" if date else f"{author} wrote:"
    body = original.html() or richtext.text_to_html(original.text())
    return f"<p>{richtext.text_to_html(lead)}</p><blockquote>{body}</blockquote>"
