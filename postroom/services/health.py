"""Liveness and readiness, as a service: the web layer asks here, never the store.

``alive`` is the process answering at all (``/healthz``); ``ready`` is the store answering a
cheap read within a deadline (``/readyz``), so a load balancer stops sending clients to a node
whose database is gone while the process itself is still up. The read goes through the
directory, the same path a login takes.
"""

from __future__ import annotations

import asyncio
import logging

from postroom.directory.service import Directory
from postroom.services.queue import QueueService

log = logging.getLogger("postroom.health")

# A name no domain can have (RFC 2606 §2 reserves .invalid): the lookup reads the store and
# always finds nothing.
PROBE_DOMAIN = "readiness-probe.invalid"


class Health:
    def __init__(self, directory: Directory, queue: QueueService,
                 timeout: float = 3.0) -> None:
        self._directory = directory
        self._queue = queue
        self.timeout = timeout

    async def ready(self) -> tuple[bool, str]:
        """(ready, why not): the store answered a read within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._directory.is_local_domain(PROBE_DOMAIN), self.timeout)
        except TimeoutError:
            return False, f"store did not answer within {self.timeout:g} s"
        except Exception as exc:  # any failure to read means "not ready", and why
            log.warning("readiness probe failed", extra={"error": str(exc)})
            return False, "store unreachable"
        return True, "ok"

    async def queue_size(self) -> int:
        """Entries in the mail queue (the metrics gauge, read at each scrape): a count, never
        the rows."""
        return await self._queue.count()
