"""``postroom token create|list|revoke``: API tokens for the JSON API (docs/api.md).

A thin face over services/apitokens.py, acting as the operator: ``create`` makes a token for
any account (the scope may not exceed what that account holds) and prints it once; only its
SHA-256 is stored. A running server notices a revocation made here within
``web.api_token_cache`` seconds.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, say, when
from postroom.core.apitoken import ApiTokenRec
from postroom.services.apitokens import ApiTokens

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_lifetime(text: str) -> int:
    """``3600``, ``90m``, ``12h``, ``30d``, ``52w`` → seconds."""
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not number.isdigit() or int(number) <= 0:
        raise UsageError(f"--expires {text!r}: give a duration like 12h, 30d or 52w")
    return int(number) * _UNITS[unit]


def _row(r: ApiTokenRec) -> dict[str, Any]:
    return {"id": r.id, "owner": r.owner, "name": r.name, "scope": r.scope,
            "created": when(r.created_at), "expires": when(r.expires_at) if r.expires_at
            else "never", "last_used": when(r.last_used),
            "revoked": when(r.revoked_at) if r.revoked_at else ""}


def _tokens(s: Services) -> ApiTokens:
    assert s.tokens is not None
    return s.tokens


async def token_cmd(s: Services, args: argparse.Namespace) -> int:
    tokens = _tokens(s)
    if args.action == "create":
        lifetime = parse_lifetime(args.expires) if args.expires else None
        token, rec = await tokens.create(OPERATOR, args.name, args.scope, lifetime,
                                         owner=args.owner)
        if args.json:
            print(json.dumps({"token": token, **_row(rec)}, indent=2))
        else:
            say(f"token {rec.id} for {rec.owner} ({rec.scope}); shown only now:")
            say(token)
        return 0
    if args.action == "list":
        rows = [_row(r) for r in await tokens.list(OPERATOR, args.owner)]
        emit(args, rows, ["id", "owner", "name", "scope", "created", "expires", "last_used",
                          "revoked"])
        return 0
    rec = await tokens.revoke(OPERATOR, args.id)
    say(f"token {rec.id} of {rec.owner} revoked")
    return 0


def add_token_parser(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    t = actions(sub("token", "API tokens for the JSON API (/api/v1): bearer tokens scoped "
                    "to an account's role."))
    c = leaf(t, "create", "make a token for an account and print it (only this once)",
             json_flag=True)
    c.add_argument("owner", metavar="ADDRESS", help="the account the token acts as")
    c.add_argument("--name", required=True, help="what the token is for, e.g. 'backup job'")
    c.add_argument("--scope", default="self",
                   help="admin (the owner's administrator rights), domain:NAME (administrator "
                        "of NAME only), or self (the owner's own account; default)")
    c.add_argument("--expires", metavar="DURATION",
                   help="lifetime: 12h, 30d, 52w (default: until revoked)")
    ls = leaf(t, "list", "list tokens (never the tokens themselves)", json_flag=True)
    ls.add_argument("--owner", metavar="ADDRESS", help="only this account's tokens")
    r = leaf(t, "revoke", "revoke a token; it stops at once on this machine's server "
             "(within web.api_token_cache seconds)")
    r.add_argument("id", type=int, metavar="ID")
    for parser in t.choices.values():
        parser.set_defaults(func=with_services(token_cmd))
