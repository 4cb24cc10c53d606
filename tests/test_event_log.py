"""events.jsonl and screens.jsonl: one valid JSON record a line, whatever a tag holds."""

from __future__ import annotations

import io
import json
import math

import pytest

from stagebox.box import EventLog
from stagebox.clock import VirtualClock
from stagebox.jsonl import json_line

SEPARATORS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
              "\u2029"]
"""Everything str.splitlines() splits a line on."""


def strict_loads(line: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("separator", SEPARATORS, ids=repr)
def test_a_title_with_any_line_separator_stays_on_its_line(separator: str):
    title = f"Intro{separator}Outro"
    line = json_line({"event": "track_started", "title": title})
    assert line.endswith("\n") and len(line.splitlines()) == 1
    assert strict_loads(line) == {"event": "track_started", "title": title}


def test_non_finite_numbers_become_null_at_any_depth():
    record = {"t": 1.5, "position": math.inf, "nested": {"gain": -math.inf,
                                                          "list": [math.nan, 2.0]}}
    assert strict_loads(json_line(record)) == {
        "t": 1.5, "position": None, "nested": {"gain": None, "list": [None, 2.0]}}


def test_a_name_that_is_not_utf8_is_escaped_not_a_crash():
    name = b"caf\xe9.flac".decode("utf-8", "surrogateescape")
    stream = io.StringIO()
    EventLog(VirtualClock(), stream).record("track_started", path=name)
    text = stream.getvalue()
    text.encode("utf-8")  # what the log file's encoder does: no UnicodeEncodeError
    assert strict_loads(text)["path"] == name


def test_the_event_log_writes_the_same_lines():
    stream = io.StringIO()
    log = EventLog(VirtualClock(), stream)
    log.record("resumed", position=math.nan, title="a\u2028b")
    log.record("warning", message="x\x85y")
    lines = stream.getvalue().splitlines()
    assert [strict_loads(line)["event"] for line in lines] == ["resumed", "warning"]
