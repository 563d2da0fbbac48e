"""An independent DKIM verifier for the tests: OpenDKIM's ``opendkim-testmsg`` (Debian package
opendkim-tools; libopendkim 2.11 knows rsa-sha256 and ed25519-sha256).

``opendkim-testmsg`` looks keys up with the C library's resolver, which only ever asks port 53
of the servers in /etc/resolv.conf. So it runs in a private network and mount namespace
(``unshare --net --mount``, as root): loopback up, a resolv.conf naming 127.0.0.1 bound over
the real one, and a small DNS server (dnslib, as tests/support/mailhost.py) on 127.0.0.1:53
that serves the key records given. Nothing leaves the namespace, and the machine's own
resolver is untouched.

Debian 12's Perl Mail::DKIM (1.20230212) would be a third implementation, but it does not
verify ed25519-sha256 (it ignores such signatures), so OpenDKIM is the one used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def available() -> str | None:
    """Why the verifier cannot run here, or None when it can."""
    if shutil.which("opendkim-testmsg") is None:
        return "opendkim-testmsg is missing (Debian package opendkim-tools; make test-deps)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is missing (Debian packages util-linux, iproute2)"
    if os.geteuid() != 0:
        return "opendkim-testmsg needs a private network namespace, made as root"
    return None


def verify(message: bytes, records: dict[str, str], timeout: float = 60) -> tuple[bool, str]:
    """Verify ``message`` (CRLF line ends; its first DKIM-Signature is checked) with the TXT
    ``records`` {name: text}. Returns (passed, what opendkim-testmsg said)."""
    with tempfile.TemporaryDirectory(prefix="dkimverify-") as tmp:
        d = Path(tmp)
        (d / "msg").write_bytes(message)
        (d / "zone.json").write_text(json.dumps(records))
        (d / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
        script = (
            "set -e\n"
            "ip link set lo up\n"
            f"mount --bind {d}/resolv.conf /etc/resolv.conf\n"
            f"{sys.executable} -m tests.support.dkimverify serve {d} &\n"
            "dns=$!\n"
            f"for i in $(seq 100); do [ -e {d}/ready ] && break; sleep 0.05; done\n"
            "set +e\n"
            f"opendkim-testmsg < {d}/msg\n"
            "rc=$?\n"
            "kill $dns\n"
            "exit $rc\n")
        result = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", script],
                                capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        return result.returncode == 0, (result.stdout + result.stderr).strip()


def _serve(folder: Path) -> None:
    """Inside the namespace: answer the TXT records of ``zone.json`` on 127.0.0.1:53."""
    from dnslib.server import DNSLogger, DNSServer

    from tests.support.mailhost import Zone

    zone = Zone()
    for name, text in json.loads((folder / "zone.json").read_text()).items():
        pieces = [text[i:i + 255] for i in range(0, len(text), 255)]
        zone.add(name, "TXT", " ".join(f'"{p}"' for p in pieces))
    server = DNSServer(zone, address="127.0.0.1", port=53,
                       logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data"))
    server.start_thread()
    (folder / "ready").write_text("1")
    while True:
        time.sleep(1)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve(Path(sys.argv[2]))
