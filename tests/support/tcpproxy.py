"""A TCP relay between a server under test and a service it depends on, that can cut the line.

Cluster tests put it between a node and PostgreSQL: ``cut(seconds)`` closes every relayed
connection at once and refuses new ones (accepted and closed at once) until the time is up, as a
network partition or a restarting database looks to the node. One thread per direction per
connection; bounded by the few connections a node opens.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._down_until = 0.0
        self._silent_until = 0.0
        self._closed = False
        self.accepted = 0  # connections relayed since start (reconnects show up here)
        threading.Thread(target=self._accept, daemon=True).start()

    def dsn(self, dsn: str) -> str:
        """``dsn`` (postgresql://user@host:port/db) pointed at this relay instead."""
        head, _, tail = dsn.partition("@")
        _, _, rest = tail.partition("/")
        return f"{head}@127.0.0.1:{self.port}/{rest}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._down_until:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._pairs.append((client, upstream))
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if time.monotonic() < self._silent_until:
                    continue  # a silent partition: the bytes are lost, nobody is told
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self, seconds: float, *, silent: bool = False) -> None:
        """Drop every relayed connection now and refuse new ones for ``seconds``.

        ``silent``: a partition nobody announces: for ``seconds`` bytes are swallowed in both
        directions and new connections refused, then the old connections are closed (returns
        after that). Without it the connections are closed at once (the peer sees the end)."""
        self._down_until = time.monotonic() + seconds
        if silent:
            self._silent_until = self._down_until
            time.sleep(seconds)
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._down_until = 0.0
        self.cut(0)
