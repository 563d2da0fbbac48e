"""The "body" extension (RFC 5173): transforms, decoding, bounds, laziness."""

from __future__ import annotations

import base64

from postroom.sieve.limits import Limits
from postroom.sieve.message import Envelope, Message
from tests.support.sieve import make_message, run_script, summary

MIXED = """\
From: a@example.com
Content-Type: multipart/mixed; boundary="b1"

prologue text
--b1
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

caf=E9 au lait
--b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

{html}
--b1
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKc2VjcmV0
--b1--
epilogue text
""".format(html=base64.b64encode("<p>Grüße &amp; <b>bold</b></p>".encode()).decode())


async def holds(test: str, message: str | Message = MIXED, limits: Limits | None = None
                ) -> bool:
    result = await run_script(f'require "body";\nif {test} {{ discard; }}', message,
                              limits=limits)
    return summary(result) == ["discard"]


async def test_text_decodes_charsets_and_transfer_encodings() -> None:
    assert await holds('body :text :contains "café au lait"')
    assert await holds('body :contains "Grüße & bold"')  # :text is the default; no markup
    assert not await holds('body :text :contains "<b>"')
    assert not await holds('body :text :contains "prologue"')  # containers give nothing
    assert not await holds('body :text :contains "%PDF"')  # not text


async def test_content_selects_parts_and_keeps_markup() -> None:
    assert await holds('body :content "text/html" :contains "<b>bold</b>"')
    assert await holds('body :content "application/pdf" :contains "%PDF-1.4"')
    assert await holds('body :content "application" :contains "secret"')
    assert await holds('body :content "multipart" :contains "prologue text"')
    assert await holds('body :content "multipart" :contains "epilogue text"')
    assert not await holds('body :content "multipart" :contains "café"')
    assert await holds('body :content ["image", "text/plain"] :contains "café"')
    assert not await holds('body :content "image" :contains ""')


async def test_raw_is_undecoded_and_includes_mime_structure() -> None:
    assert await holds('body :raw :contains "caf=E9"')
    assert await holds('body :raw :contains "Content-Type: application/pdf"')
    assert not await holds('body :raw :contains "café"')


async def test_body_is_bounded() -> None:
    message = "From: a@example.com\n\n" + "x" * 5000 + "needle\n"
    assert await holds('body :raw :contains "needle"', message)
    assert not await holds('body :raw :contains "needle"', message,
                           limits=Limits(max_body_size=4096))


async def test_body_is_read_once_and_only_when_asked() -> None:
    loads = 0
    data = b"From: a@example.com\r\n\r\nhello\r\n"

    async def load() -> bytes:
        nonlocal loads
        loads += 1
        return data

    message = Message(data[:23], size=len(data), envelope=Envelope("s@x.y", "r@x.y"),
                      body=load)
    assert summary(await run_script('require "body"; if header :contains "from" "a" { keep; }',
                                    message)) == ["keep"]
    assert loads == 0
    source = ('require ["body", "fileinto"];\nif body :contains "hello" { fileinto "a"; }\n'
              'if body :raw :contains "hello" { fileinto "b"; }')
    assert summary(await run_script(source, message)) == ["fileinto a", "fileinto b"]
    assert summary(await run_script(source, message)) == ["fileinto a", "fileinto b"]
    assert loads == 1


async def test_a_message_without_a_body_line_has_no_body() -> None:
    assert not await holds('body :raw :contains ""', make_message("From: a@example.com\n"))
    assert await holds('body :raw :is ""', make_message("From: a@example.com\n\n"))


async def test_unknown_transfer_encoding_omits_the_part() -> None:
    message = ("From: a@example.com\nContent-Type: text/plain\n"
               "Content-Transfer-Encoding: x-unknown\n\nhello\n")
    assert not await holds('body :text :contains "hello"', message)
    assert await holds('body :raw :contains "hello"', message)
