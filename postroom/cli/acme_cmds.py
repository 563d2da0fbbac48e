"""``postroom acme status | renew``: the ACME certificate at a glance, and a renewal now.

Both read and write only ``<data_dir>/tls/acme/`` (services/acme/files.py), so they work with
the server running or not. ``renew`` asks the *running* server: the challenges must be
answered on its listeners (ports 80 and 443), which a second process cannot bind while it
runs. It leaves a request file there and sends SIGHUP (which also re-reads the configuration,
as ``postroom reload`` does); the server orders a certificate whatever its expiry, and with
``--wait`` the command waits for the outcome and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import time
from typing import Any

from postroom.cli.context import UsageError, load_config
from postroom.lifecycle import running_server
from postroom.services.acme.files import AcmeFiles, atomic_write
from postroom.services.acme.manager import expiry_text


def _when(ts: float) -> str:
    if not ts:
        return "never"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")


def status_cmd(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    files = AcmeFiles(cfg.data_path)
    live, state = files.current(), files.state()
    now = datetime.datetime.now(datetime.UTC)
    if args.json:
        print(json.dumps({
            "enabled": cfg.acme.enabled, "directory_url": cfg.acme.directory_url,
            "certificate": None if live is None else {
                "names": live.names, "not_after": live.not_after.isoformat(),
                "issuer": live.issuer},
            "state": {k: getattr(state, k) for k in state.__dataclass_fields__}}, indent=2))
        return 0
    rows: list[tuple[str, Any]] = [
        ("enabled", "yes" if cfg.acme.enabled else "no (acme.enabled = false)"),
        ("CA", cfg.acme.directory_url),
        ("names", ", ".join(live.names) if live else "-"),
        ("expires", expiry_text(live, now)),
        ("issuer", live.issuer if live else "-"),
        ("last attempt", _when(state.last_attempt)),
        ("last success", _when(state.last_success)),
        ("challenge", state.challenge or "-"),
        ("error", state.error or "-"),
    ]
    if state.names and live and set(state.names) - set(live.names):
        rows.append(("asked for", ", ".join(state.names)))
    if state.dropped:
        rows.append(("left out", ", ".join(state.dropped)))
    if state.next_attempt:
        rows.append(("next attempt", _when(state.next_attempt)))
    for key, value in rows:
        print(f"{key:<14}{value}")
    return 0


def renew_cmd(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if not cfg.acme.enabled:
        raise UsageError("ACME is off; set acme.enabled = true (and reload) first")
    pid = running_server(cfg.data_path)
    if pid is None:
        raise UsageError("no server is running on the data directory "
                         f"{cfg.data_path.resolve()}; the ACME challenges are answered on "
                         "its listeners, so start it ('postroom serve'): it orders a "
                         "certificate at start when it has none")
    files = AcmeFiles(cfg.data_path)
    before = files.state().last_attempt
    files.ensure()
    atomic_write(files.request, b"")
    os.kill(pid, signal.SIGHUP)
    print(f"asked the server (PID {pid}) to renew its certificate")
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        state = files.state()
        if state.last_attempt > before and not files.request.exists():
            if state.error:
                print(f"error: {state.error}")
                return 1
            live = files.current()
            print(f"renewed: {', '.join(live.names) if live else '-'}, expires "
                  f"{expiry_text(live, datetime.datetime.now(datetime.UTC))}")
            return 0
        time.sleep(0.5)
    print(f"no outcome after {args.wait} s; see 'postroom acme status' and the server's log")
    return 1


def add_acme_parser(cmd: Any, leaf: Any, actions: Any) -> None:
    group = actions(cmd("acme", "The certificate from an ACME CA (RFC 8555): status, or "
                        "renew now."))
    st = leaf(group, "status", "names, expiry, last attempt and error", json_flag=True)
    st.set_defaults(func=status_cmd)
    rn = leaf(group, "renew", "ask the running server to order a new certificate now")
    rn.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                    help="wait up to SECONDS for the outcome and print it")
    rn.set_defaults(func=renew_cmd)
