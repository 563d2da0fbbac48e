"""Protocol-neutral error kinds.

Services raise ``MailError(kind, text)``; every protocol front-end (and the CLI) maps the kind
to its own reply in one small table, so the decision "what went wrong" is made once, in the
service, and "how to say it" once per protocol (Dovecot's ``enum mail_error`` is the model).
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    """What went wrong, independent of the protocol that reports it."""

    NOT_FOUND = "not-found"  # also: exists but invisible to the caller (Product decision 8)
    NO_PERM = "no-perm"  # visible, but the caller lacks the right
    EXISTS = "exists"
    INVALID = "invalid"  # bad input: syntax, unknown right, bad name
    OVER_QUOTA = "over-quota"
    LIMIT = "limit"  # a configured limit other than quota (size, count)
    IN_USE = "in-use"
    AUTH_FAILED = "auth-failed"
    DISABLED = "disabled"  # account disabled / frozen
    TEMPORARY = "temporary"  # try again later (server-side trouble)
    UNAVAILABLE = "unavailable"  # exists, but cannot take this now (ask again later)
    AUTH_REQUIRED = "auth-required"  # only an authenticated caller may do this here
    LOOP = "loop"  # the message has travelled in a circle
    CONTENT = "content"  # refused for what the message contains (a filter's verdict)
    POLICY = "policy"  # refused for who is sending: a block list (DNSBL), a screening block
    DEFERRED = "deferred"  # not now, by policy (greylisting): the sender should retry later
    SPAM = "spam"  # refused as spam (the spamd check's score)
    VIRUS = "virus"  # refused as infected (the clamav check's signature)


class MailError(Exception):
    """A failure a user can act on; ``text`` is safe to show to the client."""

    def __init__(self, kind: Kind, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text

    def __repr__(self) -> str:
        return f"MailError({self.kind.name}, {self.text!r})"


def not_found(what: str) -> MailError:
    return MailError(Kind.NOT_FOUND, what)


def invalid(what: str) -> MailError:
    return MailError(Kind.INVALID, what)


class LeaseLost(Exception):
    """A claim this process made (a queue entry) is held by another claim now: its lease ran
    out while the work was still going on, and another node (or a later claim) took it over.
    The write-back that found out was rolled back whole; the work is dropped, not retried."""
