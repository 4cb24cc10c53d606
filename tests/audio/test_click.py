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


def test_a_click_starts_and_ends_at_silence() -> None:
    sound = click_sound(RATE, 1760.0, 0.3)
    assert sound[0] == 0.0 and sound[-1] == 0.0
    assert 0.2 < np.abs(sound).max() <= 0.3
