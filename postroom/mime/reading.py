"""Decoding for display: header values, parameters, flowed text and safe file names.

Everything here turns hostile octets into text a page can show or a header can carry, and
never fails on malformed input (the worst case is replacement characters):

- ``display_text``: RFC 2047 encoded words decoded, then control characters and the Unicode
  bidirectional overrides removed (a "‮" in a subject or file name reverses what follows,
  the classic ``invoice‮fdp.exe`` trick), white space collapsed;
- ``decode_params``: RFC 2231 §3-4 parameter continuations and charsets (``name*0*=``...),
  and RFC 2047 words in a ``filename``/``name`` (not allowed by the RFC, sent by many);
- ``unflow``: RFC 3676 format=flowed text joined back into paragraphs;
- ``safe_filename`` and ``content_disposition``: a file name that cannot inject a header or
  walk a path, and the RFC 6266 §4.3 header with an ASCII fallback and RFC 8187 ``filename*``.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import urllib.parse

# Bidi embeddings/overrides/isolates (U+202A-U+202E, U+2066-U+2069) and marks that only
# reorder text (U+200E, U+200F, U+061C): shown nowhere, because they make text lie.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
MAX_VALUE = 4096  # characters of one displayed header value; the rest is cut


def clean_text(text: str) -> str:
    """Controls and bidi overrides out, runs of white space made one space."""
    text = _BIDI.sub("", _CONTROLS.sub(" ", text))
    return _SPACES.sub(" ", text).strip()


# RFC 2047 §2: =?charset?encoding?encoded-text?= (RFC 2231 §5 adds *language to the charset)
_WORD = re.compile(r"=\?([^?\s*]{1,75})(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN = re.compile(r"(?<=\?=)[ \t\r\n]+(?==\?)")


def _decode_word(match: re.Match[str]) -> str:
    charset, kind, payload = match.group(1), match.group(2).upper(), match.group(3)
    try:
        if kind == "B":  # RFC 2047 §4.1
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        else:  # RFC 2047 §4.2: "_" is a space, =XX an octet
            data = re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                          payload.replace("_", " ").encode("ascii", "replace"))
    except (binascii.Error, ValueError):
        return match.group(0)
    try:
        return data.decode(charset, "replace")
    except (LookupError, UnicodeError):  # an unknown charset: replacement characters
        return data.decode("utf-8", "replace")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded one by one: a malformed word stays as written, an
    unknown charset gives replacement characters, and neither spoils the rest of the value.
    White space between two adjacent encoded words goes (RFC 2047 §6.2)."""
    if "=?" not in value:
        return value
    return _WORD.sub(_decode_word, _BETWEEN.sub("", value))


def display_text(raw: str | None, limit: int = MAX_VALUE) -> str:
    """A header value as a page shows it: encoded words decoded (RFC 2047 §6), then cleaned.
    A value longer than ``limit`` is cut before decoding, so a huge field costs little."""
    if not raw:
        return ""
    return clean_text(decode_words(raw[:limit * 2]))[:limit]


def decode_params(params: dict[str, str]) -> dict[str, str]:
    """Parameters with RFC 2231 continuations joined and charsets undone (§3: ``name*0``,
    ``name*1``; §4: ``name*=charset'lang'%XX``); a plain value with RFC 2047 words (what many
    mailers put in ``filename``) decoded too. Unknown charsets read as UTF-8."""
    out: dict[str, str] = {}
    pieces: dict[str, list[tuple[int, str, bool]]] = {}
    for key, value in params.items():
        m = re.match(r"^([^*]+)(?:\*(\d{1,3}))?(\*)?$", key)
        if not m or (m.group(2) is None and m.group(3) is None):
            out.setdefault(key, value)
            continue
        pieces.setdefault(m.group(1), []).append(
            (int(m.group(2) or 0), value, m.group(3) is not None))
    for name, items in pieces.items():
        items.sort(key=lambda item: item[0])
        charset = "utf-8"
        text: list[str] = []
        for index, value, encoded in items[:100]:
            if encoded:
                if index == 0 and value.count("'") >= 2:
                    charset, _, value = value.split("'", 2)  # RFC 2231 §4: charset'lang'
                    charset = charset.strip() or "utf-8"
                try:
                    value = urllib.parse.unquote(value, encoding=charset, errors="replace")
                except (LookupError, ValueError):
                    value = urllib.parse.unquote(value, errors="replace")
            text.append(value)
        out[name] = "".join(text)  # the RFC 2231 value wins over a plain one of that name
    return {key: decode_words(value) if "=?" in value else value for key, value in out.items()}


_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|;\x00-\x1f\x7f]')


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A file name to offer for saving: controls, bidi overrides, quotes, backslashes and path
    separators out; no leading dots (hidden files, ``..``); at most 200 characters with the
    extension kept; ``fallback`` when nothing is left."""
    name = clean_text(unicodedata.normalize("NFC", name))
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name or fallback


def ascii_fallback(name: str) -> str:
    """The name in printable ASCII for ``filename=`` (RFC 6266 §4.3): accents dropped,
    everything else outside ``[A-Za-z0-9 ._()+-]`` made ``_``."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    folded = re.sub(r"[^A-Za-z0-9 ._()+\-]", "_", folded).strip(" .")
    return folded or "attachment"


def content_disposition(name: str, inline: bool = False) -> str:
    """RFC 6266 §4.3 / RFC 8187 §3.2: ``attachment; filename="ascii"; filename*=UTF-8''pct``.
    ``name`` should come from ``safe_filename``; it is cleaned again here, so whatever it holds
    the result is one header line of printable ASCII."""
    clean = safe_filename(name)
    kind = "inline" if inline else "attachment"
    encoded = urllib.parse.quote(clean, safe="!#$&+-.^_`|~")  # RFC 8187 attr-char
    return f"{kind}; filename=\"{ascii_fallback(clean)}\"; filename*=UTF-8''{encoded}"


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 §4.2: join a format=flowed body back into its paragraphs.

    A line ending in a space is soft: it flows into the next line of the same quote depth
    (with DelSp=yes that space is deleted, §4.2). Quote marks (">", §4.5) are counted and
    written back as "> " per level; one space after them was stuffing (§4.4) and goes. The
    signature separator "-- " is never soft (§4.3)."""
    out: list[str] = []
    current: list[str] = []
    depth_now = -1
    for line in text.split("\n"):
        line = line.rstrip("\r")
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # RFC 3676 §4.4 space-stuffing
            content = content[1:]
        soft = content.endswith(" ") and content != "-- "
        if current and depth != depth_now:  # quote depth changed: the paragraph ends
            out.append("> " * depth_now + "".join(current))
            current = []
        depth_now = depth
        if soft:
            current.append(content[:-1] if delsp else content)
        else:
            current.append(content)
            out.append("> " * depth + "".join(current))
            current = []
    if current:
        out.append("> " * depth_now + "".join(current))
    return "\n".join(out)
