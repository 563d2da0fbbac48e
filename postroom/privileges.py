"""Running as an unprivileged user (``server.user``) although started as root.

Ports below 1024 (25, 110, 143, 465, 587, 993, 995) need root, or CAP_NET_BIND_SERVICE;
nothing else the server does needs either. Postfix's master and Dovecot bind as root and hand
the work to unprivileged processes; Postroom is one process, so it does the same in time:

1. ``lower()`` at start, before anything opens the data directory: the *effective* user and
   group become ``server.user`` (with its supplementary groups, e.g. ``ssl-cert`` for a key in
   /etc/ssl/private), so every file the store, the queue or the certificate generator creates
   belongs to that user from the first byte. The real user stays root, so the process can
   still take root back.
2. ``raised()`` around the few steps that need root: reading the configured TLS key and
   binding the listeners.
3. ``drop()`` once every listener is bound: real, effective and saved IDs all become the
   user's, and that is checked (taking root back must fail). From then on, a flaw in a
   protocol parser reaches the mail files and nothing else of the machine.

The data directory must belong to that user: ``prepare_data_dir`` creates it (0700, owned by
the user) when it is missing and refuses, naming the ``chown`` to run, when someone else owns
it (a server that cannot write its own queue would fail later and worse).

The CLI run as root with ``server.user`` set becomes that user for good before opening the
store (``become``), as ``postqueue``/``postsuper`` act with Postfix's rights: otherwise a
``sudo postroom user add`` would leave a root-owned database or message file the running
server cannot read.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from postroom.core import private

log = logging.getLogger("postroom.server")


class PrivilegeError(Exception):
    """``server.user`` cannot be used as configured; the message says what to do."""


@dataclass(frozen=True, slots=True)
class RunAs:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def lookup(cls, name: str) -> RunAs:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise PrivilegeError(
                f"server.user: no such user {name!r} on this machine; create it, e.g. "
                f"'useradd --system --home-dir /var/lib/postroom --shell /usr/sbin/nologin "
                f"{name}'") from None
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
        return cls(name, entry.pw_uid, entry.pw_gid, groups)


def wanted(name: str) -> RunAs | None:
    """The user to switch to, or None when there is nothing to do: ``server.user`` empty, or
    the process already runs as that user (systemd ``User=`` with
    ``AmbientCapabilities=CAP_NET_BIND_SERVICE``). Started as another non-root user, the
    switch is impossible: say so instead of running with the wrong owner."""
    if not name:
        return None
    target = RunAs.lookup(name)
    if os.geteuid() == target.uid:
        return None
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        raise PrivilegeError(f"server.user = {name!r} needs the server started as root (it "
                             f"runs as {me!r}); start it as root, or as {name!r}, or leave "
                             "server.user empty")
    return target


def prepare_data_dir(data_dir: Path, target: RunAs) -> None:
    """Create the data directory for ``target`` or check that it is theirs (as root)."""
    if not data_dir.exists():
        private.make_dir(data_dir)
        os.chown(data_dir, target.uid, target.gid)
        return
    owner = data_dir.stat().st_uid
    if owner != target.uid:
        try:
            who = pwd.getpwuid(owner).pw_name
        except KeyError:
            who = str(owner)
        raise PrivilegeError(
            f"the data directory {data_dir.resolve()} belongs to {who!r}, but server.user is "
            f"{target.name!r}; give it to that user: chown -R {target.name}: "
            f"{data_dir.resolve()}")


class Privileges:
    """Root only when needed (see the module docstring); a no-op when ``target`` is None."""

    def __init__(self, target: RunAs | None) -> None:
        self.target = target
        self.dropped = False

    def lower(self) -> None:
        t = self.target
        if t is None:
            return
        os.setgroups(list(t.groups))
        os.setegid(t.gid)
        os.seteuid(t.uid)

    @contextlib.contextmanager
    def raised(self) -> Iterator[None]:
        t = self.target
        if t is None or self.dropped:
            yield
            return
        os.seteuid(0)
        os.setegid(0)
        try:
            yield
        finally:
            os.setegid(t.gid)
            os.seteuid(t.uid)

    def drop(self) -> None:
        t = self.target
        if t is None or self.dropped:
            return
        os.seteuid(0)
        os.setgroups(list(t.groups))
        os.setresgid(t.gid, t.gid, t.gid)
        os.setresuid(t.uid, t.uid, t.uid)
        self.dropped = True
        try:
            os.seteuid(0)
        except PermissionError:
            pass
        else:  # pragma: no cover - would mean the kernel kept root for us
            raise PrivilegeError("could not give up root after binding the listeners")
        group = grp.getgrgid(t.gid).gr_name
        log.info("running as %s:%s now that the listeners are bound", t.name, group)


def become(name: str, data_dir: Path) -> None:
    """For the CLI: act as ``server.user`` from here on (see the module docstring)."""
    target = wanted(name)
    if target is None:
        return
    prepare_data_dir(data_dir, target)
    privileges = Privileges(target)
    privileges.lower()
    privileges.drop()
