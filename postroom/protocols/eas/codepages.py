"""The WBXML code pages of ActiveSync (MS-ASWBXML §2.1.2.1), pages 0x00-0x18.

(Part 1 of issue 25 fills the tables: page number ↔ name, token ↔ tag for each page.)
"""

from __future__ import annotations

# page number -> (page name, {token: tag})
PAGES: dict[int, tuple[str, dict[int, str]]] = {}
