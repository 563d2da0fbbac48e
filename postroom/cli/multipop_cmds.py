"""``postroom multipop``: users' remote POP3 accounts, collected into their mailboxes.

The commands call the administration services (services/admin/relay.py), with or without a
running server. A running server
collects every enabled remote account at its interval; ``run-now`` collects at once from this
process (the collected messages are queued, and a running server's queue delivers them within
seconds; with no server running they wait in the queue for the next start). A remote account
that a collector is working on at that moment is left alone (``run-now`` says so).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from postroom.app import Services, build_multipop, server_names
from postroom.cli.context import (
    OPERATOR,
    UsageError,
    add_password_options,
    emit,
    emit_one,
    read_password,
    say,
    when,
)
from postroom.core.records import RemoteRec
from postroom.mta.multipop import lease_owner as owner_name
from postroom.services.admin.relay import MultipopAdmin
from postroom.services.multipop import MIN_INTERVAL, TLS_MODES


def _row(rec: RemoteRec, seen: int | None = None) -> dict[str, Any]:
    keep = "no"
    if rec.leave_on_server:
        keep = f"{rec.delete_after_days} days" if rec.delete_after_days else "yes"
    row: dict[str, Any] = {
        "id": rec.id, "address": rec.address, "remote": f"{rec.username}@{rec.host}:{rec.port}",
        "tls": rec.tls + ("" if rec.tls_verify or rec.tls == "none" else " (unverified)"),
        "leave_on_server": keep, "folder": rec.folder, "interval": f"{rec.interval_s}s",
        "enabled": rec.enabled, "last_success": when(rec.last_success),
        "last_fetched": rec.last_fetched, "last_error": rec.last_error,
        "next_run": when(rec.next_run) if rec.enabled else "disabled"}
    if seen is not None:
        row["failures_in_a_row"] = rec.failures
        row["last_error_at"] = when(rec.last_error_at)
        row["uidls_recorded"] = seen
        row["running"] = bool(rec.lease_owner and rec.lease_until >= time.time())
    return row


async def multipop_cmd(s: Services, args: argparse.Namespace) -> int:
    mp = s.admin.multipop
    action = args.action
    if action == "add":
        password = read_password(args)
        assert password is not None
        rec = await mp.add(OPERATOR, args.address, host=args.host, username=args.user,
                           password=password, tls=args.tls, port=args.port,
                           tls_verify=not args.no_verify_tls,
                           leave_on_server=args.leave_on_server or
                           args.delete_after_days is not None,
                           delete_after_days=args.delete_after_days, interval=args.interval,
                           folder=args.folder, enabled=not args.disabled)
        say(f"remote account {rec.id} added: {rec.address} collects {rec.username} at "
            f"{rec.host}:{rec.port} ({rec.tls}) every {rec.interval_s} s into {rec.folder}"
            + ("" if rec.enabled else " (disabled)"))
        return 0
    if action == "list":
        rows = [_row(r) for r in await mp.list(OPERATOR, args.address)]
        emit(args, rows, ["id", "address", "remote", "tls", "leave_on_server", "folder",
                          "interval", "enabled", "last_success", "last_error"])
        return 0
    if action == "show":
        recs = [await mp.one(OPERATOR, args.address, args.id)] if args.id else \
            await mp.list(OPERATOR, args.address)
        rows = [_row(r, len(await mp.seen(OPERATOR, args.address, r.id))) for r in recs]
        if args.json:
            emit(args, rows, [])
        elif not rows:
            say(f"{args.address} has no remote accounts")
        for i, row in enumerate(rows if not args.json else []):
            if i:
                say("")
            emit_one(args, row)
        return 0
    if action == "remove":
        await mp.remove(OPERATOR, args.address, args.id)
        say(f"remote account {args.id} of {args.address} removed")
        return 0
    if action == "set":
        return await _set(mp, args)
    if action == "run-now":
        recs = [await mp.one(OPERATOR, args.address, args.id)] if args.id else \
            await mp.list(OPERATOR, args.address)
        if not recs:
            raise UsageError(f"{args.address} has no remote accounts")
        runner = build_multipop(s, (await server_names(s))[0])
        failed = 0
        rows = []
        for rec in recs:
            result = await runner.run_now(args.address, rec.id, owner_name())
            status = "busy: another collector is running it" if result.busy else \
                f"error: {result.error}" if result.error else "ok"
            failed += not result.ok
            rows.append({"id": rec.id, "remote": f"{rec.username}@{rec.host}",
                         "fetched": result.fetched, "deleted": result.deleted,
                         "skipped": result.skipped, "status": status})
        emit(args, rows, ["id", "remote", "fetched", "deleted", "skipped", "status"])
        return 1 if failed else 0
    raise UsageError(f"unknown action {action}")


async def _set(mp: MultipopAdmin, args: argparse.Namespace) -> int:
    password = read_password(args, required=False) \
        if args.password or args.password_stdin else None
    enabled = True if args.enable else False if args.disable else None
    if all(v is None for v in (password, args.interval, args.folder, enabled,
                               args.leave_on_server, args.delete_after_days)):
        raise UsageError("nothing to change (see --help)")
    await mp.update(OPERATOR, args.address, args.id, password=password, interval=args.interval,
                    folder=args.folder, enabled=enabled, leave_on_server=args.leave_on_server,
                    delete_after_days=args.delete_after_days)
    say(f"remote account {args.id} of {args.address} updated")
    return 0


def add_multipop_parser(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    m = actions(sub("multipop", "Collect users' mail from remote POP3 mailboxes (MultiPOP)."))
    add = leaf(m, "add", "add a remote POP3 account to collect into ADDRESS")
    add.add_argument("address", help="the local account that receives the mail")
    add.add_argument("--host", required=True, help="remote POP3 server")
    add.add_argument("--port", type=int, help="default: 995 with --tls implicit, else 110")
    add.add_argument("--tls", choices=TLS_MODES, default="implicit",
                     help="implicit (port 995, the default), starttls (STLS on 110) or none "
                          "(the password travels in the clear)")
    add.add_argument("--no-verify-tls", action="store_true",
                     help="accept any certificate (a self-signed remote server)")
    add.add_argument("--user", required=True, help="remote user name")
    add.add_argument("--leave-on-server", action="store_true",
                     help="keep collected messages on the remote server (default: delete "
                          "them once they are safely queued here)")
    add.add_argument("--delete-after-days", type=int, metavar="N",
                     help="with --leave-on-server: delete them N days after collecting")
    add.add_argument("--interval", type=int, default=600, metavar="SECONDS",
                     help=f"how often to collect (default 600, at least {MIN_INTERVAL})")
    add.add_argument("--folder", default="INBOX", help="target folder (default INBOX)")
    add.add_argument("--disabled", action="store_true", help="add it switched off")
    st = leaf(m, "set", "change a remote account (see 'list' for its ID)")
    st.add_argument("address")
    st.add_argument("id", type=int, metavar="ID")
    st.add_argument("--interval", type=int, metavar="SECONDS")
    st.add_argument("--folder")
    onoff = st.add_mutually_exclusive_group()
    onoff.add_argument("--enable", action="store_true", help="switch on (and run soon)")
    onoff.add_argument("--disable", action="store_true", help="switch off")
    keep = st.add_mutually_exclusive_group()
    keep.add_argument("--leave-on-server", dest="leave_on_server", action="store_true",
                      default=None)
    keep.add_argument("--delete-on-collect", dest="leave_on_server", action="store_false")
    st.add_argument("--delete-after-days", type=int, metavar="N", help="0 = never")
    for parser in (add, st):
        add_password_options(parser, "the remote password", required=parser is add,
                             stored=True)
    leaf(m, "list", "list remote accounts (of ADDRESS, or all)", json_flag=True) \
        .add_argument("address", nargs="?")
    for name, text in (("show", "show remote accounts of ADDRESS in detail, with the last "
                                "success and the last error"),
                       ("remove", "remove a remote account (nothing is deleted remotely)"),
                       ("run-now", "collect now, from this process, and print what happened")):
        parser = leaf(m, name, text, json_flag=name != "remove")
        parser.add_argument("address")
        parser.add_argument("id", type=int, nargs="?" if name != "remove" else None,
                            metavar="ID", help="one remote account (default: all of ADDRESS)"
                            if name != "remove" else "the remote account (see 'list')")
    for parser in m.choices.values():
        parser.set_defaults(func=with_services(multipop_cmd))
