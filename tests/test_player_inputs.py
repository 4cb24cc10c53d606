"""The player with several inputs: presses kept apart by source, direct cues (a MIDI
program change) and the MIDI a cued song sends to the rest of the rig."""

from __future__ import annotations

import dataclasses

import pytest
from test_player import Rig, library, of, song

from stagebox import events as ev
from stagebox import player as cmd
from stagebox.media.model import MidiMessage, Song

PEDAL = "hid:usb-1.2"


def with_midi(name: str, *messages: MidiMessage, then: str | None = None) -> Song:
    plain = song(name, then)
    return dataclasses.replace(plain, midi=messages)


def test_a_play_held_on_a_pedal_is_still_swallowed_after_a_panel_press():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    assert of(rig.send(ev.Gesture("play", "down", PEDAL)), cmd.Play)
    # The panel's NEXT tapped while the pedal's PLAY is still down: a hint, nothing more.
    rig.send(ev.Gesture("next", "down"))
    rig.send(ev.Gesture("next", "press"))
    # The pedal's PLAY reaches the hold time: the rest of the press that started the
    # song, not a pause.
    out = rig.send(ev.Gesture("play", "hold", PEDAL))
    assert not of(out, cmd.Pause)
    assert rig.player.state == "playing"


def test_a_press_from_another_source_is_not_swallowed_with_the_first():
    rig = Rig(library(song("one")))
    rig.ready()
    rig.send(ev.Gesture("play", "down", PEDAL))  # starts the song
    rig.send(ev.Gesture("play", "down"))
    out = rig.send(ev.Gesture("play", "hold"))
    assert of(out, cmd.Pause), "the panel's own hold of PLAY pauses"


def test_the_button_record_names_its_source():
    rig = Rig(library(song("one")))
    rig.send(ev.Gesture("next", "down", PEDAL))
    records = [c.fields for c in of(rig.commands, cmd.Record) if c.event == "button"]
    assert records == [{"button": "next", "gesture": "down", "source": PEDAL}]


def test_a_program_change_cues_its_song_and_never_plays_it():
    rig = Rig(library(song("one"), song("two"), song("three"), song("four")))
    rig.ready()
    out = rig.send(ev.CueSong(4, "midi:fcb"))
    assert of(out, cmd.Load)[0].song.title == "four"
    assert rig.player.state == "cued" and rig.player.index == 3
    out = rig.ready()
    assert of(out, cmd.Cue) and not of(out, cmd.Play)


def test_a_cue_for_the_song_already_cued_reloads_nothing():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    assert not of(rig.send(ev.CueSong(1, "midi:fcb")), cmd.Load | cmd.Discard)


def test_a_cue_while_paused_goes_to_that_songs_start():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("play")
    rig.press("play", "hold")
    out = rig.send(ev.CueSong(2, "midi:fcb"))
    assert of(out, cmd.Load)[0].song.title == "two" and rig.player.state == "cued"


def test_a_cue_never_interrupts_a_playing_song():
    rig = Rig(library(song("one"), song("two")))
    rig.ready()
    rig.press("play")
    out = rig.send(ev.CueSong(2, "midi:fcb"))
    assert not of(out, cmd.Stop | cmd.Pause | cmd.Load | cmd.Discard)
    assert rig.player.state == "playing" and rig.player.index == 0
    assert [n.message for n in of(out, cmd.Notify)] == ["Playing: song 2 not cued"]


@pytest.mark.parametrize("number", [0, 3, 128])
def test_a_cue_past_the_setlist_says_how_many_songs_it_has(number):
    rig = Rig(library(song("one"), song("two")))
    out = rig.send(ev.CueSong(number, "midi:fcb"))
    assert [n.message for n in of(out, cmd.Notify)] == [f"No song {number}: the setlist has 2"]
    assert not of(out, cmd.Load)


def test_a_cue_with_no_stick_says_so():
    player = cmd.Player()
    out = player.handle(ev.CueSong(2, "midi:fcb"))
    assert [n.message for n in of(out, cmd.Notify)] == ["No setlist to cue song 2 in"]


def test_a_song_sends_its_midi_when_it_is_cued():
    first = with_midi("one", MidiMessage("pc", 4))
    second = with_midi("two", MidiMessage("pc", 9), MidiMessage("cc", 7, 100))
    rig = Rig(library(first, second, song("three")))
    assert of(rig.commands, cmd.SendMidi) == [cmd.SendMidi(first.midi)]
    assert of(rig.press("next"), cmd.SendMidi) == [cmd.SendMidi(second.midi)]
    assert not of(rig.press("next"), cmd.SendMidi), "a song without midi= sends nothing"
    assert of(rig.send(ev.CueSong(1, "midi:fcb")), cmd.SendMidi) == [cmd.SendMidi(first.midi)]


def test_a_gapless_join_sends_the_next_songs_midi_as_it_starts():
    second = with_midi("two", MidiMessage("pc", 9))
    rig = Rig(library(song("one", then="next"), second))
    rig.ready()
    rig.press("play")
    load = rig.loads()[-1]
    assert load.song == second
    assert not of(rig.commands, cmd.SendMidi), "preloading a song is not cueing it"
    rig.ready(load)
    out = rig.end(joined=True)
    assert of(out, cmd.SendMidi) == [cmd.SendMidi(second.midi)]
