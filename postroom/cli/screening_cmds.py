"""``postroom screening list|block|unblock``: client addresses refused at connect.

A thin face over the screening administration service (services/admin/screening.py), which
checks, changes and audits. The running server reads the store's blocks again every
``screening.refresh`` seconds (2 by default), so a block or unblock made here takes effect
within that time, without a reload.
"""

from __future__ import annotations

import argparse
from typing import Any

from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, say, when

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``12h``, ``7d``, ``2w`` → seconds (more than zero)."""
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not number.isdigit() or int(number) <= 0:
        raise UsageError(f"--for {text!r}: give a duration like 90s, 30m, 12h or 7d")
    return float(int(number) * _UNITS[unit])


async def screening_cmd(s: Services, args: argparse.Namespace) -> int:
    admin = s.admin.screening
    if args.action == "list":
        rows = [{"network": r.network, "since": when(r.created_at),
                 "until": "unblocked" if r.expires_at is None else when(r.expires_at),
                 "expires_at": r.expires_at, "created_at": r.created_at,
                 "source": r.source, "reason": r.reason}
                for r in await admin.list(OPERATOR)]
        emit(args, rows, ["network", "since", "until", "source", "reason"])
        return 0
    if args.action == "block":
        seconds = parse_duration(args.for_) if args.for_ else None
        rec = await admin.block(OPERATOR, args.address, seconds, args.reason or "")
        say(f"{rec.network} blocked "
            f"{'until unblocked' if rec.expires_at is None else 'until ' + when(rec.expires_at)}"
            "; the running server refuses it within screening.refresh seconds")
        return 0
    lifted = await admin.unblock(OPERATOR, args.address)
    say(f"unblocked {', '.join(lifted)}")
    return 0


def add_screening_parser(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    sc = actions(sub("screening", "Dynamic screening: client addresses refused at connect "
                     "(blocked after repeated failed logins or protocol abuse, or by hand)."))
    leaf(sc, "list", "list the blocks in force", json_flag=True)
    block = leaf(sc, "block", "refuse connections from an address or network")
    block.add_argument("address", metavar="IP", help="an address (192.0.2.7) or a network "
                       "(198.51.100.0/24, 2001:db8::/64)")
    block.add_argument("--for", dest="for_", metavar="DURATION",
                       help="how long: 90s, 30m, 12h, 7d (default: until unblocked)")
    block.add_argument("--reason", help="shown to the client and in 'list'")
    unblock = leaf(sc, "unblock", "lift a block (given an address: every block covering it)")
    unblock.add_argument("address", metavar="IP")
    for parser in sc.choices.values():
        parser.set_defaults(func=with_services(screening_cmd))
