"""SMTP workload: N messages over C concurrent connections, a new connection per message,
timed until every message is readable in its mailbox (issue 5's target, issue 8's workload 1).

The load generator is Postfix's ``smtp-source`` (C, one process, new connection per message
unless ``-d``), the same for both sides so the client costs both the same. "Accepted" is the
time smtp-source needs to get its 250s; "delivered" runs until IMAP STATUS on the recipient's
INBOX shows every message (polled every 50 ms over one IMAP connection, on both servers).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from typing import Any

SENDER = "load@example.net"


async def _status_count(port: int, user: str, password: str) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(f'a LOGIN "{user}" "{password}"\r\n'.encode())
    while not (line := await reader.readline()).startswith(b"a "):
        if not line:
            raise ConnectionError("IMAP connection closed at LOGIN")
    if not line.startswith(b"a OK"):
        raise RuntimeError(f"IMAP LOGIN as {user} failed: {line!r}")
    return reader, writer


async def _messages(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    writer.write(b"s STATUS INBOX (MESSAGES)\r\n")
    count = -1
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("IMAP connection closed")
        m = re.search(rb"MESSAGES (\d+)", line)
        if m:
            count = int(m.group(1))
        if line.startswith(b"s "):
            return count


async def cell(smtp_port: int, imap_port: int, user: str, password: str, messages: int,
               size: int, sessions: int, timeout: float = 300.0) -> dict[str, Any]:
    """One measurement: returns accepted/s, delivered/s and the seconds each took."""
    reader, writer = await _status_count(imap_port, user, password)
    try:
        base = await _messages(reader, writer)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            "smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", SENDER, "-t", user, "-M", "client.bench.test", f"127.0.0.1:{smtp_port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
        accepted_s = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"smtp-source failed: {err.decode(errors='replace')[:300]}")
        delivered = base
        deadline = started + timeout
        while delivered < base + messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {delivered - base} of {messages} delivered")
            await asyncio.sleep(0.05)
            delivered = await _messages(reader, writer)
        delivered_s = time.monotonic() - started
    finally:
        writer.close()
    return {"messages": messages, "size": size, "sessions": sessions,
            "accepted_s": accepted_s, "delivered_s": delivered_s,
            "accepted_per_s": messages / accepted_s, "delivered_per_s": messages / delivered_s}


def smtp_source_available() -> bool:
    return shutil.which("smtp-source") is not None
