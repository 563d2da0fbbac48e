"""The composer on a cluster (WebmailContext.shared_compose, services/webmail/compose_shared.py):
two composers with their own data directories stand for two nodes on one store. A message is
opened on one, its attachment streamed in through the other, its page shown and the message
sent from the first; a second send of it (a double click that reached the other node) finds
it gone; the recipient gets the attachment once. The server's own store (SQLite here: the
contract tests run the staging on PostgreSQL with two engines)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.webmail.compose import Composer
from tests.support.webmail import Webmail


def _node(mail: Webmail, data: Path) -> Composer:
    webmail = mail.server.server.webmail
    assert webmail is not None
    base = webmail.compose
    ctx = replace(base._ctx, shared_compose=True, data_path=data)
    return Composer(ctx, base._prefs, base._folders)


def _principal(mail: Webmail, address: str) -> Principal:
    services = mail.server.services

    async def find() -> Principal:
        rec = await services.directory.require_account(address)
        return await services.directory.principal_for(rec)
    return mail.server.call(find())


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 64 * 1024):
        await asyncio.sleep(0)
        yield data[start:start + 64 * 1024]


def test_a_message_written_across_two_nodes(mail: Webmail, tmp_path: Path) -> None:
    sender = mail.account("roamer@example.test")
    rcpt = mail.account("reader@example.test")
    me = _principal(mail, sender)
    a, b = _node(mail, tmp_path / "a"), _node(mail, tmp_path / "b")
    payload = os.urandom(300_000)

    async def write() -> str:
        cid = await a.start(me)
        staged = await b.upload(me, cid, "data.bin", "application/octet-stream",
                                _chunks(payload))
        assert staged.size == len(payload)
        view = await a.view(me, cid)  # the page on A lists B's upload
        assert [(s.name, s.size) for s in view.attachments] == [("data.bin", len(payload))]
        fields = msgspec.structs.replace(view.fields, to=rcpt, subject="across nodes",
                                         body="see attached")
        await b.update(me, cid, fields)
        result = await a.send(me, cid, (await a.view(me, cid)).fields, "127.0.0.1")
        assert result.recipients == 1
        with pytest.raises(MailError) as caught:  # the second click, on B
            await b.send(me, cid, fields, "127.0.0.1")
        assert caught.value.kind is Kind.NOT_FOUND
        return cid

    mail.server.call(write())
    imap = mail.imap(rcpt)
    try:
        found: list[bytes] = []
        for _ in range(100):
            imap.select("INBOX")
            typ, data = imap.search(None, "SUBJECT", '"across nodes"')
            found = data[0].split() if typ == "OK" and data[0] else []
            if found:
                break
            time.sleep(0.1)
        assert len(found) == 1, "delivered once"
        typ, msg = imap.fetch(found[0].decode(), "(RFC822)")
        body = msg[0][1] if isinstance(msg[0], tuple) else b""
        assert b'filename="data.bin"' in body or b"filename=data.bin" in body
    finally:
        imap.logout()
