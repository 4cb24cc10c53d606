"""The output thread: the one thread that owns the PCM.

It pulls a block from the engine and writes it, forever, silence included, so a start is
instant and the interface never pops. When the interface goes away it says so, waits, and
opens it again; the player has paused the song at its place meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from stagebox import events as ev
from stagebox.audio.engine import Engine
from stagebox.hal.audio import AudioSink, DeviceLost

log = logging.getLogger(__name__)

REOPEN_INTERVAL_S = 1.0


class OutputThread(threading.Thread):
    """Feeds ``engine`` blocks to the sink made by ``open_sink``."""

    def __init__(self, engine: Engine, open_sink: Callable[[], AudioSink],
                 post: Callable[[object], None], sink: AudioSink | None = None) -> None:
        super().__init__(name="stagebox-output", daemon=True)
        self._engine = engine
        self._open_sink = open_sink
        self._post = post
        self._stop_event = threading.Event()
        self.sink = sink
        self.alive_count = 0
        """Passes of the loop so far, waits for a lost interface included: a watchdog sees
        the thread move, and an unplugged interface does not get the box restarted."""

    def stop(self) -> None:
        """Ask the thread to end after the current block (any thread)."""
        self._stop_event.set()

    def run(self) -> None:
        lost = False
        xruns_seen = 0
        while not self._stop_event.is_set():
            self.alive_count += 1
            if self.sink is None:
                try:
                    self.sink = self._open_sink()
                except DeviceLost as exc:
                    if not lost:
                        self._post(ev.AudioDeviceLost(f"No audio interface: {exc}"))
                        lost = True
                    self._stop_event.wait(REOPEN_INTERVAL_S)
                    continue
                xruns_seen = 0
                if lost:
                    lost = False
                    self._post(ev.AudioDeviceBack())
            sink = self.sink
            block = self._engine.render(min(sink.config.period_frames, self._engine.max_frames))
            try:
                sink.write(block)
            except DeviceLost as exc:
                sink.close()
                self.sink = None
                lost = True
                self._post(ev.AudioDeviceLost(f"Audio interface lost: {exc}"))
                continue
            if sink.xruns != xruns_seen:
                xruns_seen = sink.xruns
                self._post(ev.Xrun(xruns_seen))
        if self.sink is not None:
            self.sink.close()
