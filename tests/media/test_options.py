"""Per-song options: what a user may write after the ``|`` of a setlist line."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagebox.media.model import Meter, MidiMessage, Section, Song
from stagebox.media.options import (
    SONG_OPTIONS,
    midi_text,
    option_texts,
    parse_option,
    song_fields,
)


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


@pytest.mark.parametrize(("name", "text", "value"), [
    ("key", "+2", 2), ("key", "-3", -3), ("key", "0", 0), ("key", "12", 12),
    ("key", "-12", -12),
    ("speed", "80%", 0.8), ("speed", "80", 0.8), ("speed", "150%", 1.5), ("speed", "50%", 0.5),
    ("speed", "82.5%", 0.825),
    ("speedup", "5%", 0.05), ("speedup", "2.5", 0.025), ("speedup", "20%", 0.2),
    ("loop", "1:02-1:30", Section(62.0, 90.0)), ("loop", "62-90.5", Section(62.0, 90.5)),
    ("loop", "0:00.5-1:00", Section(0.5, 60.0)), ("loop", "10:05-10:30", Section(605.0, 630.0)),
    ("bpm", "120", 120.0), ("bpm", "92.5", 92.5), ("bpm", "20", 20.0), ("bpm", "300", 300.0),
    ("meter", "4/4", Meter(4, 4)), ("meter", "6/8", Meter(6, 8)), ("meter", "7/8", Meter(7, 8)),
    ("count", "0", 0), ("count", "1", 1), ("count", "8", 8),
    ("click", "on", True), ("click", "OFF", False),
    ("split", "click-left", "click-left"), ("split", "Click-Right", "click-right"),
    ("cue", "guides/verse.wav", Path("guides/verse.wav")),
])
def test_practice_options_are_read(name: str, text: str, value: object) -> None:
    assert parse_option(name, text) == value


@pytest.mark.parametrize(("name", "text", "message"), [
    ("key", "+13", r'key "\+13" not in -12\.\.\+12'), ("key", "up", "not a number of semitones"),
    ("key", "1.5", "not a number of semitones"), ("key", "", "not a number of semitones"),
    ("speed", "49%", r"not in 50%\.\.150%"), ("speed", "200", r"not in 50%\.\.150%"),
    ("speed", "fast", "not a percentage"), ("speed", "-80%", "not a percentage"),
    ("speedup", "25%", r"not in 0\.5%\.\.20%"), ("speedup", "0", r"not in 0\.5%\.\.20%"),
    ("speedup", "+5%", "not a percentage"),
    ("loop", "1:30-1:02", "ends before it starts"), ("loop", "1:02", "is not start-end"),
    ("loop", "1:02-1:02.2", "ends before it starts"), ("loop", "1:75-2:00", "is not a time"),
    ("loop", "a-b", "is not a time"), ("loop", "0:10-2:10.5", "is over 2 minutes"),
    ("loop", "99999999-99999999.9", "past any song's end"),
    ("bpm", "10", r"not in 20\.\.300"), ("bpm", "fast", "is not a number"),
    ("bpm", "nan", "is not a number"), ("bpm", "1e2", "is not a number"),
    ("meter", "4", "is not like 4/4"), ("meter", "4/3", "is not like 4/4"),
    ("meter", "0/4", "is not like 4/4"), ("meter", "17/8", "is not like 4/4"),
    ("count", "9", r"not 0\.\.8 bars"), ("count", "-1", r"not 0\.\.8 bars"),
    ("count", "１", r"not 0\.\.8 bars"), ("click", "yes", "is not on or off"),
    ("split", "left", "is not click-left or click-right"),
    ("cue", "", "is not a file name"), ("cue", "a\x07b.wav", "is not a file name"),
    ("split", "click_left", "is not click-left or click-right"),
])
def test_a_practice_option_that_makes_no_sense_says_why(name: str, text: str,
                                                        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_option(name, text)


OPTION_TEXTS = {
    "gain": st.floats(-60, 12, allow_nan=False).map(repr),
    "then": st.sampled_from(["stop", "next"]),
    "key": st.integers(-12, 12).map(str),
    "speed": st.decimals(50, 150, places=2).map(lambda d: f"{d}%"),
    "speedup": st.decimals("0.5", 20, places=1).map(lambda d: f"{d}%"),
    "loop": st.tuples(st.floats(0, 3600), st.floats(0.5, 120)).map(
        lambda t: f"{t[0]!r}-{t[0] + t[1]!r}"),
    "bpm": st.floats(20, 300).map(repr),
    "meter": st.tuples(st.integers(1, 16), st.sampled_from([1, 2, 4, 8, 16])).map(
        lambda m: f"{m[0]}/{m[1]}"),
    "count": st.integers(0, 8).map(str),
    "click": st.sampled_from(["on", "off"]),
    "midi": st.lists(st.one_of(st.integers(0, 127).map("pc:{}".format),
                               st.tuples(st.integers(0, 127), st.integers(0, 127)).map(
                                   lambda cc: f"cc:{cc[0]}:{cc[1]}")),
                     min_size=1, max_size=16).map(",".join),
    "split": st.sampled_from(["click-left", "click-right", "Click-Right"]),
    "cue": st.sampled_from(["guide.wav", "guides/verse cues.flac", "/media/stick/g/a.wav",
                            "Cues\\Song 1.mp3"]),
}


def test_every_option_has_texts_to_try() -> None:
    assert set(OPTION_TEXTS) == set(SONG_OPTIONS)


@given(st.fixed_dictionaries({}, optional=OPTION_TEXTS))
def test_a_songs_options_written_back_as_text_read_back_to_the_same_song(
        texts: dict[str, str]) -> None:
    # The scan child sends a song's options as text, which the box reads with the same
    # parsers: nothing may change on the way.
    parsed = {}
    for name, text in texts.items():
        try:
            parsed[name] = parse_option(name, text)
        except ValueError:
            continue  # a loop generated too short, say: not an option a song can have
    song = Song(Path("/media/stick/a.wav"), "a.wav", "a", **song_fields(parsed))  # type: ignore[arg-type]
    again = {name: parse_option(name, text) for name, text in option_texts(song).items()}
    assert Song(song.path, song.rel_path, song.title, **song_fields(again)) == song  # type: ignore[arg-type]
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
