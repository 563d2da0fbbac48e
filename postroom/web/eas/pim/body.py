"""The AirSyncBase Body of a PIM item (MS-ASAIRS §2.2.2.9): the plain text of DESCRIPTION or
NOTE, bounded by the device's BodyPreference TruncationSize.

PIM bodies are stored as plain text, so Type 1 is answered whatever type the device
prefers (MS-ASAIRS §3.2.5.1: the server sends the best type it has; an HTML preference is
met by text a device renders as such).
"""

from __future__ import annotations

from postroom.protocols.eas.element import Element
from postroom.web.eas.classes import SyncOptions


def element(text: str, options: SyncOptions | None) -> Element:
    """``<AirSyncBase:Body>`` with Type 1, EstimatedDataSize, Truncated and Data."""
    raw = text.encode("utf-8")
    limit = None
    if options is not None:
        for pref in options.body_preferences:
            if pref.type == 1 or limit is None:
                limit = pref.truncation_size
    body = Element("AirSyncBase", "Body")
    body.add("AirSyncBase", "Type", 1)
    body.add("AirSyncBase", "EstimatedDataSize", len(raw))
    if limit is not None and len(raw) > limit:
        cut = raw[:limit].decode("utf-8", "ignore")
        body.add("AirSyncBase", "Truncated", 1)
        body.add("AirSyncBase", "Data", cut)
    else:
        body.add("AirSyncBase", "Data", text)
    return body


def text_of(app: Element) -> str | None:
    """The text of a received Body (AirSyncBase, or the ≤ 2.5 class page's Body); None when
    the device sent none (keep the stored one). HTML is sent back as text without tags."""
    body = app.find("Body", "AirSyncBase")
    if body is not None:
        data = body.value("Data")
        if data is None:
            return None
        if body.value("Type") == "2":
            return _strip_html(data)
        return data
    for child in app.children:
        if child.name == "Body" and child.ns != "AirSyncBase":
            return child.text or ""
    return None


def _strip_html(text: str) -> str:
    from html.parser import HTMLParser

    parts: list[str] = []

    class _P(HTMLParser):
        def handle_data(self, data: str) -> None:
            parts.append(data)

    p = _P()
    p.feed(text)
    p.close()
    return "".join(parts).strip()
