"""``postroom queue``: look at and act on the mail queue (specs.md §4.4).

The commands call the queue administration service (services/admin/mail.py), with or without
a running server. A running server sees ``hold``, ``release``, ``retry`` and ``bounce`` at its
next queue poll (5 s); ``bounce``
returns the message to its sender with a failure notice (never to a null sender) and is done
by the server's queue manager, so it happens at the next start if no server is running.
``delete`` drops an entry silently.
"""

from __future__ import annotations

import argparse
from typing import Any

from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, emit_one, say, when
from postroom.core.records import QueueRec


def _row(rec: QueueRec, full: bool = False) -> dict[str, Any]:
    params = rec.param_dict()
    row: dict[str, Any] = {
        "id": rec.id, "state": rec.state, "sender": rec.sender or "<>",
        "recipients": list(rec.recipients), "size": rec.size,
        "destination": "remote" if params.get("remote") else "local",
        "attempts": rec.attempts, "queued": when(rec.created_at),
        "next_attempt": when(rec.next_attempt), "last_error": rec.last_error}
    if full:
        row["notice"] = bool(params.get("notice"))
        row["dsn"] = {k: params[k] for k in ("ret", "envid", "notify", "orcpt") if k in params}
        row["body"] = params.get("body", "7BIT")
        row["blob"] = rec.blob
    return row


async def queue_cmd(s: Services, args: argparse.Namespace) -> int:
    queue = s.admin.queue
    if args.action == "list":
        rows = [_row(r) for r in await queue.list(OPERATOR)]
        if not args.json:
            for row in rows:
                row["recipients"] = ", ".join(row["recipients"])
        emit(args, rows, ["id", "state", "sender", "recipients", "size", "attempts",
                          "next_attempt", "last_error"])
        return 0
    if not args.ids:
        raise UsageError(f"queue {args.action} needs at least one queue ID "
                         "(see 'postroom queue list')")
    for entry_id in args.ids:
        if args.action == "show":
            rec = await queue.get(OPERATOR, entry_id)
            emit_one(args, _row(rec, full=True))
            if args.content and not args.json:
                print(queue.open_content(OPERATOR, rec).decode("utf-8", "replace"))
        elif args.action == "hold":
            await queue.hold(OPERATOR, entry_id)
            say(f"queue entry {entry_id} held: it will not be tried until released")
        elif args.action in ("release", "retry"):
            await queue.release(OPERATOR, entry_id, retry=args.action == "retry")
            say(f"queue entry {entry_id} will be tried at once")
        elif args.action == "delete":
            await queue.delete(OPERATOR, entry_id)
            say(f"queue entry {entry_id} deleted (no notice sent)")
        elif args.action == "bounce":
            rec = await queue.bounce(OPERATOR, entry_id)
            say(f"queue entry {entry_id} will be returned to "
                f"{'<' + rec.sender + '>' if rec.sender else 'nobody (null sender)'} "
                "by the server's queue manager")
    return 0


def add_queue_parser(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    q = actions(sub("queue", "Look at and act on the mail queue."))
    leaf(q, "list", "list queued messages", json_flag=True)
    for name, text in (
            ("show", "show queue entries (--content prints the message)"),
            ("hold", "keep entries from being tried until released"),
            ("release", "release held entries (tried at once)"),
            ("retry", "try entries now instead of at their next retry time"),
            ("delete", "drop entries without telling the sender"),
            ("bounce", "return entries to their senders with a failure notice")):
        parser = leaf(q, name, text, json_flag=name == "show")
        parser.add_argument("ids", type=int, nargs="*", metavar="ID")
        if name == "show":
            parser.add_argument("--content", action="store_true",
                                help="also print the message as queued")
    for parser in q.choices.values():
        parser.set_defaults(func=with_services(queue_cmd))
