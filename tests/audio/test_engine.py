"""The engine's output: the right song, at the right level, with no clicks."""

from __future__ import annotations

import numpy as np

from stagebox import events as ev
from stagebox.audio.engine import Engine, Retired

RATE = 48000
BLOCK = 512


class ToneSource:
    """A sine of ``seconds``, served exactly like a decoded song."""

    channels = 2

    def __init__(self, seconds: float, hz: float = 440.0, level: float = 0.5,
                 late_blocks: int = 0, error: str | None = None) -> None:
        t = np.arange(int(seconds * RATE)) / RATE
        wave = (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        self.frames = np.stack([wave, wave], axis=1)
        self.pos = 0
        self.late_blocks = late_blocks
        self._error = error

    def read(self, out: np.ndarray) -> int:
        if self.late_blocks:
            self.late_blocks -= 1
            return 0
        n = min(len(out), len(self.frames) - self.pos)
        out[:n] = self.frames[self.pos:self.pos + n]
        self.pos += n
        return n

    @property
    def finished(self) -> bool:
        return self.pos >= len(self.frames)

    @property
    def error(self) -> str | None:
        return self._error if self.finished else None


def render(engine: Engine, seconds: float) -> np.ndarray:
    blocks = [engine.render(BLOCK).copy() for _ in range(int(seconds * RATE / BLOCK))]
    return np.concatenate(blocks)


def max_step(audio: np.ndarray) -> float:
    return float(np.abs(np.diff(audio[:, 0])).max())


def music_step(level: float = 0.5, hz: float = 440.0) -> float:
    return level * 2 * np.pi * hz / RATE


def test_nothing_sounds_until_play_then_the_song_comes_out():
    engine = Engine(RATE)
    engine.cue(1, ToneSource(1.0), 0.0)
    assert not render(engine, 0.2).any()
    engine.play()
    out = render(engine, 0.5)
    assert abs(np.abs(out[2000:]).max() - 0.5) < 0.01
    assert ev.TrackStarted(1) in engine.take_notices()


def test_start_pause_resume_and_stop_have_no_clicks():
    engine = Engine(RATE, fade_s=0.2)
    engine.cue(1, ToneSource(3.0), 0.0)
    engine.play()
    parts = [render(engine, 0.5)]
    engine.pause()
    parts.append(render(engine, 0.5))
    engine.play()
    parts.append(render(engine, 0.5))
    engine.stop()
    parts.append(render(engine, 0.5))
    audio = np.concatenate(parts)
    assert max_step(audio) <= music_step() * 1.05
    assert not parts[1][-BLOCK:].any(), "pause is silent once faded"
    assert not parts[3][-BLOCK:].any(), "stop is silent once faded"


def test_pause_holds_the_position():
    engine = Engine(RATE, fade_s=0.1)
    engine.cue(7, ToneSource(3.0), 0.0)
    engine.play()
    render(engine, 1.0)
    engine.pause()
    render(engine, 0.5)
    held = engine.position_s(7)
    render(engine, 1.0)
    assert engine.position_s(7) == held
    assert 1.0 < held < 1.2


def test_a_song_that_goes_straight_on_joins_without_a_gap():
    engine = Engine(RATE)
    first, second = ToneSource(0.5011, hz=440.0), ToneSource(1.0, hz=440.0)
    engine.cue(1, first, 0.0)
    engine.queue_next(2, second, 0.0)
    engine.play()
    audio = render(engine, 1.2)
    notices = engine.take_notices()
    assert ev.TrackEnded(1, True, None) in notices
    assert ev.TrackStarted(2) in notices
    assert Retired(1) in notices
    joined = len(first.frames)
    np.testing.assert_array_equal(audio[joined:joined + 100], second.frames[:100])
    assert np.abs(audio[240:int(1.1 * RATE)]).min(axis=1).max() > 0


def test_the_end_of_a_song_is_reported_once_and_then_silence():
    engine = Engine(RATE)
    engine.cue(1, ToneSource(0.3), 0.0)
    engine.play()
    audio = render(engine, 0.6)
    ended = [n for n in engine.take_notices() if isinstance(n, ev.TrackEnded)]
    assert ended == [ev.TrackEnded(1, False, None)]
    assert not audio[int(0.31 * RATE):].any()


def test_song_gain_and_volume_set_the_level():
    engine = Engine(RATE, volume_db=-6.0)
    engine.cue(1, ToneSource(2.0, level=0.5), -6.0)
    engine.play()
    out = render(engine, 0.5)
    assert abs(np.abs(out[1000:]).max() - 0.5 * 10 ** (-12 / 20)) < 0.005


def test_a_gain_set_after_the_cue_holds_until_the_song_has_sounded():
    engine = Engine(RATE)
    engine.cue(1, ToneSource(2.0, level=0.5), 0.0)
    render(engine, 0.1)
    engine.set_gain(1, -6.0)  # its loudness was measured while it waited, cued
    engine.play()
    out = render(engine, 0.5)
    assert abs(np.abs(out[1000:]).max() - 0.5 * 10 ** (-6 / 20)) < 0.005
    engine.set_gain(1, 0.0)  # heard already: no step mid-song
    assert abs(np.abs(render(engine, 0.5)).max() - 0.5 * 10 ** (-6 / 20)) < 0.005


def test_a_volume_change_ramps_without_a_click():
    engine = Engine(RATE)
    engine.cue(1, ToneSource(2.0, level=0.9, hz=50.0), 0.0)
    engine.play()
    before = render(engine, 0.3)
    engine.set_volume(-20.0)
    after = render(engine, 0.5)
    audio = np.concatenate([before, after])
    assert max_step(audio) <= music_step(0.9, 50.0) * 1.05
    assert abs(np.abs(after[-4800:]).max() - 0.9 * 0.1) < 0.005


def test_a_late_decoder_gives_silence_not_a_crash_and_the_song_resumes_in_place():
    engine = Engine(RATE)
    source = ToneSource(1.0, late_blocks=2)
    engine.cue(1, source, 0.0)
    engine.play()
    out = render(engine, 0.2)
    assert engine.late_frames == 2 * BLOCK
    assert not out[:2 * BLOCK].any() and out[2 * BLOCK:].any()
    assert engine.position_s(1) == (len(out) - 2 * BLOCK) / RATE


def test_a_song_whose_decoder_failed_ends_with_the_reason():
    engine = Engine(RATE)
    engine.cue(1, ToneSource(0.1, error="decoder crashed"), 0.0)
    engine.play()
    render(engine, 0.2)
    assert ev.TrackEnded(1, False, "decoder crashed") in engine.take_notices()


def test_cueing_a_new_song_while_one_plays_fades_the_old_one_out():
    engine = Engine(RATE, fade_s=0.1)
    engine.cue(1, ToneSource(2.0), 0.0)
    engine.play()
    before = render(engine, 0.3)
    engine.cue(2, ToneSource(2.0, hz=880.0), 0.0)
    after = render(engine, 0.3)
    assert max_step(np.concatenate([before, after])) <= music_step() * 1.05
    assert not after[-BLOCK:].any()
    assert Retired(1) in engine.take_notices()


def test_halt_silences_at_once_and_keeps_the_place():
    engine = Engine(RATE, fade_s=0.5)
    engine.cue(1, ToneSource(3.0), 0.0)
    engine.play()
    render(engine, 0.5)
    engine.halt()
    place = engine.position_s(1)
    assert not render(engine, 0.2).any()
    assert engine.position_s(1) == place
    engine.play()
    assert render(engine, 0.2).any()


def test_silent_run_counts_silence_and_resets_when_a_song_sounds():
    engine = Engine(RATE)
    engine.cue(1, ToneSource(1.0), 0.0)
    render(engine, 0.1)
    assert engine.silent_run_frames == 9 * BLOCK
    engine.play()
    engine.render(BLOCK)
    assert engine.silent_run_frames == 0


def test_a_song_alone_comes_out_bit_for_bit_as_it_does_beside_another_voice():
    # Alone, the song is copied straight into the block; while a cued-over song fades
    # (here one of digital silence), it is added to that one's frames. Same bits.
    def song_blocks(engine: Engine, blocks: int) -> list[np.ndarray]:
        return [engine.render(BLOCK).copy() for _ in range(blocks)]

    alone = Engine(RATE, fade_s=1.0)
    alone.cue(1, ToneSource(1.0, level=0.7), -3.0)
    alone.play()
    alone_blocks = song_blocks(alone, 40)

    beside = Engine(RATE, fade_s=1.0)
    silent = ToneSource(2.0, level=0.0)
    beside.cue(1, silent, 0.0)
    beside.play()
    beside.render(BLOCK)
    beside.cue(2, ToneSource(1.0, level=0.7), -3.0)
    beside.play()
    beside_blocks = song_blocks(beside, 40)

    assert silent.pos > BLOCK * 30  # the fading voice was mixed throughout
    for got, expected in zip(beside_blocks, alone_blocks, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_blocks_of_any_size_give_the_same_song_and_join():
    # The output thread renders one period in silence and several while music plays.
    def play(sizes: list[int]) -> np.ndarray:
        engine = Engine(RATE)
        engine.cue(1, ToneSource(0.3, hz=300.0), 0.0)
        engine.queue_next(2, ToneSource(0.3, hz=500.0), 0.0)
        engine.play()
        blocks = []
        for i in range(int(0.7 * RATE) // 512):
            blocks.append(engine.render(sizes[i % len(sizes)]).copy())
        return np.concatenate(blocks)

    small = play([512])
    mixed = play([512, 2048, 1024, 4096])
    length = min(len(small), len(mixed))
    np.testing.assert_array_equal(small[:length], mixed[:length])
    assert max_step(mixed[:length]) <= music_step(hz=500.0) * 1.01


def test_a_song_that_runs_out_while_a_pause_fades_it_does_not_go_on():
    engine = Engine(RATE, fade_s=0.5)
    engine.cue(1, ToneSource(1.0), 0.0)
    second = ToneSource(1.0, hz=880.0)
    engine.queue_next(2, second, 0.0)
    engine.play()
    render(engine, 0.7)
    engine.pause()  # 0.3 s before the end: the fade is cut short by the end
    audio = render(engine, 1.0)
    notices = engine.take_notices()
    assert ev.TrackEnded(1, False, None) in notices
    assert ev.TrackStarted(2) not in notices
    assert not audio[int(0.31 * RATE):].any(), "silent after the end: the next song waits"
    assert second.pos == 0
    engine.cue(2, second, 0.0)  # the queued song, cued: it moves, it is not retired
    assert not render(engine, 0.1).any()
    engine.play()
    assert render(engine, 0.2).any()
    assert Retired(2) not in engine.take_notices()


def test_a_song_just_joined_and_paused_or_stopped_before_its_first_frame_never_sounds():
    for stop in (Engine.pause, Engine.stop):
        engine = Engine(RATE, fade_s=0.5)
        engine.cue(1, ToneSource(BLOCK * 4 / RATE), 0.0)
        engine.queue_next(2, ToneSource(1.0, hz=880.0), 0.0)
        engine.play()
        render(engine, BLOCK * 4 / RATE)  # the first song's last frame is the block's last
        assert ev.TrackEnded(1, True, None) in engine.take_notices()
        stop(engine)
        assert not render(engine, 0.3).any(), stop.__name__
        assert ev.TrackStarted(2) not in engine.take_notices()


def test_play_and_pause_in_one_batch_leave_the_song_silent_and_in_place():
    """A PLAY that reached the engine just before the player heard the interface had gone,
    then the pause for that: applied together when the interface returns."""
    engine = Engine(RATE, fade_s=0.5)
    source = ToneSource(2.0)
    engine.cue(1, source, 0.0)
    engine.play()
    render(engine, 0.5)
    engine.halt()
    place = engine.position_s(1)
    engine.take_notices()
    engine.play()
    engine.pause()
    assert not render(engine, 0.3).any()
    assert engine.position_s(1) == place


def test_a_looping_song_says_each_time_it_goes_back_to_its_loops_start():
    # A stream that plays song frames 0.. with the section 0.5-1.0 s looped at 80 %.
    engine = Engine(RATE)
    section = (RATE // 2, RATE)
    engine.cue(1, ToneSource(3.0), 0.0, section=section, speed=0.8)
    engine.play()
    rounds = []
    for _ in range(round(3.0 * RATE / 1024)):
        engine.render(1024)
        rounds += [n for n in engine.take_notices() if isinstance(n, ev.LoopWentRound)]
    # Song frames reach 1.0 s at 1.25 s of output, then each half second of song (0.625
    # s of output) goes round again: 1.25, 1.875, 2.5 s.
    assert rounds == [ev.LoopWentRound(1, 1), ev.LoopWentRound(1, 2), ev.LoopWentRound(1, 3)]
