"""Twilio form/query encoding: the value table, repeated keys, JSON, and the errors for bad values."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest

from taskrouter_gateway.upstream.forms import Json, encode_params, encode_scalar, urlencode_pairs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (42, "42"),
        (-7, "-7"),
        (1.5, "1.5"),
        ("", ""),
        ("plain text", "plain text"),
        (datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc), "2024-05-01T12:30:00Z"),
        (datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:30:00Z"),
        (date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_scalar_table(value: object, expected: str) -> None:
    assert encode_scalar("Key", value) == expected


def test_mapping_becomes_compact_json_in_insertion_order() -> None:
    pairs = encode_params({"Attributes": {"skills": ["en", "es"], "level": 3, "vip": True}})
    assert pairs == [("Attributes", '{"skills":["en","es"],"level":3,"vip":true}')]


def test_none_is_omitted_at_top_level_and_inside_lists() -> None:
    assert encode_params({"A": None, "B": "x", "C": [None, "y"]}) == [("B", "x"), ("C", "y")]


def test_list_of_scalars_becomes_repeated_keys_in_order() -> None:
    pairs = encode_params({"StatusCallbackEvent": ["initiated", "answered", True, 3]})
    assert pairs == [
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "answered"),
        ("StatusCallbackEvent", "true"),
        ("StatusCallbackEvent", "3"),
    ]


def test_list_holding_objects_is_one_json_value() -> None:
    assert encode_params({"Filters": [{"a": 1}, [2]]}) == [("Filters", '[{"a":1},[2]]')]


def test_json_wrapper_forces_json_for_a_scalar_list() -> None:
    assert encode_params({"Targets": Json(["a", "b"])}) == [("Targets", '["a","b"]')]


def test_pairs_input_keeps_order_and_duplicates() -> None:
    pairs = encode_params([("X", 1), ("X", False), ("Y", None)])
    assert pairs == [("X", "1"), ("X", "false")]


def test_empty_inputs() -> None:
    assert encode_params(None) == []
    assert encode_params({}) == []
    assert encode_params({"L": []}) == []


def test_urlencoded_text_round_trips_reserved_characters() -> None:
    pairs = encode_params({"FriendlyName": "a&b=c d+é", "Attributes": {"k": "v&w"}})
    text = urlencode_pairs(pairs)
    assert "&b=" not in text  # the ampersand inside the value is escaped
    assert parse_qsl(text, keep_blank_values=True) == pairs


@pytest.mark.parametrize(
    ("params", "error", "fragment"),
    [
        ({"When": datetime(2024, 1, 1)}, ValueError, "'When': naive datetime"),
        ({"Ratio": float("nan")}, ValueError, "'Ratio'"),
        ({"Ratio": float("inf")}, ValueError, "'Ratio'"),
        ({"Blob": b"bytes"}, TypeError, "'Blob': cannot encode bytes"),
        ({"Items": [object()]}, TypeError, "'Items': not JSON-serialisable"),
        ({"Obj": {"k": object()}}, TypeError, "'Obj': not JSON-serialisable"),
        ({"": "x"}, TypeError, "non-empty strings"),
        ([(1, "x")], TypeError, "non-empty strings"),
    ],
)
def test_bad_values_raise_naming_the_parameter(params: object, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment.replace("(", r"\(")):
        encode_params(params)  # type: ignore[arg-type]
