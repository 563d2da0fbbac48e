"""The "fileinto" extension (RFC 5228 §4.1): file the message into a named mailbox.

The action cancels the implicit keep (unless ``:copy``, RFC 3894, says otherwise); whether
the folder exists and the script's owner may file into it is for the delivery service to
decide through the gate (a refused fileinto falls back to the implicit keep there). Tags
other extensions add: ``:copy`` (copy), ``:flags`` (imap4flags), ``:create`` (mailbox).
"""

from __future__ import annotations

from postroom.sieve.actions import FileInto
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.errors import SieveRuntimeError
from postroom.sieve.ext.core import action_flags
from postroom.sieve.registry import ArgKind, CommandDef, Extension, Signature, register
from postroom.sieve.runtime import Runtime

MAX_MAILBOX = 1024  # characters of a mailbox name; IMAP servers cap names well below


def mailbox_problem(name: str) -> str | None:
    """Why ``name`` cannot be a mailbox name, or None: empty, too long, not UTF-8 (octets
    from encoded-character), or holding control characters."""
    if not name:
        return "invalid folder name (empty)"
    if len(name) > MAX_MAILBOX:
        return f"invalid folder name (longer than {MAX_MAILBOX} characters)"
    if any("\udc80" <= c <= "\udcff" for c in name):
        return f"invalid folder name {name!r} (not UTF-8)"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return f"invalid folder name {name!r} (a control character)"
    return None


async def _fileinto(rt: Runtime, call: Call) -> None:
    mailbox = rt.expand(call.string(0))
    problem = mailbox_problem(mailbox)
    if problem is not None:
        raise SieveRuntimeError(f"fileinto: {problem}", call.pos.line, call.pos.column)
    copy = bool(call.tags.get("copy"))
    rt.add_action(FileInto(mailbox, action_flags(rt, call), copy,
                           bool(call.tags.get("create"))), call)
    if not copy:
        rt.cancel_implicit_keep()


def _check(call: Call, ctx: BindContext) -> None:
    mailbox = call.string(0)
    if "${" in mailbox and ctx.has("variables"):
        return
    problem = mailbox_problem(mailbox)
    if problem is not None:
        raise ctx.error(f"fileinto: {problem}", call.pos)


register(Extension(
    "fileinto",
    commands=(CommandDef("fileinto", Signature(positional=(ArgKind.STRING,),
                                               names=("mailbox",)),
                         _fileinto, _check, action=True),),
))
