"""Whether a process of this host still runs (a lease or a node row names a dead one)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while process ``pid`` exists here (even one we may not signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
