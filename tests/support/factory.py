"""Small builders for tests: accounts, principals, messages."""

from __future__ import annotations

from postroom.app import Services
from postroom.core.principal import Principal


async def account(s: Services, address: str, password: str = "pw-" + "x" * 8,
                  quota: int | None = None) -> Principal:
    domain = address.rsplit("@", 1)[1]
    if not await s.directory.is_local_domain(domain):
        await s.directory.add_domain(domain)
    rec = await s.directory.add_account(address, password, quota_bytes=quota)
    await s.mailboxes.ensure_defaults(rec.id, rec.domain_id)
    return await s.directory.principal_for(rec)


def message(subject: str = "hello", body: str = "body", size: int = 0) -> bytes:
    text = (f"From: Sender <sender@example.net>\r\nTo: someone@example.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{subject}@example.net>\r\n\r\n{body}\r\n")
    data = text.encode()
    if size > len(data):
        line = b"x" * 76 + b"\r\n"
        data += line * ((size - len(data)) // len(line))
    return data
