"""The one clock every part of the box reads.

Real life uses :class:`MonotonicClock`; the simulator uses :class:`VirtualClock`, whose
seconds are advanced by the simulated sink as it takes frames, so a show runs as fast
as the CPU allows and gives the same output every time.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time in seconds."""

    def now(self) -> float:
        """Seconds on a monotonic scale (the origin means nothing)."""
        ...


class MonotonicClock:
    """Wall-clock time from :func:`time.monotonic`."""

    def now(self) -> float:
        return time.monotonic()


class VirtualClock:
    """Simulated time that moves only when :meth:`advance` is called."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s

    def now(self) -> float:
        return self._now_s

    def advance(self, seconds: float) -> None:
        """Move the clock forward; time never runs backwards."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now_s += seconds
