"""SETACL DELETEACL GETACL LISTRIGHTS MYRIGHTS (RFC 4314 §3, ABNF §7; specs.md §2.4–2.5).

Every decision is the ACL service's (services/acl.py) and the access gate's; this module only
parses and formats. Syntax is checked before the mailbox is looked at: an unknown or uppercase
right, or an unusable identifier, is BAD whatever the mailbox (RFC 4314 §2, §3.1), so a BAD can
never tell a caller whether a folder exists (Product decision 8).

Rights are translated to and from IMAP's letters by access/vocab.py (with the obsolete ``c``
and ``d`` shown whenever a member is present, RFC 4314 §2.1.1 grouping A).
"""

from __future__ import annotations

from postroom.access import vocab
from postroom.core.actor import Origin
from postroom.core.errors import Kind, MailError
from postroom.protocols.imap.cmd_mailbox import name_arg
from postroom.protocols.imap.session import AUTHED, Reply, Session, command, ok
from postroom.protocols.imap.wire import Command, ParseError, Token, astring, expect_count, text_of


async def _identifier(s: Session, token: Token) -> tuple[str, str]:
    """(as sent, canonical). An identifier that cannot be one is BAD (RFC 4314 §3)."""
    raw = text_of(token, "identifier")
    assert s.principal is not None
    try:
        return raw, await s.services.acl.canonical_identifier(s.principal, raw)
    except MailError as exc:
        if exc.kind is Kind.INVALID:
            raise ParseError(exc.text) from None
        raise


def _rights_arg(token: Token) -> str:
    """``[+|-]rights``, checked here so that a bad letter is BAD (RFC 4314 §3.1)."""
    text = text_of(token, "rights")
    try:
        return vocab.check_imap_rights(text)
    except MailError as exc:
        raise ParseError(exc.text) from None


def _rights_out(letters: str) -> bytes:
    return astring(letters) if letters else b'""'


def _origin(s: Session) -> Origin:
    return Origin("imap", s.conn.peer[0])


@command("SETACL", AUTHED)
async def setacl(s: Session, cmd: Command) -> Reply:
    """RFC 4314 §3.1: ``+`` adds, ``-`` removes, neither replaces; empty rights delete."""
    expect_count(cmd.args, 3)
    name = name_arg(s, cmd.args[0])
    _, ident = await _identifier(s, cmd.args[1])
    rights = _rights_arg(cmd.args[2])
    assert s.principal is not None
    await s.services.acl.set(s.principal, name, ident, rights, _origin(s))
    return ok("SETACL completed")


@command("DELETEACL", AUTHED)
async def deleteacl(s: Session, cmd: Command) -> Reply:
    """RFC 4314 §3.2: removes exactly the named entry (``fred`` leaves ``-fred`` alone)."""
    expect_count(cmd.args, 2)
    name = name_arg(s, cmd.args[0])
    _, ident = await _identifier(s, cmd.args[1])
    assert s.principal is not None
    await s.services.acl.delete(s.principal, name, ident, _origin(s))
    return ok("DELETEACL completed")


@command("GETACL", AUTHED)
async def getacl(s: Session, cmd: Command) -> Reply:
    """RFC 4314 §3.3 / §3.6: ``* ACL mailbox (identifier rights)*``."""
    expect_count(cmd.args, 1)
    name = name_arg(s, cmd.args[0])
    assert s.principal is not None
    entries = await s.services.acl.get(s.principal, name)
    line = b"* ACL " + s.mailbox_out(name)
    for entry in entries:
        line += (b" " + astring(entry.identifier) + b" "
                 + _rights_out(vocab.imap_stored(entry.rights)))
    s.send(line)
    return ok("GETACL completed")


@command("LISTRIGHTS", AUTHED)
async def listrights(s: Session, cmd: Command) -> Reply:
    """RFC 4314 §3.4 / §3.7: the rights always granted, then each grantable set.

    What is always granted and what can be granted alone is access/vocab.py's answer."""
    expect_count(cmd.args, 2)
    name = name_arg(s, cmd.args[0])
    raw, ident = await _identifier(s, cmd.args[1])
    assert s.principal is not None
    owner = await s.services.acl.owner_address(s.principal, name)
    line = b"* LISTRIGHTS " + s.mailbox_out(name) + b" " + astring(raw)
    always, grantable = vocab.listrights(owner is not None and ident == owner)
    line += b" " + _rights_out(always)
    if grantable:
        line += b" " + b" ".join(ch.encode() for ch in grantable)
    s.send(line)
    return ok("LISTRIGHTS completed")


@command("MYRIGHTS", AUTHED)
async def myrights(s: Session, cmd: Command) -> Reply:
    """RFC 4314 §3.5 / §3.8; answers only where the folder is visible (Product decision 8)."""
    expect_count(cmd.args, 1)
    name = name_arg(s, cmd.args[0])
    assert s.principal is not None
    rights = await s.services.acl.myrights(s.principal, name)
    s.send(b"* MYRIGHTS " + s.mailbox_out(name) + b" " + _rights_out(vocab.imap_rights(rights)))
    return ok("MYRIGHTS completed")
