"""Sieve's lexical structure and grammar (RFC 5228 §2 and §8), with line and column on
every error.

Hand-written: the grammar is small, and a hand-written scanner gives better messages ("line
4, column 12: expected ';' or a block after the arguments of fileinto, found identifier
keep") than a generated one. Accepts CRLF or LF line ends (scripts uploaded from Unix tools
have LF); line ends inside strings become CRLF either way, so that a quoted string and a
multi-line string with the same lines are equal (§2.4.2). Bounded: the script size is checked
before scanning, nesting while parsing, numbers against 2^63, identifiers in length.

Positions are computed from the offset only when a token is made (a table of line starts and
a bisection), so scanning itself is a handful of regular-expression matches per token.
"""

from __future__ import annotations

import bisect
import re

from postroom.sieve import ast
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.limits import Limits

MAX_NUMBER = 2**63 - 1
MAX_IDENTIFIER = 128  # longer identifiers are refused (no capability comes near)
QUANTIFIERS = {"k": 1024, "m": 1024**2, "g": 1024**3}  # RFC 5228 §2.4.1

_BLANKS = re.compile(r"[ \t\r\n]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"([0-9]+)([KkMmGg]?)")
_QUOTED_PLAIN = re.compile(r'[^"\\\r\n\x00]+')
_LINE_END = re.compile(r"\r?\n")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a str that came from no valid UTF-8


class _Token:
    __slots__ = ("column", "kind", "line", "value")

    def __init__(self, kind: str, value: object, line: int, column: int) -> None:
        self.kind = kind  # identifier, tag, number, string, or the punctuation, or eof
        self.value = value
        self.line = line
        self.column = column

    @property
    def pos(self) -> ast.Pos:
        return ast.Pos(self.line, self.column)

    def describe(self) -> str:
        if self.kind == "identifier":
            return f"identifier {self.value!s}"
        if self.kind == "number":
            return f"number {self.value!s}"
        if self.kind == "tag":
            return f"tag :{self.value!s}"
        if self.kind == "string":
            return "a string"
        if self.kind == "eof":
            return "the end of the script"
        return repr(self.kind)


class _Lexer:
    """RFC 5228 §8.1 tokens. ``text`` is the script as characters (UTF-8 decoded)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, index: int) -> tuple[int, int]:
        """(line, column) of a character offset, both from 1."""
        line = bisect.bisect_right(self._starts, index)
        return line, index - self._starts[line - 1] + 1

    def _error(self, message: str, index: int) -> SieveSyntaxError:
        line, column = self.where(index)
        return SieveSyntaxError(message, line, column)

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        text = self.text
        n = len(text)
        while True:
            self._skip()
            start = self.i
            if start >= n:
                line, col = self.where(start)
                out.append(_Token("eof", None, line, col))
                return out
            c = text[start]
            line, col = self.where(start)
            if c in ";,()[]{}":
                self.i += 1
                out.append(_Token(c, c, line, col))
            elif c == ":":
                m = _IDENT.match(text, start + 1)
                if m is None:
                    raise self._error("':' must be followed by a tag name", start)
                self._check_identifier(m.group(), start)
                self.i = m.end()
                out.append(_Token("tag", m.group().lower(), line, col))
            elif "0" <= c <= "9":
                out.append(_Token("number", self._number(start), line, col))
            elif c == '"':
                out.append(_Token("string", self._quoted(start), line, col))
            elif c == "_" or (c.isascii() and c.isalpha()):
                m = _IDENT.match(text, start)
                assert m is not None
                word = m.group()
                self.i = m.end()
                if word.lower() == "text" and text.startswith(":", self.i):
                    self.i += 1
                    out.append(_Token("string", self._multiline(start), line, col))
                else:
                    self._check_identifier(word, start)
                    out.append(_Token("identifier", word.lower(), line, col))
            elif c == "\x00":
                raise self._error("a NUL character is not allowed in a script", start)
            else:
                raise self._error(f"unexpected character {c!r}", start)

    def _check_identifier(self, word: str, start: int) -> None:
        if len(word) > MAX_IDENTIFIER:
            raise self._error(f"identifier longer than {MAX_IDENTIFIER} characters", start)

    def _skip(self) -> None:
        """Whitespace and comments (RFC 5228 §8.1 white-space)."""
        text = self.text
        n = len(text)
        while self.i < n:
            c = text[self.i]
            if c in " \t\r\n":
                m = _BLANKS.match(text, self.i)
                assert m is not None
                self.i = m.end()
            elif c == "#":
                end = text.find("\n", self.i)
                self.i = n if end < 0 else end + 1  # a comment may end the script (lenient)
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    raise self._error("comment /* is never closed with */", self.i)
                self.i = end + 2
            else:
                return

    def _number(self, start: int) -> int:
        m = _NUMBER.match(self.text, start)
        assert m is not None
        digits, quantifier = m.groups()
        if len(digits) > 40:
            raise self._error("number too large", start)
        value = int(digits) * QUANTIFIERS.get(quantifier.lower(), 1)
        if value > MAX_NUMBER:
            raise self._error(f"number too large (the largest is {MAX_NUMBER})", start)
        self.i = m.end()
        if self.i < len(self.text) and (self.text[self.i] == "_"
                                        or (self.text[self.i].isascii()
                                            and self.text[self.i].isalnum())):
            raise self._error("a number must be followed by a space or a separator, "
                              f"not {self.text[self.i]!r}", start)
        return value

    def _quoted(self, start: int) -> str:
        # RFC 5228 §2.4.2: \" and \\ are escapes; any other backslash is dropped and the
        # character that follows it kept; line ends (CRLF, or LF) are kept as CRLF
        text = self.text
        n = len(text)
        i = start + 1
        out: list[str] = []
        while True:
            m = _QUOTED_PLAIN.match(text, i)
            if m is not None:
                out.append(m.group())
                i = m.end()
            if i >= n:
                raise self._error("string is never closed by '\"'", start)
            c = text[i]
            if c == '"':
                self.i = i + 1
                return "".join(out)
            if c == "\\":
                if i + 1 >= n:
                    raise self._error("string is never closed by '\"'", start)
                nxt = text[i + 1]
                if nxt in "\r\n\x00":
                    i += 1  # a backslash before a line end escapes nothing
                    continue
                out.append(nxt)
                i += 2
            elif c == "\x00":
                raise self._error("a NUL character is not allowed in a string", i)
            elif c == "\n":
                out.append("\r\n")
                i += 1
            else:  # "\r"
                if text.startswith("\r\n", i):
                    out.append("\r\n")
                    i += 2
                else:
                    raise self._error("a carriage return must be followed by a line feed", i)

    def _multiline(self, start: int) -> str:
        # RFC 5228 §2.4.2, §8.1: text: *(SP / HTAB) (hash-comment / CRLF) then lines, ended
        # by a line holding only "."; a line starting ".." loses its first dot (".foo" stays)
        text = self.text
        n = len(text)
        i = self.i
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        m = _LINE_END.match(text, i)
        if m is None:
            raise self._error("text: must be followed by the end of the line (or a # "
                              "comment)", i)
        i = m.end()
        lines: list[str] = []
        while True:
            if i >= n:
                raise self._error("multi-line string is never ended by a line holding only "
                                  "'.'", start)
            end = text.find("\n", i)
            stop = n if end < 0 else end + 1
            content = text[i:end if end >= 0 else n]
            if content.endswith("\r"):
                content = content[:-1]
            if "\x00" in content:
                raise self._error("a NUL character is not allowed in a string",
                                  i + content.index("\x00"))
            i = stop
            if content == ".":
                self.i = i
                return "".join(lines)
            if end < 0:
                raise self._error("multi-line string is never ended by a line holding only "
                                  "'.'", start)
            if content.startswith(".."):
                content = content[1:]
            lines.append(content + "\r\n")


class _Parser:
    """RFC 5228 §8.2 grammar over the tokens."""

    def __init__(self, tokens: list[_Token], limits: Limits) -> None:
        self.tokens = tokens
        self.i = 0
        self.limits = limits

    def _peek(self) -> _Token:
        return self.tokens[self.i]

    def _take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def _error(self, tok: _Token, message: str) -> SieveSyntaxError:
        return SieveSyntaxError(message, tok.line, tok.column)

    def script(self) -> list[ast.Command]:
        commands = self._commands(0)
        tok = self._peek()
        if tok.kind != "eof":
            what = "an unmatched '}'" if tok.kind == "}" else tok.describe()
            raise self._error(tok, f"expected a command, found {what}")
        return commands

    def _commands(self, depth: int) -> list[ast.Command]:
        out: list[ast.Command] = []
        while self._peek().kind == "identifier":
            out.append(self._command(depth))
        return out

    def _command(self, depth: int) -> ast.Command:
        head = self._take()
        name = str(head.value)
        args = self._arguments()
        tests, as_list = self._maybe_tests(depth)
        tok = self._peek()
        if tok.kind == ";":
            self._take()
            return ast.Command(name, args, tests, None, head.pos, as_list)
        if tok.kind == "{":
            if depth + 1 > self.limits.max_nesting:
                raise self._error(tok, f"blocks nested deeper than {self.limits.max_nesting}")
            self._take()
            body = self._commands(depth + 1)
            end = self._take()
            if end.kind != "}":
                raise self._error(end, f"expected a command or '}}' to close the block of "
                                       f"{name} (line {tok.line}), found {end.describe()}")
            return ast.Command(name, args, tests, body, head.pos, as_list)
        if tok.kind in (")", ","):
            raise self._error(tok, f"unexpected {tok.kind!r} after the arguments of {name}")
        raise self._error(tok, f"expected ';' or a block after the arguments of {name}, "
                               f"found {tok.describe()}")

    def _arguments(self) -> list[ast.Argument]:
        args: list[ast.Argument] = []
        while True:
            tok = self._peek()
            if tok.kind == "tag":
                self._take()
                args.append(ast.Tag(str(tok.value), tok.pos))
            elif tok.kind == "number":
                self._take()
                assert isinstance(tok.value, int)
                args.append(ast.Number(tok.value, tok.pos))
            elif tok.kind == "string":
                self._take()
                args.append(ast.Strings((str(tok.value),), False, tok.pos))
            elif tok.kind == "[":
                args.append(self._string_list())
            else:
                return args

    def _string_list(self) -> ast.Strings:
        start = self._take()
        values: list[str] = []
        while True:
            tok = self._take()
            if tok.kind != "string":
                raise self._error(tok, f"expected a string in the string list, found "
                                       f"{tok.describe()}")
            values.append(str(tok.value))
            sep = self._take()
            if sep.kind == "]":
                return ast.Strings(tuple(values), True, start.pos)
            if sep.kind != ",":
                raise self._error(sep, f"expected ',' or ']' in the string list (opened at "
                                       f"line {start.line}), found {sep.describe()}")

    def _maybe_tests(self, depth: int) -> tuple[list[ast.Test], bool]:
        tok = self._peek()
        if tok.kind == "(":
            return self._test_list(depth), True
        if tok.kind == "identifier":
            return [self._test(depth + 1)], False
        return [], False

    def _test_list(self, depth: int) -> list[ast.Test]:
        start = self._take()
        tests = [self._test(depth + 1)]
        while True:
            tok = self._take()
            if tok.kind == ")":
                return tests
            if tok.kind != ",":
                raise self._error(tok, f"expected ',' or ')' in the test list (opened at line "
                                       f"{start.line}), found {tok.describe()}")
            tests.append(self._test(depth + 1))

    def _test(self, depth: int) -> ast.Test:
        head = self._take()
        if head.kind != "identifier":
            raise self._error(head, f"expected a test, found {head.describe()}")
        if depth > self.limits.max_nesting:
            raise self._error(head, f"tests nested deeper than {self.limits.max_nesting}")
        args = self._arguments()
        tests, as_list = self._maybe_tests(depth)
        return ast.Test(str(head.value), args, tests, head.pos, as_list)


def parse(source: str | bytes, limits: Limits) -> ast.Script:
    """Parse a script. ``bytes`` must be UTF-8 (RFC 5228 §8.1; RFC 5804 §1.5). Raises
    SieveSyntaxError, and nothing else, for any input."""
    if isinstance(source, bytes):
        size = len(source)
        if size > limits.max_script_size:
            raise SieveSyntaxError(f"script larger than {limits.max_script_size} octets", 1, 1)
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = source[:exc.start]
            line = before.count(b"\n") + 1
            column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
            raise SieveSyntaxError("script is not valid UTF-8", line, column) from None
    else:
        text = source
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limits.max_script_size:
            raise SieveSyntaxError(f"script larger than {limits.max_script_size} octets", 1, 1)
        bad = _SURROGATE.search(text)
        if bad is not None:
            line, column = _Lexer(text).where(bad.start())
            raise SieveSyntaxError("script is not valid UTF-8", line, column)
    if text.startswith("\ufeff"):
        text = text[1:]
    tokens = _Lexer(text).tokens()
    return ast.Script(_Parser(tokens, limits).script(), size)
