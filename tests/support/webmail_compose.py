"""Helpers for the compose tests: open a compose session, post its multipart form, upload
raw files, read what arrived over IMAP (waiting for the queue to deliver)."""

from __future__ import annotations

import email
import html
import imaplib
import re
import secrets
import time
from email import policy
from email.message import EmailMessage
from urllib.parse import parse_qs, quote, urlsplit

from tests.support.web import Page, WebClient
from tests.support.webmail import Webmail

# Limits the compose tests run with: small, so that a test can pass them cheaply.
COMPOSE_CONFIG = ["web.webmail.max_upload_size=65536", "web.webmail.max_attachments=3",
                  "limits.max_message_size=200000", "web.webmail.max_recipients=5",
                  "web.webmail.max_text_size=50000", "web.webmail.completion_min_chars=2",
                  "web.webmail.compose_sessions=6"]

_INPUT = re.compile(r'<input id="compose-(\w+)" name="(\w+)"[^>]*?value="([^"]*)"', re.S)
_TEXTAREA = re.compile(r'<textarea id="compose-text" name="body"[^>]*>(.*?)</textarea>', re.S)


def start(web: WebClient, query: str = "") -> str:
    """A new compose session (GET /webmail/compose?query); its cid."""
    page = web.get("/webmail/compose" + (f"?{query}" if query else ""))
    assert page.status == 303, (page.status, page.text)
    cid = parse_qs(urlsplit(page.location).query)["cid"][0]
    shown = web.get(page.location)  # also picks up the CSRF token
    assert shown.status == 200, shown.text
    return cid


def fields_of(page: Page) -> dict[str, str]:
    """The compose form's text fields as the page shows them."""
    out = {name: html.unescape(value) for _, name, value in _INPUT.findall(page.text)}
    body = _TEXTAREA.search(page.text)
    out["body"] = html.unescape(body.group(1)) if body else ""
    return out


def multipart(fields: dict[str, str] | list[tuple[str, str]],
              files: list[tuple[str, str, str, bytes]] = ()) -> tuple[bytes, str]:  # type: ignore[assignment]
    """(body, content type) of a multipart/form-data post (RFC 7578)."""
    boundary = "----postroom" + secrets.token_hex(8)
    chunks: list[bytes] = []
    items = fields.items() if isinstance(fields, dict) else fields
    for name, value in items:
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                      f"\r\n\r\n{value}\r\n".encode())
    for field, filename, ctype, data in files:
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                      f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
                      + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def post(web: WebClient, path: str, fields: dict[str, str], *,
         files: list[tuple[str, str, str, bytes]] | None = None, json: bool = False,
         csrf: bool = True) -> Page:
    data = dict(fields)
    if csrf:
        data.setdefault("csrf", web.csrf)
    body, ctype = multipart(data, files or [])
    headers = {"Content-Type": ctype}
    if json:
        headers["Accept"] = "application/json"
    return web.request("POST", path, body, headers)


def upload(web: WebClient, cid: str, name: str, data: bytes,
           ctype: str = "application/octet-stream") -> Page:
    return web.request("POST", f"/webmail/upload/{cid}", data, {
        "Content-Type": ctype, "X-File-Name": quote(name), "X-CSRF-Token": web.csrf,
        "Accept": "application/json"})


def message(to: str, subject: str, *, sender: str = "bob@example.test", cc: str = "",
            body: str = "Original text.\nSecond line.", msgid: str = "",
            references: str = "", attachment: tuple[str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = "Thu, 03 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = msgid or f"<{secrets.token_hex(8)}@example.test>"
    if references:
        msg["References"] = references
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], "application", "octet-stream",
                           filename=attachment[0])
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def uid_by_subject(mail: Webmail, address: str, folder: str, subject: str) -> int:
    """The UID of the message with ``subject`` in ``folder`` (waits for delivery)."""
    deadline = time.monotonic() + 15
    while True:
        imap = mail.imap(address)
        try:
            imap.select(f'"{folder}"')
            quoted = '"' + subject.replace("\\", "\\\\").replace('"', '\\"') + '"'
            typ, data = imap.uid("SEARCH", "SUBJECT", quoted)
            uids = data[0].split() if typ == "OK" and data and data[0] else []
        finally:
            imap.logout()
        if uids:
            return int(uids[-1])
        if time.monotonic() > deadline:
            raise AssertionError(f"no message {subject!r} in {address}'s {folder}")
        time.sleep(0.2)


def fetch_all(mail: Webmail, address: str, folder: str, *, wait_for: int = 1,
              ) -> list[tuple[bytes, bytes]]:
    """(FLAGS line, message bytes) of every message in ``folder``, waiting until at least
    ``wait_for`` are there."""
    deadline = time.monotonic() + 15
    while True:
        imap = mail.imap(address)
        try:
            imap.select(f'"{folder}"')
            found = _fetch(imap)
        finally:
            imap.logout()
        if len(found) >= wait_for or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _fetch(imap: imaplib.IMAP4) -> list[tuple[bytes, bytes]]:
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    out: list[tuple[bytes, bytes]] = []
    if typ != "OK":
        return out
    for item in data:
        if isinstance(item, tuple):
            out.append((item[0], item[1]))
    return out


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def folder_id(mail: Webmail, address: str, name: str) -> int:
    """The store id of ``address``'s own folder ``name`` (what webmail URLs carry)."""
    services = mail.server.services

    async def find() -> int:
        account = await services.store.directory.get_account(address)
        assert account is not None
        box = await services.store.mailboxes.by_name(account.id, name)
        assert box is not None, name
        return int(box.id)
    return int(mail.server.call(find()))


def received(mail: Webmail, address: str, folder: str, subject: str,
             ) -> tuple[bytes, bytes]:
    """(FLAGS line, bytes) of the message with ``subject`` in ``folder``, once delivered."""
    uid = uid_by_subject(mail, address, folder, subject)
    imap = mail.imap(address)
    try:
        imap.select(f'"{folder}"')
        typ, data = imap.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
    finally:
        imap.logout()
    item = data[0]
    assert typ == "OK" and isinstance(item, tuple), data
    return item[0], item[1]


def flags_of(mail: Webmail, address: str, folder: str, uid: int) -> bytes:
    imap = mail.imap(address)
    try:
        imap.select(f'"{folder}"')
        typ, data = imap.uid("FETCH", str(uid), "(FLAGS)")
    finally:
        imap.logout()
    assert typ == "OK" and isinstance(data[0], bytes), data
    return data[0]
