"""Key and speed: a song's frames pitch-shifted and time-stretched as they stream, by
Rubber Band in real-time mode (:mod:`stagebox.audio.rubberband`).

Made and fed in the decoder process, between the resampler and the ring: a
:class:`Stretcher` takes blocks of any size, feeds the library slices of at most
:data:`MAX_PROCESS_FRAMES` (Rubber Band 3.1 mangles larger ones) and returns what came
out. Its output is aligned to song time: the first frame out is the first frame in (the
library's start pad and delay are taken care of), and a stream of N frames at speed s
comes out as exactly ``round(N / s)`` frames once :meth:`Stretcher.finish` has flushed
it. At key 0 and speed 100 % nothing needs stretching (:func:`needs_stretching`): the
decoder should make no Stretcher at all and pass the frames through.

Positions stay in song time: :func:`song_frames_at` and :func:`output_frames_for` convert
between frames played and frames of the song at one speed; a stream whose speed changed
while it ran keeps its :class:`SpeedTimeline`.

The two engines:

- ``"faster"``: Rubber Band's R2, with smooth transients (no phase reset at detected
  onsets). With R2's default crisp transients a steady 440 Hz tone came out up to 2 %
  off pitch and a bass note under drums up to 11 % (a semitone and more); smooth, both
  are exact, for softer drum attacks when slowed down. Either way R2 is phasey on steady
  pure tones: a sine lost up to 12 dB at some settings and starting phases (crisp
  transients: 1 dB, for their wrong pitch).
- ``"finer"``: Rubber Band's R3: exact pitch and steady level on all of those, better
  transients and stereo, for about 2.5 times the CPU. Formants are shifted with the
  pitch, not preserved: preserving them (meant for a solo voice) took a pure-tone mix
  down 17 dB at +12.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from stagebox.audio import rubberband
from stagebox.audio.rubberband import ChannelRows, RealTimeStretcher

Engine = Literal["faster", "finer"]
ENGINES: tuple[str, ...] = get_args(Engine)
MIN_KEY_SEMITONES = -12.0
MAX_KEY_SEMITONES = 12.0
MIN_SPEED = 0.5
MAX_SPEED = 1.5
MAX_PROCESS_FRAMES = 4096
"""The most frames given to the library in one call: Rubber Band 3.1 mangles blocks of
more than about 4,096 frames."""
RETRIEVE_FRAMES = 8192
START_FADE_S = 0.005
"""The stream's first frames fade in over this long (a raised cosine), so that it starts
from silence without a click."""
FINISH_MAX_CALLS = 64
"""Final calls that may each bring more of the tail before the library says it is done
(in practice one)."""

_ENGINE_OPTIONS = {
    "faster": rubberband.OPTION_ENGINE_FASTER | rubberband.OPTION_TRANSIENTS_SMOOTH,
    "finer": rubberband.OPTION_ENGINE_FINER,
}


def library_options(engine: Engine, adjustable: bool) -> int:
    """The Rubber Band options a :class:`Stretcher` adds to real-time mode and no
    threads, for ``engine`` and whether its key may change while it plays."""
    options = _ENGINE_OPTIONS[engine]
    return options | rubberband.OPTION_PITCH_HIGH_CONSISTENCY if adjustable else options


def check_key(semitones: float) -> float:
    """``semitones`` if it is a key the box plays (-12 to +12), else ValueError."""
    if not MIN_KEY_SEMITONES <= semitones <= MAX_KEY_SEMITONES:
        raise ValueError(f"key must be between {MIN_KEY_SEMITONES:+g} and "
                         f"{MAX_KEY_SEMITONES:+g} semitones, not {semitones:+g}")
    return float(semitones)


def check_speed(speed: float) -> float:
    """``speed`` (1.0 is as recorded) if the box plays it (50 % to 150 %), else
    ValueError."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be between {MIN_SPEED:.0%} and {MAX_SPEED:.0%}, "
                         f"not {speed:.0%}")
    return float(speed)


def check_engine(engine: str) -> Engine:
    """``engine`` if it is one of :data:`ENGINES`, else ValueError."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be {' or '.join(map(repr, ENGINES))}, not {engine!r}")
    return engine  # type: ignore[return-value]


def needs_stretching(key_semitones: float, speed: float) -> bool:
    """Whether a song at this key and speed must go through a :class:`Stretcher`: not at
    key 0 and speed 100 %, where the frames pass untouched."""
    return key_semitones != 0 or speed != 1


@dataclass(frozen=True)
class StretchSettings:
    """A key and a speed, checked on construction (ValueError), and the engine that
    renders them. Plain values, so a decode request can carry it as it is."""

    key_semitones: float = 0.0
    speed: float = 1.0
    """1.0 is the speed as recorded; 0.8 is 80 %, the song lasting 1.25 times longer."""
    engine: Engine = "faster"

    def __post_init__(self) -> None:
        check_key(self.key_semitones)
        check_speed(self.speed)
        check_engine(self.engine)

    @property
    def needs_stretching(self) -> bool:
        """Whether these settings change the song at all (see :func:`needs_stretching`)."""
        return needs_stretching(self.key_semitones, self.speed)


def output_frames_for(song_frames: int, speed: float) -> int:
    """Frames played for ``song_frames`` of a song at ``speed``: ``round(N / speed)``."""
    return round(song_frames / speed)


def song_frames_at(output_frames: int, speed: float) -> int:
    """Frames of the song behind ``output_frames`` played at ``speed``."""
    return round(output_frames * speed)


@dataclass(frozen=True)
class SpeedChange:
    """From song frame ``song_frame`` on (output frame ``output_frame``), ``speed``."""

    song_frame: int
    output_frame: float
    speed: float


class SpeedTimeline:
    """Song frames and output frames of one stream whose speed may change as it runs: a
    line of constant speed from each :class:`SpeedChange` to the next. Frames are counted
    from the stream's first (add its start in the song to get a song position)."""

    def __init__(self, speed: float) -> None:
        self.changes: list[SpeedChange] = [SpeedChange(0, 0.0, speed)]

    def change(self, song_frame: int, speed: float) -> None:
        """Play at ``speed`` from ``song_frame`` on (at or after the last change)."""
        last = self.changes[-1]
        if song_frame < last.song_frame:
            raise ValueError(f"speed change at song frame {song_frame}, before the last "
                             f"one ({last.song_frame})")
        if song_frame == last.song_frame:
            self.changes[-1] = SpeedChange(song_frame, last.output_frame, speed)
        else:
            self.changes.append(SpeedChange(song_frame, self.output_frame(song_frame), speed))

    def output_frame(self, song_frame: float) -> float:
        """The output frame (fractional) where ``song_frame`` of the stream is played."""
        change = self._in_force(song_frame, lambda change: change.song_frame)
        return change.output_frame + (song_frame - change.song_frame) / change.speed

    def song_frame(self, output_frame: float) -> float:
        """The song frame (fractional) played at ``output_frame`` of the stream."""
        change = self._in_force(output_frame, lambda change: change.output_frame)
        return change.song_frame + (output_frame - change.output_frame) * change.speed

    def _in_force(self, frame: float, start: Callable[[SpeedChange], float]) -> SpeedChange:
        """The last change whose ``start`` is at or before ``frame``."""
        found = self.changes[0]
        for change in self.changes[1:]:
            if start(change) > frame:
                break
            found = change
        return found


class Stretcher:
    """One stream of a song through Rubber Band at a key and a speed.

    Called from the decoder process's main thread only. ``adjustable`` makes key changes
    while streaming click-free (Rubber Band's ``OptionPitchHighConsistency``: a change is
    heard within about 3 ms of what has already come out), for about 1.5 times the CPU
    of the faster engine and 1.1 to 1.3 times the finer's; a stretcher made without it
    keeps its key (:meth:`set_key` refuses) but its speed may still change.
    """

    def __init__(self, rate: int, channels: int, settings: StretchSettings,
                 adjustable: bool = False) -> None:
        if rate <= 0 or channels <= 0:
            raise ValueError(f"cannot stretch {channels} channels at {rate} Hz")
        self._library = RealTimeStretcher(rate, channels,
                                          library_options(settings.engine, adjustable),
                                          1.0 / settings.speed,
                                          _pitch_scale(settings.key_semitones),
                                          MAX_PROCESS_FRAMES)
        self.settings = settings
        """The key and speed now (the latest :meth:`set_key` and :meth:`set_speed`)."""
        self.adjustable = adjustable
        self.channels = channels
        self.timeline = SpeedTimeline(settings.speed)
        self.song_frames_in = 0
        """Frames of the song given to :meth:`process` so far."""
        self.output_frames = 0
        """Frames returned so far."""
        self._in = ChannelRows(channels, MAX_PROCESS_FRAMES)
        self._retrieved = ChannelRows(channels, RETRIEVE_FRAMES)
        self._out = np.zeros((2 * RETRIEVE_FRAMES, channels), np.float32)
        self._finished = False
        self._waiting = 0
        """Frames in the input rows not yet given to the library."""
        self._fed_frames = 0
        """Frames of the song given to the library."""
        # The library smears an attack ahead of itself: a song that starts at full level
        # is at about half of it by song time 0, a step up from silence.
        fade_frames = max(1, round(START_FADE_S * rate))
        self._start_ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade_frames + 1)[:-1])
                            ).astype(np.float32)
        latency = self._library.latency()
        self._to_drop = latency.start_delay_frames
        # The start pad: silence the library needs before frame 0 to give it whole.
        for start in range(0, latency.start_pad_frames, MAX_PROCESS_FRAMES):
            self._library.process(self._in, min(MAX_PROCESS_FRAMES,
                                                latency.start_pad_frames - start), False)
        self._drain(0, self._allowed_frames())

    def process(self, block: np.ndarray) -> np.ndarray:
        """Stretch ``block``, float32 ``(frames, channels)`` of any length; the frames
        that came out (often fewer, or none, at first).

        The library is fed whole slices of :data:`MAX_PROCESS_FRAMES` (the rest waits for
        the next block), so the output is the same however the song is cut into blocks.
        The result is a view of a buffer the next call reuses: copy what must be kept.
        """
        self._check_streaming()
        if block.ndim != 2 or block.shape[1] != self.channels or block.dtype != np.float32:
            raise ValueError(f"expected float32 frames of {self.channels} channels, "
                             f"got {block.dtype} {block.shape}")
        produced = 0
        taken = 0
        while taken < len(block):
            piece = block[taken:taken + MAX_PROCESS_FRAMES - self._waiting]
            self._in.array[:, self._waiting:self._waiting + len(piece)] = piece.T
            self._waiting += len(piece)
            taken += len(piece)
            if self._waiting == MAX_PROCESS_FRAMES:
                produced = self._feed(produced, final=False)
        self.song_frames_in += len(block)
        self.output_frames += produced
        return self._out[:produced]

    def finish(self) -> np.ndarray:
        """The rest of the stream, after the last :meth:`process`: what the library still
        holds, cut or filled with silence so the whole stream has exactly the length its
        speeds give. Also a view of the reused buffer."""
        self._check_streaming()
        self._finished = True
        produced = self._feed(0, final=True)
        allowed = self._allowed_frames()
        for _ in range(FINISH_MAX_CALLS):
            if produced >= allowed or self._library.available() < 0:
                break
            self._library.process(self._in, 0, True)
            produced = self._drain(produced, allowed)
        missing = allowed - produced
        if missing > 0:
            self._reserve(produced + missing)
            self._out[produced:produced + missing] = 0.0
            produced += missing
        self.output_frames += produced
        self._library.close()
        return self._out[:produced]

    def set_speed(self, speed: float) -> None:
        """Play at ``speed`` from now on: heard within about 2,000 output frames (40 ms at
        48 kHz) of those already returned.

        The timeline places the change at the frames given to the library so far (up to
        :data:`MAX_PROCESS_FRAMES` before those given to :meth:`process`). The library
        applies it to the frames it still holds too, about 2,000 before that: after a
        change from 100 % to 80 % the audio runs about 10 ms (2,000 × (1/0.8 - 1) frames)
        behind the timeline, an offset that stays (the stream's length is still exact)."""
        check_speed(speed)
        self._check_streaming()
        self._library.set_time_ratio(1.0 / speed)
        self.timeline.change(self._fed_frames, speed)
        self.settings = StretchSettings(self.settings.key_semitones, speed,
                                        self.settings.engine)

    def set_key(self, semitones: float) -> None:
        """Play at ``semitones`` from now on: heard within about 3 ms of the frames already
        returned. Only on an ``adjustable`` stretcher (ValueError otherwise)."""
        check_key(semitones)
        self._check_streaming()
        if not self.adjustable:
            raise ValueError("this stream was made for a fixed key: make the Stretcher "
                             "with adjustable=True to change key while it plays")
        self._library.set_pitch_scale(_pitch_scale(semitones))
        self.settings = StretchSettings(semitones, self.settings.speed, self.settings.engine)

    def close(self) -> None:
        """Free the library's state (also done by :meth:`finish`, and when collected)."""
        self._finished = True
        self._library.close()

    def _check_streaming(self) -> None:
        if self._finished:
            raise RuntimeError("this stream is finished: make a new Stretcher")

    def _feed(self, produced: int, final: bool) -> int:
        """Give the library the frames waiting in the input rows; collect its output."""
        self._library.process(self._in, self._waiting, final)
        self._fed_frames += self._waiting
        self._waiting = 0
        return self._drain(produced, self._allowed_frames())

    def _allowed_frames(self) -> int:
        """Output frames that may still come: never past the song time fed so far."""
        return round(self.timeline.output_frame(self._fed_frames)) - self.output_frames

    def _drain(self, produced: int, allowed: int) -> int:
        """Move what the library has ready into the output buffer after its first
        ``produced`` frames, dropping the start delay first and stopping at ``allowed``
        frames in all; the frames now in the buffer."""
        while True:
            ready = self._library.available()
            wanted = min(ready, RETRIEVE_FRAMES, self._to_drop + allowed - produced)
            if wanted <= 0:
                return produced
            got = self._library.retrieve(self._retrieved, wanted)
            if got <= 0:
                return produced
            frames = self._retrieved.array[:, :got]
            if self._to_drop:
                dropped = min(self._to_drop, got)
                self._to_drop -= dropped
                frames = frames[:, dropped:]
            self._reserve(produced + frames.shape[1])
            self._out[produced:produced + frames.shape[1]] = frames.T
            self._fade_in(produced, frames.shape[1])
            produced += frames.shape[1]

    def _fade_in(self, start: int, frames: int) -> None:
        """Ramp the stream's first frames up, where they are among the ``frames`` put in
        the output buffer from ``start``."""
        done = self.output_frames + start
        if done >= len(self._start_ramp):
            return
        count = min(frames, len(self._start_ramp) - done)
        self._out[start:start + count] *= self._start_ramp[done:done + count, None]

    def _reserve(self, frames: int) -> None:
        """Grow the output buffer to hold ``frames`` (only for a longer block than any
        before: the buffer is kept and reused)."""
        if frames > len(self._out):
            grown = np.zeros((max(frames, 2 * len(self._out)), self.channels), np.float32)
            grown[:len(self._out)] = self._out
            self._out = grown


def _pitch_scale(semitones: float) -> float:
    return float(2.0 ** (semitones / 12.0))
