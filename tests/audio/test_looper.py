"""The section looper: a loop that repeats exactly, with seams that do not click."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagebox.audio.looper import SectionLooper, song_frame

RATE = 48000
SEAM = 288  # 6 ms


class Collect:
    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def put(self, frames: np.ndarray) -> None:
        self.parts.append(frames.copy())

    @property
    def frames(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros((0, 2), np.float32)


def ramp_song(frames: int) -> np.ndarray:
    """Each frame holds its own index: where any output frame came from is plain."""
    index = np.arange(frames, dtype=np.float32)
    return np.stack([index, index], axis=1)


def run(start: int, end: int, emit_from: int, song: np.ndarray, blocks: list[int],
        passes: int) -> np.ndarray:
    out = Collect()
    looper = SectionLooper(out, start, end, emit_from, SEAM)
    looper.position = min(emit_from, looper.held_from)
    at = looper.position
    for frames in itertools.cycle(blocks):
        looper.put(song[at:at + frames])
        at += frames
        if looper.holding_whole_section:
            looper.loop(passes)
            return out.frames
        assert at < len(song), "the looper never held its section"
    raise AssertionError("unreachable")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3000), st.integers(2000, 6000), st.lists(st.integers(1, 5000),
                                                               min_size=1, max_size=5),
       st.data())
def test_each_pass_is_the_section_and_every_frame_is_where_song_frame_says(
        start: int, length: int, blocks: list[int], data: st.DataObject) -> None:
    end = start + length
    emit_from = data.draw(st.integers(0, end - SEAM))  # as the decoder allows
    song = ramp_song(end + 4 * SEAM)
    frames = run(start, end, emit_from, song, blocks, passes=3)
    # Up to the first seam (which takes min(half, start) frames before the end), then
    # three passes of exactly the section's length.
    assert len(frames) == end - min(SEAM // 2, start) - emit_from + 3 * length
    for offset, value in enumerate(frames[:, 0]):
        expected = song_frame(emit_from + offset, start, end)
        # In a seam the frames are a blend of both ends: check only outside them.
        if abs(expected - start) > SEAM and abs(expected - end) > SEAM:
            assert value == expected


def test_a_seam_is_a_crossfade_with_no_step() -> None:
    t = np.arange(RATE * 3) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    song = np.stack([tone, tone], axis=1)
    # A section whose ends do not meet in phase: a cut would step.
    frames = run(RATE // 2, RATE + 1234, 0, song, [4096], passes=4)
    steps = np.abs(np.diff(frames[:, 0]))
    assert steps.max() < 2 * 0.5 * 2 * np.pi * 440 / RATE


def test_a_song_that_ends_before_the_loop_plays_out_unlooped() -> None:
    song = ramp_song(10_000)
    out = Collect()
    looper = SectionLooper(out, 2000, 20_000, 0, SEAM)
    looper.position = 0
    looper.put(song)
    assert not looper.holding_whole_section
    looper.pass_on_held()
    np.testing.assert_array_equal(out.frames, song)


@pytest.mark.parametrize("position", [0, 999, 1000, 1500, 2999, 3000, 4000, 10_000])
def test_song_frame_runs_on_then_round_the_section(position: int) -> None:
    expected = position if position < 3000 else 1000 + (position - 3000) % 2000
    assert song_frame(position, 1000, 3000) == expected
