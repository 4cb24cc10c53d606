"""Per-song options: what a user may write after the ``|`` of a setlist line."""

from __future__ import annotations

import dataclasses
import re

import pytest

from stagebox.media.model import MidiMessage, Song
from stagebox.media.options import SONG_OPTIONS, midi_text, parse_option, song_fields


@pytest.mark.parametrize(("text", "gain_db"), [
    ("-1.5dB", -1.5), ("-1.5db", -1.5), ("-1.5", -1.5), ("+3dB", 3.0), ("0", 0.0),
    ("-60dB", -60.0), ("12", 12.0), (".5dB", 0.5),
])
def test_gain_is_read_in_db(text: str, gain_db: float) -> None:
    assert parse_option("gain", text) == gain_db


@pytest.mark.parametrize("text", ["-61dB", "+12.5dB", "100"])
def test_gain_out_of_range_says_the_range(text: str) -> None:
    with pytest.raises(ValueError, match=r"not in -60\.\.\+12 dB"):
        parse_option("gain", text)


@pytest.mark.parametrize("text", ["", "loud", "-1.5 dB", "nan", "inf", "1e3", "-1,5dB"])
def test_gain_that_is_not_a_number_says_so(text: str) -> None:
    with pytest.raises(ValueError, match="is not a number of dB"):
        parse_option("gain", text)


def test_then_is_stop_or_next_in_any_case() -> None:
    assert parse_option("then", "stop") == "stop"
    assert parse_option("THEN", "Next") == "next"
    with pytest.raises(ValueError, match='then "pause" is not stop or next'):
        parse_option("then", "pause")


def test_an_unknown_option_suggests_a_close_one() -> None:
    with pytest.raises(ValueError, match=r'unknown option "gian" \(gain\?\)'):
        parse_option("gian", "-1")
    with pytest.raises(ValueError, match=r'unknown option "colour"$'):
        parse_option("colour", "red")


def test_every_option_sets_a_song_field() -> None:
    fields = {field.name for field in dataclasses.fields(Song)}
    assert all(option.field in fields for option in SONG_OPTIONS.values())


def test_parsed_options_become_song_fields() -> None:
    assert song_fields({"gain": -1.5, "then": "stop"}) == {"gain_db": -1.5, "then": "stop"}


def test_midi_sends_program_changes_and_control_changes_in_order() -> None:
    messages = parse_option("midi", "pc:5,cc:7:100,PC:0")
    assert messages == (MidiMessage("pc", 5), MidiMessage("cc", 7, 100), MidiMessage("pc", 0))
    assert midi_text(messages) == "pc:5,cc:7:100,pc:0"  # what the scanner sends back


@pytest.mark.parametrize(("text", "why"), [
    ("pc:128", '"128" is not 0-127'), ("pc:-1", '"-1" is not 0-127'),
    ("cc:7", "write pc:N or cc:CONTROLLER:VALUE"), ("pc", "write pc:N"),
    ("nrpn:1:2", "write pc:N"), ("pc:1:2", "write pc:N"), ("pc:", '"" is not 0-127'),
    ("pc:٣", "is not 0-127"), (",".join(["pc:1"] * 17), "at most 16 messages"),
])
def test_a_bad_midi_option_says_what_to_write(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_option("midi", text)
