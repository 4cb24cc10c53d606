"""Loudness matching in the player: what it measures, and the gain each song plays at."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from test_player import Rig, library, of, song

from stagebox import events as ev
from stagebox import player as cmd
from stagebox.media.loudness import Loudness, Measured, MeasuredAs
from stagebox.media.model import Setlist


def measured(lufs: float | None, dbtp: float | None = -10.0) -> Measured:
    return Measured(Loudness(lufs, dbtp))


def info(rig: Rig) -> tuple[str, ...]:
    rig.press("menu")
    for _ in range(2):
        rig.press("prev")  # round to Info, next to last
    rig.press("play")  # into the info page
    view = rig.player.menu.view()  # type: ignore[union-attr]
    rig.press("menu")
    rig.press("menu")
    return view.items


def test_a_scan_measures_the_stick_once_with_the_cued_setlist_first():
    other = Setlist("encore.txt", (song("three"), song("one")))
    rig = Rig(library(song("one"), song("two"), extra=(other,)), loudness_lufs=-18.0)
    (measure,) = of(rig.commands, cmd.Measure)
    assert [song.path.name for song in measure.songs] == ["one.wav", "two.wav", "three.wav"]
    assert measure.label == "GIG" and rig.player.measuring == (0, 3)
    # Before the first song's load: it is measured while the rest of the show waits.
    assert rig.commands.index(measure) < rig.commands.index(rig.loads()[0])


def test_a_split_track_is_measured_as_the_audience_hears_it_and_matched_so():
    split = dataclasses.replace(song("one"), split="click-left")
    rig = Rig(library(split, extra=(Setlist("plain.txt", (song("one"),)),)),
              loudness_lufs=-18.0)
    (measure,) = of(rig.commands, cmd.Measure)
    assert measure.songs == (MeasuredAs(split.path, "click-left"), MeasuredAs(split.path))
    rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[1], measured(-9.0), False))
    rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[0], measured(-12.0), False))
    assert of(rig.ready(), cmd.Cue) == [cmd.Cue(1, -6.0)], "matched by its music side"


def test_off_measures_nothing_and_plays_songs_as_mastered_with_their_gain():
    rig = Rig(library(song("one", gain_db=-2.0)))
    assert not of(rig.commands, cmd.Measure) and rig.player.measuring is None
    assert of(rig.ready(), cmd.Cue) == [cmd.Cue(1, -2.0)]
    assert "Loudness: off" in info(rig)


def test_a_song_measured_before_it_is_cued_plays_at_the_target_with_its_gain_on_top():
    rig = Rig(library(song("one", gain_db=1.5), song("two")), loudness_lufs=-18.0)
    (measure,) = of(rig.commands, cmd.Measure)
    rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[0], measured(-9.0), False))
    assert of(rig.ready(), cmd.Cue) == [cmd.Cue(1, -9.0 + 1.5)]
    assert info(rig)[-3:-1] == ("Loudness: -18 LUFS", "Song: matched -9.0 dB")


def test_a_measurement_that_comes_after_the_cue_sets_the_gain_before_play():
    rig = Rig(library(song("one")), loudness_lufs=-18.0)
    assert of(rig.ready(), cmd.Cue) == [cmd.Cue(1, 0.0)]
    assert info(rig)[-2] == "Song: measuring"
    (measure,) = of(rig.commands, cmd.Measure)
    out = rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[0],
                                       measured(-24.0), False))
    assert of(out, cmd.SetGain) == [cmd.SetGain(1, 6.0)]
    assert rig.player.measuring == (1, 1)
    assert [c.fields for c in of(out, cmd.Record)] == [
        {"path": "one.wav", "lufs": -24.0, "dbtp": -10.0}]


def test_a_song_already_playing_keeps_its_level_when_its_measurement_comes():
    rig = Rig(library(song("one")), loudness_lufs=-18.0)
    rig.ready()
    rig.press("play")
    (measure,) = of(rig.commands, cmd.Measure)
    out = rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[0],
                                       measured(-24.0), False))
    assert not of(out, cmd.SetGain)
    assert info(rig)[-2] == "Song: not matched"


def test_the_true_peak_caps_the_gain_and_the_info_page_says_so():
    rig = Rig(library(song("one")), loudness_lufs=-18.0)
    (measure,) = of(rig.commands, cmd.Measure)
    rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[0],
                                 measured(-30.0, -3.0), False))
    assert of(rig.ready(), cmd.Cue) == [cmd.Cue(1, 2.0)]
    assert info(rig)[-2] == "Song: peak-capped +2.0 dB"


def test_a_song_that_fails_to_measure_plays_unmatched_with_a_warning():
    rig = Rig(library(song("one"), song("two")), loudness_lufs=-18.0)
    (measure,) = of(rig.commands, cmd.Measure)
    out = rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[0],
                                       Measured(None, "not a sound file"), False))
    assert of(out, cmd.Notify) == [cmd.Notify("one.wav: not loudness-matched: not a sound file",
                                              "warning")]
    assert of(rig.ready(), cmd.Cue) == [cmd.Cue(1, 0.0)]
    out = rig.send(ev.MeasureFinished(measure.measure_id, measured=1, cached=0, failed=1))
    assert rig.player.measuring is None and not of(out, cmd.Notify)
    assert info(rig)[-2] == "Song: not matched"


def test_a_measuring_that_could_not_run_says_why():
    rig = Rig(library(song("one")), loudness_lufs=-18.0)
    (measure,) = of(rig.commands, cmd.Measure)
    out = rig.send(ev.MeasureFinished(measure.measure_id, 0, 0, 0,
                                      "libebur128.so.1 not found (install libebur128-1)"))
    assert of(out, cmd.Notify) == [cmd.Notify(
        "Songs not loudness-matched: libebur128.so.1 not found (install libebur128-1)",
        "warning")]
    rig.ready()
    assert info(rig)[-2] == "Song: not measured"


def test_a_stick_pulled_stops_its_measuring_and_its_late_results_change_nothing():
    rig = Rig(library(song("one")), loudness_lufs=-18.0)
    (measure,) = of(rig.commands, cmd.Measure)
    assert of(rig.send(ev.StickRemoved()), cmd.StopMeasuring)
    rig.send(ev.StickInserted(Path("/stick"), "GIG"))
    assert not of(rig.commands, cmd.StopMeasuring)[1:], "nothing more to stop"
    rig.send(ev.ScanFinished(library(song("one"))))
    late = ev.LoudnessMeasured(measure.measure_id, measure.songs[0], measured(-9.0), False)
    assert rig.send(late) == [] and rig.player.measuring == (0, 1)
    assert of(rig.ready(), cmd.Cue)[0].gain_db == 0.0


def test_a_song_queued_to_follow_gets_its_measurement_before_it_joins():
    rig = Rig(library(song("one", then="next"), song("two")), loudness_lufs=-18.0)
    rig.ready()
    rig.press("play")
    second = rig.loads()[-1]
    assert of(rig.ready(second), cmd.QueueNext) == [cmd.QueueNext(second.load_id, 0.0)]
    (measure,) = of(rig.commands, cmd.Measure)
    out = rig.send(ev.LoudnessMeasured(measure.measure_id, measure.songs[1],
                                       measured(-12.0), True))
    assert of(out, cmd.SetGain) == [cmd.SetGain(second.load_id, -6.0)]
    assert not of(out, cmd.Record), "from the cache: only measure_finished counts it"
