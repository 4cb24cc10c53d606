"""A simulated audio device that plays in real time: the wall clock paces its writes.

alsa-lib's ``null`` device takes audio as fast as it is written, so real-time behaviour
(pacing, underruns, how long a frame waits in the buffer) needs a model of a device.
:class:`PacedSink` encodes every block as :class:`~stagebox.hal.alsa.AlsaSink` does and
models a buffer of ``period_frames × periods`` frames drained at the device's rate:

- the stream starts with the first write (alsa-lib's default start threshold);
- a write blocks until there is room for its frames, and room appears a whole period at a
  time, as a real device wakes its writer at each period's interrupt;
- a write that arrives after the buffer ran dry is an underrun: it is counted, and the
  stream starts again with that write;
- :meth:`drop` discards what is queued: the next write's frames leave at once.

Frame ``k`` of the stream leaves the interface at ``origin + k / rate``: the sink's own
clock, by which :attr:`onsets_s` tells when sound started after silence.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from stagebox.hal.audio import SinkConfig
from stagebox.hal.formats import BlockEncoder, fit_cue_pair


class PacedSink:
    """An :class:`~stagebox.hal.audio.AudioSink` that plays in real time.

    The output thread calls :meth:`write` and :meth:`drop`; any thread may read
    :attr:`xruns`, :attr:`onsets_s` and :attr:`frames_written`.
    """

    def __init__(self, rate: int = 48000, channels: int = 2, sample_format: str = "S16_LE",
                 period_frames: int = 1024, periods: int = 4, max_block_frames: int = 4096,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, cue_pair: int = 0) -> None:
        self.config = SinkConfig(device="paced", rate=rate, channels=channels,
                                 sample_format=sample_format, period_frames=period_frames,
                                 buffer_frames=period_frames * periods)
        self.output_pair = 1
        self.cue_pair, self.cue_warning = fit_cue_pair(channels, self.output_pair, cue_pair)
        self.xruns = 0
        self.frames_written = 0
        self.onsets_s: list[float] = []
        """When each sound that follows silence left the interface (``clock`` seconds)."""
        self._clock = clock
        self._sleep = sleep
        self._encoder = BlockEncoder(sample_format, channels,
                                     max(max_block_frames, period_frames),
                                     cue_pair=self.cue_pair)
        self._origin_s: float | None = None
        self._silent = True

    def write(self, block: np.ndarray) -> None:
        """Take ``block``, float32 ``(frames, 2)`` or with the cue bus ``(frames, 4)``, once
        the modelled buffer has room."""
        self._encoder.encode(block)
        rate = self.config.rate
        written = self.frames_written
        now = self._clock()
        if self._origin_s is None:
            self._origin_s = now - written / rate
        elif (now - self._origin_s) * rate > written:
            self.xruns += 1
            self._origin_s = now - written / rate
        else:
            must_have_left = written + len(block) - self.config.buffer_frames
            if must_have_left > 0:
                period = self.config.period_frames
                wake_s = self._origin_s + math.ceil(must_have_left / period) * period / rate
                if wake_s > now:
                    self._sleep(wake_s - now)
        if block.any():
            if self._silent:
                first = int(np.argmax(block.any(axis=1)))
                self.onsets_s.append(self._origin_s + (written + first) / rate)
            self._silent = False
        else:
            self._silent = True
        self.frames_written = written + len(block)

    def drop(self) -> None:
        """Discard the queued frames: the next write starts the stream afresh."""
        self._origin_s = None

    def delay_frames(self) -> int:
        """Frames written but not yet heard."""
        if self._origin_s is None:
            return 0
        played = (self._clock() - self._origin_s) * self.config.rate
        return max(0, min(self.config.buffer_frames, round(self.frames_written - played)))

    def reopen(self, period_frames: int, periods: int) -> PacedSink:
        """Open the modelled device again with a buffer of ``periods`` of
        ``period_frames``: its stream starts afresh at the next write."""
        self.config = replace(self.config, period_frames=period_frames,
                              buffer_frames=period_frames * periods)
        self._origin_s = None
        return self

    def close(self) -> None:
        """Nothing to release."""
