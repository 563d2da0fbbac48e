"""``make bench``: Postroom and the reference servers side by side, in alternation.

Both servers get the same accounts and the same mail (``bench.data``), run on this machine on
loopback high ports, and face the same workloads with the same seeds, round after round
(A B, B A, A B …). The table shows medians over the rounds and the ratio Postroom/reference
oriented so that above 1 means Postroom did better. Results go to
``bench/results/<UTC time>.json``.

Workloads so far: IMAP on a 100,000-message mailbox and the mixed IMAP workload (LOGIN SELECT
FETCH STORE SEARCH APPEND EXPUNGE LOGOUT) with 20 and 50 clients over 100 accounts (reference:
Debian's Dovecot with its default settings, Maildir, no FTS plugin); SMTP with 4 KB and 100 KB
messages over 10 and 50 connections until delivered (reference: Debian's Postfix delivering
into that Dovecot over LMTP; bench/smtp_run.py); POP3, 20 clients each downloading its own
1,000-message mailbox with RETR (reference: that Dovecot's POP3; bench/pop3_load.py); 10,000
IMAP connections idling in IDLE over 100 accounts: memory per connection and the fan-out of a
new-mail notification (bench/idle_load.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data, idle_load, imap_load, pop3_load, smtp_run, targets
from bench.postroom_server import Postroom
from bench.reference import Dovecot, ensure_packages, raised_kernel_limit
from postroom.app import Services

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--seconds", type=float, default=15.0,
                   help="duration of each mixed-workload cell (default 15)")
    p.add_argument("--clients", default="20,50", help="concurrent clients per cell")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--per-account", type=int, default=100, help="messages per account")
    p.add_argument("--big", type=int, default=100_000,
                   help="messages in the large mailbox (0 skips it)")
    p.add_argument("--workloads", default="imap,session,smtp,pop3,idle",
                   help="comma-separated: imap, session (the session loop, with imap), smtp, "
                        "pop3, idle (default all)")
    p.add_argument("--idle-connections", type=int, default=10_000,
                   help="concurrent IMAP connections in IDLE (default 10,000)")
    p.add_argument("--idle-accounts", type=int, default=100,
                   help="accounts the idle connections spread over (default 100)")
    p.add_argument("--pop3-clients", type=int, default=20,
                   help="POP3 clients, each downloading its own mailbox (default 20)")
    p.add_argument("--pop3-messages", type=int, default=1000,
                   help="messages in each POP3 mailbox (default 1,000)")
    p.add_argument("--smtp-clients", default="10,50", help="SMTP connections per cell")
    p.add_argument("--keep", action="store_true", help="keep the servers' directories")
    p.add_argument("--dovecot-auth-cache", action="store_true",
                   help="turn on Dovecot's auth_cache (off by default in Dovecot), to compare "
                        "with Postroom's login cache like for like")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 round, 3 s cells, 10 accounts, 5,000-message mailbox")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.accounts, args.big = 1, 3.0, 10, 5000
        args.pop3_clients, args.pop3_messages = 5, 200
        args.idle_connections, args.idle_accounts = 500, 10
    return args


def setup(root: Path, args: argparse.Namespace) -> tuple[Postroom, Dovecot]:
    started = time.monotonic()
    pr = Postroom(root / "postroom")
    pop3 = args.pop3_clients if "pop3" in args.workloads.split(",") else 0
    idle_hashes = idle_load.cheap_hashes(
        args.idle_accounts if "idle" in args.workloads.split(",") else 0)

    async def fill(services: Services) -> None:
        await data.fill_postroom(services, args.accounts, args.per_account, args.big)
        await pop3_load.fill_postroom(services, pop3, args.pop3_messages)
        await idle_load.fill_postroom(services, idle_hashes)
    pr.populate(fill)
    print(f"bench: Postroom filled in {time.monotonic() - started:.1f} s", flush=True)
    started = time.monotonic()
    dv = Dovecot(root / "dovecot", tls=True)
    if args.dovecot_auth_cache:  # Postroom remembers logins for login.cache_ttl (600 s)
        dv.extra_config += "auth_cache_size = 10M\nauth_cache_ttl = 600 s\n"
    dv.write_config()
    for i in range(args.accounts):
        address = data.account(i)
        dv.add_user(address, data.password(address))
        data.fill_maildir(dv.maildir(address), data.account_mail(i, args.per_account))
    dv.add_user(data.SINK, data.password(data.SINK))
    if args.big:
        dv.add_user(data.BIG, data.password(data.BIG))
        data.fill_maildir(dv.maildir(data.BIG), data.big_mail(args.big))
    pop3_load.fill_dovecot(dv, pop3, args.pop3_messages)
    idle_load.fill_dovecot(dv, idle_hashes)
    print(f"bench: Dovecot filled in {time.monotonic() - started:.1f} s", flush=True)
    return pr, dv


async def warm(server: Postroom | Dovecot, args: argparse.Namespace) -> float:
    started = time.monotonic()
    addresses = [data.account(i) for i in range(args.accounts)]
    if args.big:
        addresses.append(data.BIG)
    await imap_load.warm(server.imap_port, addresses)
    return time.monotonic() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    workloads = set(args.workloads.split(","))
    ensure_packages(["dovecot-imapd", "dovecot-pop3d"]
                    + (["dovecot-lmtpd", "postfix"] if "smtp" in workloads else []))
    if "smtp" in workloads:
        smtp_run.ensure_smtp_tools()
    root = Path(tempfile.mkdtemp(prefix="postroom-bench-"))
    root.chmod(0o755)  # Dovecot's unprivileged auth and mail processes must reach their files
    clients = [int(c) for c in args.clients.split(",") if c]
    rounds: list[dict[str, Any]] = []
    result: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "machine": _machine(), "args": vars(args), "rounds": rounds}
    pr, dv = setup(root, args)
    try:
        pr.start()
        dv.start()
        result["warm_s"] = {s.name: asyncio.run(warm(s, args)) for s in (pr, dv)}
        if "smtp" in workloads:
            smtp_clients = [int(c) for c in args.smtp_clients.split(",") if c]
            result["smtp_rounds"] = smtp_run.run(root, args, dv, smtp_clients)
            result["smtp_summary"] = smtp_run.summarise(result["smtp_rounds"], smtp_clients)
        if "pop3" in workloads:
            result["pop3_rounds"] = pop3_rounds = []
            for r in range(args.rounds):
                this_round: dict[str, Any] = {}
                for server in data.in_order(r, *_pair(pr, dv)):
                    this_round[server.name] = asyncio.run(pop3_load.retr_all(
                        server.pop3_port, args.pop3_clients))
                    print(f"bench: pop3 round {r + 1} {server.name} done", flush=True)
                pop3_rounds.append(this_round)
            result["pop3_summary"] = summarise_pop3(pop3_rounds, args)
        for r in range(args.rounds if "imap" in workloads else 0):
            order = data.in_order(r, *_pair(pr, dv))
            this: dict[str, Any] = {}
            for server in order:
                cell: dict[str, Any] = {}
                if args.big:
                    cell["big"] = asyncio.run(imap_load.big_mailbox(server.imap_port, args.big))
                for n in clients:
                    cell[f"mixed{n}"] = asyncio.run(imap_load.mixed(
                        server.imap_port, n, args.seconds, args.accounts, args.per_account,
                        seed=r + 1))
                if "session" in workloads:
                    cell["session20"] = asyncio.run(imap_load.mixed(
                        server.imaps_port, 20, args.seconds, args.accounts, args.per_account,
                        seed=r + 1, short=True))
                cell["pss_mib"] = server.pss_kib() / 1024
                this[server.name] = cell
                print(f"bench: round {r + 1} {server.name} done", flush=True)
            rounds.append(this)
        if "idle" in workloads:
            idle_rounds: list[dict[str, Any]] = []
            result["idle_rounds"] = idle_rounds
            with raised_kernel_limit("/proc/sys/fs/inotify/max_user_instances",
                                     args.idle_connections + 1024):
                run_idle(args, pr, dv, idle_rounds)
            result["idle_summary"] = summarise_idle(idle_rounds, args)
    finally:
        pr.stop()
        dv.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    result["summary"] = summarise(rounds, clients, args.big) if rounds else []
    result["summary"] += (result.get("smtp_summary", []) + result.get("pop3_summary", [])
                          + result.get("idle_summary", []))
    return result


def summarise_pop3(rounds: list[dict[str, Any]], args: argparse.Namespace,
                   ) -> list[dict[str, Any]]:
    return _rows(rounds, f"POP3, {args.pop3_clients}×{args.pop3_messages:,} msgs", (
        ("messages/s", "messages_per_s", True), ("MB/s", "mb_per_s", True),
        ("RETR p50 (ms)", "retr_p50_ms", False), ("RETR p99 (ms)", "retr_p99_ms", False),
        ("login p50 (ms)", "login_p50_ms", False)))


def _rows(rounds: list[dict[str, Any]], workload: str,
          measures: tuple[tuple[str, str | tuple[str, ...], bool], ...]) -> list[dict[str, Any]]:
    """One summary row per (label, result key or key path, higher is better): the medians of
    both servers and the ratio, oriented so that above 1 means Postroom did better."""
    rows = []
    for measure, key, higher in measures:
        path = (key,) if isinstance(key, str) else key
        p = _median(rounds, "postroom", *path)
        d = _median(rounds, "dovecot", *path)
        ratio = (p / d if higher else d / p) if p and d else 0.0
        rows.append({"workload": workload, "measure": measure, "postroom": p,
                     "reference": d, "reference_name": "dovecot", "ratio": ratio})
    return rows


def _pair(pr: Postroom, dv: Dovecot) -> tuple[Postroom | Dovecot, Postroom | Dovecot]:
    return pr, dv


def run_idle(args: argparse.Namespace, pr: Postroom, dv: Dovecot,
             rounds: list[dict[str, Any]]) -> None:
    for r in range(args.rounds):
        this_round: dict[str, Any] = {}
        for server in data.in_order(r, *_pair(pr, dv)):
            # A fresh process each round: memory freed by the last round's 10,000 sessions
            # stays with the process and would hide what the next 10,000 cost.
            server.stop()
            server.start()
            got = this_round[server.name] = asyncio.run(idle_load.idle(
                server.imap_port, args.idle_connections, args.idle_accounts,
                server.pss_kib))
            print(f"bench: idle round {r + 1} {server.name}: "
                  f"{got['kib_per_connection']:.1f} KiB/conn, set-up {got['setup_s']:.1f} s, "
                  f"fan-out {got['fanout_s']:.2f} s, errors {got['errors']}", flush=True)
        rounds.append(this_round)


def summarise_idle(rounds: list[dict[str, Any]], args: argparse.Namespace,
                   ) -> list[dict[str, Any]]:
    return _rows(rounds, f"IDLE, {args.idle_connections:,} connections", (
        ("KiB per idle connection", "kib_per_connection", False),
        ("server PSS while idling (MiB)", "memory_idle_mib", False),
        ("connections set up per s", "setup_per_s", True),
        ("new-mail fan-out to all (s)", "fanout_s", False),
        ("connections notified", "notified", True), ("errors", "errors", False)))


def _median(rounds: list[dict[str, Any]], server: str, *path: str) -> float:
    values = []
    for r in rounds:
        v: Any = r[server]
        for key in path:
            v = v[key]
        values.append(float(v))
    return statistics.median(values)


def summarise(rounds: list[dict[str, Any]], clients: list[int], big: int,
              ) -> list[dict[str, Any]]:
    """Rows of (workload, measure, postroom, dovecot, ratio); ratio > 1 = Postroom better."""
    rows: list[dict[str, Any]] = []

    def row(workload: str, measure: str, path: tuple[str, ...], higher_better: bool) -> None:
        rows.extend(_rows(rounds, workload, ((measure, path, higher_better),)))
    if big:
        for op in rounds[0]["postroom"]["big"]:
            row(f"{big:,}-msg mailbox", f"{op} (ms)", ("big", op), False)
    for n in clients:
        key = f"mixed{n}"
        row(f"mixed, {n} clients", "operations/s", (key, "ops_per_s"), True)
        for cmd in rounds[0]["postroom"][key]["commands"]:
            if cmd in rounds[0]["dovecot"][key]["commands"]:
                row(f"mixed, {n} clients", f"{cmd} p50 (ms)",
                    (key, "commands", cmd, "p50_ms"), False)
                row(f"mixed, {n} clients", f"{cmd} p99 (ms)",
                    (key, "commands", cmd, "p99_ms"), False)
        row(f"mixed, {n} clients", "errors", (key, "errors"), False)
    if "session20" in rounds[0]["postroom"]:
        key, name = "session20", "session loop, 20 clients"
        row(name, "sessions/s", (key, "sessions_per_s"), True)
        for cmd in rounds[0]["postroom"][key]["commands"]:
            if cmd in rounds[0]["dovecot"][key]["commands"]:
                row(name, f"{cmd} p50 (ms)", (key, "commands", cmd, "p50_ms"), False)
        row(name, "errors", (key, "errors"), False)
    row("memory", "server PSS after the round (MiB)", ("pss_mib",), False)
    return rows


def _machine() -> dict[str, Any]:
    import os
    import subprocess
    version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True)
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "kernel": platform.release(), "dovecot": version.stdout.strip()}


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'workload':<24} {'measure':<34} {'postroom':>10} {'reference':>10} {'ratio':>7}"
          "  reference")
    for r in rows:
        print(f"{r['workload']:<24} {r['measure']:<34} {r['postroom']:>10.1f} "
              f"{r['reference']:>10.1f} {r['ratio']:>7.2f}  {r['reference_name']}")
    print("ratio: Postroom relative to the reference, above 1 = Postroom better "
          "(throughput P/R, times R/P)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print_table(result["summary"])
    result["targets"] = targets.judge(result["summary"])
    targets.print_targets(result["targets"])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json")
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwritten: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
