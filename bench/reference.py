"""The reference servers, started privately: Debian's Dovecot on loopback high ports.

Never the system services: packages are installed with service start-up denied (a temporary
``policy-rc.d`` when the machine has none), and each instance runs from its own directory with
its own config, base_dir and log, listening on 127.0.0.1 only. ``stop()`` stops it; the
directory is the caller's to delete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from postroom.directory.passwords import hash_password

POLICY = Path("/usr/sbin/policy-rc.d")


def ensure_packages(packages: list[str]) -> None:
    """Install missing Debian packages (root only) without letting them start services."""
    missing = [p for p in packages
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"bench: Debian packages missing and not root: {' '.join(missing)}")
    print(f"bench: installing {' '.join(missing)} (services are not started)", flush=True)
    own_policy = not POLICY.exists()
    if own_policy:
        POLICY.write_text("#!/bin/sh\n# written by Postroom's bench for one install\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    finally:
        if own_policy:
            POLICY.unlink()


@contextlib.contextmanager
def raised_kernel_limit(path: str, minimum: int) -> Iterator[None]:
    """Raise a /proc/sys limit to ``minimum`` for the duration, then put the old value back.

    Used for ``fs.inotify.max_user_instances``: every Dovecot imap process takes an inotify
    instance to learn of new mail in IDLE, and past the limit (128 on Debian) Dovecot logs
    "Inotify instance limit for user … exceeded" and falls back to polling every 30 s. Its
    documentation tells administrators to raise the limit, so the bench does too, rather than
    measure a misconfigured reference. Without root the value is left alone.
    """
    file = Path(path)
    try:
        old = file.read_text().strip()
        if int(old) >= minimum:
            old = ""
        else:
            file.write_text(str(minimum))
    except (OSError, ValueError):
        old = ""
    try:
        yield
    finally:
        if old:
            with contextlib.suppress(OSError):
                file.write_text(old)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class Dovecot:
    """A private Dovecot: IMAP (and POP3) on loopback, Maildir under ``root/mail``, accounts in
    a passwd-file. Mail processes run as ``nobody`` (Dovecot refuses root)."""

    name = "dovecot"

    def __init__(self, root: Path, tls: bool = False) -> None:
        self.root = root
        self.imap_port = free_port()
        self.pop3_port = free_port()
        self.lmtp_port = free_port()
        # IMAPS on its own port with a throwaway self-signed certificate (the bench's
        # session loop connects over TLS, as phones do); off unless asked for
        self.tls = tls
        self.imaps_port = free_port() if tls else 0
        self.users: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_config = ""  # appended to dovecot.conf (the sharing tests add ACL plugins)

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    def maildir(self, address: str) -> Path:
        local, _, domain = address.partition("@")
        return self.root / "mail" / domain / local

    def add_user(self, address: str, password: str, hashed: str | None = None) -> None:
        """Stored as an argon2id hash with Postroom's parameters (or the ``hashed`` one given,
        which Postroom stores too), so a LOGIN costs both servers the same hashing work
        (Dovecot verifies it through libsodium)."""
        self.users[address] = password
        with (self.root / "users").open("a") as fh:
            fh.write(f"{address}:{{ARGON2ID}}{hashed or hash_password(password)}\n")

    @property
    def protocols(self) -> str:
        """imap, plus pop3 and lmtp when installed (Dovecot refuses a missing one)."""
        return " ".join(["imap"] + [p for p in ("pop3", "lmtp")
                                    if Path(f"/usr/lib/dovecot/{p}").exists()])

    def write_config(self) -> None:
        r = self.root
        for sub in ("run", "state", "mail"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        (r / "users").touch()
        self.conf.write_text(f"""# Private Dovecot for Postroom's bench (loopback only).
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
instance_name = postroom-bench-{self.imap_port}
protocols = {self.protocols}
listen = 127.0.0.1
{self._ssl()}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{r}/mail/%d/%n
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
mail_max_userip_connections = 1000
# Room for the idle-connection workload (one imap process per connection, Dovecot's default
# design); these only raise caps, nothing else changes.
default_client_limit = 25000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/users
}}
userdb {{
  driver = static
  args = home={r}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
  }}
}}
service imap {{
  process_limit = 12000
}}
{self._lmtp_service()}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
""" + self.extra_config)

    def _ssl(self) -> str:
        if not self.tls:
            return "ssl = no"
        cert, key = self.root / "tls.crt", self.root / "tls.key"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key),
                            "-out", str(cert)], check=True, capture_output=True)
        return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"

    def _lmtp_service(self) -> str:
        if "lmtp" not in self.protocols:
            return ""
        return ("service lmtp {\n  inet_listener lmtp {\n    address = 127.0.0.1\n"
                f"    port = {self.lmtp_port}\n  }}\n}}")

    def start(self) -> None:
        subprocess.run(["chown", "-R", "nobody:nogroup", str(self.root / "mail")], check=True)
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.imap_port)

    def stop(self) -> None:
        if self.proc is None:
            return
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], capture_output=True)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def pss_kib(self) -> int:
        """Memory of every process of this instance (master and children), PSS."""
        return tree_pss(self.proc.pid) if self.proc is not None else 0


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (Dovecot runs one process per IMAP connection)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_pss(pid: int) -> int:
    """Proportional set size in KiB summed over the tree: each shared page is divided among
    the processes mapping it, so thousands of forked Dovecot processes are not charged for the
    same library pages thousands of times. For one process PSS is close to its RSS."""
    total = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 30 seconds."""
    if proc is None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
