"""``smtp.outbound.per_destination`` holds across nodes (mta/outbound.py with the cluster's
slots, core/locks.py): two nodes sending to one destination with a limit of one never hold
two connections to it at once."""

from __future__ import annotations

import smtplib
import socketserver
import threading
import time
from pathlib import Path

from tests.support.cluster import running_cluster


class Sink(socketserver.ThreadingTCPServer):
    """A slow SMTP server that counts the connections open at once."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.lock = threading.Lock()
        self.open = self.peak = self.received = 0


class _Session(socketserver.StreamRequestHandler):
    server: Sink

    def handle(self) -> None:
        with self.server.lock:
            self.server.open += 1
            self.server.peak = max(self.server.peak, self.server.open)
        try:
            self.wfile.write(b"220 sink ESMTP\r\n")
            while line := self.rfile.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    self.wfile.write(b"250 sink\r\n")
                elif verb == b"DATA":
                    self.wfile.write(b"354 go on\r\n")
                    while self.rfile.readline() not in (b".\r\n", b""):
                        pass
                    time.sleep(0.8)  # a slow destination: connections overlap if allowed
                    with self.server.lock:
                        self.server.received += 1
                    self.wfile.write(b"250 ok\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")
        finally:
            with self.server.lock:
                self.server.open -= 1


def test_per_destination_limit_is_cluster_wide(tmp_path: Path) -> None:
    sink = Sink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    port = sink.server_address[1]
    extra = ["--set", f"smtp.outbound.smart_host=127.0.0.1:{port}",
             "--set", "smtp.outbound.smart_host_tls=none",
             "--set", "smtp.outbound.per_destination=1",
             "--set", "smtp.outbound.messages_per_connection=1",
             "--set", 'smtp.trusted_networks=["127.0.0.1/32"]']
    try:
        with running_cluster(tmp_path, extra=extra) as cluster:
            for i in range(6):
                node = cluster[i % 2]
                with smtplib.SMTP("127.0.0.1", node.ports["smtp"]) as smtp:
                    smtp.sendmail("someone@cluster.test", [f"r{i}@remote.example"],
                                  f"Subject: out {i}\r\n\r\nhello\r\n".encode())
            deadline = time.monotonic() + 60
            while sink.received < 6:
                assert time.monotonic() < deadline, f"only {sink.received} of 6 arrived"
                time.sleep(0.2)
            assert sink.peak == 1, f"{sink.peak} connections at once to one destination"
    finally:
        sink.shutdown()
        sink.server_close()
