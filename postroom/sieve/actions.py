"""The actions a Sieve run asks for (RFC 5228 §4, and the extensions' own).

The interpreter only collects them; the delivery service carries them out through the gate
and the submission service (services/sieve/), after the run, all or nothing: a run that fails
keeps the message instead (RFC 5228 §2.10.6).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keep:
    """File into the default folder (INBOX, or the folder the entry names). ``flags`` are
    the IMAP flags and keywords to set (RFC 5232 §5: ``:flags``, or the internal variable
    when none is given); None means no imap4flags was in use."""

    flags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class FileInto:
    """RFC 5228 §4.1; ``:copy`` RFC 3894; ``:create`` RFC 5490 §3.2; ``:flags`` RFC 5232."""

    mailbox: str
    flags: tuple[str, ...] | None = None
    copy: bool = False
    create: bool = False
    special_use: str | None = None  # RFC 8579 :specialuse, when supported


@dataclass(frozen=True, slots=True)
class Redirect:
    """RFC 5228 §4.2: send the message on, unchanged, to ``address``; ``:copy`` keeps the
    implicit keep (RFC 3894). Sent through the submission service with an SRS sender."""

    address: str
    copy: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    """RFC 5429: refuse the message with ``reason``; ``extended`` for ereject (an SMTP
    refusal when still possible, else a notice)."""

    reason: str
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Discard:
    """RFC 5228 §4.4: cancel the implicit keep, file nothing."""


@dataclass(frozen=True, slots=True)
class Vacation:
    """RFC 5230 §4 (``:seconds``: RFC 6131). Whether a reply is actually sent (once per
    sender and ``handle`` per period, never to lists, bulk, auto-submitted or a null sender:
    RFC 3834 §2) is decided by the service after the run, with its memory of past replies."""

    reason: str
    subject: str | None = None
    from_: str | None = None
    addresses: tuple[str, ...] = ()
    mime: bool = False
    handle: str = ""
    # the minimum time between two replies to one sender (:days × 86400 or :seconds);
    # None when the script named none: the site's ``[sieve.vacation] default_seconds``.
    # The service clamps it to the site's min_seconds/max_seconds (RFC 5230 §4.1,
    # RFC 6131 §2).
    seconds: int | None = None


Action = Keep | FileInto | Redirect | Reject | Discard | Vacation
