"""Loudness matching in `stagebox sim`, as the audience hears it: every song at the same
loudness by BS.1770 (pyloudnorm, a meter independent of the box's) on ``audio.wav``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile
from conftest import Show, music, write_tone
from test_loader_memory import QueuedWorker

from stagebox import events as ev
from stagebox.box import EventLog
from stagebox.clock import VirtualClock
from stagebox.config import Config
from stagebox.daemon import build_box
from stagebox.hal.display import open_dummy
from stagebox.ui import screens
from stagebox.workers import InlineWorker

SINE_LUFS_AT_HALF = -6.97
"""A stereo 220-440 Hz sine of amplitude 0.5, by BS.1770 (K-weighting lifts it a little)."""
MASTERED_LUFS = {"loud.flac": -8.0, "middle.flac": -20.0, "quiet.flac": -32.0}
MINUS_1_DBFS = 10 ** (-1 / 20)
SCRIPT = "0.2 insert\n1.0 press play\n16.0 end\n"


def write_songs(stick: Path) -> None:
    """Three songs 12 LU apart, one after another with no gap."""
    for number, (name, lufs) in enumerate(MASTERED_LUFS.items()):
        write_tone(stick / name, 220.0 + 110.0 * number, 4.0, rate=44100,
                   level=0.5 * 10 ** ((lufs - SINE_LUFS_AT_HALF) / 20), fade_s=0.05)
    (stick / "setlist.txt").write_text(
        "loud.flac | then=next\nmiddle.flac | then=next\nquiet.flac\n", encoding="utf-8")


def song_lufs(show: Show) -> dict[str, float]:
    """Each song's loudness as it came out, between its start and the next one's."""
    data, rate = show.audio()
    starts = [(event["path"], event["t"]) for event in show.named("track_started")]
    ends = [t for _, t in starts[1:]] + [show.named("track_ended")[-1]["t"]]
    meter = pyloudnorm.Meter(rate)
    return {path: meter.integrated_loudness(
                data[round((start + 0.3) * rate):round((end - 0.3) * rate)].astype(np.float64))
            for (path, start), end in zip(starts, ends, strict=True)}


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    write_songs(tmp_path / "stick")
    return tmp_path / "stick"


def test_songs_mastered_12_lu_apart_play_within_1_lu_of_the_target(stick, run_sim):
    show = run_sim(stick, SCRIPT)
    measured = song_lufs(show)
    assert list(measured) == list(MASTERED_LUFS)
    for lufs in measured.values():
        assert lufs == pytest.approx(-18.0, abs=0.5)
    assert max(measured.values()) - min(measured.values()) < 1.0
    data, _ = show.audio()
    assert np.abs(data).max() <= MINUS_1_DBFS
    # The measuring was over before the first song was cued: the simulator waits for it.
    events = [e["event"] for e in show.events]
    assert events.index("measure_finished") < events.index("track_started")
    assert [e["path"] for e in show.named("loudness")] == list(MASTERED_LUFS)


def test_off_plays_every_song_as_mastered(stick, run_sim):
    show = run_sim(stick, SCRIPT, config='[player]\nloudness_lufs = "off"\n')
    for name, lufs in song_lufs(show).items():
        assert lufs == pytest.approx(MASTERED_LUFS[name], abs=0.5)
    assert not show.named("loudness") and not show.named("measure_finished")


def test_a_songs_gain_goes_on_top_of_its_match(stick, run_sim):
    (stick / "setlist.txt").write_text("quiet.flac | gain=-3dB\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n6.0 end\n")
    (lufs,) = song_lufs(show).values()
    assert lufs == pytest.approx(-21.0, abs=0.5)


def test_a_song_too_peaky_to_reach_the_target_is_capped_under_minus_1_dbtp(tmp_path, run_sim):
    stick = tmp_path / "stick"
    stick.mkdir()
    # Quiet by loudness and its peaks far over it: matched, they would pass full scale.
    song = music(6.0)
    soundfile.write(stick / "peaky.flac", song, 48000)
    mastered_lufs = pyloudnorm.Meter(48000).integrated_loudness(song.astype(np.float64))
    headroom_db = -1.0 - 20 * np.log10(np.abs(song).max())
    assert mastered_lufs + headroom_db < -19.0, "the cap holds it over 1 LU under the target"
    show = run_sim(stick, "0.2 insert\n1.0 press play\n8.0 end\n")
    data, _ = show.audio()
    peak = float(np.abs(data).max())
    assert MINUS_1_DBFS * 10 ** (-0.5 / 20) < peak <= MINUS_1_DBFS
    (lufs,) = song_lufs(show).values()
    # Raised as far as its peaks let it (its true peak a little over its samples').
    assert lufs == pytest.approx(mastered_lufs + headroom_db, abs=0.5)


def test_a_corrupt_file_fails_to_measure_with_a_warning_and_the_show_goes_on(stick, run_sim):
    (stick / "broken.flac").write_bytes(b"fLaC" + bytes(range(256)) * 20)
    (stick / "setlist.txt").write_text("broken.flac\nmiddle.flac\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n7.0 end\n")
    warning = "broken.flac: not loudness-matched: not a sound file"
    assert warning in [e["message"] for e in show.named("warning")]
    assert any(warning in line for screen in show.screens for line in screen["text"])
    assert show.named("measure_finished") == [
        {"t": show.named("measure_finished")[0]["t"], "event": "measure_finished",
         "measured": 1, "cached": 0, "failed": 1}]
    (lufs,) = song_lufs(show).values()
    assert lufs == pytest.approx(-18.0, abs=0.5), "the song after it plays, matched"


def test_the_screen_says_the_stick_is_being_measured_until_it_is(stick):
    clock = VirtualClock()
    held = QueuedWorker()
    box = build_box(Config(), clock=clock, rate=48000, event_log=EventLog(clock),
                    display=open_dummy(), load_worker=InlineWorker(),
                    scan_worker=InlineWorker(), measure_worker=held, wait_for_data=True,
                    state_store=None, measure_idle=False)
    box.post(ev.StickInserted(stick, "GIG"))
    box.step()
    assert screens.text_lines(box.view(clock.now()))[-1] == "Measuring 0/3"
    held.run_all()
    box.step()
    assert screens.text_lines(box.view(clock.now()))[-1] == "Next: middle"
    box.close()


def test_a_second_insertion_and_a_restart_measure_nothing(stick, tmp_path, run_sim):
    state = tmp_path / "state"

    def run(name: str, script: str) -> Show:
        return run_sim(stick, script, name=name, state=state)

    def counts(show: Show) -> list[tuple[int, int, int]]:
        return [(e["measured"], e["cached"], e["failed"])
                for e in show.named("measure_finished")]

    first = run("first", "0.2 insert\n1.0 remove\n2.0 insert\n3.0 end\n")
    assert counts(first) == [(3, 0, 0), (0, 3, 0)]
    again = run("again", SCRIPT)
    assert counts(again) == [(0, 3, 0)] and not again.named("loudness")
    assert max(song_lufs(again).values()) - min(song_lufs(again).values()) < 1.0
