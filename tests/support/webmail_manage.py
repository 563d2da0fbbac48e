"""Helpers for the tests of webmail's folders, sharing and settings screens
(tests/webmail/test_folders.py, test_sharing*.py, test_settings.py): folder ids as the store
has them, what IMAP shows (LIST, GETACL, MYRIGHTS), the audit log, administrator roles."""

from __future__ import annotations

import imaplib
import re
from typing import Any

from postroom.access.ops import Op
from postroom.core.actor import Actor
from postroom.services.webmail import Webmail as WebmailServices
from tests.support.webmail import Webmail

_LIST = re.compile(rb'\((?P<flags>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>"(?:[^"\\]|\\.)*"|\S+)')


def folder_id(mail: Webmail, address: str, name: str) -> int:
    """The store id of folder ``name`` as ``address`` names it (NOT_FOUND if they cannot
    see it)."""
    services = mail.server.services

    async def find() -> int:
        rec = await services.directory.require_account(address)
        principal = await services.directory.principal_for(rec)
        return (await services.mailboxes.open(principal, name, Op.LIST)).id
    return mail.server.call(find())


def quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_names(client: imaplib.IMAP4) -> set[str]:
    """Every name IMAP LIST "" "*" shows."""
    typ, data = client.list('""', "*")
    assert typ == "OK", data
    out = set()
    for line in data:
        if not isinstance(line, bytes):
            continue
        found = _LIST.match(line)
        assert found, line
        name = found.group("name")
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        out.add(name.decode("utf-8"))
    return out


def getacl(client: imaplib.IMAP4, name: str) -> dict[str, str]:
    """GETACL (RFC 4314 §3.3) as {identifier: rights}."""
    typ, data = client.getacl(quoted(name))
    assert typ == "OK", data
    raw = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
    words = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', raw)[1:]  # the mailbox name first
    return {words[i].strip('"'): words[i + 1].strip('"') for i in range(0, len(words) - 1, 2)}


def myrights(client: imaplib.IMAP4, name: str) -> str:
    """MYRIGHTS (RFC 4314 §3.8): the rights letters."""
    typ, data = client.myrights(quoted(name))
    assert typ == "OK", data
    raw = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
    return raw.rsplit(" ", 1)[1].strip('"')


def audit(mail: Webmail, action: str) -> list[Any]:
    """The audit log's records of ``action``, newest first."""
    return mail.server.call(mail.server.services.admin.audit(Actor.operator(), action=action))


def make_admin(mail: Webmail, address: str, domain: str | None) -> None:
    """``address`` administers ``domain`` (None: every domain); log in after this."""
    mail.server.call(mail.server.services.admin.roles.set(Actor.operator(), address, domain,
                                                          True))


def neutral(text: str, *ids: int) -> str:
    """A 404's text with the folder ids given made neutral, to compare two answers."""
    for number in ids:
        text = text.replace(f"#{number}", "#ID")
    return text


def webmail_of(mail: Webmail) -> WebmailServices:
    """The server's webmail services (what the pages call)."""
    found = mail.server.server.webmail
    assert found is not None
    return found
