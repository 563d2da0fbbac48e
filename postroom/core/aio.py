"""asyncio helpers shared by the long-running parts (queue manager, collectors, outbound)."""

from __future__ import annotations

import asyncio


async def cancel(*tasks: asyncio.Task[object] | None) -> None:
    """Cancel ``tasks`` and wait until each has finished, whatever it ended with: how every
    background loop and its in-flight work stop at shutdown."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    await asyncio.gather(*live, return_exceptions=True)
