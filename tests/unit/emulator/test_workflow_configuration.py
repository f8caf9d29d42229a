"""The Workflow Configuration parser: valid documents parse into the typed model; anything else raises
ConfigurationError naming where (never another exception), including under hypothesis-generated input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskrouter_emulator.engine.workflow_config import ConfigurationError, TargetView, TaskView, parse, resolve_known

WQ = "WQ" + "1" * 32


def test_a_full_configuration_parses():
    parsed = parse(json.dumps({"task_routing": {
        "filters": [{"filter_friendly_name": "vip", "expression": "vip == true", "targets": [
            {"queue": WQ, "expression": "task.lang IN worker.langs", "priority": 3, "timeout": 20,
             "skip_if": "workers.available == 0", "order_by": "worker.level DESC, worker.name",
             "known_worker_sid": "task.agent"}]}],
        "default_filter": {"queue": WQ}}}))
    (flt,) = parsed.filters
    (target,) = flt.targets
    assert flt.expression(TaskView({"vip": True})) and not flt.expression(TaskView({"vip": False}))
    assert target.expression is not None
    assert target.expression(TargetView({"langs": ["en", "fr"]}, {"lang": "fr"}))
    assert not target.expression(TargetView({"langs": ["en"]}, {"lang": "fr"}))
    assert [(o.path, o.descending) for o in target.order_by] == [(("level",), True), (("name",), False)]
    assert parsed.queue_sids() == {WQ} and parsed.targets(-1)[0].queue == WQ
    assert resolve_known(target.known_worker_sid, {"agent": "WK1"}) == "WK1"
    assert resolve_known("WKliteral", {}) == "WKliteral"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{", "line 1 column 2"),
        ("[]", "Configuration must be a JSON object"),
        ('{"task_routing": {}}', "at least one filter"),
        ('{"task_routing": {"filters": [{"targets": [{"queue": "q"}]}]}}', "filters[0].expression is required"),
        ('{"task_routing": {"filters": [{"expression": "1==1", "targets": []}]}}', "filters[0].targets"),
        ('{"task_routing": {"filters": [{"expression": "a = 1", "targets": [{"queue": "q"}]}]}}',
         "filters[0].expression is not a valid expression"),
        ('{"task_routing": {"default_filter": {"queue": "q", "timeout": -1}}}', "default_filter.timeout"),
        ('{"task_routing": {"default_filter": {"queue": "q", "order_by": "level DESC"}}}', "worker attribute"),
        ('{"task_routing": {"default_filter": {"queue": "q", "order_by": "worker.x SIDEWAYS"}}}', "ASC|DESC"),
        ('{"task_routing": {"default_filter": {}}}', "default_filter.queue is required"),
    ],
)
def test_errors_say_where(text, where):
    with pytest.raises(ConfigurationError) as caught:
        parse(text)
    assert where in str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["task_routing", "filters", "targets", "queue", "expression", "timeout", "priority",
                         "skip_if", "order_by", "default_filter", "known_worker_sid", "x"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(document=json_values)
def test_any_json_either_parses_or_raises_configuration_error(document):
    try:
        parse(json.dumps(document))
    except ConfigurationError:
        pass


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_either_parses_or_raises_configuration_error(text):
    try:
        parse(text)
    except ConfigurationError:
        pass
