"""Durability of the WebDAV file area (issue 24, DESIGN.md rule 4): a PUT answered 201/204 and
a LOCK answered 200/201 survive ``kill -9`` of ``postroom serve``: after a restart every file
reads back byte for byte and the lock still stands (locks are kept in the store, not in
memory), so another client's write is still refused with 423."""

from __future__ import annotations

import base64
import hashlib
import http.client
import signal
from pathlib import Path

from tests.support.mailhost import Instance, free_port
from tests.support.tls import insecure_context

USER = "dora@dur.test"
PASSWORD = "pw-durable-123456"
LOCK = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>")
EXTRA = ["--set", "web.https.enabled=true", "--set", "web.https.port=0"]


def _request(port: int, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                       context=insecure_context())
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    try:
        conn.request(method, path, body=body,
                     headers={"Authorization": f"Basic {token}", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _https_port(inst: Instance) -> int:
    for label, port in inst.ports.items():
        if label.startswith("https"):
            return port
    raise AssertionError(f"no https listener in {inst.output}")


def test_put_and_lock_survive_kill_9(tmp_path: Path) -> None:
    inst = Instance(tmp_path, "dur.test", "127.0.0.1", free_port(("127.0.0.1",)), dns_port=9,
                    extra=EXTRA)
    inst.start()
    try:
        inst.add_user("dora", PASSWORD)
        port = _https_port(inst)
        base = f"/dav/files/{USER}"
        files: dict[str, bytes] = {}
        assert _request(port, "MKCOL", base + "/keep/")[0] == 201
        for i in range(20):
            data = hashlib.sha256(str(i).encode()).digest() * (i + 1)
            status, _, _ = _request(port, "PUT", f"{base}/keep/f{i}.bin", data)
            assert status == 201
            files[f"f{i}.bin"] = data
        status, head, _ = _request(port, "LOCK", f"{base}/keep/f0.bin", LOCK.encode(),
                                   {"Timeout": "Second-3000"})
        assert status == 200
        token = head["lock-token"]
        inst.stop(signal.SIGKILL)
        inst.start()
        port = _https_port(inst)
        for name, data in files.items():
            status, _, body = _request(port, "GET", f"{base}/keep/{name}")
            assert (status, body) == (200, data), name
        assert _request(port, "PUT", f"{base}/keep/f0.bin", b"no")[0] == 423
        assert _request(port, "PUT", f"{base}/keep/f0.bin", b"yes",
                        {"If": f"({token})"})[0] == 204
    finally:
        inst.stop(signal.SIGKILL)
