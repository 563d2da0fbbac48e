"""Open-file limit: every connection is a file descriptor, so the server raises its soft limit.

Debian's default soft limit for a shell is 1,024 descriptors, far below ``limits.max_connections``
(20,000 per listener). A process may raise its soft limit up to the hard limit without
privileges, as Dovecot's and Postfix's masters do; when even the hard limit cannot hold the
configured connections, the administrator is told at start-up rather than by refused
connections under load.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("postroom.net")

def raise_open_files(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; return the limit now in force.

    ``wanted`` is the number of client connections one listener may hold
    (``limits.max_connections``); a warning names the shortfall when even the hard limit is
    lower than that.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 2 * wanted)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # a container may forbid it
            log.warning("could not raise the open-file limit", extra={"error": str(exc)})
    if soft < wanted:
        log.warning("open-file limit is lower than the connections allowed; raise it "
                    "(ulimit -n, or LimitNOFILE= in a systemd unit) or lower "
                    "limits.max_connections",
                    extra={"limit": soft, "max_connections": wanted})
    return soft
