"""SOGo, the ActiveSync reference: Debian's ``sogo`` + ``sogo-activesync`` run privately.

SOGo is not a mail store: its ActiveSync front-end (the ActiveSync bundle inside ``sogod``,
served at /SOGo/Microsoft-Server-ActiveSync) reads mail over IMAP and keeps its per-device
state in SQL. So the reference is a stack, every part private to the bench and on loopback:

- **Dovecot** (bench/reference.py's) as SOGo's IMAP back end, with LMTP for deliveries;
  accounts in its passwd-file with plain passwords, so that SOGo's IMAP logins (it logs in
  with the user's own password) cost Dovecot a string comparison, not a hash: the reference
  is not slowed down by us;
- **PostgreSQL**: a private cluster (Debian's PostgreSQL 15 binaries, ``initdb`` into the
  bench directory, trust authentication, 127.0.0.1:<port>, run as ``postgres``), not the
  machine's shared one: every sogod child keeps its own connection, so ``max_connections``
  must follow the number of children (the shared cluster allows 100), and a private cluster
  is dropped with the directory. SOGo creates its tables (profiles, folder info, sessions,
  the per-user ActiveSync caches) in its database; the accounts are a table of it
  (``SOGoUserSources``, type sql, plain passwords);
- **memcached** on a loopback high port (SOGo caches users and sessions there);
- **sogod** in the foreground (``-WONoDetach YES``) as Debian's ``sogo`` user (it refuses
  root) on 127.0.0.1:<port>, plain HTTP (no web server in front), with ``workers`` prefork
  children. Its configuration is given on the command line (GNUstep's argument domain,
  first in SOGo's search list, so /etc/sogo/sogo.conf's values are all overridden; GNUstep
  reads a user's defaults from the passwd home, /run/sogo, not from $HOME); a copy is
  written to ``sogo-home/sogod.args`` for reading. Its log is ``sogo-home/sogo.log``.

SOGo holds one child process per waiting Ping (its installation guide: "each connection will
grab a hold on a sogod process"), so ``workers`` must exceed the number of pushing devices;
each child polls IMAP and SQL for changes every ``SOGoInternalSyncInterval`` seconds, and
sleeps at least 5 seconds between polls whatever the setting (SOGoActiveSyncDispatcher.m's
processPing), which bounds its push latency from below.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from bench.reference import Dovecot, free_port, tree_pids, tree_pss, wait_port

# Debian packages (the Makefile's DEB_BENCH_EAS_PACKAGES): SOGo and its ActiveSync bundle,
# memcached, Dovecot with LMTP for deliveries, PostgreSQL 15 (its binaries; a private cluster).
PACKAGES = ["sogo", "sogo-activesync", "memcached", "dovecot-imapd", "dovecot-lmtpd",
            "postgresql-15"]
SOGOD = "/usr/sbin/sogod"
PATH = "/SOGo/Microsoft-Server-ActiveSync"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _plist_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Sogo:
    """The stack above; ``start()`` brings every part up, ``stop()`` takes every part down
    (and drops the database). The directory is the caller's to delete."""

    name = "sogo"

    def __init__(self, root: Path, workers: int, poll_interval: int = 5) -> None:
        self.root = root
        self.workers = workers
        self.poll_interval = poll_interval
        self.port = free_port()
        self.memcached_port = free_port()
        self.database = "sogo"
        self.pg_port = free_port()
        self.dovecot = Dovecot(root / "dovecot")
        # SOGo's guide asks for a long IMAP line for big folders (UID lists of thousands)
        self.dovecot.extra_config = "imap_max_line_length = 64M\n"
        self.users: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.memcached: subprocess.Popen[bytes] | None = None
        self.postgres: subprocess.Popen[bytes] | None = None
        self.extra: dict[str, str] = {}  # more settings (e.g. SOGoEASDebugEnabled = YES)

    @property
    def home(self) -> Path:
        return self.root / "sogo-home"

    @property
    def log(self) -> Path:
        return self.home / "sogo.log"

    def add_user(self, address: str, password: str) -> None:
        self.users[address] = password
        self.dovecot.root.mkdir(parents=True, exist_ok=True)
        self.dovecot.users[address] = password
        with (self.dovecot.root / "users").open("a") as fh:
            fh.write(f"{address}:{{PLAIN}}{password}\n")

    def deliver_maildir(self, address: str, messages: Iterable[bytes]) -> int:
        """Messages written straight into the account's Maildir ``cur/`` (unseen), as a
        delivery agent would have left them; Dovecot indexes them on first access (``index``
        does it before anything is timed)."""
        folder = self.dovecot.maildir(address)
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        count = 0
        base = int(time.time())
        for raw in messages:
            data = raw.replace(b"\r\n", b"\n")
            (folder / "cur" / f"{base + count}.M{count}P1.bench,S={len(data)}:2,").write_bytes(
                data)
            count += 1
        return count

    def index(self, address: str) -> None:
        """Dovecot reads the Maildir into its index now, not in SOGo's first timed Sync."""
        subprocess.run(["doveadm", "-c", str(self.dovecot.conf), "mailbox", "status", "-u",
                        address, "messages", "INBOX"], check=True, capture_output=True,
                       timeout=600)

    def track_modseqs(self) -> None:
        """Every account's Inbox opened once with CONDSTORE enabled, which makes Dovecot keep
        modification sequences for it from then on (its index remembers).

        SOGo's ActiveSync names a mail folder's state by the UIDNEXT and HIGHESTMODSEQ of a
        plain SELECT (SOGoMailFolder's davCollectionTag) and only ENABLEs QRESYNC later, when
        it fetches changes; on a mailbox no CONDSTORE client has opened yet Dovecot answers
        that SELECT without HIGHESTMODSEQ, SOGo's state stays "-1", equal to the SyncKey it
        gave the device, and neither Sync nor Ping ever sees a change. In a real deployment
        SOGo's own webmail or any modern IMAP client has opened the Inbox with CONDSTORE long
        before a phone syncs it; this is that first session."""
        for address, password in self.users.items():
            with imaplib.IMAP4("127.0.0.1", self.dovecot.imap_port, timeout=30) as imap:
                imap.login(address, password)
                imap._simple_command("ENABLE", "CONDSTORE")
                typ, _ = imap.select("INBOX")
                assert typ == "OK", (address, typ)
                imap.logout()

    def arguments(self) -> list[str]:
        """``-Key value`` pairs; values are property lists (GNUstep parses them so)."""
        db = f"postgresql://postgres@127.0.0.1:{self.pg_port}/{self.database}"
        settings: dict[str, str] = {
            "WONoDetach": "YES",
            "WOLogFile": str(self.log),
            "WOPidFile": str(self.home / "sogo.pid"),
            "WOPort": f"127.0.0.1:{self.port}",
            "WOWorkersCount": str(self.workers),
            "WOListenQueueSize": "4096",
            # a Ping may wait up to SOGoMaximumPingInterval; the watchdog must not kill the
            # child holding it (minutes; the guide's tuning section)
            "WOWatchDogRequestTimeout": "60",
            "SOGoMaximumPingInterval": "3540",
            "SOGoMaximumSyncInterval": "3540",
            "SOGoInternalSyncInterval": str(self.poll_interval),
            "SOGoProfileURL": _plist_string(f"{db}/sogo_user_profile"),
            "OCSFolderInfoURL": _plist_string(f"{db}/sogo_folder_info"),
            "OCSSessionsFolderURL": _plist_string(f"{db}/sogo_sessions_folder"),
            "OCSEMailAlarmsFolderURL": _plist_string(f"{db}/sogo_alarms_folder"),
            "SOGoUserSources": "({ type = sql; id = bench; viewURL = "
                               f"{_plist_string(db + '/sogo_users')}; canAuthenticate = YES; "
                               "isAddressBook = NO; userPasswordAlgorithm = plain; })",
            "SOGoIMAPServer": _plist_string(f"imap://127.0.0.1:{self.dovecot.imap_port}"),
            "SOGoSieveScriptsEnabled": "NO",
            "SOGoMailingMechanism": "smtp",
            "SOGoSMTPServer": _plist_string("smtp://127.0.0.1:25"),  # never used here
            "SOGoMemcachedHost": _plist_string(f"127.0.0.1:{self.memcached_port}"),
            "SOGoTimeZone": "UTC",
            "SOGoMailDomain": "bench.test",
            "SOGoSentFolderName": "Sent",
            "SOGoTrashFolderName": "Trash",
            "SOGoDraftsFolderName": "Drafts",
            "SOGoEnableEMailAlarms": "NO",
            "SOGoAppointmentSendEMailNotifications": "NO",
            "SOGoMailAuxiliaryUserAccountsEnabled": "NO",
            "SOGoVacationEnabled": "NO",
            "SOGoForwardEnabled": "NO",
        }
        settings.update(self.extra)
        return [item for key, value in settings.items() for item in (f"-{key}", value)]

    def _psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
                               "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc",
                               sql], check=True, capture_output=True, text=True, timeout=120)
        return done.stdout

    def _start_postgres(self) -> None:
        data = self.root / "pg"
        data.mkdir()
        shutil.chown(data, "postgres", "postgres")
        subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U",
                        "postgres", "-E", "UTF8", "--no-sync"], check=True,
                       capture_output=True, timeout=300, user="postgres", group="postgres")
        log = (self.root / "postgres.log").open("ab")
        # two connections a child at most, and room for the bench's own psql
        self.postgres = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1",
             "-p", str(self.pg_port), "-c", f"unix_socket_directories={data}",
             "-c", f"max_connections={2 * self.workers + 40}"],
            stdout=log, stderr=log, user="postgres", group="postgres")
        wait_port(self.pg_port, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # listening comes before accepting queries
            if subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
                               "postgres", "-Atc", "SELECT 1"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        self._psql(f"CREATE DATABASE {self.database}")
        rows = ",".join(f"('{a}', '{a}', '{p}', '{a}', '{a}')" for a, p in self.users.items())
        self._psql("CREATE TABLE sogo_users (c_uid varchar(255) PRIMARY KEY, c_name "
                   "varchar(255), c_password varchar(255), c_cn varchar(255), mail "
                   f"varchar(255)); INSERT INTO sogo_users VALUES {rows}", self.database)

    def start(self) -> None:
        # sogod runs as "sogo" and must reach its HOME below: the directory readable, its
        # parents (a private temporary directory, typically) at least traversable
        self.root.chmod(0o755)
        for parent in self.root.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        self.dovecot.write_config()
        self.dovecot.start()
        self.memcached = subprocess.Popen(
            ["memcached", "-l", "127.0.0.1", "-p", str(self.memcached_port), "-U", "0",
             "-u", "memcache", "-m", "64"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_port(self.memcached_port)
        self.track_modseqs()
        self._start_postgres()
        self.home.mkdir(parents=True, exist_ok=True)
        args = self.arguments()
        (self.home / "sogod.args").write_text("\n".join(args) + "\n")
        self.log.touch()
        for path in (self.home, self.log):
            shutil.chown(path, "sogo", "sogo")
        out = (self.home / "sogod.out").open("ab")
        self.proc = subprocess.Popen(
            [SOGOD, *args], stdout=out, stderr=out, cwd=self.home, user="sogo", group="sogo",
            env={"HOME": str(self.home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                 "LANG": "C.UTF-8"})
        wait_port(self.port, timeout=120)

    def stop(self) -> None:
        if self.proc is not None:
            pids = tree_pids(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for pid in pids[1:]:  # children the watchdog did not take down with it
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            self.proc = None
        if self.memcached is not None:
            self.memcached.terminate()
            try:
                self.memcached.wait(10)
            except subprocess.TimeoutExpired:
                self.memcached.kill()
                self.memcached.wait()
            self.memcached = None
        self.dovecot.stop()
        if self.postgres is not None:
            self.postgres.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.postgres.wait(60)
            except subprocess.TimeoutExpired:
                self.postgres.kill()
                self.postgres.wait()
            self.postgres = None

    def children(self) -> list[int]:
        return tree_pids(self.proc.pid)[1:] if self.proc is not None else []

    @staticmethod
    def kib_per_device(before: dict[str, int], during: dict[str, int], workers: int,
                       devices: int) -> float:
        """What one pushing device costs SOGo, its sogod child included.

        SOGo holds a child per waiting Ping and its children are forked at start, so the
        growth between an idle and a busy server (the figure taken for Postroom) leaves the
        children themselves out. Here: every child with its PostgreSQL connection, divided by
        the number of children (each device needs one), plus what Dovecot and memcached grew
        by while the devices waited, divided by the devices."""
        per_child = (during["sogod_children"] + during["postgres"]) / workers
        grown = sum(during[k] - before[k] for k in ("dovecot", "memcached")) / devices
        return round(per_child + grown, 1)

    def memory_kib(self) -> dict[str, int]:
        """PSS of each part: sogod's watchdog and its children apart, Dovecot (master, and
        the IMAP processes serving SOGo), PostgreSQL's backends serving SOGo (not the
        cluster's own processes), memcached."""
        watchdog = _pss(self.proc.pid) if self.proc is not None else 0
        children = sum(_pss(pid) for pid in self.children())
        backends = 0
        with contextlib.suppress(subprocess.SubprocessError):
            pids = self._psql("SELECT pid FROM pg_stat_activity WHERE datname = "
                              f"'{self.database}'").split()
            backends = sum(_pss(int(p)) for p in pids)
        return {"sogod_watchdog": watchdog, "sogod_children": children,
                "dovecot": self.dovecot.pss_kib(), "postgres": backends,
                "memcached": tree_pss(self.memcached.pid) if self.memcached else 0}
