"""Whole shows run by a USB pedal alone, and by a MIDI controller alone, through
`stagebox sim`: the same stage-safe rules as the buttons, and MIDI out to the rig."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_tone

HZ = {"one": 330.0, "two": 440.0, "three": 550.0, "four": 660.0}


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    root = tmp_path / "stick"
    for name, hz in HZ.items():
        write_tone(root / f"{name}.wav", hz, 3.0)
    (root / "setlist.txt").write_text(
        "one.wav | midi=pc:10\ntwo.wav | midi=pc:11,cc:7:90\nthree.wav\nfour.wav | midi=pc:13\n",
        encoding="utf-8")
    return root


def started(show) -> list[str]:
    return [e["title"] for e in show.named("track_started")]


def presses(show) -> set[str]:
    return {e["source"] for e in show.named("button")}


def test_a_show_run_by_a_page_turner_pedal_alone(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n"
                          "1.0 hid KEY_SPACE\n"        # play song one
                          "1.5 hid KEY_PAGEDOWN\n"     # a tap while playing: a hint only
                          "1.7 hid KEY_RIGHT\n"
                          "2.0 hid-hold KEY_ENTER 1.0\n"  # hold: pause at 2.8 s
                          "3.5 hid KEY_PAGEDOWN\n"     # paused: cue song two
                          "4.0 hid KEY_SPACE\n"
                          "5.0 hid-hold KEY_PAGEDOWN 1.0\n"  # hold: fade out, cue three
                          "6.5 hid KEY_LEFT\n"         # back to two
                          "7.0 end\n")
    assert presses(show) == {"hid:sim-pedal"}
    assert started(show) == ["one", "two"]
    assert show.dominant_hz(1.5, 2.7) == pytest.approx(HZ["one"], abs=3), "taps never stop it"
    assert any("Hold NEXT" in e["message"] for e in show.named("notice"))
    paused = [e for e in show.named("state") if e["state"] == "paused"]
    assert paused[0]["t"] == pytest.approx(2.8, abs=0.03), "the hold is timed on the box's clock"
    assert show.dominant_hz(3.4, 3.9) == 0.0, "paused, after its fade"
    assert show.dominant_hz(4.2, 5.0) == pytest.approx(HZ["two"], abs=3)
    cued = [(e["state"], e["index"]) for e in show.named("state") if e["t"] >= 5.8]
    assert cued[-1] == ("cued", 1)
    assert show.dominant_hz(6.4, 7.0) == 0.0


def test_a_show_run_by_a_midi_foot_controller_alone(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n"
                          "1.0 midi cc 81 127\n"      # PLAY down: plays at once
                          "1.1 midi cc 81 0\n"
                          "1.5 midi pc 2\n"           # playing: not cued, a hint
                          "1.7 midi cc 82 127\n"      # NEXT tapped while playing: a hint
                          "1.75 midi cc 82 0\n"
                          "2.0 midi cc 81 127\n"      # PLAY held: pause at 2.8 s
                          "3.0 midi cc 81 0\n"
                          "3.5 midi pc 3\n"           # paused: cue song four
                          "4.0 midi note 60\n"        # notes are not in the default map
                          "4.5 midi cc 81 127\n4.6 midi cc 81 0\n"
                          "6.0 end\n")
    assert presses(show) == {"midi:sim"}
    assert started(show) == ["one", "four"]
    assert show.dominant_hz(1.5, 2.7) == pytest.approx(HZ["one"], abs=3)
    notices = [e["message"] for e in show.named("notice")]
    assert "Playing: song 3 not cued" in notices and "Hold NEXT to skip" in notices
    paused = [e for e in show.named("state") if e["state"] == "paused"]
    assert paused[0]["t"] == pytest.approx(2.8, abs=0.03)
    assert show.dominant_hz(4.7, 6.0) == pytest.approx(HZ["four"], abs=3)


def test_midi_pc_3_cues_song_4_and_does_not_play_it(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 midi pc 3\n4.0 end\n")
    assert [e["song"] for e in show.named("cue_song")] == [4]
    last = show.named("state")[-1]
    assert (last["state"], last["index"], last["title"]) == ("cued", 3, "four")
    assert not show.named("track_started")
    assert show.dominant_hz(0.0, 4.0) == 0.0
    assert "4/4" in " ".join(show.screen_at(3.9))


def test_a_song_sends_its_midi_when_it_is_cued(stick, run_sim):
    show = run_sim(stick, "0.2 insert\n1.0 press next\n2.0 midi pc 3\n3.0 press next\n"
                          "4.0 end\n",
                   config="[midi]\nout_channel = 5\n")
    sent = [{k: v for k, v in e.items() if k != "t"} for e in show.named("midi_out")]
    assert sent == [
        {"event": "midi_out", "kind": "pc", "channel": 5, "program": 10, "ports": 1},
        {"event": "midi_out", "kind": "pc", "channel": 5, "program": 11, "ports": 1},
        {"event": "midi_out", "kind": "cc", "channel": 5, "control": 7, "value": 90,
         "ports": 1},
        {"event": "midi_out", "kind": "pc", "channel": 5, "program": 13, "ports": 1},
    ]
    cued_at = {e["index"]: e["t"] for e in show.named("state") if e["state"] == "cued"}
    out_at = [e["t"] for e in show.named("midi_out")]
    assert out_at == [cued_at[0], cued_at[1], cued_at[1], cued_at[3]]


def test_a_pedal_mapped_in_the_config_and_midi_on_one_channel(stick, run_sim):
    config = ('[pedals]\nkeys = "KEY_B=play KEY_PAGDOWN=next"\n'
              '[midi]\nin_channel = 3\nmap = "note:60=next"\n')
    show = run_sim(stick, "0.2 insert\n1.0 hid KEY_B\n1.2 hid-hold KEY_B 1.0\n"
                          "2.5 hid KEY_SPACE\n3.0 midi note 60\n3.5 end\n", config=config)
    warnings = [e["message"] for e in show.named("warning")]
    assert "pedals.keys: no key KEY_PAGDOWN (did you mean 'KEY_PAGEDOWN'?)" in warnings
    # KEY_B plays and its hold pauses; KEY_SPACE is no longer mapped; the note (sent on
    # channel 3, the one listened to) cues the next song.
    states = [e["state"] for e in show.named("state")]
    assert states[-3:] == ["playing", "paused", "cued"]
    assert show.named("state")[-1]["index"] == 1
