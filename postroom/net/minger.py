"""The Minger client (draft-hathcock-minger-06 §2–§4; specs.md §6): ask a host over UDP
whether it accepts mail for an address. Used by domain gateways before they accept RCPT, and by
``postroom minger query``.

UDP may lose a datagram: the query is sent up to ``attempts`` times, each waiting ``timeout``
seconds. A reply must name the mailbox we asked about (anything else is ignored: it could be a
late answer to an earlier query or a forgery). ``MingerCache`` keeps positive answers (5) for
``positive_ttl`` seconds and negative ones (3, 4) for ``negative_ttl``; failures (no answer,
0, 1, 2) are not cached, so a fixed destination is asked again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from postroom.core import minger

PORT = 4069
MAX_CACHE = 50_000


class MingerError(Exception):
    """No usable answer (timeout, unreachable, garbage)."""


class _Client(asyncio.DatagramProtocol):
    def __init__(self, mailbox: str) -> None:
        self.mailbox = mailbox
        self.answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if self.answer.done():
            return
        with contextlib.suppress(minger.MingerSyntaxError):
            self.answer.set_result(minger.parse_response(data, self.mailbox))

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(MingerError(f"unreachable: {exc}"))


async def query(host: str, port: int, mailbox: str, secret: str | None = None, *,
                timeout: float = 3.0, attempts: int = 2) -> int:
    """The status digit ``host`` gives for ``mailbox`` (0–5); MingerError when none comes."""
    if not minger.is_mailbox(mailbox):
        raise MingerError(f"{mailbox!r} is not an address")
    data = minger.format_query(mailbox, secret)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Client(mailbox), remote_addr=(host, port))
    except OSError as exc:
        raise MingerError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from None
    try:
        for _ in range(max(1, attempts)):
            transport.sendto(data)
            try:
                return await asyncio.wait_for(asyncio.shield(protocol.answer), timeout)
            except TimeoutError:
                continue
        raise MingerError(f"no answer from {host}:{port} after {attempts} tries "
                          f"of {timeout:g} s")
    finally:
        transport.close()


@dataclass
class _Entry:
    status: int
    expires: float


class MingerCache:
    def __init__(self, positive_ttl: float, negative_ttl: float) -> None:
        self.positive_ttl = positive_ttl
        self.negative_ttl = negative_ttl
        self.entries: dict[tuple[str, int, str], _Entry] = {}

    def get(self, host: str, port: int, mailbox: str) -> int | None:
        key = (host, port, mailbox.lower())
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit.expires <= time.monotonic():
            del self.entries[key]
            return None
        return hit.status

    def put(self, host: str, port: int, mailbox: str, status: int) -> None:
        if status == minger.ACTIVE:
            ttl = self.positive_ttl
        elif status in (minger.UNKNOWN, minger.UNAVAILABLE):
            ttl = self.negative_ttl
        else:
            return
        if ttl <= 0:
            return
        if len(self.entries) >= MAX_CACHE:
            now = time.monotonic()
            for key in [k for k, e in self.entries.items() if e.expires <= now]:
                del self.entries[key]
            if len(self.entries) >= MAX_CACHE:
                self.entries.clear()
        self.entries[(host, port, mailbox.lower())] = _Entry(status, time.monotonic() + ttl)

    async def lookup(self, host: str, port: int, mailbox: str, secret: str | None, *,
                     timeout: float, attempts: int) -> int:
        cached = self.get(host, port, mailbox)
        if cached is not None:
            return cached
        status = await query(host, port, mailbox, secret, timeout=timeout, attempts=attempts)
        self.put(host, port, mailbox, status)
        return status
