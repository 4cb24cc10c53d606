"""A song's guide track: spoken cues for the band ("verse", "chorus in 3, 2, 1").

A setlist's ``cue=`` option names a file that plays with its song on the cue bus only.
The decoder reads it beside the song and lays it on the song's cue bus as the song's
frames come out of their resampler, before the looper and the stretcher: the two are one
stream from then on, so the guide is sample-locked to the song by construction. It goes
round a loop with the song, follows a speed or key change, and starts where a resumed
song starts.

The guide's own rate is resampled to the output's; a mono guide goes to both sides of the
cue bus, of more channels the first two are taken. A guide shorter than its song falls
silent at its end; a longer one stops with the song. A guide that is damaged falls silent
where the damage is and says why in :attr:`GuideTrack.error`: the song plays on.
"""

from __future__ import annotations

import numpy as np
import soxr

from stagebox.audio.sources import Source, SourceError

BLOCK_FRAMES = 16384
"""The guide's frames decoded at a time (at its own rate)."""


class GuideTrack:
    """The guide ``source``, laid on the cue bus of a song stream at ``out_rate``. The
    decoder's main thread only."""

    def __init__(self, source: Source, out_rate: int) -> None:
        self._source = source
        self._out_rate = out_rate
        self.error: str | None = None
        """Why the guide fell silent before its end, if it did."""
        self._block = np.zeros((BLOCK_FRAMES, source.channels), np.float32)
        self._resampler = (soxr.ResampleStream(source.rate, out_rate, 2, dtype="float32",
                                               quality="HQ")
                           if source.rate != out_rate else None)
        self._pending = np.zeros((0, 2), np.float32)
        """Frames at the output rate, decoded and not yet laid on the song."""
        self._ended = False

    def start_at(self, song_frame: int) -> None:
        """The stream starts at ``song_frame`` (at the output rate): so does the guide.
        Once, before the first :meth:`lay_on`."""
        source = self._source
        start = round(song_frame * source.rate / self._out_rate)
        if start >= max(0, source.frames) > 0:
            self._ended = True  # a resume past the guide's end
            return
        try:
            source.skip_to(start)
        except SourceError:
            self._fail("cannot seek in it")

    def lay_on(self, frames: np.ndarray) -> np.ndarray:
        """``frames`` of the song, ``(n, 2)`` (the main bus) or ``(n, 4)`` (with its own
        cue bus), with the guide's next ``n`` frames added to the cue bus: four columns."""
        count = len(frames)
        if frames.shape[1] == 2:
            wide = np.zeros((count, 4), np.float32)
            wide[:, :2] = frames
            frames = wide
        while len(self._pending) < count and not self._ended:
            self._decode_more()
        laid = min(count, len(self._pending))
        frames[:laid, 2:4] += self._pending[:laid]
        self._pending = self._pending[laid:]
        return frames

    def close(self) -> None:
        """Close the guide's file."""
        self._source.close()

    def _decode_more(self) -> None:
        try:
            got = self._source.read(self._block)
        except SourceError as exc:
            self._fail("cut short" if exc.cut_short else "damaged")
            got = 0
        if got == 0:
            self._ended = True
            if self._resampler is not None:
                self._append(self._resampler.resample_chunk(np.zeros((0, 2), np.float32),
                                                            last=True))
            return
        block = self._block[:got]
        stereo = (np.repeat(block, 2, axis=1) if block.shape[1] == 1
                  else np.ascontiguousarray(block[:, :2]))
        self._append(self._resampler.resample_chunk(stereo) if self._resampler else stereo)

    def _append(self, frames: np.ndarray) -> None:
        if len(frames):
            self._pending = np.concatenate([self._pending, frames])

    def _fail(self, why: str) -> None:
        self.error = f"guide track {why}"
        self._ended = True
