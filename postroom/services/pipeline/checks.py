"""The built-in checks: size, smuggling, loop and sender, each testable alone.

``size`` and ``smuggling`` judge facts the receiving door observed while streaming the content
(the door stops keeping data past the size limit and marks a bare CR or LF, so nothing has to be
read twice); ``loop`` and ``sender`` read the header section. The checks that ask a daemon,
``spamd`` and ``clamav``, live in their own modules (spamd.py, clamav.py) and are made here
from ``FilterSettings``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from postroom.config import Config
from postroom.config_filters import ClamavConfig, SpamdConfig
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.services.mailauth.build import build_mailauth
from postroom.services.pipeline import CONTINUE, Check, Judgement, Message, clamav, spamd
from postroom.services.pipeline.dnsbl import DnsblCheck
from postroom.services.pipeline.greylist import GreylistCheck
from postroom.services.pipeline.spamd import OptOuts
from postroom.services.senders import SenderRules
from postroom.store.repo.screening import GreylistRepo

MAX_HOPS = 100  # RFC 5321 §6.3: loop detection by counting Received lines

CONTENT = frozenset({Stage.CONTENT})


class SizeCheck:
    """The message is no larger than ``limits.max_message_size`` (RFC 1870 §4), and its header
    section no longer than ``limits.max_header_size``: every later check reads the whole
    section, so none can be fooled by a field hidden past what was read."""

    name = "size"
    stages = CONTENT

    def __init__(self, limit: int, header_limit: int = 256 * 1024) -> None:
        self.limit = limit
        self.header_limit = header_limit

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        if message.too_big or message.size > self.limit:
            return Judgement.reject(Kind.LIMIT,
                                    "Message size exceeds fixed maximum message size")
        if message.head_too_long or len(message.head) > self.header_limit:
            return Judgement.reject(Kind.LIMIT, f"Message header section exceeds "
                                    f"{self.header_limit} octets")
        return CONTINUE


class SmugglingCheck:
    """No bare CR or LF in the content (RFC 5321 §2.3.8): another MTA might end the data or a
    line at it, and take what follows as commands or as a second message (SMTP smuggling)."""

    name = "smuggling"
    stages = CONTENT

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        if message.bare_newline:
            return Judgement.reject(Kind.INVALID,
                                    "Bare CR or LF in message data is not allowed")
        return CONTINUE


def header_count(head: bytes, name: bytes) -> int:
    """How many header fields are called ``name`` (case-insensitive)."""
    prefix = name.lower() + b":"
    return sum(1 for line in head.split(b"\r\n") if line[:len(prefix)].lower() == prefix)


class LoopCheck:
    """Fewer than ``max_hops`` ``Received:`` fields (RFC 5321 §6.3)."""

    name = "loop"
    stages = CONTENT

    def __init__(self, max_hops: int = MAX_HOPS) -> None:
        self.max_hops = max_hops

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        if header_count(message.head, b"Received") >= self.max_hops:
            return Judgement.reject(Kind.LOOP, "Too many hops: mail loop detected")
        return CONTINUE


# The originator fields (RFC 5322 §3.6.2, §3.6.6): who wrote it, who sent it, who resent it.
ORIGINATOR_FIELDS = ("From", "Sender", "Resent-From", "Resent-Sender")


def originator_addresses(head: bytes) -> list[tuple[str, str]]:
    """(field, address) for every address in the originator fields of a header section."""
    message = BytesHeaderParser(policy=compat32).parsebytes(head)
    return [(name, addr.lower()) for name in ORIGINATOR_FIELDS
            for _, addr in getaddresses(message.get_all(name) or []) if addr]


class SenderCheck:
    """An authenticated sender uses only addresses that are theirs (services/senders.py), in
    the envelope (MAIL FROM) and in every originator field: ``From:``, ``Sender:``,
    ``Resent-From:``, ``Resent-Sender:``. Mail from outside is not judged here."""

    name = "sender"
    stages = frozenset({Stage.SENDER, Stage.CONTENT})

    def __init__(self, rules: SenderRules) -> None:
        self.rules = rules

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        principal = message.client.principal
        if principal is None:
            return CONTINUE
        if stage is Stage.SENDER:
            if not await self.rules.may_use(principal, message.sender):
                return Judgement.reject(Kind.NO_PERM, f"Sender address <{message.sender}> "
                                        "is not yours to use")
            return CONTINUE
        for field, address in originator_addresses(message.head):
            if not await self.rules.may_use(principal, address):
                return Judgement.reject(Kind.NO_PERM,
                                        f"{field}: address <{address}> is not yours to use")
        return CONTINUE


CheckFactory = Callable[["CheckContext"], Check]


class CheckContext:
    """What the built-in checks are made from (the composition root fills it in)."""

    def __init__(self, max_message_size: int, senders: SenderRules,
                 max_header_size: int = 256 * 1024, *, config: Config | None = None,
                 hostname: str = "", greylist: GreylistRepo | None = None,
                 filters: FilterSettings | None = None) -> None:
        self.max_message_size = max_message_size
        self.max_header_size = max_header_size
        self.senders = senders
        self.config = config or Config()  # sections the checks read at use (reload-safe)
        self.hostname = hostname  # this server's name (authserv-id of Authentication-Results)
        self.greylist = greylist  # greylisting state (store/repo/screening.py)
        self.filters = filters or FilterSettings()


class FilterSettings:
    """What the daemon-backed checks (spamd, clamav) are made from."""

    def __init__(self, spamd: SpamdConfig | None = None, clamav: ClamavConfig | None = None,
                 optouts: OptOuts | None = None) -> None:
        self.spamd = spamd or SpamdConfig()
        self.clamav = clamav or ClamavConfig()
        self.optouts = optouts


def _greylist(ctx: CheckContext) -> Check:
    if ctx.greylist is None:
        raise ValueError("the greylist check needs the store's greylist state")
    return GreylistCheck(ctx.greylist, ctx.config.greylisting)


def _dnsbl(ctx: CheckContext) -> Check:
    return DnsblCheck.from_config(ctx.config)


BUILT_IN: Mapping[str, CheckFactory] = {
    "size": lambda ctx: SizeCheck(ctx.max_message_size, ctx.max_header_size),
    "smuggling": lambda ctx: SmugglingCheck(),
    "loop": lambda ctx: LoopCheck(),
    "sender": lambda ctx: SenderCheck(ctx.senders),
    "greylist": _greylist,
    "dnsbl": _dnsbl,
    "spamd": lambda ctx: spamd.build(ctx.filters.spamd, ctx.filters.optouts),
    "clamav": lambda ctx: clamav.build(ctx.filters.clamav),
    "mailauth": lambda ctx: build_mailauth(ctx.config, ctx.hostname),
}


def build_checks(names: Sequence[str], ctx: CheckContext) -> list[Check]:
    """The checks named in ``pipeline.checks``, in that order (config.py has checked the
    names)."""
    return [BUILT_IN[name](ctx) for name in names]
