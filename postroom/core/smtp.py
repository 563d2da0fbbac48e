"""SMTP's vocabulary, named once and shared by the server, the client and the DSN writer.

- ``Code``: a reply code (RFC 5321 §4.2) with its enhanced status code (RFC 3463, RFC 2034),
  each named for what it means, so no other module writes a bare ``250`` or ``"5.7.1"``.
- ``REPLY_FOR``: the one table from (stage, ``MailError`` kind) to the reply the server sends,
  so services decide *what* went wrong and SMTP decides only how to say it.
- xtext (RFC 3461 §4), used by DSN parameters on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core.envelope import Stage
from postroom.core.errors import Kind


@dataclass(frozen=True, slots=True)
class Code:
    code: int
    enhanced: str | None = None  # RFC 3463 class.subject.detail; None where none is sent

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced}" if self.enhanced else str(self.code)


# -- 2xx and 3xx: success and continuation (RFC 5321 §4.2.2) -----------------------------------
HELP = Code(214, "2.0.0")
GREETING = Code(220)
READY_FOR_TLS = Code(220, "2.0.0")  # RFC 3207 §4
CLOSING = Code(221, "2.0.0")
AUTH_SUCCEEDED = Code(235, "2.7.0")  # RFC 4954 §6
HELLO = Code(250)  # EHLO/HELO, multi-line, no enhanced code (RFC 2034 §3)
OK = Code(250, "2.0.0")
SENDER_OK = Code(250, "2.1.0")
RECIPIENT_OK = Code(250, "2.1.5")
CANNOT_VRFY = Code(252, "2.5.0")
AUTH_CHALLENGE = Code(334)  # RFC 4954 §4
START_DATA = Code(354)

# Statuses that a delivery attempt ends with (they reach the sender in a DSN, RFC 3464)
DELIVERED = Code(250, "2.0.0")
DEFERRED = Code(451, "4.0.0")  # not yet: the reason says why
NO_CONNECTION = Code(451, "4.4.1")  # no host answered
QUEUE_EXPIRED = Code(451, "4.4.7")  # delivery time expired
DNS_FAILURE = Code(451, "4.4.3")
NO_SUCH_DOMAIN = Code(550, "5.1.2")
NULL_MX = Code(556, "5.1.10")  # RFC 7505 §3
NO_MX_ADDRESS = Code(550, "5.4.4")
RETURNED = Code(550, "5.0.0")  # returned by the administrator

# -- 4xx: try again later -----------------------------------------------------------------------
SERVICE_UNAVAILABLE = Code(421, "4.7.0")  # and the connection is closed
SHUTTING_DOWN = Code(421, "4.3.2")
IDLE_TIMEOUT = Code(421, "4.4.2")
MAILBOX_UNAVAILABLE = Code(450, "4.2.1")
DIRECTORY_FAILURE = Code(450, "4.4.3")
ATRN_REFUSED = Code(450, "4.7.1")  # RFC 2645 §4.2
LOCAL_ERROR = Code(451, "4.3.0")
NO_ROUTE = Code(451, "4.4.4")  # a host to deliver to has no address
MAILBOX_FULL = Code(452, "4.2.2")
TOO_MANY_RECIPIENTS = Code(452, "4.5.3")
NO_MAIL_WAITING = Code(453, "4.7.0")  # RFC 2645 §4.2
TLS_UNAVAILABLE = Code(454, "4.7.0")  # RFC 3207 §4
GREYLISTED = Code(451, "4.7.1")  # policy says not yet (RFC 3463 §3.8: X.7.1 not authorised)

# -- 5xx: refused -------------------------------------------------------------------------------
UNRECOGNISED = Code(500, "5.5.1")
LINE_SYNTAX = Code(500, "5.5.2")
LINE_TOO_LONG = Code(500, "5.5.6")
SYNTAX = Code(501, "5.5.4")  # arguments
BAD_DATA = Code(501, "5.5.2")  # undecodable arguments (base64)
ADDRESS_SYNTAX = Code(501, "5.1.3")
AUTH_CANCELLED = Code(501, "5.7.0")
NOT_HERE = Code(502, "5.5.1")
BAD_SEQUENCE = Code(503, "5.5.1")
MECHANISM_UNAVAILABLE = Code(504, "5.5.4")
AUTH_REQUIRED = Code(530, "5.7.0")  # RFC 4954 §6
AUTH_INVALID = Code(535, "5.7.8")
ENCRYPTION_REQUIRED = Code(538, "5.7.11")
NO_SUCH_USER = Code(550, "5.1.1")
MAILBOX_DISABLED = Code(550, "5.2.1")
NOT_AUTHORISED = Code(550, "5.7.1")  # relaying, posting, a From: that is not the sender's
BAD_MESSAGE_DATA = Code(550, "5.5.2")  # bare CR or LF (RFC 5321 §2.3.8)
CONTENT_REFUSED = Code(550, "5.7.0")  # content policy (filters)
SPAM_REFUSED = Code(550, "5.7.1")  # scored as spam (RFC 3463 §3.8: delivery not authorized)
UTF8_NEEDED = Code(550, "5.6.7")  # RFC 6531 §3.5
MESSAGE_TOO_BIG = Code(552, "5.3.4")
SENDER_NOT_ALLOWED = Code(553, "5.7.1")
UTF8_ADDRESS = Code(553, "5.6.7")
NO_VALID_RECIPIENTS = Code(554, "5.5.1")
NO_BINARY = Code(554, "5.6.3")  # the next hop takes no BINARYMIME (RFC 3030 §3)
LOOP_DETECTED = Code(554, "5.4.6")
VIRUS_FOUND = Code(554, "5.7.1")  # infected content, refused at DATA
UNSUPPORTED_PARAMETER = Code(555, "5.5.4")
POLICY_REFUSED = Code(554, "5.7.1")  # a block list or screening (RFC 5782 §1, RFC 3463 §3.8)

# What the server says when a service raises ``MailError(kind)`` while deciding ``stage``.
REPLY_FOR: dict[tuple[Stage, Kind], Code] = {
    (Stage.SENDER, Kind.NO_PERM): SENDER_NOT_ALLOWED,
    (Stage.SENDER, Kind.AUTH_REQUIRED): AUTH_REQUIRED,
    (Stage.SENDER, Kind.LIMIT): MESSAGE_TOO_BIG,
    (Stage.SENDER, Kind.INVALID): ADDRESS_SYNTAX,
    (Stage.SENDER, Kind.TEMPORARY): LOCAL_ERROR,
    (Stage.RECIPIENT, Kind.NOT_FOUND): NO_SUCH_USER,
    (Stage.RECIPIENT, Kind.NO_PERM): NOT_AUTHORISED,
    (Stage.RECIPIENT, Kind.DISABLED): MAILBOX_DISABLED,
    (Stage.RECIPIENT, Kind.OVER_QUOTA): MAILBOX_FULL,
    (Stage.RECIPIENT, Kind.UNAVAILABLE): MAILBOX_UNAVAILABLE,
    (Stage.RECIPIENT, Kind.LIMIT): TOO_MANY_RECIPIENTS,
    (Stage.RECIPIENT, Kind.INVALID): ADDRESS_SYNTAX,
    (Stage.RECIPIENT, Kind.TEMPORARY): DIRECTORY_FAILURE,
    (Stage.CONTENT, Kind.LIMIT): MESSAGE_TOO_BIG,
    (Stage.CONTENT, Kind.INVALID): BAD_MESSAGE_DATA,
    (Stage.CONTENT, Kind.LOOP): LOOP_DETECTED,
    (Stage.CONTENT, Kind.NO_PERM): NOT_AUTHORISED,
    (Stage.CONTENT, Kind.CONTENT): CONTENT_REFUSED,
    (Stage.CONTENT, Kind.SPAM): SPAM_REFUSED,
    (Stage.CONTENT, Kind.VIRUS): VIRUS_FOUND,
    (Stage.CONTENT, Kind.OVER_QUOTA): Code(552, "5.2.2"),
    (Stage.CONTENT, Kind.TEMPORARY): LOCAL_ERROR,
    **{(stage, Kind.POLICY): POLICY_REFUSED for stage in Stage},
    **{(stage, Kind.DEFERRED): GREYLISTED for stage in Stage},
}


def reply_for(stage: Stage, kind: Kind) -> Code:
    """The reply for ``kind`` at ``stage``; a kind no table row names is a local error, which
    a client retries rather than bounces."""
    return REPLY_FOR.get((stage, kind), LOCAL_ERROR)


def xtext_decode(value: str) -> str:
    """RFC 3461 §4: ``+XX`` is the byte XX; everything else is itself. Raises ValueError on a
    malformed ``+``."""
    out = bytearray()
    i = 0
    raw = value.encode()
    while i < len(raw):
        if raw[i] == 0x2B:  # '+'
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", errors="replace")
