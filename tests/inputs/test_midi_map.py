"""The MIDI map: messages in to edges and cues, song messages out to bytes."""

from __future__ import annotations

import pytest

from stagebox.config import Config, parse_config
from stagebox.events import ButtonEdge, CueSong
from stagebox.inputs.midi import (
    DEFAULT_MAP,
    MidiMap,
    MidiTranslator,
    encode,
    midi_record,
    parse_midi_map,
)
from stagebox.media.model import MidiMessage


def translator(text: str = DEFAULT_MAP, **kwargs) -> tuple[MidiTranslator, list]:
    posted: list = []
    return MidiTranslator(parse_midi_map(text), "midi:fcb", posted.append, lambda: 2.0,
                          **kwargs), posted


def test_the_default_map_cues_by_program_and_takes_controllers_80_to_83_as_buttons():
    assert parse_midi_map(DEFAULT_MAP) == MidiMap(
        cc={80: "prev", 81: "play", 82: "next", 83: "menu"}, any_pc="cue")
    assert Config().midi_map == parse_midi_map(DEFAULT_MAP)


def test_a_program_change_with_raw_value_n_cues_song_n_plus_one():
    midi, posted = translator()
    midi.message([0xC0, 3])
    midi.message([0xC5, 0])  # any channel by default
    assert posted == [CueSong(4, "midi:fcb"), CueSong(1, "midi:fcb")]


def test_a_controller_is_a_footswitch_pressed_at_the_threshold():
    midi, posted = translator(cc_threshold=64)
    for value in (127, 127, 63, 64, 0):
        midi.message([0xB0, 82, value])
    assert [(e.button, e.pressed) for e in posted] == [
        ("next", True), ("next", True), ("next", False), ("next", True), ("next", False)]
    assert all(e.source == "midi:fcb" and e.t == 2.0 for e in posted)


def test_a_note_presses_and_its_note_off_or_velocity_zero_releases():
    midi, posted = translator("note:60=play note:62=next")
    midi.message([0x90, 60, 100])
    midi.message([0x80, 60, 64])
    midi.message([0x90, 62, 1])
    midi.message([0x90, 62, 0])
    midi.message([0x90, 61, 100])  # not in the map
    assert posted == [ButtonEdge("play", True, 2.0, "midi:fcb"),
                      ButtonEdge("play", False, 2.0, "midi:fcb"),
                      ButtonEdge("next", True, 2.0, "midi:fcb"),
                      ButtonEdge("next", False, 2.0, "midi:fcb")]


def test_a_program_named_in_the_map_taps_its_button_and_the_rest_still_cue():
    midi, posted = translator("pc=cue pc:127=next")
    midi.message([0xC0, 127])
    midi.message([0xC0, 9])
    assert posted == [ButtonEdge("next", True, 2.0, "midi:fcb"),
                      ButtonEdge("next", False, 2.0, "midi:fcb"), CueSong(10, "midi:fcb")]


def test_a_controller_mapped_to_cue_cues_by_its_value():
    midi, posted = translator("cc:20=cue")
    midi.message([0xB0, 20, 7])
    midi.message([0xC0, 7])  # program changes are not mapped here
    assert posted == [CueSong(8, "midi:fcb")]


def test_only_the_configured_channel_is_heard():
    midi, posted = translator(in_channel=2)
    midi.message([0xC0, 1])  # channel 1
    midi.message([0xC1, 2])  # channel 2
    assert posted == [CueSong(3, "midi:fcb")]


@pytest.mark.parametrize("data", [[], [0xF8], [0xFE], [0xF0, 1, 2, 0xF7], [0xB0, 80],
                                  [0x90, 60], [0x40, 1, 2], [0xE0, 0, 64], [0xA0, 60, 1]])
def test_system_messages_pitch_bend_and_short_messages_do_nothing(data):
    midi, posted = translator("pc=cue cc:80=next note:60=play")
    midi.message(data)
    assert posted == []


@pytest.mark.parametrize(("text", "why"), [
    ("cc=next", "which cc?"), ("note:60=cue", "only pc=cue and cc:N=cue"),
    ("cc:128=next", "128 is not 0-127"), ("cc:80=stop", "'stop' is not one of"),
    ("sysex=play", "write cc:N=BUTTON"), ("cc:1000=play", "write cc:N=BUTTON"),
])
def test_a_bad_map_says_what_to_write(text, why):
    with pytest.raises(ValueError, match=why):
        parse_midi_map(text)


def test_a_bad_map_in_the_config_keeps_the_default_and_says_why():
    config, warnings = parse_config('[midi]\nmap = "note:60=cue"\nin_channel = 17\n')
    assert config["midi.map"] == DEFAULT_MAP and config["midi.in_channel"] == 0
    assert [w.split(":")[1].strip() for w in warnings] == [
        "midi.map", "midi.in_channel must be at most 16, not 17"]


def test_song_messages_are_encoded_on_the_out_channel():
    assert encode(MidiMessage("pc", 5), 1) == [0xC0, 5]
    assert encode(MidiMessage("cc", 7, 100), 16) == [0xBF, 7, 100]
    assert midi_record(MidiMessage("pc", 5), 3) == {"kind": "pc", "channel": 3, "program": 5}
    assert midi_record(MidiMessage("cc", 7, 100), 1) == {
        "kind": "cc", "channel": 1, "control": 7, "value": 100}
