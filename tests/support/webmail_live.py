"""A small Server-Sent Events reader on a real socket, for the live-update tests.

It speaks HTTP/1.1 over TLS itself (no client library buffers the stream), decodes the
chunked body, and parses events as the HTML Living Standard §9.2.6 says: ``event``, ``data``
(joined by newlines), ``id``, ``retry``, comment lines starting with ``:``, an event dispatched
at a blank line. A thread reads; the test takes events from a queue with a timeout.

    sse = SseReader(port, web.jar)                   # the cookies of a logged-in WebClient
    event = sse.expect("mail", lambda d: d["folder"] == inbox)
    sse.close()
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.tls import insecure_context

EOF = "<eof>"


@dataclass
class SseEvent:
    type: str
    data: Any
    id: str = ""


@dataclass
class SseReader:
    port: int
    cookies: dict[str, str]
    path: str = "/webmail/events"
    headers: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), self.connect_timeout)
        self.sock = insecure_context().wrap_socket(raw, server_hostname="127.0.0.1")
        head = {"Host": f"127.0.0.1:{self.port}", "Accept": "text/event-stream",
                "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                **self.headers}
        request = f"GET {self.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
        self.sock.sendall(request.encode())
        self.file = self.sock.makefile("rb")
        status = self.file.readline().decode("latin-1")
        self.status = int(status.split()[1])
        self.response_headers: dict[str, str] = {}
        while True:
            line = self.file.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        self.sock.settimeout(None)
        self.queue: queue.Queue[SseEvent] = queue.Queue()
        self.comments: list[str] = []
        self.retry: int | None = None
        self.body = b""  # the body of a response that is not a stream
        self.ended = threading.Event()
        if self.status != 200 or not self.response_headers.get(
                "content-type", "").startswith("text/event-stream"):
            self.body = self._read_body()
            self.ended.set()
            return
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    # -- the body ---------------------------------------------------------------------------
    def _chunks(self) -> Any:
        if self.response_headers.get("transfer-encoding", "").lower() != "chunked":
            length = int(self.response_headers.get("content-length", "0"))
            yield self.file.read(length)
            return
        while True:
            size_line = self.file.readline()
            if not size_line:
                return
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.file.readline()
                return
            data = self.file.read(size)
            self.file.readline()
            yield data

    def _read_body(self) -> bytes:
        return b"".join(self._chunks())

    def _read(self) -> None:
        buffer = ""
        kind, data, ident = "", [], ""
        try:
            for chunk in self._chunks():
                buffer += chunk.decode("utf-8")
                while "\n" in buffer:
                    line, buffer = buffer.split("\n", 1)
                    line = line.rstrip("\r")
                    if not line:
                        if data:
                            text = "\n".join(data)
                            self.queue.put(SseEvent(kind or "message", json.loads(text), ident))
                        kind, data = "", []
                    elif line.startswith(":"):
                        self.comments.append(line[1:].strip())
                    else:
                        name, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if name == "event":
                            kind = value
                        elif name == "data":
                            data.append(value)
                        elif name == "id":
                            ident = value
                        elif name == "retry":
                            self.retry = int(value)
        except (OSError, ValueError):
            pass
        finally:
            self.ended.set()
            self.queue.put(SseEvent(EOF, None))

    # -- for tests --------------------------------------------------------------------------
    def next(self, timeout: float = 5.0) -> SseEvent | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def expect(self, kind: str, match: Callable[[Any], bool] = lambda _d: True,
               timeout: float = 5.0) -> tuple[SseEvent, list[SseEvent]]:
        """The first event of type ``kind`` whose data ``match``es, within ``timeout``
        seconds, and every event read before it; fail the test otherwise."""
        before: list[SseEvent] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            event = self.next(max(left, 0.01)) if left > 0 else None
            if event is None:
                raise AssertionError(f"no {kind!r} event in {timeout:g} s; got {before}")
            if event.type == kind and match(event.data):
                return event, before
            if event.type == EOF:
                raise AssertionError(f"stream ended before a {kind!r} event; got {before}")
            before.append(event)

    def until_end(self, timeout: float = 5.0) -> list[SseEvent]:
        """Every event up to the end of the stream (which must come within ``timeout``)."""
        _, before = self.expect(EOF, timeout=timeout)
        return before

    def close(self) -> None:
        """Go away (the reading thread holds the socket's file: shut it down for real)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.file.close()
