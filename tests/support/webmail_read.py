"""Helpers for the reading part's tests: deliver a raw message (or a corpus .eml) over SMTP
and find its UID over IMAP; a canary HTTP server on another loopback address that counts every
request made to it (the "remote host" hostile mail tries to reach).

    uid = deliver_raw(mail, alice, raw)          # waits until it is in alice's INBOX
    fid = inbox_id(web)
    with Canary() as canary: ... canary.hits ...
"""

from __future__ import annotations

import http.server
import re
import secrets
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.web import WebClient
from tests.support.webmail import Webmail

CORPUS = Path(__file__).resolve().parents[1] / "webmail" / "corpus"
# A PNG of 1x1 pixel, for inline and remote images
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def deliver_raw(mail: Webmail, to: str, raw: bytes, sender: str = "someone@remote.test",
                ) -> int:
    """Deliver ``raw`` (a message without To/Message-ID: they are added) to ``to`` over SMTP
    and return its UID in the INBOX once delivered."""
    mid = f"<{secrets.token_hex(8)}@corpus.test>"
    head = f"To: {to}\r\nMessage-ID: {mid}\r\n".encode()
    mail.deliver(to, message=head + crlf(raw), sender=sender)
    imap = mail.imap(to)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            imap.select("INBOX")
            typ, data = imap.uid("SEARCH", "HEADER", "Message-ID", mid)
            found = data[0].split() if typ == "OK" and data and data[0] else []
            if found:
                return int(found[-1])
            time.sleep(0.1)
        raise AssertionError("the message was not delivered")
    finally:
        imap.logout()


def append_raw(mail: Webmail, to: str, raw: bytes, folder: str = "INBOX") -> int:
    """APPEND ``raw`` over IMAP (no delivery prefix); its UID."""
    imap = mail.imap(to)
    try:
        typ, data = imap.append(folder, "", None, crlf(raw))
        assert typ == "OK", data
        found = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        assert found, data
        return int(found.group(1))
    finally:
        imap.logout()


def inbox_id(web: WebClient) -> int:
    location = web.get("/webmail/").location
    found = re.match(r"^/webmail/f/(\d+)", location)
    assert found, location
    return int(found.group(1))


def corpus(name: str, canary: str = "http://canary.invalid") -> bytes:
    """A corpus message with ``{{CANARY}}`` replaced by the canary's base URL."""
    return (CORPUS / name).read_bytes().replace(b"{{CANARY}}", canary.encode())


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and 127.0.0.2 (the browser ignores HTTPS
    errors in these tests)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "canary.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.2")),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "canary.crt", folder / "canary.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Canary:
    """An HTTPS server on 127.0.0.2 (another loopback address: another origin and host) that
    answers every request with a 1x1 PNG and remembers the paths asked for, and counts every
    TCP connection (a preconnect or a TLS handshake without a request is a leak too). HTTPS,
    so that the browser's mixed-content rules (the webmail page is HTTPS) can neither block a
    load our defences should have stopped nor hide one they let through."""

    def __init__(self, folder: Path, host: str = "127.0.0.2") -> None:
        import ssl

        self.hits: list[str] = []
        self.connections = 0
        hits = self.hits
        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(PNG)

            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        cert, key = _certificate(folder)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)

        class Server(http.server.ThreadingHTTPServer):
            def get_request(self) -> tuple[Any, Any]:
                conn, addr = self.socket.accept()
                canary.connections += 1  # counted before TLS: a bare preconnect counts
                conn.settimeout(10)
                return tls.wrap_socket(conn, server_side=True), addr

        try:
            self.httpd = Server((host, 0), Handler)
        except OSError:  # no 127.0.0.2 here: the same address, another port is still remote
            self.httpd = Server(("127.0.0.1", 0), Handler)
        self.base = f"https://{self.httpd.server_address[0]}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Canary:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
