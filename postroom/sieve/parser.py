"""Sieve's lexical structure and grammar (RFC 5228 §2 and §8), with line and column on
every error.

Hand-written: the grammar is small, and a hand-written scanner gives better messages ("line
4, column 12: expected ';' after the arguments of fileinto") than a generated one. Accepts
CRLF or LF line ends (scripts uploaded from Unix tools have LF). Bounded: the script size is
checked before scanning, nesting while parsing, numbers against 2^63.
"""

from __future__ import annotations

from postroom.sieve import ast
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.limits import Limits

MAX_NUMBER = 2**63 - 1
QUANTIFIERS = {"k": 1024, "m": 1024**2, "g": 1024**3}  # RFC 5228 §2.4.1


class _Token:
    __slots__ = ("column", "kind", "line", "value")

    def __init__(self, kind: str, value: object, line: int, column: int) -> None:
        self.kind = kind  # identifier, tag, number, string, multiline, or the punctuation
        self.value = value
        self.line = line
        self.column = column

    @property
    def pos(self) -> ast.Pos:
        return ast.Pos(self.line, self.column)

    def describe(self) -> str:
        if self.kind in ("identifier", "number"):
            return f"{self.kind} {self.value!s}"
        if self.kind == "tag":
            return f"tag :{self.value!s}"
        if self.kind in ("string", "multiline"):
            return "a string"
        if self.kind == "eof":
            return "the end of the script"
        return repr(self.kind)


def _is_ident_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_")


def _is_ident(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.col = 1

    def _error(self, message: str, line: int | None = None,
               column: int | None = None) -> SieveSyntaxError:
        return SieveSyntaxError(message, line or self.line, column or self.col)

    def _advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.text[self.i] == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
            self.i += 1

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        text = self.text
        n = len(text)
        while True:
            self._skip()
            if self.i >= n:
                out.append(_Token("eof", None, self.line, self.col))
                return out
            c = text[self.i]
            line, col = self.line, self.col
            if c in ";,()[]{}":
                self._advance()
                out.append(_Token(c, c, line, col))
            elif c == ":":
                self._advance()
                if self.i >= n or not _is_ident_start(text[self.i]):
                    raise self._error("':' must be followed by a tag name", line, col)
                out.append(_Token("tag", self._ident().lower(), line, col))
            elif c.isdigit() and c.isascii():
                out.append(_Token("number", self._number(line, col), line, col))
            elif c == '"':
                out.append(_Token("string", self._quoted(line, col), line, col))
            elif _is_ident_start(c):
                word = self._ident()
                if word.lower() == "text" and self.i < n and text[self.i] == ":":
                    self._advance()
                    out.append(_Token("multiline", self._multiline(line, col), line, col))
                else:
                    out.append(_Token("identifier", word.lower(), line, col))
            else:
                raise self._error(f"unexpected character {c!r}", line, col)

    def _skip(self) -> None:
        text = self.text
        n = len(text)
        while self.i < n:
            c = text[self.i]
            if c in " \t\r\n":
                self._advance()
            elif c == "#":
                while self.i < n and text[self.i] != "\n":
                    self._advance()
            elif text.startswith("/*", self.i):
                line, col = self.line, self.col
                end = text.find("*/", self.i + 2)
                if end < 0:
                    raise self._error("comment /* is never closed", line, col)
                self._advance(end + 2 - self.i)
            else:
                return

    def _ident(self) -> str:
        start = self.i
        while self.i < len(self.text) and _is_ident(self.text[self.i]):
            self._advance()
        return self.text[start:self.i]

    def _number(self, line: int, col: int) -> int:
        start = self.i
        while self.i < len(self.text) and self.text[self.i].isascii() \
                and self.text[self.i].isdigit():
            self._advance()
        value = int(self.text[start:self.i])
        if self.i < len(self.text) and self.text[self.i].lower() in QUANTIFIERS:
            value *= QUANTIFIERS[self.text[self.i].lower()]
            self._advance()
        if value > MAX_NUMBER:
            raise self._error("number too large", line, col)
        if self.i < len(self.text) and _is_ident(self.text[self.i]):
            raise self._error("a number must not run into letters", line, col)
        return value

    def _quoted(self, line: int, col: int) -> str:
        # RFC 5228 §2.4.2: \" and \\ are escapes; any other backslash is dropped and the
        # character that follows it kept
        self._advance()
        out: list[str] = []
        text = self.text
        while True:
            if self.i >= len(text):
                raise self._error("string is never closed", line, col)
            c = text[self.i]
            if c == '"':
                self._advance()
                return "".join(out)
            if c == "\\":
                if self.i + 1 >= len(text):
                    raise self._error("string is never closed", line, col)
                self._advance()
                c = text[self.i]
            out.append(c)
            self._advance()

    def _multiline(self, line: int, col: int) -> str:
        # RFC 5228 §2.4.2: text: [blanks] (hash-comment / CRLF) lines "." CRLF;
        # a line starting with "." has that dot doubled (dot-stuffing)
        text = self.text
        while self.i < len(text) and text[self.i] in " \t":
            self._advance()
        if self.i < len(text) and text[self.i] == "#":
            while self.i < len(text) and text[self.i] != "\n":
                self._advance()
        if self.i < len(text) and text[self.i] == "\r":
            self._advance()
        if self.i >= len(text) or text[self.i] != "\n":
            raise self._error("text: must be followed by the end of the line")
        self._advance()
        lines: list[str] = []
        while True:
            if self.i >= len(text):
                raise self._error("multi-line string is never ended by a line with '.'",
                                  line, col)
            end = text.find("\n", self.i)
            if end < 0:
                raise self._error("multi-line string is never ended by a line with '.'",
                                  line, col)
            raw = text[self.i:end]
            self._advance(end + 1 - self.i)
            content = raw[:-1] if raw.endswith("\r") else raw
            if content == ".":
                return "".join(lines)
            if content.startswith("."):
                content = content[1:]
            lines.append(content + "\r\n")


class _Parser:
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
            raise self._error(tok, f"unexpected {tok.describe()}")
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
                raise self._error(end, f"expected '}}' to close the block of {name}, "
                                       f"found {end.describe()}")
            return ast.Command(name, args, tests, body, head.pos, as_list)
        raise self._error(tok, f"expected ';' after the arguments of {name}, "
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
            elif tok.kind in ("string", "multiline"):
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
            if tok.kind not in ("string", "multiline"):
                raise self._error(tok, f"expected a string in the list, found "
                                       f"{tok.describe()}")
            values.append(str(tok.value))
            sep = self._take()
            if sep.kind == "]":
                return ast.Strings(tuple(values), True, start.pos)
            if sep.kind != ",":
                raise self._error(sep, f"expected ',' or ']' in the string list, found "
                                       f"{sep.describe()}")

    def _maybe_tests(self, depth: int) -> tuple[list[ast.Test], bool]:
        tok = self._peek()
        if tok.kind == "(":
            return self._test_list(depth), True
        if tok.kind == "identifier":
            return [self._test(depth + 1)], False
        return [], False

    def _test_list(self, depth: int) -> list[ast.Test]:
        self._take()
        tests = [self._test(depth + 1)]
        while True:
            tok = self._take()
            if tok.kind == ")":
                return tests
            if tok.kind != ",":
                raise self._error(tok, f"expected ',' or ')' in the test list, found "
                                       f"{tok.describe()}")
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
    """Parse a script. ``bytes`` must be UTF-8 (RFC 5228 §2.4.2.4; RFC 5804 §1.5)."""
    if isinstance(source, bytes):
        size = len(source)
        if size > limits.max_script_size:
            raise SieveSyntaxError(f"script larger than {limits.max_script_size} octets", 1, 1)
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = source[:exc.start].count(b"\n") + 1
            raise SieveSyntaxError("script is not valid UTF-8", line, 1) from None
    else:
        text = source
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limits.max_script_size:
            raise SieveSyntaxError(f"script larger than {limits.max_script_size} octets", 1, 1)
    if text.startswith("\ufeff"):
        text = text[1:]
    tokens = _Lexer(text).tokens()
    return ast.Script(_Parser(tokens, limits).script(), size)
