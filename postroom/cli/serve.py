"""``postroom serve``: start the server and say where it listens."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from rich.console import Console
from rich.table import Table

from postroom import __version__, config, privileges
from postroom.app import ADMIN_PASSWORD_FILE, StartupError
from postroom.cli.context import UsageError, load_config, run_async
from postroom.lifecycle import running_server
from postroom.obs import log as obs_log
from postroom.server import Server, run_server


def reload_cmd(args: argparse.Namespace) -> int:
    """``postroom reload``: check the configuration, then ask the running server to take it
    (SIGHUP); the server's log says what changed and what needs a restart."""
    cfg = load_config(args)
    config.check_environment(cfg, args.config)
    pid = running_server(cfg.data_path)
    if pid is None:
        raise UsageError(f"no server is running on the data directory {cfg.data_path.resolve()}")
    os.kill(pid, signal.SIGHUP)
    print(f"asked the server (PID {pid}) to reload its configuration and TLS certificate; "
          "its log says what changed, and what waits for a restart")
    return 0


def serve_cmd(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    config.check_environment(cfg, args.config)  # the same checks as 'postroom config check'
    try:
        target = privileges.wanted(cfg.server.user)
    except privileges.PrivilegeError as exc:
        raise StartupError(str(exc)) from None
    obs_log.setup(cfg.log.level, cfg.log.format, cfg.log.file)
    if target is not None and cfg.log.file:  # reopened on reload, by the unprivileged user
        os.chown(cfg.log.file, target.uid, target.gid)
    console = Console(highlight=False)

    def ready(server: Server, password: str | None) -> None:
        table = Table(title=f"Postroom {__version__} listening", show_edge=False,
                      header_style="bold")
        for col in ("service", "address", "port", "TLS", "note"):
            table.add_column(col)
        for row in server.table():
            table.add_row(row.service, row.address, str(row.port), row.tls, row.note)
        console.print(table)
        console.print(f"data directory: {cfg.data_path.resolve()}   store: {cfg.store.backend}")
        for row in server.table():
            if row.service == "webadmin":
                host = f"[{row.address}]" if ":" in row.address else row.address
                scheme = "http" if row.tls == "none" else "https"
                note = (" (administrators set up two-factor authentication at their first "
                        "login)" if cfg.web.totp_admins == "required" else "")
                console.print(f"WebAdmin: {scheme}://{host}:{row.port}/{note}")
                break
        if cfg.web.webmail.enabled:
            for row in server.table():
                if row.service in ("https", "http-alt"):
                    host = f"[{row.address}]" if ":" in row.address else row.address
                    scheme = "http" if row.tls == "none" else "https"
                    console.print(f"Webmail: {scheme}://{host}:{row.port}/ (every account)")
                    break
        if all(h.startswith("127.") or h in ("::1", "localhost") for h in cfg.server.listen):
            console.print("Listening on loopback only (the default); set server.listen, e.g. "
                          "--set 'server.listen=[\"0.0.0.0\", \"::\"]', to accept mail from "
                          "other hosts.")
        if password is not None:
            admin = (cfg.data_path / ADMIN_PASSWORD_FILE).read_text().split()[0]
            console.print(f"\nFirst run: created global administrator {admin}")
            console.print(f"  password: {password}")
            console.print(f"  (shown once; also saved to {cfg.data_path / ADMIN_PASSWORD_FILE}"
                          ", mode 0600)")
        console.print("Stop with Ctrl-C or SIGTERM.")
        sys.stdout.flush()

    return run_async(run_server(cfg, on_ready=ready, reload_config=lambda: load_config(args),
                                privileges=privileges.Privileges(target)))
