"""Play one song through the real output path onto an ALSA device, stalling once.

Run by ``test_alsa_xrun.py`` as a process of its own (``python paced_alsa_play.py DEVICE
SONG.npy STALL_AT_S STALL_S``), so that the PulseAudio server it plays to, named by the
``PULSE_SERVER`` variable, never becomes the test run's ALSA default. The song, a
``(frames, 2)`` float32 array, goes through the engine, the output pump and
:class:`~stagebox.hal.alsa.AlsaSink` as in the box; once the song is ``STALL_AT_S`` in,
the writer sleeps ``STALL_S``, as an output thread kept off the CPU would. Prints one
line of JSON: the events the pump posted.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from stagebox import events as ev
from stagebox.audio.engine import Engine
from stagebox.audio.output import OutputPump
from stagebox.hal.alsa import AlsaSink

RATE = 48000
SILENT_PASSES = 10
"""Passes of silence before the song and after it, as the box's stream runs between songs."""


class ArraySource:
    """A whole song held as an array (the engine's view of a track)."""

    channels = 2

    def __init__(self, frames: np.ndarray) -> None:
        self._frames = frames
        self._at = 0

    def read(self, out: np.ndarray) -> int:
        n = min(len(out), len(self._frames) - self._at)
        out[:n] = self._frames[self._at:self._at + n]
        self._at += n
        return n

    @property
    def finished(self) -> bool:
        return self._at >= len(self._frames)

    @property
    def error(self) -> str | None:
        return None


def main(device: str, song_path: str, stall_at_s: float, stall_s: float) -> None:
    engine = Engine(RATE)
    posted: list[object] = []
    pump = OutputPump(engine, lambda _: AlsaSink.open(device, rate=RATE, sample_format="S16_LE"),
                      posted.append)
    for _ in range(SILENT_PASSES):
        pump.pump()
    engine.cue(1, ArraySource(np.load(song_path)), 0.0)
    engine.play()
    stalled = ended = False
    while not ended:
        if not pump.pump():
            break
        if not stalled and engine.position_s(1) >= stall_at_s:
            time.sleep(stall_s)
            stalled = True
        ended = any(isinstance(notice, ev.TrackEnded) for notice in engine.take_notices())
    for _ in range(SILENT_PASSES):
        pump.pump()
    pump.close()
    print(json.dumps([{"event": type(event).__name__, **vars(event)} for event in posted]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
