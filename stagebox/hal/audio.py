"""The audio sink interface: where the engine's blocks go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_FORMATS = ("S16_LE", "S24_3LE", "S24_LE", "S32_LE", "FLOAT_LE")


class DeviceLost(Exception):
    """The audio interface has gone (unplugged, or the driver gave up)."""


@dataclass(frozen=True)
class SinkConfig:
    """What an opened device actually runs at, read back after negotiation."""

    device: str
    rate: int
    channels: int
    sample_format: str
    """One of :data:`SAMPLE_FORMATS`."""
    period_frames: int
    buffer_frames: int

    @property
    def latency_s(self) -> float:
        """How long a frame waits in the device's buffer when it is full."""
        return self.buffer_frames / self.rate


class AudioSink(Protocol):
    """An opened playback device. Only the output thread calls :meth:`write`."""

    config: SinkConfig
    xruns: int
    """Underruns seen and recovered from since the sink was opened."""
    output_pair: int
    """The device's pair that the main bus goes to (1 = outputs 1-2)."""
    cue_pair: int
    """The device's pair that the cue bus goes to (2 = outputs 3-4), or 0: none."""
    cue_warning: str
    """Why the cue pair asked for cannot be had on this device, or ''."""

    def write(self, block: np.ndarray) -> None:
        """Play ``block``, the engine's float32 ``(frames, 2)`` (the main bus) or
        ``(frames, 4)`` (main and cue buses) in [-1, 1].

        The sink places the main bus on the device's channels (``output_pair`` on a 4-8
        channel interface, a mono downmix on a 1-channel one), the cue bus on
        :attr:`cue_pair` (dropped if 0), and converts them to the device's sample format.

        Blocks until the device has room (a real device) or until the simulated clock
        has moved on by the block's length (the simulator). Recovers from an underrun
        by itself, counting it in :attr:`xruns`. Raises :class:`DeviceLost` when the
        device is gone.
        """
        ...

    def drop(self) -> None:
        """Throw away what is queued and not yet heard (output thread)."""
        ...

    def close(self) -> None:
        """Release the device. Safe to call twice."""
        ...
