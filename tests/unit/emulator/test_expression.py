"""TaskRouter expression language: parsing, evaluation and syntax errors (taskrouter_emulator.expression)."""

from __future__ import annotations

import string
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskrouter_emulator.expression import ExpressionError, compile_expression

# One worker's attributes merged with its resource fields, as the Workers list handler passes them.
WORKER: dict[str, Any] = {
    "sid": "WK0123456789abcdef0123456789abcdef",
    "friendly_name": "Alice",
    "activity_sid": "WAabcdef0123456789abcdef0123456789",
    "activity_name": "Available",
    "name": "Alice",
    "skills": ["support", "sales"],
    "languages": {"primary": "en", "secondary": ["fr", "de"]},
    "team": {"lead": {"name": "Zed"}},
    "level": 5,
    "rating": 4.5,
    "vip": True,
    "remote": False,
    "nothing": None,
    "ids": [1, 2, 3],
    "flags": [True],
    "mixed": ["1", 2],
    "allowed": ["Alice", "Bob"],
    "empty": [],
    "quote": "say \"hi\", it's",
}


def matches(expression: str, worker: dict[str, Any] = WORKER) -> bool:
    return compile_expression(expression)(worker)


def error_of(expression: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(expression)
    return caught.value


# ---- the seed's example ----------------------------------------------------------------------------


def test_seed_example_selects_only_the_named_workers() -> None:
    workers = [{"name": name} for name in ["Alice", "Bob", "Connie", "David", "Eve", "alice"]] + [{}]
    predicate = compile_expression("name IN ['Alice','Bob','Connie','David']")
    assert [w.get("name") for w in workers if predicate(w)] == ["Alice", "Bob", "Connie", "David"]


def test_all_workers_idiom_matches_any_mapping() -> None:
    predicate = compile_expression("1==1")
    assert predicate({}) is True
    assert predicate(WORKER) is True


@pytest.mark.parametrize(
    "expression",
    [
        "activity_name IN ['Available', 'Busy']",
        "activity_name contains 'vail'",
        "sid == 'WK0123456789abcdef0123456789abcdef'",
    ],
)
def test_worker_fields_are_plain_keys(expression: str) -> None:
    assert matches(expression) is True
    assert matches(expression, {**WORKER, "activity_name": "Offline", "sid": "WKother"}) is False


# ---- each operator, true and false -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("name == 'Alice'", True),
        ("name == 'Bob'", False),
        ("name != 'Bob'", True),
        ("name != 'Alice'", False),
        ("level < 6", True),
        ("level < 5", False),
        ("level <= 5", True),
        ("level <= 4", False),
        ("level > 4", True),
        ("level > 5", False),
        ("level >= 5", True),
        ("level >= 6", False),
        ("name CONTAINS 'lic'", True),
        ("name CONTAINS 'Bob'", False),
        ("skills HAS 'support'", True),
        ("skills HAS 'billing'", False),
        ("name IN ['Bob', 'Alice']", True),
        ("name IN ['Bob', 'Carol']", False),
        ("name NOT IN ['Bob', 'Carol']", True),
        ("name NOT IN ['Bob', 'Alice']", False),
        ("vip == true", True),
        ("vip == false", False),
        ("remote != true", True),
        ("remote != false", False),
    ],
)
def test_operator(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("level == 5.0", True),
        ("rating > 4", True),
        ("rating < 4.5", False),
        ("rating == 4.50", True),
        ("level > -3", True),
        ("-1.5 < level", True),
        ("level != -5", True),
        ("0 != 1", True),
        ("3.141529 > 3", True),
        ("name < 'Bob'", True),  # strings order by code point
        ("name > 'Bob'", False),
        ("'apple' != 'orange'", True),
        ("'b' >= 'a'", True),
        ("name == 'alice'", False),  # string equality is case-sensitive
        ("name CONTAINS 'ALI'", False),
        ("name CONTAINS ''", True),
        ("name CONTAINS 'Alice'", True),
    ],
)
def test_numbers_compare_numerically_and_strings_as_strings(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "level == '5'",
        "level != '5'",  # mismatched types are false for != too
        "name > 1",
        "vip == 1",  # a boolean is not the number 1
        "level == true",
        "vip < true",  # booleans are not ordered
        "vip >= false",
        "skills == 'support'",  # scalar operators on arrays are false
        "skills != 'support'",
        "ids > 0",
        "languages == 'en'",  # and on objects
        "skills CONTAINS 'support'",
        "level CONTAINS 5",
        "name CONTAINS 5",
        "name HAS 'A'",  # array operators on two scalars are false
        "name IN 'Alice'",
        "name NOT IN 'Bob'",
        "skills HAS ['support']",
        "skills == ['support', 'sales']",
        "level IN ['5']",
        "flags HAS 1",
        "ids HAS '2'",
        "mixed HAS 1",
        "languages IN ['en']",
        "languages NOT IN ['en']",
    ],
)
def test_type_mismatches_are_false(expression: str) -> None:
    assert matches(expression) is False


# ---- keys: nesting, indices, missing values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("languages.primary == 'en'", True),
        ("languages.primary == 'fr'", False),
        ("languages.secondary HAS 'fr'", True),
        ("languages.secondary HAS 'es'", False),
        ("languages.secondary[1] == 'de'", True),
        ("languages.secondary[0] == 'de'", False),
        ("team.lead.name == 'Zed'", True),
        ("skills[0] == 'support'", True),
        ("ids[2] == 3", True),
        ("ids[2] > 3", False),
        ("NAME == 'Alice'", False),  # keys are case-sensitive, unlike keywords
    ],
)
def test_nested_keys_and_indices(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


def test_nested_keys_read_any_mapping_type() -> None:
    worker = MappingProxyType({"languages": MappingProxyType({"primary": "en"})})
    assert compile_expression("languages.primary == 'en'")(worker) is True
    assert compile_expression("languages.primary == 'fr'")(worker) is False


@pytest.mark.parametrize(
    "key",
    [
        "missing", "nothing", "languages.tertiary", "name.first",
        "skills.first", "skills[5]", "level[0]", "team.lead.name.x",
    ],
)
@pytest.mark.parametrize(
    "comparison",
    [
        "== 'x'", "!= 'x'", "< 1", "<= 1", "> 1", ">= 1", "== true", "!= false",
        "IN ['x']", "NOT IN ['x']", "HAS 'x'", "CONTAINS 'x'",
    ],
)
def test_missing_or_null_values_fail_every_comparison(key: str, comparison: str) -> None:
    assert matches(f"{key} {comparison}") is False


@pytest.mark.parametrize("key", ["missing", "nothing"])
def test_missing_values_fail_against_keys_and_on_the_right(key: str) -> None:
    assert matches(f"'x' != {key}") is False
    assert matches(f"'x' IN {key}") is False
    assert matches(f"{key} == {key}") is False
    assert matches(f"name != {key}") is False


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("missing == null", True),
        ("nothing == NULL", True),
        ("languages.tertiary == null", True),
        ("null == missing", True),
        ("name == null", False),
        ("name != null", True),
        ("skills != null", True),
        ("remote != null", True),
        ("missing != null", False),
        ("nothing != null", False),
        ("null == null", True),
        ("null != null", False),
        ("'a' != null", True),
        ("'a' == null", False),
        ("missing > null", False),
        ("missing IN null", False),
    ],
)
def test_null_literal_tests_presence(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


# ---- arrays on both sides ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("skills IN ['sales', 'billing']", True),  # array on the left: any element in common
        ("skills IN ['billing']", False),
        ("skills NOT IN ['billing', 'legal']", True),
        ("skills NOT IN ['sales']", False),
        ("empty IN ['a']", False),
        ("empty NOT IN ['a']", True),
        ("name IN []", False),
        ("name NOT IN []", True),
        ("'support' IN skills", True),
        ("'billing' IN skills", False),
        ("'billing' NOT IN skills", True),
        ("name IN allowed", True),
        ("activity_name IN allowed", False),
        ("skills IN languages.secondary", False),
        ("allowed HAS friendly_name", True),
        ("['a', \"b\", 3] HAS 3", True),
        ("['a', \"b\", 3] HAS 'c'", False),
        ("ids IN [1.0]", True),
        ("ids HAS 2", True),
        ("level IN [4, 5, 6]", True),
        ("level IN [true, '5']", False),
        ("vip IN [1, true]", True),
        ("vip IN [1]", False),
        ("remote NOT IN [0]", True),
        ("mixed HAS 2", True),
        ("mixed HAS '1'", True),
        ("flags HAS true", True),
        ("ids NOT IN [4, 5]", True),
    ],
)
def test_arrays(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


# ---- logic, precedence, case ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("name == 'Alice' AND level == 5", True),
        ("name == 'Alice' AND level == 6", False),
        ("name == 'Bob' OR level == 5", True),
        ("name == 'Bob' OR level == 6", False),
        # AND binds tighter: read left to right these would give the opposite answer.
        ("1 == 2 AND 1 == 2 OR 1 == 1", True),
        ("1 == 1 OR 1 == 2 AND 1 == 2", True),
        ("(1 == 1 OR 1 == 2) AND 1 == 2", False),
        ("1 == 2 AND (1 == 2 OR 1 == 1)", False),
        ("((name == 'Alice'))", True),
        ("(skills HAS 'support') AND (languages.secondary HAS 'fr')", True),
        ("(name == 'Bob' OR name == 'Alice') AND (level >= 5 AND rating >= 4.5)", True),
        ("name == 'Bob' OR name == 'Carol' OR name == 'Dan' OR name == 'Alice'", True),
        ("name == 'Alice' AND level == 5 AND vip == true AND remote == true", False),
        ("1==1 AND(2==2)", True),
    ],
)
def test_logic_and_precedence(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "name == 'Alice' and level == 5",
        "name == 'Alice' And level == 5",
        "name == 'Bob' or skills has 'sales'",
        "name == 'Bob' Or skills HaS 'sales'",
        "name in ['Alice']",
        "name In ['Alice']",
        "name not in ['Bob']",
        "name Not In ['Bob']",
        "name contains 'li'",
        "name Contains 'li'",
        "vip == TRUE",
        "remote == False",
        "name IN['Alice']",  # a keyword ends at the word, even against a bracket
    ],
)
def test_keywords_are_case_insensitive(expression: str) -> None:
    assert matches(expression) is True


# ---- literals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"plain"', "plain"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("\"it's\"", "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'a\\nb\\tc'", "a\nb\tc"),
        ("'caf\\u00e9'", "café"),
        ("'caf\\u00E9'", "café"),
        ("'sl\\/ash'", "sl/ash"),
        ("''", ""),
        ("'with spaces and (parens) AND or'", "with spaces and (parens) AND or"),
    ],
)
def test_string_literals_and_escapes(literal: str, value: str) -> None:
    predicate = compile_expression(f"text == {literal}")
    assert predicate({"text": value}) is True
    assert predicate({"text": value + "x"}) is False


def test_quote_characters_inside_strings() -> None:
    assert matches("quote == \"say \\\"hi\\\", it's\"") is True
    assert matches("quote == 'say \"hi\", it\\'s'") is True


@pytest.mark.parametrize(
    ("literal", "value"),
    [("0", 0), ("42", 42), ("-7", -7), ("1.0", 1), ("1.00", 1.0), ("-0.25", -0.25), ("3.141529", 3.141529)],
)
def test_number_literals(literal: str, value: float) -> None:
    predicate = compile_expression(f"n == {literal}")
    assert predicate({"n": value}) is True
    assert predicate({"n": value + 1}) is False
    assert predicate({"n": str(value)}) is False


def test_whitespace_is_free() -> None:
    assert matches("\t name\n==\r\n'Alice'   AND(level>=5)  ") is True
    assert matches("level>4") is True


# ---- syntax errors: message and exact position ------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("", "empty expression at position 0", 0),
        ("   \t", "empty expression at position 0", 0),
        ("name == 'Alice", "unterminated string starting at position 8", 8),
        ('name == "Alice', "unterminated string starting at position 8", 8),
        ("name == 'Alice\\'", "unterminated string starting at position 8", 8),
        ("name == 'Al\\", "unterminated string starting at position 8", 8),
        ("name == 'a\\qb'", "invalid escape sequence '\\q' at position 10", 10),
        ("name == 'a\\u12'", "invalid escape sequence '\\u12' at position 10", 10),
        ("name ==", "missing operand after '==', found end of expression at position 7", 7),
        ("name IN", "missing operand after 'IN', found end of expression at position 7", 7),
        ("name == AND level == 5", "missing operand after '==', found 'AND' at position 8", 8),
        ("name == )", "missing operand after '==', found ')' at position 8", 8),
        ("== 'Alice'", "expected a key or constant, found '==' at position 0", 0),
        ("name == 'Alice' AND", "expected a key or constant, found end of expression at position 19", 19),
        ("name == 'Alice' OR OR level == 5", "expected a key or constant, found 'OR' at position 19", 19),
        ("AND name == 'Alice'", "expected a key or constant, found 'AND' at position 0", 0),
        ("()", "expected a key or constant, found ')' at position 1", 1),
        ("(name == 'Alice'", "unclosed '(' at position 0", 0),
        ("((name == 'Alice') AND (level == 5)", "unclosed '(' at position 0", 0),
        ("name == 'Alice')", "unbalanced ')' at position 15", 15),
        ("(name == 'Alice'))", "unbalanced ')' at position 17", 17),
        (")", "expected a key or constant, found ')' at position 0", 0),
        ("(name == 'Alice' level == 5)", "expected AND, OR or ')', found 'level' at position 17", 17),
        ("name = 'Alice'", "unknown operator '=' at position 5 (use ==)", 5),
        ("name === 'Alice'", "unknown operator '===' at position 5 (use ==)", 5),
        ("name <> 'Alice'", "unknown operator '<>' at position 5 (use !=)", 5),
        ("name !== 'Alice'", "unknown operator '!==' at position 5 (use !=)", 5),
        ("a == 1 && b == 2", "unknown operator '&&' at position 7 (use AND)", 7),
        ("a == 1 || b == 2", "unknown operator '||' at position 7 (use OR)", 7),
        ("name =< 5", "unknown operator '=<' at position 5", 5),
        ("name LIKE 'A%'", "unknown operator 'LIKE' at position 5", 5),
        ("skills NOT HAS 'x'", "expected IN after NOT, found 'HAS' at position 11", 11),
        ("skills NOT", "expected IN after NOT, found end of expression at position 10", 10),
        ("name", "expected a comparison operator after 'name', found end of expression at position 4", 4),
        ("vip AND level == 5", "expected a comparison operator after 'vip', found 'AND' at position 4", 4),
        ("name 'Alice'", "expected a comparison operator after 'name', found ''Alice'' at position 5", 5),
        ("a == 1 == 1", "expected AND, OR or end of expression, found '==' at position 7", 7),
        ("name == 'Alice' level == 5", "expected AND, OR or end of expression, found 'level' at position 16", 16),
        ("1==1 garbage", "expected AND, OR or end of expression, found 'garbage' at position 5", 5),
        ("1==1 'x'", "expected AND, OR or end of expression, found ''x'' at position 5", 5),
        ("name == 'Alice' #", "unexpected character '#' at position 16", 16),
        ("name == 'Alice';", "unexpected character ';' at position 15", 15),
        ("first-name == 'A'", "unexpected character '-' at position 5 (hyphens are not supported in expressions)", 5),
        ("team == a - b", "unexpected character '-' at position 10 (hyphens are not supported in expressions)", 10),
        ("level-1 == 4", "unexpected character '-' at position 5 (hyphens are not supported in expressions)", 5),
        ("level == .5", "unexpected character '.' at position 9", 9),
        ("level == 5.", "malformed number '5.' at position 9", 9),
        ("level == 1.2.3", "malformed number '1.2.3' at position 9", 9),
        ("level == 12abc", "malformed number '12abc' at position 9", 9),
        ("languages. == 'en'", "expected a key name after '.' at position 10", 10),
        ("languages..primary == 'en'", "expected a key name after '.' at position 10", 10),
        ("skills[x] == 'a'", "expected an array index like [0] after key at position 6", 6),
        ("skills[-1] == 'a'", "expected an array index like [0] after key at position 6", 6),
        ("skills[0 == 'a'", "expected an array index like [0] after key at position 6", 6),
        ("name IN ['a', 'b'", "unclosed '[' at position 8", 8),
        ("name IN ['a',", "unclosed '[' at position 8", 8),
        ("name IN [", "unclosed '[' at position 8", 8),
        ("name IN ['a',]", "expected a string, number or boolean in array, found ']' at position 13", 13),
        ("name IN [,'a']", "expected a string, number or boolean in array, found ',' at position 9", 9),
        ("name IN ['a' 'b']", "expected ',' or ']' in array, found ''b'' at position 13", 13),
        ("name IN [['a']]", "expected a string, number or boolean in array, found '[' at position 9", 9),
        ("name IN [other]", "expected a string, number or boolean in array, found 'other' at position 9", 9),
        ("name IN [null]", "expected a string, number or boolean in array, found 'null' at position 9", 9),
        ("name == ]", "missing operand after '==', found ']' at position 8", 8),
        ("NOT name == 'Alice'", "expected a key or constant, found 'NOT' at position 0", 0),
    ],
)
def test_syntax_errors(expression: str, message: str, position: int) -> None:
    err = error_of(expression)
    assert err.message == message
    assert err.position == position
    assert str(err) == message


def test_expression_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"at position 5"):
        compile_expression("name = 'Alice'")


def test_overlong_integer_is_a_syntax_error_not_a_crash() -> None:
    err = error_of("level == " + "9" * 10_000)
    assert (err.message, err.position) == ("number too long at position 9", 9)


def test_nesting_limit() -> None:
    depth = 100
    assert matches("(" * depth + "name == 'Alice'" + ")" * depth) is True
    err = error_of("(" * (depth + 1) + "name == 'Alice'" + ")" * (depth + 1))
    assert (err.message, err.position) == ("parentheses nested deeper than 100 levels at position 100", 100)


def test_long_flat_chains_do_not_recurse() -> None:
    names = [f"w{i}" for i in range(5000)]
    predicate = compile_expression(" OR ".join(f"name == '{n}'" for n in names))
    assert predicate({"name": "w4999"}) is True
    assert predicate({"name": "w5000"}) is False
    conjunction = compile_expression(" AND ".join("level >= 1" for _ in range(5000)))
    assert conjunction({"level": 1}) is True
    assert conjunction({"level": 0}) is False


# ---- compiled once, evaluated per worker ------------------------------------------------------------


def test_one_predicate_evaluates_each_worker_independently() -> None:
    predicate = compile_expression("(skills HAS 'support' OR level > 7) AND languages.primary IN ['en', 'es']")
    workers = [
        {"skills": ["support"], "level": 1, "languages": {"primary": "en"}},
        {"skills": ["sales"], "level": 8, "languages": {"primary": "es"}},
        {"skills": ["sales"], "level": 3, "languages": {"primary": "en"}},
        {"skills": ["support"], "level": 9, "languages": {"primary": "fr"}},
        {"skills": ["support"], "level": 9},
        {},
    ]
    assert [predicate(w) for w in workers] == [True, True, False, False, False, False]
    # and again, in reverse: no state carried from one call to the next
    assert [predicate(w) for w in reversed(workers)] == [False, False, False, False, True, True]


def test_predicate_does_not_mutate_the_worker() -> None:
    worker = {"skills": ["b", "a"], "languages": {"primary": "en"}}
    snapshot = {"skills": ["b", "a"], "languages": {"primary": "en"}}
    compile_expression("skills HAS 'a' AND languages.secondary == 'x' OR skills IN ['z']")(worker)
    assert worker == snapshot


# ---- properties -------------------------------------------------------------------------------------

_TOKEN_ALPHABET = [
    "name", "skills", "a.b", "x[0]", "'s'", '"d"', "1", "-2", "3.5", "true", "null", "[", "]", ",", "(", ")",
    "==", "!=", "<", "<=", ">", ">=", "=", "&&", "AND", "OR", "NOT", "IN", "HAS", "CONTAINS", "-", ".", "'", "\\",
]
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "0"]), children, max_size=3),
    max_leaves=8,
)
_WORKERS = st.dictionaries(st.sampled_from(["name", "skills", "a", "x", "b"]), _VALUES, max_size=5)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=string.printable, max_size=60), _WORKERS)
def test_random_text_only_ever_raises_expression_error(text: str, worker: dict[str, Any]) -> None:
    try:
        predicate = compile_expression(text)
    except ExpressionError as err:
        assert 0 <= err.position <= len(text)
        assert f"position {err.position}" in err.message
        return
    assert predicate(worker) in (True, False)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from(_TOKEN_ALPHABET), max_size=12), _WORKERS)
def test_random_token_soup_only_ever_raises_expression_error(parts: list[str], worker: dict[str, Any]) -> None:
    text = " ".join(parts)
    try:
        predicate = compile_expression(text)
    except ExpressionError as err:
        assert 0 <= err.position <= len(text)
        return
    assert predicate(worker) in (True, False)


_SAFE_TEXT = st.text(alphabet=st.characters(blacklist_characters="'\\", blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None, database=None)
@given(_SAFE_TEXT, _SAFE_TEXT)
def test_string_comparisons_agree_with_python(value: str, literal: str) -> None:
    worker = {"s": value}
    for op, expected in [
        ("==", value == literal),
        ("!=", value != literal),
        ("<", value < literal),
        (">=", value >= literal),
        ("CONTAINS", literal in value),
    ]:
        assert compile_expression(f"s {op} '{literal}'")(worker) is expected, op


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.integers(-10**6, 10**6) | st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-10**6, 10**6),
    st.lists(st.integers(-5, 5), max_size=5),
)
def test_number_comparisons_agree_with_python(value: float, literal: int, array: list[int]) -> None:
    worker = {"n": value}
    for op, expected in [
        ("==", value == literal),
        ("!=", value != literal),
        ("<", value < literal),
        ("<=", value <= literal),
        (">", value > literal),
    ]:
        assert compile_expression(f"n {op} {literal}")(worker) is expected, op
    rendered = "[" + ", ".join(str(i) for i in array) + "]"
    assert compile_expression(f"n IN {rendered}")(worker) is (value in array)
    assert compile_expression(f"n NOT IN {rendered}")(worker) is (value not in array)
