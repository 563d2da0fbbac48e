"""HTML mail made safe to display: an allow-list sanitiser on nh3 (ammonia), and a CSS filter.

Mail HTML is hostile input. Webmail shows it in a sandboxed frame (no scripts, no same origin)
under a CSP that forbids scripts and every load but our own images; this module is the other,
independent half of that defence (docs/webmail/read.md, "Two walls"): what it returns holds no
script, no event handler, no plug-in, no form, no frame, no ``<base>``/``<meta>``, no SVG or
MathML, no URL scheme but http(s)/mailto on links, and loads nothing remote unless the caller
allowed remote images. Either wall alone keeps scripts out and remote hosts unasked.

Design:

- **Tags and attributes** from an allow-list (``TAGS``, ``ATTRIBUTES``); the content of
  script-like and foreign elements (``DROP_CONTENT``) goes with them, the content of other
  unknown tags stays as text. Links get ``target="_blank" rel="noopener noreferrer"``.
- **Images**: ``cid:`` sources become what ``cid_url`` names for that inline part (webmail
  embeds raster parts as ``data:`` URLs, services/webmail/reader.py says why), or go;
  ``data:`` sources written by the sender only for raster image types; ``http(s):`` sources
  are *blocked* unless ``remote=True``: the ``src`` attribute becomes ``data-blocked-src``
  so the page can count them and nothing is fetched. The rewrite runs on nh3's output,
  which is serialised HTML with every attribute value double-quoted and ``"`` escaped, so
  a tag can be matched exactly (``_IMG_TAG``) and the text of the mail cannot fake one.
- **CSS**: ``style`` attributes and ``<style>`` elements keep only declarations of
  ``SAFE_PROPERTIES`` whose values hold nothing that can load or run anything (``url(``,
  ``expression(``, ``image-set(``, escapes, ``@import``, ``behavior``, ``-moz-binding``...).
  ``<style>`` elements are taken out before sanitising, filtered rule by rule (at-rules dropped
  but for ``@media``, whose rules are filtered the same way), and returned apart for the
  document's head, never with a ``<`` in them (so they cannot close the element).

``render_document`` wraps the result in the document the frame loads.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

TAGS = frozenset({
    "a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big",
    "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins", "kbd", "li",
    "main", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section",
    "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr"})
# Dropped with everything inside: scripts and styles (filtered apart), foreign content, frames,
# plug-ins, forms' controls and the raw-text elements whose parsing differs between parsers.
DROP_CONTENT = frozenset({
    "script", "style", "title", "head", "svg", "math", "iframe", "frame", "frameset", "object",
    "embed", "applet", "noscript", "noembed", "noframes", "xmp", "plaintext", "template",
    "textarea", "select", "option", "button", "audio", "video", "canvas", "portal"})
_COMMON = {"title", "dir", "lang", "align", "valign", "class", "style", "width", "height"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href", "name"},
    "img": {"src", "alt", "border", "hspace", "vspace"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "bgcolor", "frame", "rules", "summary"},
    "td": {"colspan", "rowspan", "bgcolor", "nowrap", "abbr", "headers", "scope"},
    "th": {"colspan", "rowspan", "bgcolor", "nowrap", "abbr", "headers", "scope"},
    "tr": {"bgcolor"}, "tbody": {"bgcolor"}, "thead": {"bgcolor"}, "tfoot": {"bgcolor"},
    "col": {"span"}, "colgroup": {"span"},
    "ol": {"start", "type", "reversed"}, "ul": {"type"}, "li": {"value", "type"},
    "blockquote": {"cite", "type"}, "q": {"cite"}, "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"}, "time": {"datetime"}, "hr": {"size", "noshade", "color"},
    "div": {"bgcolor"}, "details": {"open"}, "bdo": {"dir"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "cid", "data"})
RASTER_DATA = re.compile(r"^data:image/(?:png|gif|jpeg|jpg|webp);base64,[A-Za-z0-9+/=\s]*$",
                         re.I)
# CSS properties that change only how text and boxes look. Not here: anything that takes an
# image or a URL (background-image, list-style-image, border-image, cursor, content, mask...),
# positioning (a mail could lay a fake control over the page's own), custom properties.
SAFE_PROPERTIES = frozenset({
    "background", "background-color", "border", "border-bottom", "border-bottom-color",
    "border-bottom-left-radius", "border-bottom-right-radius", "border-bottom-style",
    "border-bottom-width", "border-collapse", "border-color", "border-left",
    "border-left-color", "border-left-style", "border-left-width", "border-radius",
    "border-right", "border-right-color", "border-right-style", "border-right-width",
    "border-spacing", "border-style", "border-top", "border-top-color",
    "border-top-left-radius", "border-top-right-radius", "border-top-style",
    "border-top-width", "border-width", "caption-side", "clear", "color", "direction",
    "display", "empty-cells", "float", "font", "font-family", "font-size", "font-style",
    "font-variant", "font-weight", "height", "letter-spacing", "line-height",
    "list-style-position", "list-style-type", "margin", "margin-bottom", "margin-left",
    "margin-right", "margin-top", "max-height", "max-width", "min-height", "min-width",
    "mso-line-height-rule", "opacity", "overflow", "overflow-wrap", "overflow-x", "overflow-y",
    "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
    "table-layout", "text-align", "text-decoration", "text-decoration-color",
    "text-decoration-line", "text-decoration-style", "text-indent", "text-overflow",
    "text-transform", "unicode-bidi", "vertical-align", "visibility", "white-space", "width",
    "word-break", "word-spacing", "word-wrap"})
# Anything that loads, runs or hides a load in a value (lower-cased, comments removed).
_BAD_VALUE = re.compile(r"url\s*\(|expression|image-set|image\s*\(|src\s*\(|element\s*\(|"
                        r"@import|behavior|binding|javascript:|vbscript:|[\\<>{}@]|/\*")
_SELECTOR_OK = re.compile(r"^[a-zA-Z0-9_\-\s.#*>+~:,()=\[\]\"'|^$]+$")
_MEDIA_OK = re.compile(r"^@media[a-zA-Z0-9_\-\s:(),.]*$", re.I)
_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
_STYLE_OPEN = re.compile(r"<style(?=[\s/>])", re.I)
_STYLE_CLOSE = re.compile(r"</style", re.I)
# nh3's serialisation: attributes name="value" with '"' escaped inside values
_IMG_TAG = re.compile(r'<img(?:\s+[^\s"\'>/=]+(?:="[^"]*")?)*\s*/?>')
_BLOCKED = "x-postroom-blocked:"
_CID = "x-postroom-cid:"
MAX_CSS = 256 * 1024  # characters of <style> CSS kept; the rest of a bloated sheet is dropped


# Deeply nested markup is quadratic to parse (the HTML tree builder checks the stack of open
# elements on most tags: measured with nh3, 20,000 nested <div> take 0.9 s and 200,000 two
# minutes). ``too_complex`` bounds the sum of nesting depths over all tags; past the budget
# (about a quarter of a second of parsing) the body is shown as text instead.
PARSE_BUDGET = 50_000_000
_TAG_START = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                  "meta", "param", "source", "track", "wbr"})
_CLOSED_BY = {"p": {"p"}, "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"},
              "td": {"td", "th"}, "th": {"td", "th"}, "tr": {"tr", "td", "th"},
              "option": {"option"}}
_ANY_TAG = re.compile(r"<[^<>]*>")  # "[^<>]": a "<" without ">" cannot make it rescan


class TooComplex(ValueError):
    """The HTML nests too deeply to parse in bounded time; show it as text."""


def too_complex(html: str, budget: int = PARSE_BUDGET) -> bool:
    """Whether parsing ``html`` may cost more than ``budget`` steps: the sum, over every start
    and end tag, of the nesting depth where it stands (an estimate that errs high: of the
    tags a parser closes by itself only a run of <p>, <li>, <td>... is closed here). Free
    for ordinary mail: with n tags the sum is at most n²/2, so below about 10,000 tags
    nothing is counted at all."""
    tags = html.count("<")
    if tags * tags // 2 <= budget:
        return False
    stack: list[str] = []
    cost = 0
    for close, name in _TAG_START.findall(html):
        cost += len(stack)
        if cost > budget:
            return True
        if close:
            if stack:
                stack.pop()
            continue
        name = name.lower()
        if name in VOID:
            continue
        closes = _CLOSED_BY.get(name)  # an unclosed <p>, <li>, <td>... ends at the next one
        while closes and stack and stack[-1] in closes:
            stack.pop()
        stack.append(name)
    return False


@dataclass(frozen=True, slots=True)
class SafeHtml:
    """A sanitised body: ``body`` (a fragment), ``css`` (filtered rules for the head) and
    how many remote images were blocked or allowed."""

    body: str
    css: str
    blocked: int  # remote images whose src was taken away
    remote: int  # remote images left to load (images allowed)


def filter_declarations(text: str) -> str:
    """``prop: value; ...`` keeping only safe properties with safe values; "" for none."""
    kept: list[str] = []
    for decl in _COMMENT.sub(" ", text).split(";"):
        name, sep, value = decl.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if not sep or name not in SAFE_PROPERTIES or not value:
            continue
        if _BAD_VALUE.search(value.lower()) or len(value) > 500:
            continue
        kept.append(f"{name}:{value}")
    return ";".join(kept)


def filter_stylesheet(css: str) -> str:
    """A ``<style>`` element's text reduced to rules with safe selectors and declarations;
    at-rules are dropped except ``@media``, whose rules are filtered the same way."""
    css = _COMMENT.sub(" ", css)[:MAX_CSS]
    out: list[str] = []
    _rules(css, 0, out, depth=0)
    return "\n".join(out)


def _rules(css: str, pos: int, out: list[str], depth: int) -> int:
    """Filter rules from ``pos`` until an unmatched ``}`` (returns the position after it)
    or the end."""
    n = len(css)
    while pos < n:
        brace = css.find("{", pos)
        close = css.find("}", pos, brace if brace != -1 else n)
        if close != -1:
            return close + 1  # the end of an enclosing block (or a stray "}")
        if brace == -1:
            return n
        prelude = css[pos:brace].strip()
        if ";" in prelude:
            # Statements before the block: at-rules end at ";" (@import x; @charset "y";)
            # and are dropped; anything else starts a rule that runs on to the "{", so the
            # whole of it is one invalid prelude (CSS Syntax §5.4.2), and its block goes.
            # Handled in one pass over the prelude, so many ";" cost linear time.
            statements = prelude.split(";")
            if any(not st.strip().startswith("@") for st in statements[:-1]):
                pos = _skip_block(css, brace + 1)
                continue
            prelude = statements[-1].strip()
        if prelude.startswith("@"):
            if depth == 0 and _MEDIA_OK.match(prelude):
                inner: list[str] = []
                pos = _rules(css, brace + 1, inner, depth + 1)
                if inner:
                    out.append(prelude + "{" + "".join(inner) + "}")
            else:
                pos = _skip_block(css, brace + 1)
            continue
        end = css.find("}", brace + 1)
        nested = css.find("{", brace + 1)
        if end == -1:
            return n
        if nested != -1 and nested < end:  # a nested block where none belongs: skip it
            pos = _skip_block(css, brace + 1)
            continue
        decls = filter_declarations(css[brace + 1:end])
        selector = " ".join(prelude.split())
        if decls and selector and _SELECTOR_OK.match(selector) and len(selector) < 1000:
            out.append(f"{selector}{{{decls}}}")
        pos = end + 1
    return n


def _skip_block(css: str, pos: int) -> int:
    depth = 1
    while pos < len(css) and depth:
        if css[pos] == "{":
            depth += 1
        elif css[pos] == "}":
            depth -= 1
        pos += 1
    return pos


def take_styles(html: str) -> tuple[str, list[str]]:
    """The HTML without its ``<style>`` elements, and their texts. One pass, every search
    starting where the last ended (a regex with ``[^>]*`` after each ``<style`` is quadratic
    on a mail of ``<style <style <style ...``). What is left still goes through nh3, so a
    fragment this cut leaves behind is sanitised like any other markup."""
    out: list[str] = []
    sheets: list[str] = []
    pos = 0
    while True:
        found = _STYLE_OPEN.search(html, pos)
        if found is None:
            break
        gt = html.find(">", found.end())
        if gt < 0:  # no tag end anywhere after: no style element can follow
            break
        out.append(html[pos:found.start()])
        close = _STYLE_CLOSE.search(html, gt + 1)
        if close is None:  # unclosed: the rest of the document is its text
            sheets.append(html[gt + 1:])
            pos = len(html)
            break
        sheets.append(html[gt + 1:close.start()])
        end = html.find(">", close.end())
        pos = len(html) if end < 0 else end + 1
    out.append(html[pos:])
    return "".join(out), sheets


def _make_filter(cid_url: Callable[[str], str | None], remote: bool,
                 ) -> Callable[[str, str, str], str | None]:
    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if attr == "style":
            return filter_declarations(value) or None
        if tag == "img" and attr == "src":
            low = value.strip().lower()
            if low.startswith("cid:"):
                url = cid_url(value.strip()[4:])
                return _CID + url if url else None
            if low.startswith("data:"):
                return value if RASTER_DATA.match(value.strip()) else None
            if low.startswith(("http:", "https:")):
                return value if remote else _BLOCKED + value
            return None  # mailto:, a relative URL: nothing an image can be
        if tag == "a" and attr == "href" and value.strip().lower().startswith(("cid:", "data:")):
            return None
        return value
    return attribute_filter


def _cleaner(cid_url: Callable[[str], str | None], remote: bool) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(TAGS), clean_content_tags=set(DROP_CONTENT),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        attribute_filter=_make_filter(cid_url, remote), strip_comments=True,
        link_rel="noopener noreferrer", url_schemes=set(URL_SCHEMES),
        set_tag_attribute_values={"a": {"target": "_blank"}}, url_relative="deny")


def sanitise(html: str, *, cid_url: Callable[[str], str | None] = lambda cid: None,
             remote: bool = False) -> SafeHtml:
    """Sanitise one HTML body. ``cid_url(content_id)`` names the URL to show an inline part
    with (None: there is none, and the image goes); ``remote`` lets http(s) images load.
    ``TooComplex`` when the markup nests too deeply to parse in bounded time."""
    if too_complex(html):
        raise TooComplex("the HTML nests too deeply to be shown as HTML")
    html, sheets = take_styles(html)
    css = "\n".join(filter(None, (filter_stylesheet(s) for s in sheets)))[:MAX_CSS]
    body = _cleaner(cid_url, remote).clean(html)
    blocked = remote_count = 0

    def fix_img(match: re.Match[str]) -> str:
        nonlocal blocked, remote_count
        tag = match.group(0)
        if f' src="{_BLOCKED}' in tag:
            blocked += 1
            return tag.replace(f' src="{_BLOCKED}', ' data-blocked-src="', 1)
        if f' src="{_CID}' in tag:
            return tag.replace(f' src="{_CID}', ' src="', 1)
        if ' src="http' in tag.lower():
            remote_count += 1
        return tag
    body = _IMG_TAG.sub(fix_img, body)
    return SafeHtml(body, css, blocked, remote_count)


# The frame's own look: readable defaults, nothing wider than the frame.
FRAME_CSS = ("html{color-scheme:light}body{margin:8px;font:15px/1.45 system-ui,sans-serif;"
             "color:#1b1f24;background:#fff;overflow-wrap:anywhere}"
             "img{max-width:100%;height:auto}img[data-blocked-src]{display:inline-block;"
             "min-width:1em;min-height:1em;outline:1px dashed #8c959f}"
             "pre{white-space:pre-wrap}table{max-width:100%}")


def render_document(safe: SafeHtml, lang: str = "") -> str:
    """The whole document the sandboxed frame loads. The mail's CSS is already filtered and
    holds no ``<`` (``_BAD_VALUE``/``_SELECTOR_OK``), so it cannot leave its element."""
    css = safe.css.replace("<", "")  # belt and braces: the filter already refuses '<'
    lang_attr = f' lang="{nh3.clean_text(lang)}"' if lang else ""
    return ("<!doctype html>\n"
            f'<html{lang_attr}><head><meta charset="utf-8">'
            '<meta name="referrer" content="no-referrer">'
            f"<style>{FRAME_CSS}</style>"
            + (f"<style>{css}</style>" if css else "")
            + f"</head><body>{safe.body}</body></html>")


def text_of(html: str) -> str:
    """Plain text of an HTML body (one too large or too deep to show as HTML): tags out,
    entities decoded. nh3's parser does it (scripts and styles dropped) unless the markup is
    too complex to parse in bounded time; then a one-pass tag strip does. Either way the
    result is text, which the page escapes."""
    if too_complex(html):
        return html_lib.unescape(_ANY_TAG.sub("", html))
    stripped = nh3.clean(html, tags=set(), clean_content_tags=set(DROP_CONTENT))
    return html_lib.unescape(stripped)
