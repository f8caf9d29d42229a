"""TaskRouter expressions (e.g. the Workers list's TargetWorkersExpression): parse once, evaluate per worker.

`compile_expression(text)` returns a predicate over one worker's mapping (its attributes merged with
sid, friendly_name, activity_sid and activity_name). The text is parsed by recursive descent into
nested closures, so evaluating 15,000 workers never re-reads the string.

Semantics, from Twilio's "Using TaskRouter Expressions" page unless marked otherwise:
- `== != < <= > >=` and CONTAINS are scalar operators: on an array operand they are false. Numbers
  compare numerically (1 == 1.0), strings by code point; operands of different types (including
  true vs 1) are false, for `!=` too. Booleans support only == and !=.
- CONTAINS: the string on the left contains the string on the right (case-sensitive substring).
- HAS: the array on the left has an element equal to the scalar on the right.
- IN / NOT IN: the scalar on the left is / is not an element of the array on the right. With an
  array on the left (undocumented; chosen here) IN means "any element in common", NOT IN "none".
  Array operators with no array where one is required are false.
- AND binds tighter than OR; parentheses group. Keywords are case-insensitive. `=`, `&&`, `||` and
  prefix NOT are not in Twilio's grammar and are rejected with a hint.
- A missing key "resolves to NULL" (and a JSON null is the same NULL). The docs do not say how NULL
  compares, so NULL fails every comparison, `!=` and NOT IN included: `missing != 'x'` is false.
- Extension (not in the docs, but common in real workflow configurations): the literal `null`, which
  only tests presence: `key == null` is true when the key is missing or null, `key != null` when it
  holds a value. With any other operator a null operand is simply false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .expression_lexer import ExpressionError, Kind, Token, tokenize

__all__ = ["ExpressionError", "Predicate", "compile_expression"]

Predicate = Callable[[Mapping[str, Any]], bool]
_Getter = Callable[[Mapping[str, Any]], Any]

MAX_NESTING = 100  # parentheses deeper than this are refused rather than overflowing the stack

# The value kinds that scalar comparisons accept; two operands compare only when their kinds match.
# bool has its own kind: it subclasses int in Python, but `true == 1` is a type mismatch here.
_KIND: dict[type, str] = {str: "string", int: "number", float: "number", bool: "boolean"}
_ARRAYS = (list, tuple)
_ORDERED_KINDS = frozenset({"string", "number"})


def compile_expression(text: str) -> Predicate:
    """Parse `text` once; raises ExpressionError (with its position) when it is not a valid expression."""
    tokens = tokenize(text)
    if tokens[0].kind is Kind.END:
        raise ExpressionError("empty expression at position 0", 0)
    return _Parser(tokens).parse()


# ---- evaluation: value-level operators --------------------------------------------------------------


def _eq(a: Any, b: Any) -> bool:
    kind = _KIND.get(type(a))
    return kind is not None and kind == _KIND.get(type(b)) and a == b


def _ne(a: Any, b: Any) -> bool:
    kind = _KIND.get(type(a))
    return kind is not None and kind == _KIND.get(type(b)) and a != b


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def op(a: Any, b: Any) -> bool:
        kind = _KIND.get(type(a))
        return kind in _ORDERED_KINDS and kind == _KIND.get(type(b)) and compare(a, b)

    return op


def _contains(a: Any, b: Any) -> bool:
    return type(a) is str and type(b) is str and b in a


def _has(a: Any, b: Any) -> bool:
    return type(a) in _ARRAYS and any(_eq(item, b) for item in a)


def _in(a: Any, b: Any) -> bool:
    if type(b) not in _ARRAYS:
        return False
    if type(a) in _ARRAYS:
        return any(_eq(x, y) for x in a for y in b)
    return any(_eq(a, item) for item in b)


def _not_in(a: Any, b: Any) -> bool:
    if type(b) not in _ARRAYS:
        return False
    if type(a) in _ARRAYS:
        return not any(_eq(x, y) for x in a for y in b)
    return type(a) in _KIND and not any(_eq(a, item) for item in b)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _eq,
    "!=": _ne,
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "CONTAINS": _contains,
    "HAS": _has,
    "IN": _in,
    "NOT IN": _not_in,
}


def _constant(result: bool) -> Predicate:
    return (lambda _m: True) if result else (lambda _m: False)


def _getter(path: tuple[str | int, ...]) -> _Getter:
    """Reads a dotted/indexed key; anything absent or of the wrong shape along the way is None (NULL)."""
    first, rest = str(path[0]), path[1:]  # the lexer starts every path with a name, never an index
    if not rest:
        return lambda m: m.get(first)

    def get(m: Mapping[str, Any]) -> Any:
        value: Any = m.get(first)
        for segment in rest:
            if type(segment) is int:
                if type(value) not in _ARRAYS or segment >= len(value):
                    return None
                value = value[segment]
            elif isinstance(value, Mapping):
                value = value.get(segment)
            else:
                return None
        return value

    return get


def _membership(values: Sequence[Any]) -> Callable[[Any], bool]:
    """`x in values` with this language's typed equality, as hash lookups (one set per kind)."""
    by_kind: dict[str, set[Any]] = {"string": set(), "number": set(), "boolean": set()}
    for value in values:
        by_kind[_KIND[type(value)]].add(value)

    def member(x: Any) -> bool:
        kind = _KIND.get(type(x))
        return kind is not None and x in by_kind[kind]

    return member


# ---- parsing ----------------------------------------------------------------------------------------


class _Operand:
    """One side of a comparison: a constant (value known now), a key (read per worker), or `null`."""

    __slots__ = ("getter", "is_null", "token", "value")

    def __init__(self, token: Token, value: Any = None, getter: _Getter | None = None, is_null: bool = False):
        self.token = token
        self.value = value
        self.getter = getter
        self.is_null = is_null


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0

    def parse(self) -> Predicate:
        predicate = self._parse_or()
        token = self._peek()
        if token.kind is Kind.RPAREN:
            raise ExpressionError(f"unbalanced ')' at position {token.position}", token.position)
        if token.kind is not Kind.END:
            raise ExpressionError(
                f"expected AND, OR or end of expression, found {token.describe()} at position {token.position}",
                token.position,
            )
        return predicate

    # -- token helpers

    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _next(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not Kind.END:
            self._index += 1
        return token

    def _at_keyword(self, word: str) -> bool:
        token = self._peek()
        return token.kind is Kind.KEYWORD and token.value == word

    # -- grammar: or := and (OR and)* ; and := primary (AND primary)* ; primary := '(' or ')' | comparison

    def _parse_or(self) -> Predicate:
        terms = [self._parse_and()]
        while self._at_keyword("OR"):
            self._next()
            terms.append(self._parse_and())
        return _any_of(terms)

    def _parse_and(self) -> Predicate:
        terms = [self._parse_primary()]
        while self._at_keyword("AND"):
            self._next()
            terms.append(self._parse_primary())
        return _all_of(terms)

    def _parse_primary(self) -> Predicate:
        if self._peek().kind is not Kind.LPAREN:
            return self._parse_comparison()
        opening = self._next()
        if self._depth >= MAX_NESTING:
            raise ExpressionError(
                f"parentheses nested deeper than {MAX_NESTING} levels at position {opening.position}", opening.position
            )
        self._depth += 1
        inner = self._parse_or()
        self._depth -= 1
        closing = self._next()
        if closing.kind is Kind.END:
            raise ExpressionError(f"unclosed '(' at position {opening.position}", opening.position)
        if closing.kind is not Kind.RPAREN:
            raise ExpressionError(
                f"expected AND, OR or ')', found {closing.describe()} at position {closing.position}",
                closing.position,
            )
        return inner

    def _parse_comparison(self) -> Predicate:
        left = self._parse_operand(after=None)
        operator_token, operator = self._parse_operator(left.token)
        right = self._parse_operand(after=operator_token)
        return _build_comparison(operator, left, right)

    def _parse_operator(self, left: Token) -> tuple[Token, str]:
        token = self._next()
        if token.kind is Kind.OPERATOR:
            return token, str(token.value)
        if token.kind is Kind.KEYWORD and token.value in ("IN", "HAS", "CONTAINS"):
            return token, str(token.value)
        if token.kind is Kind.KEYWORD and token.value == "NOT":
            following = self._next()
            if following.kind is Kind.KEYWORD and following.value == "IN":
                return token, "NOT IN"
            raise ExpressionError(
                f"expected IN after NOT, found {following.describe()} at position {following.position}",
                following.position,
            )
        if token.kind is Kind.KEY:  # a bare word where an operator belongs, e.g. LIKE or BETWEEN
            raise ExpressionError(f"unknown operator '{token.text}' at position {token.position}", token.position)
        raise ExpressionError(
            f"expected a comparison operator after '{left.text}', found {token.describe()} "
            f"at position {token.position}",
            token.position,
        )

    def _parse_operand(self, after: Token | None) -> _Operand:
        token = self._next()
        if token.kind in (Kind.STRING, Kind.NUMBER):
            return _Operand(token, value=token.value)
        if token.kind is Kind.KEY:
            return _Operand(token, getter=_getter(token.value))  # type: ignore[arg-type]
        if token.kind is Kind.LBRACKET:
            return _Operand(token, value=self._parse_array_rest(token))
        if token.kind is Kind.KEYWORD and token.value in ("TRUE", "FALSE"):
            return _Operand(token, value=token.value == "TRUE")
        if token.kind is Kind.KEYWORD and token.value == "NULL":
            return _Operand(token, is_null=True)
        if after is not None:
            where = "end of expression" if token.kind is Kind.END else token.describe()
            raise ExpressionError(
                f"missing operand after '{after.text}', found {where} at position {token.position}", token.position
            )
        raise ExpressionError(
            f"expected a key or constant, found {token.describe()} at position {token.position}", token.position
        )

    def _parse_array_rest(self, opening: Token) -> list[Any]:
        """After '[': constants separated by commas, then ']'. Elements are strings, numbers, booleans."""
        values: list[Any] = []
        if self._peek().kind is Kind.RBRACKET:
            self._next()
            return values
        while True:
            element = self._next()
            if element.kind in (Kind.STRING, Kind.NUMBER):
                values.append(element.value)
            elif element.kind is Kind.KEYWORD and element.value in ("TRUE", "FALSE"):
                values.append(element.value == "TRUE")
            elif element.kind is Kind.END:
                raise ExpressionError(f"unclosed '[' at position {opening.position}", opening.position)
            else:
                raise ExpressionError(
                    f"expected a string, number or boolean in array, found {element.describe()} "
                    f"at position {element.position}",
                    element.position,
                )
            separator = self._next()
            if separator.kind is Kind.RBRACKET:
                return values
            if separator.kind is Kind.END:
                raise ExpressionError(f"unclosed '[' at position {opening.position}", opening.position)
            if separator.kind is not Kind.COMMA:
                raise ExpressionError(
                    f"expected ',' or ']' in array, found {separator.describe()} at position {separator.position}",
                    separator.position,
                )


# ---- building closures ------------------------------------------------------------------------------


def _all_of(terms: list[Predicate]) -> Predicate:
    if len(terms) == 1:
        return terms[0]
    if len(terms) == 2:
        first, second = terms
        return lambda m: first(m) and second(m)
    frozen = tuple(terms)

    def every(m: Mapping[str, Any]) -> bool:
        for term in frozen:
            if not term(m):
                return False
        return True

    return every


def _any_of(terms: list[Predicate]) -> Predicate:
    if len(terms) == 1:
        return terms[0]
    if len(terms) == 2:
        first, second = terms
        return lambda m: first(m) or second(m)
    frozen = tuple(terms)

    def some(m: Mapping[str, Any]) -> bool:
        for term in frozen:
            if term(m):
                return True
        return False

    return some


def _build_comparison(operator: str, left: _Operand, right: _Operand) -> Predicate:
    if left.is_null or right.is_null:
        return _build_null_comparison(operator, left, right)
    lget, rget = left.getter, right.getter
    if lget is None and rget is None:
        return _constant(_OPERATORS[operator](left.value, right.value))
    if rget is None:
        return _build_key_vs_constant(operator, lget, right.value)  # type: ignore[arg-type]
    op = _OPERATORS[operator]
    if lget is None:
        lvalue = left.value
        return lambda m: op(lvalue, rget(m))
    return lambda m: op(lget(m), rget(m))


def _build_null_comparison(operator: str, left: _Operand, right: _Operand) -> Predicate:
    other = right if left.is_null else left
    if operator not in ("==", "!="):
        return _constant(False)
    wants_null = operator == "=="
    if other.is_null:
        return _constant(wants_null)
    if other.getter is None:  # a constant is never null
        return _constant(not wants_null)
    get = other.getter
    if wants_null:
        return lambda m: get(m) is None
    return lambda m: get(m) is not None


def _build_key_vs_constant(operator: str, get: _Getter, constant: Any) -> Predicate:
    """The common shape (`skills HAS 'x'`, `name IN [...]`), specialised so a worker costs a few lookups."""
    constant_kind = _KIND.get(type(constant))
    if operator == "==" and constant_kind is not None:
        same_kind = frozenset(t for t, k in _KIND.items() if k == constant_kind)
        return lambda m: type(value := get(m)) in same_kind and value == constant
    if operator == "HAS" and constant_kind == "string":  # only a str equals a str, so list.__contains__ is exact
        return lambda m: type(items := get(m)) in _ARRAYS and constant in items
    if operator == "HAS" and constant_kind is not None:
        same_kind = frozenset(t for t, k in _KIND.items() if k == constant_kind)
        return lambda m: type(items := get(m)) in _ARRAYS and any(
            type(item) in same_kind and item == constant for item in items
        )
    if operator in ("IN", "NOT IN") and type(constant) in _ARRAYS:
        member = _membership(constant)
        if operator == "IN":

            def is_in(m: Mapping[str, Any]) -> bool:
                value = get(m)
                if type(value) in _ARRAYS:
                    return any(member(item) for item in value)
                return member(value)

            return is_in

        def is_not_in(m: Mapping[str, Any]) -> bool:
            value = get(m)
            if type(value) in _ARRAYS:
                return not any(member(item) for item in value)
            return type(value) in _KIND and not member(value)

        return is_not_in
    op = _OPERATORS[operator]
    return lambda m: op(get(m), constant)
