"""The content filters' lines in the mail log (obs/maillog.py's logger, ``postroom.mail``).

One ``filter`` line per decision of a daemon-backed check (spamd, clamav), with the same keys
whatever happened, so an administrator can grep why a message was tagged, filed, refused or
let through unscanned: ``check``, ``verdict`` (pass, tag, junk, reject, tempfail, skip,
unchecked, quarantine), ``reason``, the client, sender, recipients and Message-ID, plus what
the check measured (``score``, ``signature``, ``ms``).
"""

from __future__ import annotations

import logging

from postroom.obs import maillog
from postroom.services.pipeline import Message

log = logging.getLogger("postroom.mail")


def decision(check: str, message: Message, verdict: str, reason: str,
             **measured: object) -> None:
    log.info("filter", extra={
        "check": check, "verdict": verdict, "reason": reason,
        "client": message.client.address, "from": f"<{message.sender}>",
        "to": ",".join(f"<{r}>" for r in message.recipients),
        "msgid": maillog.message_id(message.head), **measured})
