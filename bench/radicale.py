"""Radicale, the CalDAV/CardDAV reference: Debian's ``radicale`` run privately on loopback.

Never the system's service: ``radicale --config FILE`` with a configuration this module writes
into its own directory: one loopback port, plain HTTP (Radicale's own TLS is off by default;
Postroom always speaks TLS, which the bench reports), htpasswd authentication with a plain
password file (so a request costs Radicale a file lookup, not a password hash: the reference
is not slowed down by us), ``owner_only`` rights, the filesystem storage in that directory,
warnings only in its log.

The data is written straight into Radicale's storage layout (a folder per collection with a
``.Radicale.props`` JSON file naming its kind, one file per item), which is what Radicale
itself writes on PUT; its item cache is built by one untimed request before anything is timed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from bench.reference import free_port, terminate, tree_pss, wait_port

PACKAGES = ["radicale"]  # the Makefile's DEB_BENCH_DAV_PACKAGES (a unit test checks)
BINARY = "/usr/bin/radicale"


def config_text(port: int, root: Path) -> str:
    """Radicale's configuration (INI) for the bench."""
    return (f"[server]\nhosts = 127.0.0.1:{port}\nmax_connections = 20\n"
            "max_content_length = 300000000\ntimeout = 60\n\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {root / 'users'}\n"
            "htpasswd_encryption = plain\ndelay = 0\n\n"
            "[rights]\ntype = owner_only\n\n"
            f"[storage]\nfilesystem_folder = {root / 'collections'}\n\n"
            "[logging]\nlevel = warning\nmask_passwords = True\n")


def collection_props(kind: str, name: str) -> dict[str, str]:
    """``.Radicale.props`` of a calendar ("calendar") or an address book ("contacts")."""
    if kind == "calendar":
        return {"tag": "VCALENDAR", "D:displayname": name,
                "C:supported-calendar-component-set": "VEVENT"}
    return {"tag": "VADDRESSBOOK", "D:displayname": name}


class Radicale:
    name = "radicale"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_user(self, user: str, password: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "users").open("a", encoding="utf-8") as fh:
            fh.write(f"{user}:{password}\n")

    def collection(self, user: str, segment: str, kind: str, name: str,
                   items: Iterable[tuple[str, bytes]]) -> str:
        """Write one collection with its items (name, bytes); its URL path."""
        folder = self.root / "collections" / "collection-root" / user / segment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / ".Radicale.props").write_text(json.dumps(collection_props(kind, name)),
                                                encoding="utf-8")
        for item_name, data in items:
            (folder / item_name).write_bytes(data)
        return f"/{user}/{segment}/"

    def start(self) -> None:
        config = self.root / "radicale.conf"
        config.write_text(config_text(self.port, self.root), encoding="utf-8")
        log = (self.root / "radicale.log").open("ab")
        self.proc = subprocess.Popen([BINARY, "--config", str(config)], stdout=log,
                                     stderr=log)
        wait_port(self.port, timeout=60)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def pss_kib(self) -> int:
        return tree_pss(self.proc.pid) if self.proc is not None else 0
