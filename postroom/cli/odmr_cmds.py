"""``postroom gateway``, ``postroom atrn`` and ``postroom minger`` (issue 7).

- ``gateway``: domains we accept and hold mail for on someone else's behalf (backup MX), with
  recipient verification, a destination host, and the accounts that may collect by ATRN.
- ``atrn``: the customer side: providers that hold *our* domains' mail, collected by ATRN.
- ``minger query``: ask any Minger server about one address, as the gateways do.

Like the other commands they call the administration services (services/admin/relay.py), with
or without a running server; a running server sees every change at once (gateways are read per
message).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from postroom.app import Services, build_atrn, server_names
from postroom.cli.context import (
    OPERATOR,
    UsageError,
    add_password_options,
    emit,
    emit_one,
    read_password,
    run_async,
    say,
    when,
)
from postroom.core import minger as wire
from postroom.core.records import GatewayRec, ProviderRec
from postroom.net.minger import PORT as MINGER_PORT
from postroom.net.minger import MingerError, query
from postroom.services.atrn import MIN_INTERVAL
from postroom.services.atrn import TLS_MODES as ATRN_TLS
from postroom.services.gateways import UNVERIFIABLE, VERIFY_MODES


def _gateway_row(rec: GatewayRec, waiting: tuple[int, int] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "domain": rec.domain,
        "mode": f"deliver to {rec.deliver_to}" if rec.deliver_to else "hold for ATRN",
        "verify": rec.verify, "atrn_users": list(rec.atrn_users)}
    if waiting is not None:
        if rec.verify == "minger":
            row["minger_host"] = rec.minger_host or f"{rec.deliver_to.split(':')[0]} (port " \
                                                    f"{MINGER_PORT})"
            row["minger_secret"] = "set" if rec.minger_secret else "none (anonymous)"
            row["when_unverifiable"] = rec.unverifiable
        if rec.verify == "static":
            row["recipients"] = list(rec.recipients)
        row["queued_messages"] = waiting[0]
        row["queued_octets"] = waiting[1]
        row["created"] = when(rec.created_at)
    return row


def _recipients(args: argparse.Namespace, attr: str, file_attr: str) -> list[str]:
    out = list(getattr(args, attr, None) or [])
    path = getattr(args, file_attr, None)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        out += [line.strip() for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    return out


def _minger_secret(args: argparse.Namespace) -> str | None:
    if getattr(args, "minger_secret_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    if getattr(args, "no_minger_secret", False):
        return ""
    value: str | None = getattr(args, "minger_secret", None)
    return value


async def gateway_cmd(s: Services, args: argparse.Namespace) -> int:
    gw = s.admin.gateways
    action = args.action
    if action == "add":
        rec = await gw.add(OPERATOR, args.domain, deliver_to=args.deliver_to or "",
                           verify=args.verify,
                           minger_host=args.minger_host or "",
                           minger_secret=_minger_secret(args) or None,
                           unverifiable=args.unverifiable,
                           recipients=_recipients(args, "recipient", "recipients_file"),
                           atrn_users=args.atrn_user or [])
        say(f"gateway {rec.domain} added: "
            + (f"mail is delivered to {rec.deliver_to}" if rec.deliver_to else
               "mail is held until collected by ATRN")
            + f"; recipients verified: {rec.verify}")
        if not s.cfg.odmr.enabled and rec.holds:
            say("note: the ODMR listener is off (odmr.enabled = false): nobody can collect")
        return 0
    if action == "set":
        fields: dict[str, str | None] = {
            "deliver_to": "" if args.hold else args.deliver_to, "verify": args.verify,
            "minger_host": args.minger_host, "unverifiable": args.unverifiable,
            "minger_secret": _minger_secret(args)}
        add = _recipients(args, "add_recipient", "recipients_file")
        if all(v is None for v in fields.values()) and not (
                add or args.remove_recipient or args.add_atrn_user or args.remove_atrn_user):
            raise UsageError("nothing to change (see --help)")
        rec = await gw.update(OPERATOR, args.domain, fields=fields, add_recipients=add,
                              drop_recipients=args.remove_recipient or [],
                              add_users=args.add_atrn_user or [],
                              drop_users=args.remove_atrn_user or [])
        say(f"gateway {rec.domain} updated")
        return 0
    if action == "list":
        rows = [_gateway_row(r) for r in await gw.list(OPERATOR)]
        emit(args, rows, ["domain", "mode", "verify", "atrn_users"])
        return 0
    if action == "show":
        rec, waiting = await gw.show(OPERATOR, args.domain)
        emit_one(args, _gateway_row(rec, waiting))
        return 0
    if action == "remove":
        held = await gw.remove(OPERATOR, args.domain, force=args.force)
        say(f"gateway {args.domain} removed"
            + (f"; {held} queued messages go to normal MX delivery" if held else ""))
        return 0
    raise UsageError(f"unknown action {action}")


def _provider_row(rec: ProviderRec, detail: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": rec.name, "provider": f"{rec.username}@{rec.host}:{rec.port}",
        "tls": rec.tls + ("" if rec.tls_verify or rec.tls == "none" else " (unverified)"),
        "domains": rec.domains or "(all the provider holds for us)",
        "interval": f"{rec.interval_s}s", "enabled": rec.enabled,
        "last_success": when(rec.last_success), "last_error": rec.last_error}
    if detail:
        row["last_received"] = rec.last_received
        row["failures_in_a_row"] = rec.failures
        row["last_error_at"] = when(rec.last_error_at)
        row["next_run"] = when(rec.next_run) if rec.enabled else "disabled"
    return row


async def atrn_cmd(s: Services, args: argparse.Namespace) -> int:
    atrn = s.admin.atrn
    action = args.action
    if action == "add":
        password = read_password(args)
        assert password is not None
        rec = await atrn.add(OPERATOR, args.name, host=args.host, username=args.user,
                             password=password, domains=args.domain or [], tls=args.tls,
                             port=args.port,
                             tls_verify=not args.no_verify_tls, interval=args.interval,
                             enabled=not args.disabled)
        say(f"ATRN provider {rec.name} added: {rec.username}@{rec.host}:{rec.port} "
            f"({rec.tls}) every {rec.interval_s} s"
            + ("" if rec.enabled else " (disabled)"))
        return 0
    if action == "set":
        password = read_password(args, required=False) \
            if args.password or args.password_stdin else None
        enabled = True if args.enable else False if args.disable else None
        verify = False if args.no_verify_tls else True if args.verify_tls else None
        if password is None and all(v is None for v in (
                args.host, args.user, args.tls, args.port, args.interval, args.domain,
                enabled, verify)):
            raise UsageError("nothing to change (see --help)")
        await atrn.update(OPERATOR, args.name, password=password, host=args.host,
                          username=args.user, tls=args.tls, port=args.port, interval=args.interval,
                          domains=args.domain, enabled=enabled, tls_verify=verify)
        say(f"ATRN provider {args.name} updated")
        return 0
    if action == "list":
        emit(args, [_provider_row(r) for r in await atrn.list(OPERATOR)],
             ["name", "provider", "tls", "domains", "interval", "enabled", "last_success",
              "last_error"])
        return 0
    if action == "show":
        emit_one(args, _provider_row(await atrn.show(OPERATOR, args.name), detail=True))
        return 0
    if action == "remove":
        await atrn.remove(OPERATOR, args.name)
        say(f"ATRN provider {args.name} removed")
        return 0
    if action == "run-now":
        recs = [await atrn.show(OPERATOR, args.name)] if args.name else \
            await atrn.list(OPERATOR)
        if not recs:
            raise UsageError("no ATRN providers (add one with 'postroom atrn add')")
        runner = build_atrn(s, (await server_names(s))[0])
        rows, failed = [], 0
        for rec in recs:
            result = await runner.run(rec)
            failed += not result.ok
            rows.append({"name": rec.name, "received": result.received,
                         "status": f"error: {result.error}" if result.error else "ok"})
        emit(args, rows, ["name", "received", "status"])
        return 1 if failed else 0
    raise UsageError(f"unknown action {action}")


def minger_query_cmd(args: argparse.Namespace) -> int:
    """Exit status: 0 when the address exists and accepts mail (5), 1 for any other answer,
    3 when no answer came."""
    if not wire.is_mailbox(args.address):
        raise UsageError(f"{args.address!r} is not an address (local@domain)")
    secret = sys.stdin.readline().rstrip("\r\n") if args.secret_stdin else args.secret
    if secret:
        try:
            wire.check_secret(secret)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    try:
        status = run_async(asyncio.wait_for(query(
            args.host, args.port, args.address, secret or None, timeout=args.timeout,
            attempts=args.tries), args.timeout * args.tries + 5))
    except (MingerError, TimeoutError) as exc:
        print(f"{args.address}: no answer from {args.host}:{args.port} ({exc})",
              file=sys.stderr)
        return 3
    say(f"{args.address}: {status} ({wire.STATUS_TEXT[status]})")
    return 0 if status == wire.ACTIVE else 1


def add_odmr_parsers(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    g = actions(sub("gateway", "Domain gateways: accept and hold mail for someone else's "
                    "domain (backup MX), collected by ATRN or delivered to a host."))
    add = leaf(g, "add", "add a gateway domain")
    st = leaf(g, "set", "change a gateway")
    for parser in (add, st):
        parser.add_argument("domain")
        parser.add_argument("--deliver-to", metavar="HOST[:PORT]",
                            help="deliver the domain's mail to this host (port 25 by "
                                 "default), retrying on the normal schedule; without it "
                                 "mail is held until collected by ATRN")
        parser.add_argument("--verify", choices=VERIFY_MODES,
                            default="none" if parser is add else None,
                            help="check recipients at RCPT: none (accept any), static "
                                 "(only --recipient addresses), minger (ask the destination "
                                 "over Minger, UDP 4069)")
        parser.add_argument("--minger-host", metavar="HOST[:PORT]",
                            help="Minger server to ask (default: the --deliver-to host, "
                                 "port 4069)")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--minger-secret", metavar="S",
                            help="shared secret for Minger queries (visible in ps; prefer "
                                 "--minger-secret-stdin); stored encrypted")
        secret.add_argument("--minger-secret-stdin", action="store_true",
                            help="read the Minger secret from standard input")
        parser.add_argument("--unverifiable", choices=UNVERIFIABLE,
                            default="defer" if parser is add else None,
                            help="when Minger gives no usable answer: defer (450, the "
                                 "sender retries; default) or accept")
        parser.add_argument("--recipients-file", metavar="FILE",
                            help="addresses for --verify static, one per line")
    add.add_argument("--recipient", action="append", metavar="ADDRESS",
                     help="an address for --verify static (repeatable)")
    add.add_argument("--atrn-user", action="append", metavar="ACCOUNT",
                     help="a local account whose login may collect this domain by ATRN "
                          "(repeatable)")
    st.add_argument("--hold", action="store_true",
                    help="stop delivering to a host: hold mail for ATRN again")
    st.add_argument("--no-minger-secret", action="store_true",
                    help="ask the Minger server anonymously")
    st.add_argument("--add-recipient", action="append", metavar="ADDRESS")
    st.add_argument("--remove-recipient", action="append", metavar="ADDRESS")
    st.add_argument("--add-atrn-user", action="append", metavar="ACCOUNT")
    st.add_argument("--remove-atrn-user", action="append", metavar="ACCOUNT")
    leaf(g, "list", "list gateway domains", json_flag=True)
    leaf(g, "show", "show a gateway with the mail waiting for it",
         json_flag=True).add_argument("domain")
    rm = leaf(g, "remove", "remove a gateway (refused while mail waits for it)")
    rm.add_argument("domain")
    rm.add_argument("--force", action="store_true",
                    help="remove anyway; waiting mail goes to normal MX delivery")
    for parser in g.choices.values():
        parser.set_defaults(func=with_services(gateway_cmd))

    a = actions(sub("atrn", "Collect our domains' mail from a provider that holds it, by "
                    "ATRN (ODMR customer side, RFC 2645)."))
    add = leaf(a, "add", "add a provider to collect from")
    st = leaf(a, "set", "change a provider")
    for parser in (add, st):
        parser.add_argument("name", help="a name for the provider, e.g. its host name")
        parser.add_argument("--host", required=parser is add, help="the provider's ODMR "
                                                                   "server")
        parser.add_argument("--port", type=int, help="default 366")
        parser.add_argument("--tls", choices=ATRN_TLS,
                            default="starttls" if parser is add else None,
                            help="starttls (default; required), implicit, or none (then "
                                 "only CRAM-MD5 is used to log in)")
        parser.add_argument("--user", required=parser is add, help="the login the provider "
                                                                   "gave you")
        parser.add_argument("--domain", action="append", metavar="DOMAIN",
                            help="a domain to ask for (repeatable; default: every domain the "
                                 "provider holds for this login)")
        parser.add_argument("--interval", type=int, default=600 if parser is add else None,
                            metavar="SECONDS",
                            help=f"how often to collect (default 600, at least {MIN_INTERVAL})")
        add_password_options(parser, "the provider password", required=parser is add,
                             stored=True)
    add.add_argument("--no-verify-tls", action="store_true",
                     help="accept any certificate (a self-signed provider)")
    add.add_argument("--disabled", action="store_true", help="add it switched off")
    verify = st.add_mutually_exclusive_group()
    verify.add_argument("--no-verify-tls", action="store_true")
    verify.add_argument("--verify-tls", action="store_true")
    onoff = st.add_mutually_exclusive_group()
    onoff.add_argument("--enable", action="store_true")
    onoff.add_argument("--disable", action="store_true")
    leaf(a, "list", "list providers", json_flag=True)
    leaf(a, "show", "show a provider with its last success and error",
         json_flag=True).add_argument("name")
    leaf(a, "remove", "remove a provider").add_argument("name")
    leaf(a, "run-now", "collect now, from this process, and print what happened",
         json_flag=True).add_argument("name", nargs="?", help="default: every provider")
    for parser in a.choices.values():
        parser.set_defaults(func=with_services(atrn_cmd))

    m = actions(sub("minger", "Minger address verification (UDP 4069)."))
    q = m.add_parser("query", help="ask HOST whether it accepts mail for ADDRESS; exit 0 "
                     "for yes (5), 1 for any other answer, 3 for no answer",
                     description="Ask HOST whether it accepts mail for ADDRESS "
                     "(draft-hathcock-minger-06). Exit status: 0 = exists and is active, "
                     "1 = any other answer, 3 = no answer.")
    q.add_argument("host")
    q.add_argument("address")
    q.add_argument("--port", type=int, default=MINGER_PORT, help=f"default {MINGER_PORT}")
    sec = q.add_mutually_exclusive_group()
    sec.add_argument("--secret", metavar="S", help="shared secret (default: anonymous)")
    sec.add_argument("--secret-stdin", action="store_true",
                     help="read the shared secret from standard input")
    q.add_argument("--timeout", type=float, default=3.0, help="seconds per try (default 3)")
    q.add_argument("--tries", type=int, default=2, help="datagrams to send (default 2)")
    q.set_defaults(func=minger_query_cmd)
