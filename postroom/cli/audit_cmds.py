"""``postroom audit list``: who changed what, when, and from where (services/audit.py)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, when

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> int:
    """``30m``, ``12h``, ``7d`` ago, or a date ``2026-12-01`` / ``2026-12-01T08:00``."""
    text = text.strip()
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return int(time.time()) - int(text[:-1]) * _UNITS[text[-1]]
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            return int(time.mktime(time.strptime(text, fmt)))
        except ValueError:
            continue
    raise UsageError(f"--since {text!r}: give 30m, 12h, 7d, or a date like 2026-12-01")


async def audit_cmd(s: Services, args: argparse.Namespace) -> int:
    since = parse_since(args.since) if args.since else None
    recs = await s.admin.audit(OPERATOR, limit=args.limit, since=since, who=args.actor,
                               action=args.action_prefix, target=args.target)
    rows: list[dict[str, Any]] = [
        {"id": r.id, "when": when(r.at), "at": r.at, "actor": r.actor, "origin": r.origin,
         "action": r.action, "target": r.target, "detail": r.detail} for r in recs]
    if not args.json:
        for row in rows:
            row["detail"] = ", ".join(f"{k}={v}" for k, v in row["detail"].items())
    emit(args, rows, ["when", "actor", "origin", "action", "target", "detail"])
    return 0


def add_audit_parser(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    a = actions(sub("audit", "Read the audit log of administrative changes (who, what, "
                    "when, from where)."))
    ls = leaf(a, "list", "list audit records, newest first", json_flag=True)
    ls.add_argument("--limit", type=int, default=100, metavar="N",
                    help="at most N records (default 100)")
    ls.add_argument("--since", metavar="WHEN",
                    help="only records since: 30m, 12h, 7d, or a date (2026-12-01)")
    ls.add_argument("--actor", metavar="WHO",
                    help="only changes by WHO (an address, or 'operator' for the CLI)")
    ls.add_argument("--action", dest="action_prefix", metavar="ACTION",
                    help="only actions starting with ACTION, e.g. 'user.' or 'acl.set'")
    ls.add_argument("--target", metavar="TARGET",
                    help="only targets starting with TARGET, e.g. an address")
    ls.set_defaults(func=with_services(audit_cmd))
