"""The mail log: one line per decision about a message, in a stable format.

What an administrator greps when a user asks "where is my mail?", and what fail2ban and log
shippers parse. Every line goes to the ``postroom.mail`` logger (``postroom.auth`` for logins),
at level info, with the same keys in the same order whatever happened:

- ``smtp reject``: a refused MAIL, RCPT or DATA (``stage``), with the client, what it asked,
  the reply sent (``status``) and why (``reason``);
- ``smtp accept``: a message queued, with its queue id, client, sender, recipients,
  Message-ID, size, TLS and login;
- ``delivered``, ``sent``, ``deferred``, ``bounced``: what became of one recipient, with the
  queue id, where it went (a mailbox, a remote host), the status and the reason;
- ``forwarded``: an alias or group recipient whose remote members were queued a forwarded
  copy (services/forwarding.py), naming them;
- ``login failed`` (services/auth.py): protocol, client address, user name. docs/fail2ban/
  holds a filter for it.

Values with spaces are quoted (obs/log.py); a missing value is ``-``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

log = logging.getLogger("postroom.mail")

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


def message_id(head: bytes) -> str:
    """The Message-ID of a header section (RFC 5322 §3.6.4), or ``-``."""
    m = _MESSAGE_ID.search(head)
    return m.group(1).strip().decode("utf-8", "replace")[:200] if m and m.group(1) else "-"


def _who(value: str | None) -> str:
    return value if value else "-"


def smtp_reject(stage: str, client: str, helo: str, sender: str | None, recipient: str | None,
                auth: str | None, tls: bool, status: str, reason: str) -> None:
    log.info("smtp reject", extra={
        "stage": stage, "client": client, "helo": _who(helo),
        "from": "-" if sender is None else f"<{sender}>",
        "to": "-" if recipient is None else f"<{recipient}>", "auth": _who(auth),
        "tls": "yes" if tls else "no", "status": status, "reason": reason})


def smtp_accept(queue_id: int, client: str, helo: str, sender: str,
                recipients: Sequence[str], msgid: str, size: int, auth: str | None,
                tls: bool) -> None:
    log.info("smtp accept", extra={
        "queue_id": queue_id, "client": client, "helo": _who(helo), "from": f"<{sender}>",
        "to": ",".join(f"<{r}>" for r in recipients), "msgid": msgid, "size": size,
        "auth": _who(auth), "tls": "yes" if tls else "no"})


def outcome(event: str, queue_id: int, recipient: str, where: str, status: str,
            reason: str = "", delay: float | None = None) -> None:
    """``delivered`` (a local mailbox), ``sent`` (a remote host took it), ``deferred`` (will
    be retried), ``bounced`` (failed for good; a notice goes to the sender when asked),
    ``forwarded`` (copies queued for an alias's remote members)."""
    log.info(event, extra={"queue_id": queue_id, "to": f"<{recipient}>", "where": _who(where),
                           "status": status, "delay": "-" if delay is None else f"{delay:.1f}",
                           "reason": reason or "-"})
