"""Helpers for the message list's tests (tests/webmail/test_lists*.py): folder ids from the
tree, the rows of a list page, actions posted with repeated ``uid`` fields, IMAP look-ups."""

from __future__ import annotations

import html
import imaplib
import re
import time
from email.message import EmailMessage
from urllib.parse import urlencode

from tests.support.web import Page, WebClient

_FOLDER = re.compile(r'data-folder-id="(\d+)".*?<span class="label">([^<]*)</span>', re.S)
_ROW = re.compile(r'<tr class="msg([^"]*)"\s+data-uid="(\d+)"')
_SUBJECT = re.compile(r'class="open">(?:<span class="visually-hidden">[^<]*</span>)?([^<]*)</a>')


def folders(web: WebClient) -> dict[str, int]:
    """Folder label → id, as the tree shows them (own folders by their last level)."""
    page = web.get("/webmail/tree")
    assert page.status == 200, page.text
    out: dict[str, int] = {}
    for fid, label in _FOLDER.findall(page.text):
        out.setdefault(html.unescape(label), int(fid))
    return out


def rows(page: Page) -> list[int]:
    """The UIDs of a list page's rows, in order."""
    assert page.status == 200, (page.status, page.text[:500])
    return [int(uid) for _, uid in _ROW.findall(page.text)]


def unread_rows(page: Page) -> list[int]:
    return [int(uid) for cls, uid in _ROW.findall(page.text) if "unread" in cls]


def subjects(page: Page) -> list[str]:
    assert page.status == 200, (page.status, page.text[:500])
    return [html.unescape(s) for s in _SUBJECT.findall(page.text)]


def act(web: WebClient, fid: int, action: str, uids: list[int], *, target: int | None = None,
        json: bool = False, confirm: bool = False, csrf: bool = True,
        extra: list[tuple[str, str]] | None = None) -> Page:
    """POST /webmail/f/{fid}/act with repeated ``uid`` fields."""
    fields: list[tuple[str, str]] = [("action", action)] + [("uid", str(u)) for u in uids]
    if target is not None:
        fields.append(("target", str(target)))
    if confirm:
        fields.append(("confirm", "1"))
    if csrf:
        fields.append(("csrf", web.csrf))
    fields += extra or []
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if json:
        headers["Accept"] = "application/json"
    return web.request("POST", f"/webmail/f/{fid}/act", urlencode(fields).encode(), headers)


def message(to: str, subject: str, *, sender: str = "someone@remote.test",
            date: str | None = None, msgid: str | None = None, refs: str | None = None,
            body: str = "Hello.", attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if date:
        msg["Date"] = date
    if msgid:
        msg["Message-ID"] = msgid
    if refs:
        msg["References"] = refs
        msg["In-Reply-To"] = refs.split()[-1]
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf",
                           filename="doc.pdf")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def append(imap: imaplib.IMAP4, folder: str, data: bytes, flags: str = "") -> None:
    typ, _ = imap.append(folder, flags or None, None, data)  # type: ignore[arg-type]
    assert typ == "OK"


def imap_uids(imap: imaplib.IMAP4, folder: str, criteria: str = "ALL") -> list[int]:
    typ, _ = imap.select(folder)
    assert typ == "OK"
    typ, data = imap.uid("SEARCH", criteria)
    assert typ == "OK"
    return [int(x) for x in (data[0] or b"").split()]


def wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
