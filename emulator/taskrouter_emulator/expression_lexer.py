"""Tokens of TaskRouter's expression language (TargetWorkersExpression, queue and workflow expressions).

The grammar is Twilio's "Using TaskRouter Expressions" page: constants (single/double-quoted strings,
integers and decimals, `true`/`false`), JSON keys in dot notation with `[n]` array indices, comparison
operators, and AND/OR with parentheses. Keywords are case-insensitive: Twilio's own Workers-list
examples write `activity_name in [...]` and `activity_name contains 'MNO'`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto


class ExpressionError(ValueError):
    """A syntax error in an expression; `position` is the 0-based character offset it points at."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class Kind(Enum):
    STRING = auto()
    NUMBER = auto()
    KEY = auto()  # a JSON key path; value is a tuple of str (object keys) and int (array indices)
    KEYWORD = auto()  # value is the keyword in upper case: AND, OR, NOT, IN, HAS, CONTAINS, TRUE, ...
    OPERATOR = auto()  # value is one of COMPARISON_SYMBOLS
    LPAREN = auto()
    RPAREN = auto()
    LBRACKET = auto()
    RBRACKET = auto()
    COMMA = auto()
    END = auto()


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: object
    position: int
    text: str  # the source text of the token, for error messages

    def describe(self) -> str:
        return "end of expression" if self.kind is Kind.END else f"'{self.text}'"


KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "HAS", "CONTAINS", "TRUE", "FALSE", "NULL"})
COMPARISON_SYMBOLS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_SYMBOL_CHARS = frozenset("=!<>&|")
_PUNCTUATION = {"(": Kind.LPAREN, ")": Kind.RPAREN, "[": Kind.LBRACKET, "]": Kind.RBRACKET, ",": Kind.COMMA}
# Symbols people reach for from other languages; the hint names the TaskRouter spelling.
_SYMBOL_HINTS = {"=": "==", "===": "==", "<>": "!=", "!==": "!=", "&&": "AND", "||": "OR", "!": "!= or NOT IN"}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_key_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_key_char(ch: str) -> bool:
    # isdecimal, not isalnum/isdigit: int() must accept every digit run the lexer lets through.
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with one END token; raises ExpressionError on bad characters."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            tokens.append(Token(Kind.END, None, n, ""))
            return tokens
        ch = text[i]
        if ch in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[ch], ch, i, ch))
            i += 1
        elif ch in "'\"":
            i = _read_string(text, i, tokens)
        elif ch == "-" and tokens and tokens[-1].kind is Kind.KEY and tokens[-1].position + len(tokens[-1].text) == i:
            raise ExpressionError(
                f"unexpected character '-' at position {i} (hyphens are not supported in expressions)", i
            )
        elif ch.isdecimal() or (ch == "-" and i + 1 < n and text[i + 1].isdecimal()):
            i = _read_number(text, i, tokens)
        elif _is_key_start(ch):
            i = _read_word(text, i, tokens)
        elif ch in _SYMBOL_CHARS:
            i = _read_symbol(text, i, tokens)
        elif ch == "-":
            raise ExpressionError(
                f"unexpected character '-' at position {i} (hyphens are not supported in expressions)", i
            )
        else:
            raise ExpressionError(f"unexpected character {ch!r} at position {i}", i)


def _read_string(text: str, start: int, tokens: list[Token]) -> int:
    quote = text[start]
    chars: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            tokens.append(Token(Kind.STRING, "".join(chars), start, text[start : i + 1]))
            return i + 1
        if ch != "\\":
            chars.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            break  # a backslash as the last character leaves the string open
        esc = text[i + 1]
        if esc in _ESCAPES:
            chars.append(_ESCAPES[esc])
            i += 2
        elif esc == "u" and i + 6 <= n and all(c in _HEX_DIGITS for c in text[i + 2 : i + 6]):
            chars.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        else:
            shown = text[i : i + 2]
            if esc == "u":  # show the \u and however many hex digits did follow it
                end = i + 2
                while end < min(n, i + 6) and text[end] in _HEX_DIGITS:
                    end += 1
                shown = text[i:end]
            raise ExpressionError(f"invalid escape sequence '{shown}' at position {i}", i)
    raise ExpressionError(f"unterminated string starting at position {start}", start)


def _read_number(text: str, start: int, tokens: list[Token]) -> int:
    n = len(text)
    i = start + 1 if text[start] == "-" else start
    while i < n and text[i].isdecimal():
        i += 1
    is_decimal = i < n and text[i] == "."
    if is_decimal:
        i += 1
        if i >= n or not text[i].isdecimal():
            raise ExpressionError(f"malformed number {text[start:i]!r} at position {start}", start)
        while i < n and text[i].isdecimal():
            i += 1
    if i < n and (_is_key_char(text[i]) or text[i] == "."):
        end = i
        while end < n and (_is_key_char(text[end]) or text[end] == "."):
            end += 1
        raise ExpressionError(f"malformed number {text[start:end]!r} at position {start}", start)
    literal = text[start:i]
    try:
        value: int | float = float(literal) if is_decimal else int(literal)
    except ValueError:  # int() refuses more digits than sys.get_int_max_str_digits()
        raise ExpressionError(f"number too long at position {start}", start) from None
    tokens.append(Token(Kind.NUMBER, value, start, literal))
    return i


def _read_word(text: str, start: int, tokens: list[Token]) -> int:
    """A keyword, or a key path such as `languages.primary` or `object.array[2].name`."""
    n = len(text)
    i = start
    while i < n and _is_key_char(text[i]):
        i += 1
    first = text[start:i]
    if first.upper() in KEYWORDS:  # keywords end at the word: `IN['a']` is IN then an array
        tokens.append(Token(Kind.KEYWORD, first.upper(), start, first))
        return i
    segments: list[str | int] = [first]
    while i < n and text[i] in ".[":
        if text[i] == ".":
            seg_start = i + 1
            i = seg_start
            while i < n and _is_key_char(text[i]):
                i += 1
            if i == seg_start:
                raise ExpressionError(f"expected a key name after '.' at position {seg_start}", seg_start)
            segments.append(text[seg_start:i])
        else:
            digits_start = i + 1
            i = digits_start
            while i < n and text[i].isdecimal():
                i += 1
            if i == digits_start or i >= n or text[i] != "]":
                raise ExpressionError(
                    f"expected an array index like [0] after key at position {digits_start - 1}", digits_start - 1
                )
            segments.append(int(text[digits_start:i]))
            i += 1
    tokens.append(Token(Kind.KEY, tuple(segments), start, text[start:i]))
    return i


def _read_symbol(text: str, start: int, tokens: list[Token]) -> int:
    n = len(text)
    i = start
    while i < n and text[i] in _SYMBOL_CHARS:
        i += 1
    symbol = text[start:i]
    if symbol not in COMPARISON_SYMBOLS:
        hint = _SYMBOL_HINTS.get(symbol)
        suffix = f" (use {hint})" if hint else ""
        raise ExpressionError(f"unknown operator {symbol!r} at position {start}{suffix}", start)
    tokens.append(Token(Kind.OPERATOR, symbol, start, symbol))
    return i
