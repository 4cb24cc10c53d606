"""A section played over and over, in the decoder: ``loop=1:02-1:30``.

The decoder passes its frames (at the output rate) through a :class:`SectionLooper`. The
song plays as it is up to the section's end; from then on the section repeats from a copy
of it kept in memory (decoded once, so the file is not read again and no seek can land
off the sample), until the player lets the song go. Each seam is an equal-power
crossfade of :data:`SEAM_S`, centred on the section's ends: the frames just before its
end fade into those just before its start, so a pass lasts exactly ``end - start``
frames and the song's time at any frame is known (:func:`song_frame`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

SEAM_S = 0.006
"""Long enough that no seam clicks, short enough that no beat is smeared."""
LOOP_BLOCK_FRAMES = 16384
"""Frames put out at a time while looping from the copy."""


class FramesOut(Protocol):
    """Where the frames go (the decoder's held tail)."""

    def put(self, frames: np.ndarray) -> None: ...


def song_frame(position: int, start: int, end: int) -> int:
    """The song's frame at ``position`` frames into a stream that loops ``start..end``:
    straight on up to the end, then round the section."""
    if position < end:
        return position
    return start + (position - end) % (end - start)


class SectionLooper:
    """Passes a song's frames on until its section ``start..end`` (song frames at the
    output rate) is held whole, then plays that section over and over.

    The stream starts at song frame ``emit_from``: frames before it are held but not
    passed on (a stream started inside the section is decoded from :attr:`held_from`, just
    before the section's start). Set :attr:`position` to the song frame of the first frame
    that will be put in. The decoder's main thread only.
    """

    def __init__(self, out: FramesOut, start: int, end: int, emit_from: int,
                 seam_frames: int, channels: int = 2) -> None:
        self._out = out
        half = max(1, min(seam_frames // 2, (end - start) // 4))
        # The seam takes ``before`` frames from before each end and ``after`` from after it:
        # half and half, unless the section starts too near the song's start for that.
        self._before = min(half, start)
        self._seam = 2 * half
        self.start = start
        self.end = end
        self.position = emit_from
        """The song frame of the next frame to be put in."""
        self._emit_from = emit_from
        self.held_from = start - self._before
        """The first song frame the loop needs."""
        self._copy = np.zeros((end - start + self._seam, channels), np.float32)
        self._held = 0
        """Frames of the copy filled, from ``start - before`` on."""
        ramp = np.linspace(0.0, np.pi / 2, self._seam, dtype=np.float32)
        self._fade_in = np.sin(ramp)[:, None]
        self._fade_out = np.cos(ramp)[:, None]

    @property
    def holding_whole_section(self) -> bool:
        """True once every frame the loop needs is held: the source can stop."""
        return self._held == len(self._copy)

    def put(self, frames: np.ndarray) -> None:
        """The next frames of the song, in order."""
        first = self.position
        self.position += len(frames)
        # Held: the part inside start - half .. end + half.
        lo = max(first, self.held_from + self._held)
        hi = min(self.position, self.held_from + len(self._copy))
        if hi > lo:
            self._copy[lo - self.held_from:hi - self.held_from] = frames[lo - first:hi - first]
            self._held = hi - self.held_from
        # Passed on: what lies before the first seam, from where the stream starts.
        lo = max(first, self._emit_from)
        hi = min(self.position, self.end - self._before)
        if hi > lo:
            self._out.put(frames[lo - first:hi - first])

    def pass_on_held(self) -> None:
        """Pass on what is held past the first seam: the song ended before the section's
        end, so it plays out without a loop."""
        first = max(self.end - self._before, self._emit_from) - self.held_from
        if self._held > first:
            self._out.put(self._copy[first:self._held])

    def loop(self, passes: int | None = None) -> None:
        """Play the section from the copy, ``passes`` times (None: until the decoder is
        stopped), each a seam and the rest of the section; only once
        :attr:`holding_whole_section`, when :meth:`put` has passed on all before the first
        seam."""
        assert self.holding_whole_section
        span = self.end - self.start
        seam = (self._copy[span:] * self._fade_out + self._copy[:self._seam] * self._fade_in)
        # The section between its seams: song frames start + after .. end - before.
        body = self._copy[self._seam:span]
        done = 0
        while passes is None or done < passes:
            self._out.put(seam)
            self._put_in_blocks(body)
            done += 1

    def _put_in_blocks(self, frames: np.ndarray) -> None:
        for at in range(0, len(frames), LOOP_BLOCK_FRAMES):
            self._out.put(frames[at:at + LOOP_BLOCK_FRAMES])
