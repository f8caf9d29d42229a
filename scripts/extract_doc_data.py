"""Extracts, from saved copies of the Twilio documentation pages, the facts the tests check against, into
tests/fixtures/docs/taskrouter_docs.json. Run by hand when a page changes:

    .venv/bin/python scripts/extract_doc_data.py DIR_WITH_THE_PAGES

DIR holds the pages as text: event.txt (TaskRouter "Event Resource"), events-reference.txt (TaskRouter
"Events Reference": the EventCallbackUrl contract and the event catalog), call-events.txt (Voice "Call
Events subresource") and worker.txt (TaskRouter "Worker Resource"). The tests read only the JSON output.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "docs" / "taskrouter_docs.json"
PAGES = {
    "event": "https://www.twilio.com/docs/taskrouter/api/event",
    "events-reference": "https://www.twilio.com/docs/taskrouter/api/event/reference",
    "call-events": "https://www.twilio.com/docs/voice/api/call-event-resource",
    "worker": "https://www.twilio.com/docs/taskrouter/api/worker",
}

# The Events Reference page: the sentence before each parameter table names the group it defines.
TABLE_INTROS = {
    "TaskRouter will POST the following parameters": "common",
    "When an event involving a Task is logged": "Task",
    "relates to a Task Channel": "TaskChannel",
    "relates to a Worker, the following": "Worker",
    "relates to a Worker's activity changing": "activity change",
    "channel capacity or availability changing": "Channel",
}
_ROW = re.compile(r"([a-z][a-z-]*(?:\.[a-z][a-z-]*)+)([A-Z].*)")
# A row's description is glued to its last field name: "WorkflowSidA task is assigned ...".
_DESCRIPTION_START = re.compile(r"(?<=[a-z])(?:An|A|The|Too|Multi)(?=[ -])")
_PARAMETER_ROW = re.compile(r"([A-Z][A-Za-z]*?)(?=(?:The|An|A|Whether) )")


def event_catalog(page: str) -> dict:
    """{"rows": event type -> field tokens of its row, "groups": group name -> parameters of its table}."""
    rows: dict[str, list[str]] = {}
    groups: dict[str, list[str]] = {}
    pending = collecting = None
    for line in page.splitlines():
        line = line.strip()
        if collecting is not None:
            match = _PARAMETER_ROW.match(line)
            if match:
                groups[collecting].append(match.group(1))
                continue
            collecting = None
        intro = next((group for text, group in TABLE_INTROS.items() if text in line), None)
        if intro is not None:
            pending = intro
        elif line == "ParameterDescription" and pending is not None:
            collecting, pending = pending, None
            groups[collecting] = []
        elif match := _ROW.fullmatch(line):
            rest = match.group(2)
            cut = _DESCRIPTION_START.search(rest)
            rows[match.group(1)] = (rest[: cut.start()] if cut else rest).split()
    return {"rows": rows, "groups": groups}


def callback_parameters(page: str) -> list[str]:
    names: set[str] = set()
    # The "ParameterDescription" tables: each row is NAME glued to a description starting with a capital word.
    for table in page.split("ParameterDescription\n")[1:]:
        rows = re.split(r"\n\n|\nEventTypeField DataDescription\n", table, maxsplit=1)[0]
        for line in rows.splitlines():
            match = re.match(r"([A-Z][A-Za-z]*?)(?=The |An |A |Whether )", line)
            if not match:
                raise SystemExit(f"unparsed events-reference row: {line!r}")
            names.add(match.group(1))
    # The event catalog's "Field Data" column names single fields such as ActivitySid or TaskQueueName.
    for line in re.findall(r"^[a-z-]+(?:\.[a-z-]+)+([A-Z].*)$", page, flags=re.MULTILINE):
        names.update(re.findall(r"[A-Z][A-Za-z]*?(?:Sid|Name|Available|Expression)(?![a-z])", line))
    return sorted(names)


def query_parameters(page: str, after: str, pattern: str) -> list[str]:
    return re.findall(pattern, page.split(after, 1)[1], flags=re.MULTILINE)


def outputs(page: str) -> list[dict]:
    """The JSON "Output" examples of a page (its line-number markers like "_29" removed)."""
    found = []
    for chunk in page.split("\nOutput\n")[1:]:
        lines = []
        for line in chunk.splitlines():
            if re.fullmatch(r"_\d+", line) or not line.strip():
                continue
            if not line.lstrip().startswith(("{", "}", "[", "]", '"')):
                break
            lines.append(line)
        found.append(json.loads("\n".join(lines)))
    return found


def call_event_keys(page: str) -> dict[str, list[str]]:
    keys = {}
    for prop in ("request", "response"):
        sentence = re.search(rf"The {prop} property represents .*?It contains ([^.]*)\.", page)
        if not sentence:
            raise SystemExit(f"call-events page no longer describes the {prop} property")
        text = sentence.group(1).replace("the ", "")
        keys[prop] = sorted(k.strip() for k in re.split(r",|\band\b", text) if k.strip())
    return keys


def main(directory: str) -> None:
    pages = {name: (Path(directory) / f"{name}.txt").read_text() for name in PAGES}
    fetch, listing, *_ = outputs(pages["event"])
    data = {
        "source": {name: {"url": url} for name, url in PAGES.items()},
        "event_catalog": event_catalog(pages["events-reference"]),
        "callback_parameters": callback_parameters(pages["events-reference"]),
        "list_events_query_parameters": query_parameters(
            pages["event"], "GET https://taskrouter.twilio.com/v1/Workspaces/{WorkspaceSid}/Events\n",
            r"^([A-Z][A-Za-z]*?)(?:string|integer|SID)(?:<[^>]*>)?Optional$",
        ),
        "list_workers_query_parameters": query_parameters(
            pages["worker"], "Read multiple Worker resources", r"^([A-Z][A-Za-z]*)type: [^\n]*\nQuery Parameter$"
        ),
        "event_examples": {"fetch": fetch, "list": listing},
        "call_event_keys": call_event_keys(pages["call-events"]),
    }
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
