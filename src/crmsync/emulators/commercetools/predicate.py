"""Query predicate language: tokenizer and recursive-descent parser producing a small AST.

Grammar (the subset of the platform's ``where`` language the emulator supports)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" "(" expr ")" | "(" expr ")" | predicate
    predicate  := IDENT "(" expr ")"                         -- nested object / any element of an array
                | IDENT cmp_op value                         -- = != <> > >= < <=
                | IDENT ["not"] "in" ( "(" value ("," value)* ")" | ":" IDENT )
                | IDENT "is" ["not"] ("defined" | "empty")
                | IDENT "contains" ["any" | "all"] ( value | "(" value ("," value)* ")" )
    value      := STRING | NUMBER | "true" | "false" | ":" IDENT    -- ``:name`` = input variable

Syntax errors are reported like the platform does (``Syntax error while parsing 'where'. Invalid input
'x', expected ... (line 1, column 7):`` followed by the input and a caret).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32
MAX_LENGTH = 10_000

# ASCII only: ``str.isdigit`` accepts "²" and ``int()`` would then fail on it.
_DIGITS = frozenset("0123456789")
_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD = _WORD_START | _DIGITS
COMPARISON_OPS = ("=", "!=", "<>", ">", ">=", "<", "<=")
_KEYWORDS = {"and", "or", "not", "in", "is", "defined", "empty", "contains", "any", "all", "true", "false"}


class PredicateError(Exception):
    """A predicate that cannot be parsed; ``message`` is the platform-style detail."""

    def __init__(self, message: str, *, complexity: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.complexity = complexity


# -- AST ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    """An input variable reference (``:name``), resolved from ``var.name`` query parameters."""

    name: str


Literal = str | int | float | bool | Var


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Nested:
    field: str
    item: Node


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class IsDefined:
    field: str
    negated: bool


@dataclass(frozen=True)
class IsEmpty:
    field: str
    negated: bool


@dataclass(frozen=True)
class Contains:
    field: str
    mode: str  # "one" | "any" | "all"
    values: tuple[Literal, ...]


Node = And | Or | Not | Nested | Compare | InList | IsDefined | IsEmpty | Contains


# -- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT STRING NUMBER OP LPAREN RPAREN COMMA VAR EOF
    text: str
    pos: int
    value: Any = None


def _position(source: str, pos: int) -> tuple[int, int]:
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _syntax_error(source: str, pos: int, expected: str) -> PredicateError:
    line, column = _position(source, pos)
    found = "Unexpected end of input" if pos >= len(source) else f"Invalid input '{source[pos]}'"
    line_text = source.split("\n")[line - 1] if source else ""
    caret = " " * (column - 1) + "^"
    return PredicateError(
        f"Syntax error while parsing 'where'. {found}, expected {expected} (line {line}, column {column}):"
        f"\n{line_text}\n{caret}"
    )


def tokenize(source: str) -> list[Token]:
    """Split a predicate into tokens; strings support ``\\"``, ``\\\\`` and ``\\uXXXX`` escapes."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(Token("LPAREN", ch, i))
            i += 1
        elif ch == ")":
            tokens.append(Token("RPAREN", ch, i))
            i += 1
        elif ch == ",":
            tokens.append(Token("COMMA", ch, i))
            i += 1
        elif ch in "=<>!":
            two = source[i : i + 2]
            if two in ("!=", "<>", ">=", "<="):
                tokens.append(Token("OP", two, i))
                i += 2
            elif ch == "!":
                raise _syntax_error(source, i + 1, "'='")
            else:
                tokens.append(Token("OP", ch, i))
                i += 1
        elif ch == '"':
            i = _read_string(source, i, tokens)
        elif ch == ":":
            j = i + 1
            while j < n and source[j] in _WORD:
                j += 1
            if j == i + 1:
                raise _syntax_error(source, j, "input variable name")
            tokens.append(Token("VAR", source[i:j], i, source[i + 1 : j]))
            i = j
        elif ch in _DIGITS or (ch == "-" and i + 1 < n and source[i + 1] in _DIGITS):
            i = _read_number(source, i, tokens)
        elif ch in _WORD_START:
            j = i + 1
            while j < n and source[j] in _WORD:
                j += 1
            tokens.append(Token("IDENT", source[i:j], i))
            i = j
        else:
            raise _syntax_error(source, i, "identifier, value, comparison operator or '('")
    tokens.append(Token("EOF", "", n))
    return tokens


def _read_string(source: str, start: int, tokens: list[Token]) -> int:
    chars: list[str] = []
    i, n = start + 1, len(source)
    escapes = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    while i < n:
        ch = source[i]
        if ch == '"':
            tokens.append(Token("STRING", source[start : i + 1], start, "".join(chars)))
            return i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = source[i + 1]
            if nxt in escapes:
                chars.append(escapes[nxt])
                i += 2
                continue
            if nxt == "u" and i + 6 <= n:
                digits = source[i + 2 : i + 6]
                if all(c in "0123456789abcdefABCDEF" for c in digits):
                    chars.append(chr(int(digits, 16)))
                    i += 6
                    continue
            raise _syntax_error(source, i + 1, "escape sequence")
        chars.append(ch)
        i += 1
    raise _syntax_error(source, n, "'\"'")


def _read_number(source: str, start: int, tokens: list[Token]) -> int:
    i, n = start + 1, len(source)
    while i < n and source[i] in _DIGITS:
        i += 1
    is_float = False
    if i < n and source[i] == "." and i + 1 < n and source[i + 1] in _DIGITS:
        is_float = True
        i += 1
        while i < n and source[i] in _DIGITS:
            i += 1
    if i < n and source[i] in _WORD_START:
        raise _syntax_error(source, i, "digit, whitespace or operator")
    text = source[start:i]
    tokens.append(Token("NUMBER", text, start, float(text) if is_float else int(text)))
    return i


# -- parser ---------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0

    # token helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def is_keyword(self, token: Token, word: str) -> bool:
        return token.kind == "IDENT" and token.text.lower() == word

    def expect(self, kind: str, expected: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise _syntax_error(self.source, token.pos, expected)
        return self.advance()

    def expect_keyword(self, word: str) -> None:
        token = self.peek()
        if not self.is_keyword(token, word):
            raise _syntax_error(self.source, token.pos, f"'{word}'")
        self.advance()

    # grammar
    def parse(self) -> Node:
        if not self.source.strip():
            raise _syntax_error(self.source, 0, "identifier, not or '('")
        node = self.parse_or()
        token = self.peek()
        if token.kind != "EOF":
            raise _syntax_error(self.source, token.pos, "and, or or end of input")
        return node

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise PredicateError(
                f"The query predicate nests deeper than {MAX_DEPTH} levels.", complexity=True
            )

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.is_keyword(self.peek(), "or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while self.is_keyword(self.peek(), "and"):
            self.advance()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_group(self) -> Node:
        self.expect("LPAREN", "'('")
        self.enter()
        node = self.parse_or()
        self.depth -= 1
        self.expect("RPAREN", "')', and or or")
        return node

    def parse_unary(self) -> Node:
        token = self.peek()
        if self.is_keyword(token, "not") and self.peek(1).kind == "LPAREN":
            self.advance()
            return Not(self.parse_group())
        if token.kind == "LPAREN":
            return self.parse_group()
        if token.kind != "IDENT":
            raise _syntax_error(self.source, token.pos, "identifier, not or '('")
        return self.parse_predicate()

    def parse_predicate(self) -> Node:
        field = self.advance().text
        token = self.peek()
        if token.kind == "LPAREN":
            return Nested(field, self.parse_group())
        if token.kind == "OP":
            self.advance()
            return Compare(field, token.text, self.parse_value())
        if self.is_keyword(token, "in"):
            self.advance()
            return InList(field, self.parse_value_list(), negated=False)
        if self.is_keyword(token, "not"):
            self.advance()
            self.expect_keyword("in")
            return InList(field, self.parse_value_list(), negated=True)
        if self.is_keyword(token, "is"):
            self.advance()
            negated = False
            if self.is_keyword(self.peek(), "not"):
                self.advance()
                negated = True
            word = self.peek()
            if self.is_keyword(word, "defined"):
                self.advance()
                return IsDefined(field, negated)
            if self.is_keyword(word, "empty"):
                self.advance()
                return IsEmpty(field, negated)
            raise _syntax_error(self.source, word.pos, "not, defined or empty")
        if self.is_keyword(token, "contains"):
            self.advance()
            nxt = self.peek()
            for mode in ("any", "all"):
                if self.is_keyword(nxt, mode):
                    self.advance()
                    return Contains(field, mode, self.parse_value_list())
            return Contains(field, "one", (self.parse_value(),))
        raise _syntax_error(self.source, token.pos, "'(', comparison operator, not, in, contains or is")

    def parse_value(self) -> Literal:
        token = self.peek()
        if token.kind in ("STRING", "NUMBER"):
            self.advance()
            value: Literal = token.value
            return value
        if token.kind == "VAR":
            self.advance()
            return Var(str(token.value))
        if self.is_keyword(token, "true") or self.is_keyword(token, "false"):
            self.advance()
            return token.text.lower() == "true"
        raise _syntax_error(self.source, token.pos, "string, number, boolean or input variable")

    def parse_value_list(self) -> tuple[Literal, ...]:
        if self.peek().kind == "VAR":  # ``key in :keys`` with ``var.keys=a&var.keys=b``
            return (self.parse_value(),)
        self.expect("LPAREN", "'('")
        values = [self.parse_value()]
        while self.peek().kind == "COMMA":
            self.advance()
            values.append(self.parse_value())
        self.expect("RPAREN", "',' or ')'")
        return tuple(values)


def parse(source: str) -> Node:
    """Parse one ``where`` predicate into an AST, raising :class:`PredicateError` when malformed."""
    if len(source) > MAX_LENGTH:
        raise PredicateError(f"The query predicate is longer than {MAX_LENGTH} characters.", complexity=True)
    return _Parser(source).parse()


def is_keyword(word: str) -> bool:
    return word.lower() in _KEYWORDS
