"""A song swapped for itself decoded anew (a key, speed or loop change while it plays):
the music goes on from the same place, with no jump, gap or click."""

from __future__ import annotations

import numpy as np
from test_engine import BLOCK, RATE, ToneSource, max_step, music_step, render

from stagebox import events as ev
from stagebox.audio.engine import SWAP_CROSSFADE_S, Engine, Retired

PERIOD = 4800


class CountingSource:
    """A song whose every sample says which song frame it is (a slow sawtooth), served
    from ``start`` like a decoder started there; ``late_reads`` reads give nothing (the
    decoder is starting)."""

    channels = 2

    def __init__(self, start: int = 0, frames: int = 5 * RATE, late_reads: int = 0) -> None:
        self.pos = start
        self.end = frames
        self.late_reads = late_reads

    def read(self, out: np.ndarray) -> int:
        if self.late_reads:
            self.late_reads -= 1
            return 0
        n = min(len(out), self.end - self.pos)
        out[:n] = expected(np.arange(self.pos, self.pos + n))[:, None]
        self.pos += n
        return n

    @property
    def finished(self) -> bool:
        return self.pos >= self.end

    @property
    def error(self) -> str | None:
        return None


def expected(song_frames: np.ndarray) -> np.ndarray:
    return ((song_frames % PERIOD) / PERIOD - 0.5).astype(np.float32) * 0.5


def playing(engine: Engine, source: object, seconds: float) -> np.ndarray:
    engine.cue(1, source, 0.0)  # type: ignore[arg-type]
    engine.play()
    return render(engine, seconds)


def test_a_swap_that_follows_goes_on_from_the_place_the_song_has_reached_bit_for_bit():
    engine = Engine(RATE)
    before = playing(engine, CountingSource(), 1.0)
    asked_at = len(before)
    # The new decoder starts where the song was when the change was asked for, and its
    # first frames come a few blocks later, while the song plays on.
    engine.swap(2, CountingSource(asked_at, late_reads=4), 0.0, replaces=1, follow=True,
                start_frames=asked_at)
    after = render(engine, 1.0)
    audio = np.concatenate([before, after])[:, 0]
    # Skip the start ramp: from then on every frame is the song's next one, before,
    # during and after the crossfade, as if nothing had changed.
    frames = np.arange(len(audio))
    np.testing.assert_allclose(audio[1000:], expected(frames[1000:]), atol=1e-6)
    notices = engine.take_notices()
    assert ev.TrackReplaced(1, 2) in notices and Retired(1) in notices
    assert engine.position_s(2) == len(audio) / RATE


def test_a_key_change_crossfades_without_a_click():
    engine = Engine(RATE)
    before = playing(engine, ToneSource(4.0, hz=440.0), 1.0)
    # The "same song" a fifth up: the crossfade joins two different waves.
    engine.swap(2, ToneSource(4.0, hz=660.0), 0.0, replaces=1, follow=False)
    after = render(engine, 1.0)
    assert max_step(np.concatenate([before, after])[1000:]) < 1.5 * music_step(hz=660.0)
    crossfade_end = round(SWAP_CROSSFADE_S * RATE) + BLOCK
    spectrum = np.abs(np.fft.rfft(after[crossfade_end:, 0]))
    hz = np.fft.rfftfreq(len(after) - crossfade_end, 1 / RATE)[spectrum.argmax()]
    assert abs(hz - 660.0) < 2.0


def test_a_paused_song_is_replaced_silently_and_resumes_from_its_place():
    engine = Engine(RATE, fade_s=0.05)
    playing(engine, CountingSource(), 1.0)
    engine.pause()
    render(engine, 0.2)
    place = round(engine.position_s(1) * RATE)
    engine.swap(2, CountingSource(place), 0.0, replaces=1, follow=True, start_frames=place)
    assert not render(engine, 0.2).any()
    assert ev.TrackReplaced(1, 2) in engine.take_notices()
    engine.play()
    resumed = render(engine, 0.5)[:, 0]
    np.testing.assert_allclose(resumed[1000:], expected(place + np.arange(1000, len(resumed))),
                               atol=1e-6)


def test_a_pause_while_the_new_stream_is_on_its_way_still_pauses():
    engine = Engine(RATE, fade_s=0.05)
    playing(engine, CountingSource(), 1.0)
    engine.swap(2, CountingSource(RATE, late_reads=30), 0.0, replaces=1, follow=True,
                start_frames=RATE)
    engine.pause()
    tail = render(engine, 1.0)
    assert not tail[round(0.06 * RATE):].any()
    engine.take_notices()
    engine.play()
    assert render(engine, 0.2).any()


def test_a_swap_for_a_song_that_is_no_longer_current_is_never_heard():
    engine = Engine(RATE)
    playing(engine, ToneSource(2.0), 0.5)
    engine.stop()
    render(engine, 1.0)
    engine.take_notices()
    engine.swap(2, ToneSource(2.0, hz=660.0), 0.0, replaces=1, follow=True)
    assert not render(engine, 0.5).any()
    notices = engine.take_notices()
    assert Retired(2) in notices and not any(isinstance(n, ev.TrackReplaced) for n in notices)


def test_a_song_that_ends_before_the_new_stream_reaches_its_place_plays_out_and_ends():
    engine = Engine(RATE)
    place = len(playing(engine, CountingSource(frames=RATE), 0.9))
    engine.swap(2, CountingSource(place, frames=RATE, late_reads=100), 0.0,
                replaces=1, follow=True, start_frames=place)
    render(engine, 0.5)
    notices = engine.take_notices()
    assert ev.TrackEnded(1, False, None) in notices and Retired(2) in notices


def test_at_another_speed_the_place_is_kept_in_song_time():
    engine = Engine(RATE)
    place = len(playing(engine, CountingSource(), 1.0))
    # Song time runs 0.8 times as fast in the new stream: its frames stand for less.
    engine.swap(2, CountingSource(place), 0.0, replaces=1, follow=True, start_frames=place,
                speed=0.8)
    played = len(render(engine, 1.0))
    assert engine.position_s(2) == (place + round(played * 0.8)) / RATE
