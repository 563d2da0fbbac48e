"""Real spamd and clamd for the content-filter tests, offline, on loopback and Unix sockets.

Both come from Debian's packages (``make test-deps``: spamd spamc clamav-daemon clamav) and
are started here in a private temporary directory, never as the system's services:

- spamd: ``-L`` (local tests only: no DNS, no network rules), its shipped rules from
  /usr/share/spamassassin (no sa-update), a private site configuration directory (the
  package's ``*.pre`` plugin lists plus a ``local.cf`` pointing Bayes at a private store) and
  ``--allow-tell`` so learning can be tested; listens on a loopback high port and a Unix
  socket. GTUBE scores about 1000.
- clamd: a database made here: the EICAR test file's hash from ``sigtool --md5`` (an .hdb)
  and its bytes as a body signature (an .ndb, so the string is found inside a stream too),
  both named ``Postroom.Test.EICAR`` (no download, no official database: clamd starts in
  under a second with 19 MB); TCP on loopback and a Unix socket.

Each is started by a session fixture (tests/filters/conftest.py) and stopped at the end; the
process is this module's own child, stopped by its pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

# The EICAR anti-virus test file (eicar.org), assembled here so this source file is not
# itself flagged by a scanner that reads the repository.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*").encode()
SIGNATURE = "Postroom.Test.EICAR"

# GTUBE: the Generic Test for Unsolicited Bulk Email, which SpamAssassin scores ~1000.
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*" + b"GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(ready: object, proc: subprocess.Popen[bytes], log: Path, timeout: float,
          what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): "
                               f"{log.read_text(errors='replace')[-2000:]}")
        try:
            if ready():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready in {timeout:g} s: "
                       f"{log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # our own child's process group (start_new_session)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class Spamd:
    def __init__(self) -> None:
        # spamd's children run as nobody when we are root: their directory must be reachable
        # by nobody, so not under a private TMPDIR
        where = "/tmp" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="postroom-spamd-", dir=where))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.socket = str(self.dir / "spamd.sock")
        self.site = self.dir / "site"
        self.bayes = self.dir / "bayes"
        self.log = self.dir / "spamd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.site.mkdir()
        for pre in Path("/etc/spamassassin").glob("*.pre"):
            shutil.copy(pre, self.site / pre.name)
        for sub in (self.bayes, self.dir / "home"):
            sub.mkdir()
            sub.chmod(0o777)
        (self.site / "local.cf").write_text(
            f"use_bayes 1\nbayes_auto_learn 0\nbayes_path {self.bayes}/bayes\n"
            "bayes_file_mode 0777\n")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = ["spamd", "-L", f"--listen=127.0.0.1:{self.port}", f"--listen={self.socket}",
               "--allowed-ips=127.0.0.1", "--allow-tell", "--max-children=2",
               f"--siteconfigpath={self.site}", f"--helper-home-dir={self.dir / 'home'}",
               f"--pidfile={self.dir / 'spamd.pid'}", "--syslog=stderr"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        _wait(self.ping, self.proc, self.log, 90, "spamd")

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), 2) as s:
            s.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return b"PONG" in s.recv(100)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def magic(self) -> dict[str, int]:
        """Bayes counters (nspam, nham, ...) from ``sa-learn --dump magic``."""
        out = subprocess.run(["sa-learn", f"--siteconfigpath={self.site}",
                              f"--dbpath={self.bayes}", "--dump", "magic"],
                             capture_output=True, text=True, timeout=60)
        counts: dict[str, int] = {}
        for line in out.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 4 and "non-token" in line:
                counts[parts[-1]] = int(parts[2])
        return counts

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Clamd:
    def __init__(self, stream_max: str = "25M") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="postroom-clamd-"))
        self.port = free_port()
        self.socket = str(self.dir / "clamd.sock")
        self.log = self.dir / "clamd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        db = self.dir / "db"
        db.mkdir()
        sample = self.dir / "eicar.com"
        sample.write_bytes(EICAR)
        made = subprocess.run(["sigtool", "--md5", str(sample)], capture_output=True,
                              text=True, check=True, timeout=60).stdout.strip()
        digest, size, _ = made.split(":", 2)
        (db / "eicar.hdb").write_text(f"{digest}:{size}:{SIGNATURE}\n")
        # and a body signature, so the test string is found anywhere in a stream (a message
        # whose text is EICAR), as the official database's EICAR signature is
        (db / "eicar.ndb").write_text(f"{SIGNATURE}:0:*:{EICAR.hex()}\n")
        lines = [f"DatabaseDirectory {db}", f"TCPSocket {self.port}", "TCPAddr 127.0.0.1",
                 f"LocalSocket {self.socket}", "Foreground yes", f"StreamMaxLength {stream_max}",
                 f"LogFile {self.dir / 'clamd.events'}", "LogTime yes"]
        if os.geteuid() == 0:
            lines.append("User root")
        self.conf = self.dir / "clamd.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self, name: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(b"z" + name.encode() + b"\0")
            out = b""
            while not out.endswith(b"\0"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        return out.rstrip(b"\0").decode()

    def scan(self, data: bytes) -> str:
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(b"zINSTREAM\0" + struct.pack(">I", len(data)) + data
                      + struct.pack(">I", 0))
            return s.recv(4096).rstrip(b"\0").decode()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["clamd", "-c", str(self.conf)], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        _wait(lambda: self.command("PING") == "PONG", self.proc, self.log, 60, "clamd")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
