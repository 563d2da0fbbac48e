"""``postroom dkim``, ``postroom dns`` and ``postroom batv``: thin callers of the signing
administration (services/admin/signing.py), which checks rights and writes the audit records.

Private keys are printed only by ``postroom dkim show DOMAIN SELECTOR --private``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from postroom.app import Services, server_names
from postroom.cli.context import OPERATOR, UsageError, add_common, emit, say, when
from postroom.services.dkimkeys import KeyView
from postroom.services.dnsrecords import quote_txt, zone_lines

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``0``, ``90s``, ``30m``, ``12h``, ``3d`` as seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return int(text[:-1]) * _UNITS[text[-1]]
    raise UsageError(f"{text!r}: give seconds, or 30m, 12h, 3d")


def _zone(key: KeyView, ttl: int) -> str:
    return f"{key.record_name}.\t{ttl}\tIN\tTXT\t{quote_txt(key.record)}"


def _row(key: KeyView) -> dict[str, Any]:
    return {**key.as_dict(), "activates": when(key.activate_at),
            "published_until": when(key.retire_at) if key.retire_at else "-"}


def _print_keys(s: Services, args: argparse.Namespace, keys: list[KeyView],
                intro: str) -> None:
    if args.json:
        print(json.dumps([k.as_dict() for k in keys], indent=2))
        return
    say(intro)
    for key in keys:
        say(f"; {key.algorithm} key {key.selector}: {key.state}, signing from "
            f"{when(key.activate_at)}")
        say(_zone(key, s.cfg.dns.ttl))


async def dkim_cmd(s: Services, args: argparse.Namespace) -> int:
    admin = s.admin.signing
    algorithms = getattr(args, "algorithm", None) or None
    if args.action == "generate":
        keys = await admin.dkim_generate(OPERATOR, args.domain, algorithms, args.selector)
        _print_keys(s, args, keys, f"; new DKIM keys for {keys[0].domain}, signing now; "
                    "publish these records:")
    elif args.action == "rotate":
        delay = parse_duration(args.delay) if args.delay is not None else None
        keys = await admin.dkim_rotate(OPERATOR, args.domain, algorithms, delay,
                                       args.selector)
        _print_keys(s, args, keys, f"; new DKIM keys for {keys[0].domain}: publish these "
                    "records now; the old keys sign until the new ones activate, then stay "
                    "published for the overlap ('postroom dkim activate' switches at once)")
    elif args.action in ("activate", "retire"):
        call = admin.dkim_activate if args.action == "activate" else admin.dkim_retire
        key = await call(OPERATOR, args.domain, args.selector)
        say(f"{key.selector} in {key.domain}: {key.state}")
    elif args.action == "remove":
        await admin.dkim_remove(OPERATOR, args.domain, args.selector)
        say(f"removed {args.selector} from {args.domain}")
    elif args.action == "list":
        keys = await admin.dkim_list(OPERATOR, args.domain)
        emit(args, [_row(k) for k in keys] if not args.json else
             [k.as_dict() for k in keys],
             ["domain", "selector", "algorithm", "state", "activates", "published_until"])
    elif args.action == "show":
        if args.private:
            if not args.selector:
                raise UsageError("--private needs a SELECTOR")
            print(await admin.dkim_private(OPERATOR, args.domain, args.selector), end="")
            return 0
        keys = await admin.dkim_list(OPERATOR, args.domain)
        if args.selector:
            keys = [k for k in keys if k.selector == args.selector]
            if not keys:
                raise UsageError(f"no key {args.selector} in {args.domain}")
        if args.json:
            print(json.dumps([k.as_dict() for k in keys], indent=2))
            return 0
        if not keys:
            say(f"no DKIM keys for {args.domain}; make them with 'postroom dkim generate "
                f"{args.domain}'")
            return 0
        for key in keys:
            say(f"; {key.algorithm} key {key.selector}: {key.state}; created "
                f"{when(key.created_at)}, signing from {when(key.activate_at)}"
                + (f", published until {when(key.retire_at)}" if key.retire_at else ""))
            if key.state != "retired":
                say(_zone(key, s.cfg.dns.ttl))
    return 0


async def dns_cmd(s: Services, args: argparse.Namespace) -> int:
    hostname, _ = await server_names(s)
    advice = await s.admin.signing.dns(OPERATOR, args.domain, hostname)
    if args.json:
        print(json.dumps(advice.as_dict(), indent=2))
    else:
        print("\n".join(zone_lines(advice)))
    return 0


async def batv_cmd(s: Services, args: argparse.Namespace) -> int:
    admin = s.admin.signing
    if args.action == "rotate":
        number = await admin.batv_rotate(OPERATOR, args.drop_old)
        say(f"BATV key {number} signs from now on" + (
            "; older keys dropped" if args.drop_old else
            f"; the previous key still validates for {s.cfg.batv.valid_days} days"))
        return 0
    keys = await admin.batv_keys(OPERATOR)
    rows = [{"key": k.number, "state": k.state, "created": when(k.created_at),
             "created_at": k.created_at, "retired_at": k.retired_at} for k in keys]
    if not args.json:
        say(f"BATV is {'on' if s.cfg.batv.enabled else 'off'} (batv.enabled); tags valid "
            f"{s.cfg.batv.valid_days} days")
    emit(args, rows, ["key", "state", "created"])
    return 0


def add_signing_parsers(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    d = actions(sub("dkim", "DKIM signing keys per domain (Ed25519 and RSA): make, rotate "
                    "with overlap, list; prints the DNS TXT records to publish."))
    gen = leaf(d, "generate", "make a domain's first keys (signing at once)", json_flag=True)
    rot = leaf(d, "rotate", "make new keys, published now and signing after --delay "
               "(default dkim.rotation_delay); the old ones retire after the overlap",
               json_flag=True)
    for parser in (gen, rot):
        parser.add_argument("domain")
        parser.add_argument("--algorithm", action="append", choices=("ed25519", "rsa"),
                            help="only this key type (repeatable; default: dkim.algorithms)")
        parser.add_argument("--selector", help="selector of the (single) new key (default: "
                            "<prefix><yyyymm>e or r)")
    rot.add_argument("--delay", metavar="TIME",
                     help="when the new keys start signing: seconds, or 12h, 3d; 0 = now")
    for name, text in (("activate", "a pending key signs from now on (the explicit step of "
                        "a rotation)"),
                       ("retire", "stop signing with and publishing a key now"),
                       ("remove", "delete a retired key for good")):
        parser = leaf(d, name, text)
        parser.add_argument("domain")
        parser.add_argument("selector")
    leaf(d, "list", "list keys and their states", json_flag=True).add_argument(
        "domain", nargs="?")
    show = leaf(d, "show", "show a domain's keys with their DNS records", json_flag=True)
    show.add_argument("domain")
    show.add_argument("selector", nargs="?")
    show.add_argument("--private", action="store_true",
                      help="print the private key of SELECTOR in PEM (audited)")
    for parser in d.choices.values():
        parser.set_defaults(func=with_services(dkim_cmd))

    dns = sub("dns", "Print every DNS record a domain should publish (MX, SPF, DKIM, DMARC, "
              "RFC 6186 SRV, autoconfig names) as zone-file lines.")
    add_common(dns)
    dns.add_argument("domain")
    dns.add_argument("--json", action="store_true", help="print JSON")
    dns.set_defaults(func=with_services(dns_cmd))

    b = actions(sub("batv", "Bounce address tag validation keys (prvs= return paths; "
                    "batv.enabled turns it on)."))
    r = leaf(b, "rotate", "a new signing key")
    r.add_argument("--drop-old", action="store_true",
                   help="also stop accepting tags of older keys (a leaked key)")
    leaf(b, "list", "list keys (never their secrets)", json_flag=True)
    for parser in b.choices.values():
        parser.set_defaults(func=with_services(batv_cmd))
