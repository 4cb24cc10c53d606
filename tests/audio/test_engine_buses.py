"""The engine's two buses: the music to the audience's pair, the click and cue channels to
the band's, and nothing of one in the other."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine import BLOCK, RATE, ToneSource, render

from stagebox.audio.click import BeatGrid
from stagebox.audio.engine import Engine

COUNT_IN = BeatGrid(120.0, 4, 1)
"""A bar of 4/4 at 120 bpm before the song: four clicks 0.5 s apart, 2 s in all."""


class CueToneSource(ToneSource):
    """A song decoded with its cue channels: a 440 Hz tone on the main pair and a
    constant level on the cue pair, so each bus can be told apart."""

    channels = 4

    def __init__(self, seconds: float, cue_level: float = 0.25) -> None:
        super().__init__(seconds)
        cue = np.full((len(self.frames), 2), cue_level, np.float32)
        self.frames = np.concatenate([self.frames, cue], axis=1)


def played(engine: Engine, source: ToneSource, seconds: float, *, gain_db: float = 0.0,
           beats: BeatGrid | None = None) -> np.ndarray:
    engine.cue(1, source, gain_db, beats=beats)
    engine.play()
    return render(engine, seconds)


def onsets(channel: np.ndarray) -> list[float]:
    """Seconds at which each click starts (the first sounding sample after silence)."""
    sounding = np.flatnonzero(channel)
    starts = sounding[np.diff(sounding, prepend=-RATE) > RATE // 10]
    return [round(at / RATE, 2) for at in starts]


def test_a_stereo_song_in_an_engine_with_a_cue_bus_leaves_the_cue_bus_digital_silence():
    out = played(Engine(RATE, buses=2), ToneSource(1.0), 0.5)
    assert out.shape[1] == 4
    assert np.abs(out[:, :2]).max() > 0.4
    assert not out[:, 2:].any()


def test_with_a_cue_pair_the_count_in_reaches_the_cue_bus_only():
    engine = Engine(RATE, buses=2)
    engine.cue_live = True
    out = played(engine, ToneSource(1.0), 2.5, beats=COUNT_IN)
    count_in = out[:2 * RATE]
    assert not count_in[:, :2].any(), "the audience hears nothing of the count-in"
    assert onsets(count_in[:, 2]) == [0.0, 0.5, 1.0, 1.5]
    np.testing.assert_array_equal(out[:, 2], out[:, 3])
    song = out[2 * RATE:]
    assert np.abs(song[:, :2]).max() > 0.4, "the song starts after the count-in"
    assert not song[:, 2:].any(), "no click through the song was asked for"


def test_a_click_through_the_song_stays_off_the_music():
    engine = Engine(RATE, buses=2)
    engine.cue_live = True
    out = played(engine, ToneSource(2.0), 2.0, beats=BeatGrid(120.0, 4, 0, True))
    plain = played(Engine(RATE), ToneSource(2.0), 2.0)
    np.testing.assert_array_equal(out[:, :2], plain)
    assert onsets(out[:, 2]) == [0.0, 0.5, 1.0, 1.5]


@pytest.mark.parametrize("buses", [1, 2])
def test_without_a_cue_pair_the_click_goes_to_the_main_pair_if_allowed(buses: int):
    out = played(Engine(RATE, buses=buses), ToneSource(1.0), 2.0, beats=COUNT_IN)
    assert onsets(out[:, 0]) == [0.0, 0.5, 1.0, 1.5]
    assert not out[:, 2:].any()


@pytest.mark.parametrize("buses", [1, 2])
def test_without_a_cue_pair_a_show_mode_click_set_to_off_is_heard_nowhere(buses: int):
    beats = BeatGrid(120.0, 4, 1, True, main_fallback=False)
    out = played(Engine(RATE, buses=buses), ToneSource(1.0), 3.0, beats=beats)
    assert not out[:2 * RATE].any(), "the count-in waits in silence"
    assert not out[:, 2:].any()
    to_cue = Engine(RATE, buses=2)
    to_cue.cue_live = True
    music = played(to_cue, ToneSource(1.0), 3.0, beats=beats)[:, :2]
    np.testing.assert_array_equal(out[:, :2], music, "the song alone, on its beat")


def test_a_songs_cue_channels_play_on_the_cue_bus_at_their_own_level():
    engine = Engine(RATE, volume_db=-6.0, buses=2)
    out = played(engine, CueToneSource(1.0), 0.5, gain_db=-6.0)
    steady = out[RATE // 10:]
    assert np.abs(steady[:, :2]).max() == pytest.approx(0.5 * 10 ** (-12 / 20), rel=1e-3)
    np.testing.assert_allclose(steady[:, 2:], 0.25, rtol=1e-6)


def test_a_pause_fades_the_cue_bus_with_the_music():
    engine = Engine(RATE, fade_s=0.1, buses=2)
    played(engine, CueToneSource(2.0), 0.5)
    engine.pause()
    fade = render(engine, 0.2)
    cue = fade[:, 2]
    assert cue[0] > 0.2 and not fade[round(0.11 * RATE):].any()
    assert np.all(np.diff(cue[:round(0.1 * RATE)]) <= 1e-7), "a ramp, never a step"


def test_a_swap_carries_the_cue_bus_on_without_a_gap():
    engine = Engine(RATE, buses=2)
    played(engine, CueToneSource(3.0), 0.5)
    replacement = CueToneSource(3.0)
    replacement.pos = round(0.5 * RATE)
    engine.swap(2, replacement, 0.0, replaces=1, follow=False)
    out = render(engine, 0.5)
    np.testing.assert_allclose(out[:, 2:], 0.25, rtol=1e-6)


def test_blocks_of_any_size_render_the_same_buses():
    def run(block: int) -> np.ndarray:
        engine = Engine(RATE, buses=2)
        engine.cue_live = True
        engine.cue(1, CueToneSource(1.0), -3.0, beats=BeatGrid(100.0, 3, 1, True))
        engine.play()
        frames = 3 * RATE
        return np.concatenate([engine.render(min(block, frames - at)).copy()
                               for at in range(0, frames, block)])

    np.testing.assert_array_equal(run(BLOCK), run(333))


def test_an_engine_has_one_or_two_buses():
    with pytest.raises(ValueError, match="1 or 2 buses"):
        Engine(RATE, buses=3)
