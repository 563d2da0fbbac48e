"""Fuzz targets (issue 8): each feeds arbitrary bytes to one parser. A parser may refuse
input only with its own documented error; anything else (an IndexError, a UnicodeError, a
hang caught by the runner's clock) is a crash.

Each target also has a strategy that mixes raw bytes with the grammar's own tokens, so the
fuzzer gets past the first syntax check instead of testing only the tag parser.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

from hypothesis import strategies as st

from postroom.core import minger
from postroom.mime.stream import describe_stream
from postroom.protocols.imap import wire as imap
from postroom.protocols.managesieve import wire as managesieve
from postroom.protocols.pop3 import wire as pop3
from postroom.protocols.smtp import wire as smtp
from postroom.services.messages import describe


def _mix(tokens: list[bytes], max_size: int = 400) -> st.SearchStrategy[bytes]:
    grammar = st.lists(st.one_of(st.sampled_from(tokens), st.binary(max_size=8)),
                       max_size=60).map(b"".join)
    return st.one_of(grammar, st.binary(max_size=max_size))


def imap_target(data: bytes) -> None:
    try:
        cmd = imap.parse_command(data)
    except imap.ParseError:
        return
    for token in cmd.args:
        for convert in (imap.text_of, imap.atom_of, imap.number_of, imap.list_of,
                        imap.parse_seqset):
            with contextlib.suppress(imap.ParseError):
                convert(token)
    with contextlib.suppress(imap.ParseError):
        imap.mutf7_decode(data.decode("ascii", "replace"))


IMAP = _mix([b"a1 ", b"A2 ", b"FETCH", b"UID", b"STORE", b"SEARCH", b"APPEND", b"LIST",
             b" ", b"1:*", b"2,4:7", b"*", b"(", b")", b"[", b"]", b"<0.10>", b"BODY",
             b"BODY.PEEK", b"HEADER.FIELDS", b"\"", b"\\", b"\\Seen", b"NIL", b"{5}",
             b"{3+}", b"~{2}", b"\r\n", b"&AOk-", b"&-", b"INBOX", b"+FLAGS", b"MODSEQ"])


def smtp_target(data: bytes) -> None:
    try:
        cmd = smtp.parse_command(data)
    except smtp.SmtpSyntaxError:
        return
    for keyword in ("FROM", "TO"):
        for utf8 in (False, True):
            try:
                path = smtp.parse_path(cmd.arg, keyword, utf8=utf8, allow_null=True)
                for key, value in path.params.items():
                    if key in ("ENVID", "ORCPT", "NOTIFY"):
                        {"ENVID": lambda v: smtp.check_xtext(v, "ENVID"),
                         "ORCPT": smtp.check_orcpt, "NOTIFY": smtp.check_notify}[key](value)
            except smtp.SmtpSyntaxError:
                pass
    decoder = smtp.DataDecoder(10_000)
    rest = data
    while rest and not decoder.done:
        used = decoder.feed(rest[:97])
        decoder.take()
        if used == 0 and len(rest) <= 97:
            break
        rest = rest[max(used, min(97, len(rest))):]


SMTP = _mix([b"MAIL FROM:", b"RCPT TO:", b"EHLO ", b"BDAT ", b"DATA", b"<", b">", b"@",
             b"a@b.example", b"\"q\"@x", b" SIZE=", b" BODY=8BITMIME", b" NOTIFY=SUCCESS",
             b" ORCPT=rfc822;", b" ENVID=", b"+2B", b"[1.2.3.4]", b"[IPv6:::1]", b"\r\n",
             b"\n", b".\r\n", b"\r\n.\r\n", b"..", b" SMTPUTF8", b"\xc3\xa9"])


def pop3_target(data: bytes) -> None:
    try:
        cmd = pop3.parse_command(data)
    except pop3.Pop3SyntaxError:
        return
    for word in cmd.args:
        with contextlib.suppress(pop3.Pop3SyntaxError):
            pop3.number(word)
    pop3.stuff(data, True)
    pop3.stuff(data, False)


POP3 = _mix([b"USER ", b"PASS ", b"APOP ", b"RETR ", b"TOP ", b"LIST", b"UIDL", b"DELE ",
             b"AUTH ", b"STLS", b"CAPA", b"0", b"1", b"99999999999999999999", b"-1",
             b" ", b"\r\n", b"\n", b"."])


def minger_target(data: bytes) -> None:
    try:
        query = minger.parse_query(data)
    except minger.MingerSyntaxError:
        token = minger.echo_token(data)
        assert len(minger.format_response(token, 0)) <= max(len(data), 1) + 2
        return
    assert minger.is_mailbox(query.mailbox)
    with contextlib.suppress(minger.MingerSyntaxError):
        minger.parse_response(data, query.mailbox)


MINGER = _mix([b"a@b.test", b"\"x y\"@[1.2.3.4]", b" d=", b"AAAAAAAAAAAAAAAAAAAAAA==",
               b" t=1", b" d=1", b"=", b"_", b"\r\n", b" "])


def mime_target(data: bytes) -> None:
    """What delivery and APPEND run on every message: the scan and the search text, whole
    (services/messages.py) and streamed in chunks (services/delivery.py), which must agree."""
    meta, text = describe(data)
    assert (meta, text) == describe_stream(io.BytesIO(data), chunk=97)


MIME = _mix([b"Content-Type: multipart/mixed; boundary=\"b\"\r\n", b"\r\n", b"--b\r\n",
             b"--b--\r\n", b"Content-Type: message/rfc822\r\n",
             b"Content-Transfer-Encoding: base64\r\n", b"Subject: =?utf-8?q?x?=\r\n",
             b"From: \"a\" <a@b>, (c) d@e\r\n", b" folded\r\n", b"boundary=", b";",
             b"charset*0*=utf-8''%41", b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n",
             b"Content-Type: text/plain; charset=idna\r\n", b"=?\xc3\xa9utf-8?q?x?=",
             b"Content-Transfer-Encoding: quoted-printable\r\n", b"=C3=A9", b"\n"],
            max_size=2000)

def managesieve_target(data: bytes) -> None:
    """RFC 5804 §4: a command with quoted strings and literals, then each argument read as
    the commands read them; what goes back out must parse as the string it was."""
    managesieve.literal_at_end(data)
    managesieve.command_name(data)
    try:
        cmd = managesieve.parse_command(data)
    except managesieve.WireError:
        return
    for arg in cmd.args:
        for convert in (managesieve.text_of, managesieve.string_of, managesieve.number):
            with contextlib.suppress(managesieve.WireError):
                convert(arg, "x")
        if isinstance(arg, bytes):
            assert managesieve.parse_args(managesieve.string_out(arg) + b"\r\n") == [arg]
    managesieve.response("NO", data.decode("utf-8", "replace"), b"QUOTA/MAXSIZE")


MANAGESIEVE = _mix([b"PUTSCRIPT ", b"AUTHENTICATE ", b"HAVESPACE ", b"NOOP", b"\"", b"\\",
                    b"\\\"", b"{5+}\r\n", b"{0}\r\n", b"{99999999999999999999+}\r\n",
                    b"12", b" ", b"\r\n", b"\n", b"\x00", b"\xc3\xa9", b"ACTIVE"])

TARGETS: dict[str, tuple[Callable[[bytes], None], st.SearchStrategy[bytes]]] = {
    "imap": (imap_target, IMAP), "smtp": (smtp_target, SMTP), "pop3": (pop3_target, POP3),
    "minger": (minger_target, MINGER), "mime": (mime_target, MIME),
    "managesieve": (managesieve_target, MANAGESIEVE)}
