"""The click track: beats placed from the frame count, whatever the blocks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stagebox.audio.click import BeatGrid, ClickTrack, click_sound

RATE = 48000


def render(track: ClickTrack, blocks: list[int]) -> np.ndarray:
    out = np.zeros((sum(blocks), 2), np.float32)
    at = 0
    for frames in blocks:
        track.add_to(out[at:at + frames], at)
        at += frames
    return out


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4096), min_size=1, max_size=60),
       st.floats(40, 300), st.integers(0, 2), st.booleans())
def test_the_clicks_are_the_same_however_the_blocks_fall(
        blocks: list[int], bpm: float, bars: int, through: bool) -> None:
    grid = BeatGrid(bpm, 4, bars, through)
    whole = render(ClickTrack(grid, RATE), [sum(blocks)])
    np.testing.assert_array_equal(render(ClickTrack(grid, RATE), blocks), whole)


def test_an_hour_on_the_click_is_still_on_the_beat() -> None:
    # 97 bpm: a beat is 29,690.72... frames, so adding intervals up would drift.
    track = ClickTrack(BeatGrid(97.0, 4, 0, True), RATE, start_frames=0)
    hour = 3600 * RATE
    beat = round(hour * 97 / 60 / RATE)  # the beat nearest the hour
    at = round(beat * 60 * RATE / 97)
    out = np.zeros((4096, 2), np.float32)
    track.add_to(out, at - 100)
    first = int(np.flatnonzero(out[:, 0])[0])
    assert first - 100 in (0, 1)  # the click's first sample is 0 by its envelope


def test_a_resumed_song_has_no_count_in_and_clicks_on_its_own_beats() -> None:
    # Played from 1.25 s in at 120 bpm: the next beat is song time 1.5 s, 0.25 s away.
    track = ClickTrack(BeatGrid(120.0, 4, 1, True), RATE, start_frames=round(1.25 * RATE))
    assert track.count_in_frames == 0
    out = render(track, [RATE])
    sounding = np.flatnonzero(out[:, 0])
    assert sounding[0] in (round(0.25 * RATE), round(0.25 * RATE) + 1)


def onsets(out: np.ndarray) -> list[float]:
    """Seconds at which each click starts (the first sounding sample after silence)."""
    sounding = np.flatnonzero(out[:, 0])
    starts = sounding[np.diff(sounding, prepend=-RATE) > RATE // 10]
    return [round(at / RATE, 2) for at in starts]


def test_a_click_through_a_loop_stays_on_the_songs_beats_after_every_seam() -> None:
    # 120 bpm, a loop of 1.25-2.0 s (a beat and a half): after each seam the stream is back
    # at song time 1.25 s, so the next click is song time 1.5 s, a quarter second on.
    section = (round(1.25 * RATE), round(2.0 * RATE))
    track = ClickTrack(BeatGrid(120.0, 4, 0, True), RATE, section=section)
    assert onsets(render(track, [4 * RATE])) == [0.0, 0.5, 1.0, 1.5, 2.25, 3.0, 3.75]


def test_a_loop_at_half_speed_clicks_on_its_beats_in_song_time() -> None:
    section = (round(1.25 * RATE), round(2.0 * RATE))
    track = ClickTrack(BeatGrid(120.0, 4, 0, True), RATE, section=section, speed=0.5)
    assert onsets(render(track, [8 * RATE])) == [0.0, 1.0, 2.0, 3.0, 4.5, 6.0, 7.5]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4096), min_size=1, max_size=40),
       st.floats(40, 300), st.integers(0, 1), st.integers(0, RATE),
       st.integers(RATE // 4, 2 * RATE))
def test_a_looped_click_is_the_same_however_the_blocks_fall(
        blocks: list[int], bpm: float, bars: int, start: int, span: int) -> None:
    grid = BeatGrid(bpm, 4, bars, True)
    section = (start, start + span)
    whole = render(ClickTrack(grid, RATE, section=section), [sum(blocks)])
    np.testing.assert_array_equal(
        render(ClickTrack(grid, RATE, section=section), blocks), whole)


def test_a_click_starts_and_ends_at_silence() -> None:
    sound = click_sound(RATE, 1760.0, 0.3)
    assert sound[0] == 0.0 and sound[-1] == 0.0
    assert 0.2 < np.abs(sound).max() <= 0.3


def test_a_tapped_first_beat_puts_every_click_a_whole_number_of_beats_from_it() -> None:
    # 120 bpm, the bar's first beat tapped at song time 0.3 s, a bar of count-in (2 s).
    track = ClickTrack(BeatGrid(120.0, 4, 1, True, first_beat_s=0.3), RATE)
    out = render(track, [5 * RATE])
    assert onsets(out) == [0.3, 0.8, 1.3, 1.8, 2.3, 2.8, 3.3, 3.8, 4.3, 4.8]
    peaks = [float(np.abs(out[round(t * RATE):round(t * RATE) + 1000, 0]).max())
             for t in onsets(out)]
    accents = [peak > 0.9 * max(peaks) for peak in peaks]  # 4 dB louder than the others
    # The count-in's beats are the song's grid carried back: the bar's first beat is
    # song time 0.3 s, so its beat 1 is 2.3 s out, and the count-in's at 0.3 s.
    assert accents == [True, False, False, False, True, False, False, False, True, False]
    assert [track.count_in_beat(round(t * RATE)) for t in (0.0, 0.3, 0.9, 1.9)] == [1, 1, 2, 4]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4096), min_size=1, max_size=40), st.floats(40, 300),
       st.floats(0, 30), st.integers(0, 2 * RATE))
def test_a_tapped_grid_is_the_same_however_the_blocks_fall(
        blocks: list[int], bpm: float, first_beat_s: float, start: int) -> None:
    grid = BeatGrid(bpm, 4, 1, True, first_beat_s=first_beat_s)
    whole = render(ClickTrack(grid, RATE, start_frames=start), [sum(blocks)])
    np.testing.assert_array_equal(render(ClickTrack(grid, RATE, start_frames=start), blocks),
                                  whole)
