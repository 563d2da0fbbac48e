"""``postroom service unit|install``: run Postroom under systemd.

The unit runs the server as the unprivileged user from the start (``User=``) and gives it only
the capability to bind ports below 1024 (``AmbientCapabilities=CAP_NET_BIND_SERVICE``), which
is narrower than starting as root and dropping (``server.user``, privileges.py): root is never
held at all. systemd makes the data directory (``StateDirectory=``, 0700, the user's), collects
stdout/stderr into the journal (``journalctl -u postroom``), sends SIGHUP on ``systemctl
reload`` (the server reloads in place) and SIGTERM on stop (in-flight commands get
``server.shutdown_grace`` seconds). The sandboxing lines leave the server write access to its
data directory only.

``install`` writes the unit, a configuration file when there is none, and creates the system
user when it is missing; it prints the two ``systemctl`` commands that start it rather than
running them, so that the administrator reviews the configuration first.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from postroom import config as config_mod
from postroom.cli.context import UsageError

DEFAULT_CONFIG = "/etc/postroom/postroom.toml"
DEFAULT_DATA = "/var/lib/postroom"


def executable() -> str:
    """The ``postroom`` script of this installation (the venv's), else ``python -m``."""
    script = Path(sys.executable).with_name("postroom")
    if script.exists():
        return str(script)
    return f"{sys.executable} -m postroom"


def group_of(user: str) -> str:
    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        return user  # the group 'useradd --user-group' will make


def unit(user: str, config: str, data_dir: str) -> str:
    state = data_dir.removeprefix("/var/lib/") if data_dir.startswith("/var/lib/") else ""
    paths = (f"StateDirectory={state}\nStateDirectoryMode=0700\n" if state
             else f"ReadWritePaths={data_dir}\n")
    return f"""\
# Postroom mail server. Written by 'postroom service install'; see docs/operations.md.
[Unit]
Description=Postroom mail server (SMTP, IMAP, POP3)
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={group_of(user)}
# ports below 1024 without root: nothing else is granted
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
Environment=POSTROOM_CONFIG={config}
ExecStart={executable()} serve --config {config} --data-dir {data_dir}
ExecReload=/bin/kill -HUP $MAINPID
KillSignal=SIGTERM
TimeoutStopSec=60
Restart=on-failure
RestartSec=5
LimitNOFILE=65536
UMask=0077
{paths}ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
"""


def service_cmd(args: argparse.Namespace) -> int:
    text = unit(args.user, args.config, args.data_dir)
    if args.action == "unit":
        print(text, end="")
        return 0
    unit_path = Path(args.unit_dir) / "postroom.service"
    try:
        pwd.getpwnam(args.user)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None or os.geteuid() != 0:
            raise UsageError(f"no user {args.user!r}: create it (as root: useradd --system "
                             f"--home-dir {args.data_dir} --shell /usr/sbin/nologin "
                             f"{args.user}) and run this again") from None
        subprocess.run([useradd, "--system", "--user-group", "--home-dir", args.data_dir,
                        "--no-create-home", "--shell", "/usr/sbin/nologin", args.user],
                       check=True)
        print(f"created system user {args.user}")
    conf = Path(args.config)
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(config_mod.example())
        conf.chmod(0o640)  # may hold secrets (the MultiPOP key, a DSN's password)
        if os.geteuid() == 0:  # readable by the server's group, writable by root only
            os.chown(conf, 0, pwd.getpwnam(args.user).pw_gid)
        print(f"wrote {conf} (every key, commented, with its default)")
    unit_path.parent.mkdir(parents=True, exist_ok=True)
    unit_path.write_text(text)
    unit_path.chmod(0o644)
    print(f"wrote {unit_path}")
    print("review the configuration (server.domain, server.listen), then start it with:\n"
          "  systemctl daemon-reload\n  systemctl enable --now postroom\n"
          "logs: journalctl -u postroom   reload: systemctl reload postroom")
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default="postroom",
                        help="the unprivileged user the server runs as (default: postroom)")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help=f"configuration file the unit starts with (default: "
                             f"{DEFAULT_CONFIG})")
    parser.add_argument("--data-dir", default=DEFAULT_DATA,
                        help=f"data directory (default: {DEFAULT_DATA}, made by systemd)")
    parser.set_defaults(func=service_cmd, json=False)
