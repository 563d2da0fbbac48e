"""The document tree of an ActiveSync request or response.

WBXML (MS-ASWBXML) has no attributes: a document is elements in code pages, each holding
either child elements, text (STR_I) or opaque bytes (OPAQUE: MIME, attachments, the
time-zone blob). ``Element`` is exactly that, and nothing more, so that the codec and the
commands agree on one shape without an XML library's baggage (ElementTree text is ``str``
and could not hold opaque bytes).

A tag is named by its code page and its local name, ``Element("AirSync", "Sync")``, the way
libwbxml writes ``<Sync xmlns="AirSync:">``; ``ns`` is the code page name of
codepages.py (``AirSync``, ``FolderHierarchy``, ``AirSyncBase``…).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class Element:
    ns: str  # the code page's name, e.g. "AirSync"
    name: str  # the tag's local name, e.g. "SyncKey"
    children: list[Element] = field(default_factory=list)
    text: str | None = None  # STR_I content (an element has text or children, not both)
    data: bytes | None = None  # OPAQUE content (MIME, attachment bytes, Timezone blob)

    # -- building --------------------------------------------------------------------------

    def add(self, ns: str, name: str, text: str | int | None = None,
            data: bytes | None = None) -> Element:
        """Append a child and return it (for nesting: ``c = e.add("AirSync", "Collection")``).
        An int is written as its decimal text, as every numeric EAS value is."""
        child = Element(ns, name, text=None if text is None else str(text), data=data)
        self.children.append(child)
        return child

    def append(self, child: Element) -> Element:
        self.children.append(child)
        return child

    # -- reading ---------------------------------------------------------------------------

    def find(self, name: str, ns: str | None = None) -> Element | None:
        """The first child of that local name (and code page, when given)."""
        for child in self.children:
            if child.name == name and (ns is None or child.ns == ns):
                return child
        return None

    def findall(self, name: str, ns: str | None = None) -> list[Element]:
        return [c for c in self.children if c.name == name and (ns is None or c.ns == ns)]

    def path(self, *names: str) -> Element | None:
        """Descend by local names: ``e.path("Collections", "Collection")``."""
        node: Element | None = self
        for name in names:
            node = node.find(name) if node is not None else None
        return node

    def value(self, name: str, default: str | None = None) -> str | None:
        """The text of the first child of that name; ``""`` for an empty element (EAS uses
        empty elements as flags, e.g. ``<GetChanges/>``), ``default`` when absent."""
        child = self.find(name)
        if child is None:
            return default
        if child.text is not None:
            return child.text
        if child.data is not None:
            return child.data.decode("utf-8", "replace")
        return ""

    def has(self, name: str) -> bool:
        return self.find(name) is not None

    def iter(self) -> Iterator[Element]:
        """This element and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.iter()

    def __repr__(self) -> str:  # short, for test failures and logs (never bodies)
        inner = f" text={self.text[:40]!r}" if self.text is not None else ""
        inner += f" data=<{len(self.data)} octets>" if self.data is not None else ""
        inner += f" children={len(self.children)}" if self.children else ""
        return f"<{self.ns}:{self.name}{inner}>"


def E(ns: str, name: str, *children: Element, text: str | int | None = None,
      data: bytes | None = None) -> Element:
    """Build an element in one expression: ``E("AirSync", "Sync", E(...), ...)``."""
    return Element(ns, name, list(children), None if text is None else str(text), data)
