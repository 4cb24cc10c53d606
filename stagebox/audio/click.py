"""The click and the count-in: beats generated from a song's own frame counter.

A :class:`ClickTrack` is made on the main loop when a song is cued (its two sounds are
rendered then) and used by the output thread, which asks it for each block's clicks.
Every beat's place is worked out afresh from the frame count, never by adding up
intervals, so the click cannot drift from the song however long it plays.

Time runs on one line of output frames from the moment the song is played: first the
count-in (whole bars of beats before song time 0), then the song itself. A beat ``k`` of
the song (``k = 0`` at its first beat, :attr:`BeatGrid.first_beat_s`, song time 0 unless a
tapped tempo says otherwise; negative before it) is at song frame
``first_beat + k * frames_per_beat``; at a speed other than 1 the song's frames pass
``speed`` times as fast as the output's, and the clicks with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stagebox.media.model import Song

CLICK_S = 0.025
"""How long each click sounds."""
ATTACK_S = 0.001
ACCENT_HZ = 1760.0
"""The first beat of a bar: an A, an octave and a fifth above the others' E."""
BEAT_HZ = 1318.5
CLICK_DB = -10.0
"""The click's level, dB of full scale (its decay has begun by the end of its attack, so
it peaks about 2 dB lower): clear over a band, well under clipping."""
ACCENT_DB = 0.0
"""How much louder the first beat of a bar is than the others."""
BEAT_DB = -4.0


@dataclass(frozen=True)
class BeatGrid:
    """What a song's clicks follow: its tempo and meter, and what to click."""

    bpm: float
    beats_per_bar: int = 4
    count_in_bars: int = 0
    """Bars of click before the song starts, when it is played from its start."""
    click_through: bool = False
    """A click through the song itself, not only the count-in."""
    main_fallback: bool = True
    """Without a cue pair to go to, the clicks go to the main pair (else nowhere)."""
    first_beat_s: float = 0.0
    """Song time of a bar's first beat: every beat is a whole number of beats from it."""


def beat_grid(song: Song, main_fallback: bool = True) -> BeatGrid | None:
    """The clicks ``song``'s options ask for, or None: no ``bpm=``, or nothing to click.

    ``main_fallback``: as :attr:`BeatGrid.main_fallback`.
    """
    if song.bpm is None or not (song.count_in_bars or song.click):
        return None
    return BeatGrid(song.bpm, song.meter.beats, song.count_in_bars, song.click,
                    main_fallback, song.first_beat_s)


def click_sound(rate: int, hz: float, peak: float) -> np.ndarray:
    """One click: a sine burst of :data:`CLICK_S` that rises over :data:`ATTACK_S` and
    decays to exactly zero, so it starts and ends without a step."""
    frames = max(2, round(CLICK_S * rate))
    t = np.arange(frames) / rate
    attack = np.minimum(1.0, t / ATTACK_S)
    # An exponential decay shaped by a half cosine so that its last sample is 0.
    decay = np.exp(-t / (CLICK_S / 5.0)) * 0.5 * (1.0 + np.cos(np.pi * t / t[-1]))
    return (peak * np.sin(2 * np.pi * hz * t) * attack * decay).astype(np.float32)


class ClickTrack:
    """The clicks of one song, played from ``start_frames`` (output rate) at ``speed``,
    round ``section`` (song frames ``start, end``) if its stream loops one.

    Made on the main loop; :meth:`add_to` belongs to the output thread from then on.
    """

    def __init__(self, grid: BeatGrid, rate: int, start_frames: int = 0,
                 speed: float = 1.0, section: tuple[int, int] | None = None) -> None:
        self.grid = grid
        self._frames_per_beat = 60.0 * rate / grid.bpm
        """Song frames (at the output rate) from one beat to the next."""
        self._first_beat = grid.first_beat_s * rate
        """The song frame of beat 0."""
        self._speed = speed
        self._start_frames = start_frames
        self._section = section
        # A count-in only before a song played from its start: not on a resume.
        self.count_in_beats = grid.count_in_bars * grid.beats_per_bar if start_frames == 0 \
            else 0
        self.count_in_frames = round(self.count_in_beats * self._frames_per_beat / speed)
        """Output frames of the count-in, before the song's first frame."""
        peak = 10.0 ** (CLICK_DB / 20.0)
        self._accent = click_sound(rate, ACCENT_HZ, peak * 10.0 ** (ACCENT_DB / 20.0))
        self._beat = click_sound(rate, BEAT_HZ, peak * 10.0 ** (BEAT_DB / 20.0))

    def _out_frames(self, stream_frames: float) -> int:
        """Where the stream's frame ``stream_frames`` (a song frame, unless the stream has
        gone round its section; negative in the count-in) falls on the output line."""
        return round((self.count_in_beats * self._frames_per_beat
                      + stream_frames - self._start_frames) / self._speed)

    def count_in_beat(self, out_frames: int) -> int:
        """Which beat of the count-in sounds at ``out_frames`` on the output line: 1 for
        its first (and before it, when a tapped tempo puts it after the count-in's start)."""
        song_frames = (out_frames * self._speed + self._start_frames
                       - self.count_in_beats * self._frames_per_beat)
        return max(1, self._beat_at(song_frames) - self._first_count_in_beat() + 1)

    def _beat_at(self, song_frames: float) -> int:
        """The beat sounding at song frame ``song_frames``."""
        return math.floor((song_frames - self._first_beat) / self._frames_per_beat + 1e-9)

    def _first_count_in_beat(self) -> int:
        """The first beat that falls in the count-in (``-count_in_beats`` on the song's
        own grid): the count-in is the whole beats before song time 0."""
        return math.ceil((-self.count_in_beats * self._frames_per_beat - self._first_beat)
                         / self._frames_per_beat - 1e-9)

    def add_to(self, out: np.ndarray, out_frames: int) -> None:
        """Add the clicks that sound in the block ``out`` (one bus, both its channels), which
        starts ``out_frames`` after the play (output thread). Each block's clicks are
        worked out from its place alone, so blocks may come in any size."""
        end = out_frames + len(out)
        for beat, at in self._onsets(out_frames - len(self._accent), end):
            sound = self._accent if beat % self.grid.beats_per_bar == 0 else self._beat
            first, last = max(at, out_frames), min(at + len(sound), end)
            if last > first:
                out[first - out_frames:last - out_frames] += sound[first - at:last - at, None]

    def _onsets(self, low: int, high: int) -> list[tuple[int, int]]:
        """(beat, output frame) of each click that starts in ``low..high``."""
        per_beat, first_beat = self._frames_per_beat, self._first_beat
        counted_from = self._first_count_in_beat()
        onsets = [(beat, at) for beat in range(counted_from, counted_from + self.count_in_beats)
                  if low <= (at := self._out_frames(first_beat + beat * per_beat)) < high]
        if not self.grid.click_through:
            return onsets
        first = max(low, self.count_in_frames)
        if first >= high:
            return onsets
        for stream_from, stream_to, song_from in self._segments(
                self._start_frames + (first - self.count_in_frames) * self._speed,
                self._start_frames + (high - self.count_in_frames) * self._speed):
            beat = math.ceil((song_from - first_beat) / per_beat - 1e-9)
            while first_beat + beat * per_beat < song_from + stream_to - stream_from:
                at = self._out_frames(stream_from + first_beat + beat * per_beat - song_from)
                if low <= at < high:
                    onsets.append((beat, at))
                beat += 1
        return onsets

    def _segments(self, stream_from: float,
                  stream_to: float) -> list[tuple[float, float, float]]:
        """The stream's frames ``stream_from..stream_to`` as runs of consecutive song
        frames: (stream from, stream to, song frame at its start); one run unless the
        stream goes round its section."""
        if self._section is None:
            return [(stream_from, stream_to, stream_from)]
        start, end = self._section
        runs = []
        if stream_from < end:
            runs.append((stream_from, min(stream_to, end), stream_from))
            stream_from = end
        span = end - start
        while stream_from < stream_to:
            song = start + (stream_from - end) % span
            run_to = min(stream_to, stream_from + (end - song))
            runs.append((stream_from, run_to, song))
            stream_from = run_to
        return runs
