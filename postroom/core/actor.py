"""Where a request comes from, for the audit log and the mail log.

``Origin`` names the channel (the CLI, an IMAP session, the JSON API, a WebAdmin page) and the
address behind it (a client IP, or ``user@host`` of the operator at a terminal), so that an
audit record can answer "from where" as well as "who".
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass

from postroom.core.errors import invalid
from postroom.core.principal import Principal


@dataclass(frozen=True, slots=True)
class Origin:
    channel: str  # "cli" | "imap" | "smtp" | "pop3" | "api" | "webadmin" | "webmail" | "server"
    address: str  # client IP, or the operator's "user@host" for the CLI

    @classmethod
    def cli(cls) -> Origin:
        """The operator at this machine's terminal."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls("cli", f"{user}@{socket.gethostname()}")

    @classmethod
    def server(cls) -> Origin:
        """The server acting on its own (a schedule, a first-run set-up)."""
        return cls("server", "local")

    def __str__(self) -> str:
        return f"{self.channel}:{self.address}"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for an administrative change, and from where."""

    principal: Principal
    origin: Origin

    @classmethod
    def operator(cls) -> Actor:
        """The operator at this machine's terminal: every right (``Principal.operator``)."""
        return cls(Principal.operator(), Origin.cli())


def own_account(actor: Actor, refusal: str) -> tuple[int, str]:
    """The account (id, address) acting for itself, for the services that exist only for an
    account's own use (web sessions, app passwords); the operator, who has no account, gets
    INVALID with ``refusal`` (the service's own words for what needs an account)."""
    p = actor.principal
    if p.account_id is None or p.address is None:
        raise invalid(refusal)
    return p.account_id, p.address
