"""Human sizes for quotas: ``500M``, ``2G``, ``1.5GiB``, ``unlimited``."""

from __future__ import annotations

import re

from postroom.core.errors import invalid

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """Bytes, or None for unlimited."""
    if text.strip().lower() in ("unlimited", "none", "0", ""):
        return None
    m = _SIZE.match(text)
    if not m:
        raise invalid(f"'{text}' is not a size (examples: 500M, 2G, unlimited)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(value: int | None) -> str:
    if value is None:
        return "unlimited"
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value >= factor:
            number = value / factor
            return f"{number:.1f}{unit}".replace(".0" + unit, unit)
    return f"{value}B"
