"""Which parts of a message a reader sees as its body, and which as attachments.

Works on the MIME scan stored at delivery (``mime/scanner.py``'s JSON: ``o`` offsets, ``t``
type, ``p`` parameters, ``e`` encoding, ``c`` children, ``m`` embedded message, ``id``,
``disp``), so opening a message never parses it again. Part paths are IMAP section numbers
(RFC 9051 §6.4.5): "1" is the body of a single-part message, "2.1" the first part of the
second part, and a ``message/rfc822`` part's embedded body counts as one level.

The choice, as mail clients make it (RFC 2046 §5.1.3-§5.1.4, RFC 2387):

- ``multipart/alternative``: the last HTML-capable alternative is the HTML body, the last
  ``text/plain`` one the text body (the sender's preference is the last, §5.1.4);
- ``multipart/related``: the root (``start`` parameter, else the first part) is the body, the
  other parts are its inline resources, found by Content-ID;
- ``multipart/mixed`` and others: the first part that can be a body is the body, every other
  part an attachment;
- a leaf with ``Content-Disposition: attachment`` or a file name is an attachment, whatever its
  type; a ``message/rfc822`` part is an attachment (saved as .eml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from postroom.mime.reading import decode_params, display_text, safe_filename

Node = dict[str, Any]
MAX_WALK = 2000  # parts looked at; the scanner stores no more (scanner.MAX_PARTS)
EXTENSIONS = {"text/plain": "txt", "text/html": "html", "image/png": "png",
              "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
              "application/pdf": "pdf", "message/rfc822": "eml", "text/calendar": "ics",
              "text/csv": "csv"}


@dataclass(frozen=True, slots=True)
class Leaf:
    """One part as the reader needs it."""

    path: str
    ctype: str  # "type/subtype", lower case
    params: dict[str, str]  # decoded (RFC 2231)
    encoding: str  # Content-Transfer-Encoding, upper case
    start: int  # body offsets in the blob
    end: int
    content_id: str  # without angle brackets; "" for none
    filename: str  # safe to show and to save ("" only for body parts)
    disposition: str  # "inline", "attachment" or ""

    @property
    def charset(self) -> str:
        return self.params.get("charset", "us-ascii")

    @property
    def size(self) -> int:
        """The decoded size, estimated from the encoded one (base64: 3 octets per 4
        characters, less the line breaks of 76-character lines)."""
        raw = self.end - self.start
        return raw * 57 // 78 if self.encoding == "BASE64" else raw


@dataclass(slots=True)
class Layout:
    text: Leaf | None = None
    html: Leaf | None = None
    attachments: list[Leaf] = field(default_factory=list)
    inline: dict[str, Leaf] = field(default_factory=dict)  # by Content-ID


def strip_cid(raw: str) -> str:
    """A Content-ID or ``cid:`` reference without brackets or white space (RFC 2392 §2)."""
    return raw.strip().strip("<>").strip()


def _ctype(node: Node) -> str:
    t = node.get("t") or ["text", "plain"]
    return f"{t[0]}/{t[1]}".lower()


def _leaf(node: Node, path: str) -> Leaf:
    ctype = _ctype(node)
    params = decode_params(dict(node.get("p") or {}))
    disp_main, disp_params = "", {}
    if node.get("disp"):
        disp_main = str(node["disp"][0]).lower()
        disp_params = decode_params(dict(node["disp"][1] or {}))
    raw_name = disp_params.get("filename") or params.get("name") or ""
    name = safe_filename(raw_name, "") if raw_name else ""
    if not name and ctype == "message/rfc822":
        env = node.get("env") or []
        subject = display_text(env[1] if len(env) > 1 else None, 120)
        name = safe_filename(f"{subject or 'message'}.eml")
    _hs, bs, be = node["o"]
    return Leaf(path, ctype, params, str(node.get("e") or "7BIT").upper(), bs, be,
                strip_cid(str(node.get("id") or "")), name, disp_main)


def _named(leaf: Leaf, fallback_index: str) -> Leaf:
    if leaf.filename:
        return leaf
    ext = EXTENSIONS.get(leaf.ctype, "bin")
    return Leaf(leaf.path, leaf.ctype, leaf.params, leaf.encoding, leaf.start, leaf.end,
                leaf.content_id, f"part-{fallback_index}.{ext}", leaf.disposition)


def find(root: Node, path: str) -> Node | None:
    """The part at IMAP section ``path`` ("1", "2.3"), None when there is none."""
    try:
        numbers = [int(n) for n in path.split(".")]
    except ValueError:
        return None
    node: Node = root
    for i, n in enumerate(numbers):
        if n < 1:
            return None
        if i > 0 or node.get("c"):
            if node.get("m") is not None and not node.get("c"):
                node = node["m"]  # a message/rfc822 part: descend into its message
            children = node.get("c")
            if children:
                if n > len(children):
                    return None
                node = children[n - 1]
                continue
        if n != 1:  # a single part has only part 1: itself (RFC 9051 §6.4.5)
            return None
    return node


def layout(root: Node) -> Layout:
    """The body parts, attachments and inline parts of the message whose scan is ``root``."""
    out = Layout()
    budget = [MAX_WALK]
    if root.get("c"):
        _visit(root, "", out, budget, body=True)
    else:
        _visit(root, "1", out, budget, body=True)
    return out


def _child_path(parent: str, index: int) -> str:
    return f"{parent}.{index}" if parent else str(index)


def _visit(node: Node, path: str, out: Layout, budget: list[int], body: bool) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    ctype = _ctype(node)
    children: list[Node] = node.get("c") or []
    if children and ctype.startswith("multipart/"):
        paths = [_child_path(path, i + 1) for i in range(len(children))]
        if ctype == "multipart/alternative" and body:
            _alternative(children, paths, out, budget)
        elif ctype == "multipart/related" and body:
            start = strip_cid(str((node.get("p") or {}).get("start", "")))
            root_i = next((i for i, c in enumerate(children)
                           if start and strip_cid(str(c.get("id") or "")) == start), 0)
            _visit(children[root_i], paths[root_i], out, budget, body=True)
            for i, child in enumerate(children):
                if i != root_i:
                    _resource(child, paths[i], out, budget)
        else:
            for child, child_path in zip(children, paths, strict=True):
                _visit(child, child_path, out, budget,
                       body=body and out.text is None and out.html is None)
        return
    leaf = _leaf(node, path)
    if leaf.content_id:
        out.inline.setdefault(leaf.content_id, leaf)
    is_file = leaf.disposition == "attachment" or bool(leaf.filename)
    if body and not is_file and leaf.ctype == "text/html" and out.html is None:
        out.html = leaf
        return
    if body and not is_file and leaf.ctype == "text/plain" and out.text is None:
        out.text = leaf
        return
    out.attachments.append(_named(leaf, path))


def _alternative(children: list[Node], paths: list[str], out: Layout,
                 budget: list[int]) -> None:
    """RFC 2046 §5.1.4: the alternatives come in increasing preference."""
    html_i = text_i = None
    for i, child in enumerate(children):
        ctype = _ctype(child)
        if ctype == "text/html" or (ctype in ("multipart/related", "multipart/mixed")
                                    and _has_html(child)):
            html_i = i
        elif ctype == "text/plain":
            text_i = i
    if html_i is not None:
        _visit(children[html_i], paths[html_i], out, budget, body=True)
    if text_i is not None and out.text is None:
        out.text = _leaf(children[text_i], paths[text_i])
    if html_i is None and text_i is None and children:
        _visit(children[-1], paths[-1], out, budget, body=True)


def _has_html(node: Node, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if _ctype(node) == "text/html":
        return True
    return any(_has_html(c, depth + 1) for c in node.get("c") or [])


def _resource(node: Node, path: str, out: Layout, budget: list[int]) -> None:
    """A related part that is not the root: inline by Content-ID, or an attachment."""
    if node.get("c"):
        _visit(node, path, out, budget, body=False)
        return
    leaf = _leaf(node, path)
    if leaf.content_id and leaf.disposition != "attachment":
        out.inline.setdefault(leaf.content_id, leaf)
    else:
        out.attachments.append(_named(leaf, path))
