"""Configuration of the content filters that talk to daemons: spamd and clamd.

Kept apart from config.py (which includes these as ``pipeline.spamd`` and ``pipeline.clamav``)
so that each filter's keys, defaults and reasons sit together. The checks themselves are
services/pipeline/spamd.py and services/pipeline/clamav.py; they run only when named in
``pipeline.checks``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


def _d(text: str) -> Meta:
    return Meta(description=text)


ADDRESS = r"^(/.+|\[?[0-9A-Za-z.:-]+\]?:[0-9]{1,5})$"


class SpamdConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """SpamAssassin through spamd ('spamd' in pipeline.checks)."""

    address: Annotated[str, _d("Where spamd listens: 'host:port' or the absolute path of "
                               "its Unix socket."), Meta(pattern=ADDRESS)] = "127.0.0.1:783"
    timeout: Annotated[float, _d("Seconds one spamd exchange (connect, send, score) may "
                                 "take."), Meta(gt=0, le=600)] = 30.0
    connect_timeout: Annotated[float, _d("Seconds to wait for a connection to spamd."),
                               Meta(gt=0, le=60)] = 5.0
    max_size: Annotated[int, _d(
        "Messages larger than this (octets) are not sent to spamd and pass unscanned, as "
        "spamc does (its -s option, 500 KB by default): spam is small, and scoring a large "
        "message takes spamd seconds."), Meta(ge=1024)] = 500 * 1024
    tag_at: Annotated[float, _d(
        "Score from which the message is flagged as spam ('X-Spam-Flag: YES', 'X-Spam-Status: "
        "Yes'). X-Spam-Status and X-Spam-Score are added to every scanned message.")] = 5.0
    junk_at: Annotated[float, _d(
        "Score from which the message is filed into the recipient's Junk folder (the "
        "special-use \\Junk folder); 0 = never.")] = 5.0
    reject_at: Annotated[float, _d(
        "Score from which the message is refused at DATA with 550 5.7.1; 0 = never (spam "
        "is filed or tagged instead).")] = 0.0
    scan_authenticated: Annotated[bool, _d(
        "Also scan mail from authenticated senders (submission). Off: your own users' "
        "mail is not scored.")] = False
    on_error: Annotated[Literal["accept", "tempfail"], _d(
        "spamd unreachable or failing: 'accept' the message unscanned (noted in "
        "X-Spam-Status), or 'tempfail' it with 451 so the sender retries.")] = "accept"
    user: Annotated[str, _d("User name sent to spamd with each request (its per-user "
                            "preferences and Bayes store); empty = spamd's default.")] = ""
    learn: Annotated[bool, _d(
        "Report mail a user moves into Junk over IMAP to spamd as spam, and mail moved out "
        "of Junk as ham (spamd's TELL; spamd needs --allow-tell).")] = True
    learn_concurrency: Annotated[int, _d("TELL requests in flight at once."),
                                 Meta(ge=1, le=64)] = 2
    learn_backlog: Annotated[int, _d(
        "Messages waiting to be reported at most; beyond it reports are dropped (and "
        "logged) rather than held in memory."), Meta(ge=1, le=100000)] = 1000


class ClamavConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Antivirus through clamd ('clamav' in pipeline.checks)."""

    address: Annotated[str, _d("Where clamd listens (its TCPSocket/TCPAddr, or LocalSocket): "
                               "'host:port' or an absolute socket path."),
                       Meta(pattern=ADDRESS)] = "127.0.0.1:3310"
    timeout: Annotated[float, _d("Seconds one scan (connect, stream, verdict) may take."),
                       Meta(gt=0, le=600)] = 60.0
    connect_timeout: Annotated[float, _d("Seconds to wait for a connection to clamd."),
                               Meta(gt=0, le=60)] = 5.0
    chunk_size: Annotated[int, _d("Octets per INSTREAM chunk."),
                          Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    max_stream: Annotated[int, _d(
        "clamd's StreamMaxLength, in octets: larger messages cannot be scanned (see "
        "'oversize'). Keep it equal to clamd.conf's value."),
        Meta(ge=1024)] = 25 * 1024 * 1024
    oversize: Annotated[Literal["accept", "reject"], _d(
        "A message longer than max_stream: 'accept' it unscanned (noted in "
        "X-Virus-Status) or 'reject' it with 552.")] = "accept"
    on_infected: Annotated[Literal["reject", "quarantine"], _d(
        "Infected mail: 'reject' at DATA with 554 5.7.1 naming the signature, or "
        "'quarantine' it into the recipients' Junk folder, marked with X-Virus-Status.")] = \
        "reject"
    on_error: Annotated[Literal["tempfail", "accept"], _d(
        "clamd unreachable or failing: 'tempfail' with 451 (the sender retries; nothing is "
        "lost), or 'accept' unscanned with an 'X-Virus-Status: Unchecked' header.")] = \
        "tempfail"
    retries: Annotated[int, _d(
        "When clamd refuses or drops the connection (a restart, a RELOAD on an old build), "
        "scan again this many times before on_error applies."), Meta(ge=0, le=10)] = 1
    retry_delay: Annotated[float, _d("Seconds to wait before such a retry."),
                           Meta(ge=0, le=30)] = 1.0
    scan_authenticated: Annotated[bool, _d(
        "Also scan mail from authenticated senders (submission).")] = True
