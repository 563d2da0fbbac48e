"""The rich-text editor's HTML made fit to send, and the plain text that goes beside it.

Webmail's editor is a ``contenteditable`` area: what the browser posts is whatever HTML the
browser (or a hostile script, or a paste from a web page) put there. Before it leaves the
server it goes through nh3 (ammonia) with a small allowlist: the formatting the toolbar makes
(bold, italic, underline, lists, links, quotes), paragraphs and line breaks, and nothing else:
no attributes but a link's ``href`` (http, https, mailto only), no style, no class, no images,
no script or style content. A recipient's client then gets simple markup it renders the same
way webmail showed it.

``to_text`` makes the text/plain alternative of a multipart/alternative message (RFC 2046
§5.1.4: the plain part first, the richer one last): paragraphs and breaks become new lines,
list items get "* " or "1. ", quotes get "> " (RFC 3676 §4.5 quote marks), links keep their
address in angle brackets after the text when it differs. ``text_to_html`` goes the other way
for text that enters the editor (a quoted original, a signature): escaped, lines kept.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

import nh3

# What the toolbar makes, and the structure a browser's editing commands add around it.
TAGS = frozenset({"p", "div", "br", "b", "strong", "i", "em", "u", "ul", "ol", "li", "a",
                  "blockquote", "span"})
ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
DROP_WITH_CONTENT = frozenset({"script", "style", "template", "textarea", "select", "title",
                               "head", "iframe", "object", "noscript", "svg", "math"})
_BLOCKS = frozenset({"p", "div", "ul", "ol", "li", "blockquote", "br"})


def sanitize(fragment: str) -> str:
    """The editor's HTML reduced to the allowlist (nh3): safe to send and to show again."""
    return nh3.clean(fragment, tags=set(TAGS), attributes={k: set(v) for k, v in
                                                           ATTRIBUTES.items()},
                     url_schemes=set(URL_SCHEMES), clean_content_tags=set(DROP_WITH_CONTENT),
                     strip_comments=True, link_rel="noopener noreferrer").strip()


def document(fragment: str, lang: str = "en") -> str:
    """A sanitised fragment as the text/html part: a whole small document, UTF-8."""
    return ("<!doctype html>\n<html lang=\"" + html.escape(lang) + "\"><head><meta charset="
            "\"utf-8\"></head><body>\n" + fragment + "\n</body></html>\n")


def text_to_html(text: str) -> str:
    """Plain text for the editor: escaped, each line kept (a ``<br>`` per line end)."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def quote_html(text: str) -> str:
    """Plain text as a quotation in the editor."""
    return "<blockquote>" + text_to_html(text) + "</blockquote>"


class _Text(HTMLParser):
    """Walks sanitised HTML and writes its plain-text reading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote = 0
        self.lists: list[list[int]] = []  # one [kind, counter] per open list: 0 ul, 1 ol
        self.links: list[str] = []
        self.link_text: list[int] = []
        self.prefix_pending = ""

    # -- lines ------------------------------------------------------------------------------
    def _flush(self, force: bool = False) -> None:
        text = "".join(self.current).rstrip()
        self.current = []
        if not text and not force and not self.prefix_pending:
            return
        marks = "> " * self.quote if self.quote else ""
        indent = "   " * max(0, len(self.lists) - 1) if self.lists else ""
        line = marks + indent + self.prefix_pending + text
        self.prefix_pending = ""
        self.lines.append(line.rstrip() if marks and not text else line)

    def _blank(self) -> None:
        """A paragraph break: one empty (quoted) line, never two in a row."""
        self._flush()
        blank = ("> " * self.quote).rstrip()
        if self.lines and self.lines[-1] != blank:
            self.lines.append(blank)

    # -- parser callbacks -------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._flush(force=True)
        elif tag in ("p", "blockquote", "ul", "ol"):
            self._blank()
            if tag == "blockquote":
                self.quote += 1
            elif tag in ("ul", "ol"):
                self.lists.append([1 if tag == "ol" else 0, 0])
        elif tag == "div":
            self._flush()
        elif tag == "li":
            self._flush()
            if self.lists:
                self.lists[-1][1] += 1
                kind, count = self.lists[-1]
                self.prefix_pending = f"{count}. " if kind else "* "
            else:
                self.prefix_pending = "* "
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")
            self.link_text.append(len("".join(self.current)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "ul", "ol", "blockquote"):
            self._flush()
            if tag == "blockquote" and self.quote:
                self.quote -= 1
            elif tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            self._blank()
        elif tag in ("div", "li"):
            self._flush()
        elif tag == "a" and self.links:
            href = self.links.pop()
            start = self.link_text.pop()
            shown = "".join(self.current)[start:].strip()
            target = href[7:] if href.lower().startswith("mailto:") else href
            if href and target != shown:
                self.current.append(f" <{target}>")

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if data[:1].isspace() and self.current:
            text = " " + text
        if data[-1:].isspace() and text and not text.endswith(" "):
            text += " "
        if text.strip() or self.current:
            self.current.append(text)

    def result(self) -> str:
        self._flush()
        while self.lines and not self.lines[-1].strip(" >"):
            self.lines.pop()
        while self.lines and not self.lines[0].strip(" >"):
            self.lines.pop(0)
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def to_text(fragment: str) -> str:
    """The plain-text alternative of (sanitised) HTML."""
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return parser.result()


def html_to_text(untrusted: str) -> str:
    """Any HTML (an original being quoted) read as plain text: sanitised first."""
    return to_text(sanitize(untrusted))
