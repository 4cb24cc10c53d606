"""The output side: the one place that owns the PCM.

:class:`OutputPump` does one pass (render a block, write it, cope with what the device
does); :class:`OutputThread` runs passes forever in real life, and the simulator runs them
in step with its clock. The stream runs continuously, silence included, so a start is
instant and the interface never pops. When the interface goes away the pump says so,
silences the engine at once (there is nothing left to fade on), and opens the device again
when it comes back; the player has paused the song at its place meanwhile.

In practice mode the device runs with a shorter buffer (``practice.period_frames`` and
``practice.periods``), written a period at a time: a key or speed change is heard once
what the device holds has played, so the buffer is most of the wait. The device is opened
again with the other buffer only at a silence a buffer long, so nothing heard is cut: a
mode changed while a song plays takes effect when it pauses or ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

from stagebox import events as ev
from stagebox.audio.engine import Engine
from stagebox.hal.audio import AudioSink, DeviceLost

log = logging.getLogger(__name__)

REOPEN_INTERVAL_S = 1.0
REALTIME_PRIORITY = 70
MAX_PASS_FRAMES = 4096
"""The most frames one pass renders and writes: the sinks' default largest block."""


class OutputPump:
    """Moves blocks from ``engine`` to the sink made by ``open_sink`` (output thread).

    ``open_sink(practising)`` opens the device with the buffer of practice mode or of show
    mode; ``sink``, if given, is one already open for show mode.
    """

    def __init__(self, engine: Engine, open_sink: Callable[[bool], AudioSink],
                 post: Callable[[object], None], sink: AudioSink | None = None) -> None:
        self._engine = engine
        self._open_sink = open_sink
        self._post = post
        self.sink: AudioSink | None = None
        self._sink_practising = False
        """Which mode's buffer :attr:`sink` was opened with."""
        self._lost = False
        self._xruns_seen = 0
        self._music = False
        if sink is not None:
            self._attach(sink)

    def pump(self) -> bool:
        """One pass; False when there is no device to write to (wait, then call again)."""
        if self.sink is None and not self._reopen():
            # The engine is not rendered while the device is gone, yet the player goes on
            # cueing and letting go of songs: apply that now, or every let-go song would
            # stay held, its decoder and its whole file in RAM, until the device returns.
            self._engine.halt()
            return False
        sink = self.sink
        assert sink is not None
        engine = self._engine
        if self._sink_practising != engine.practising \
                and engine.silent_run_frames >= sink.config.buffer_frames:
            self._reshape()
            if self.sink is None:
                return False
            sink = self.sink
        silent_before = engine.silent_run_frames
        block = engine.render(self.pass_frames(sink))
        self._music = engine.silent_run_frames == 0
        if silent_before >= sink.config.buffer_frames and engine.silent_run_frames == 0:
            # A song starts after a buffer of silence: drop the queued silence so its
            # first frame leaves now, not a whole buffer later.
            sink.drop()
        try:
            sink.write(block)
        except DeviceLost as exc:
            self._lose(f"Audio interface lost: {exc}")
            return False
        if sink.xruns != self._xruns_seen:
            self._xruns_seen = sink.xruns
            self._post(ev.Xrun(sink.xruns))
        return True

    def pass_frames(self, sink: AudioSink) -> int:
        """Frames the next pass renders and writes to ``sink`` (output thread).

        After silence, one period: a PLAY waits at most that long for its block, and its
        queued silence is dropped. After music, several periods, up to half the
        buffer, so the thread wakes half as often at the default 4 periods. The write
        returns once all of them are in, the buffer full again; at most half the
        buffer has drained by the time the device lets the write go on. In practice
        mode always one period, so that a change waits at most that long for its block.
        """
        period = sink.config.period_frames
        periods = 1
        if self._music and not self._engine.practising:
            half_buffer = sink.config.buffer_frames // (2 * period)
            periods = max(1, min(half_buffer, MAX_PASS_FRAMES // period))
        return min(period * periods, self._engine.max_frames)

    def close(self) -> None:
        """Release the device (at shutdown)."""
        if self.sink is not None:
            self.sink.close()
            self.sink = None

    def _reshape(self) -> None:
        """Open the device again with the buffer of the engine's mode (at a silence)."""
        assert self.sink is not None
        with contextlib.suppress(DeviceLost):
            self.sink.drop()  # only silence is queued: no need to wait for it to play out
        self.sink.close()
        self.sink = None
        self._reopen()

    def _reopen(self) -> bool:
        practising = self._engine.practising
        try:
            sink = self._open_sink(practising)
        except DeviceLost as exc:
            if not self._lost:
                self._lose(f"No audio interface: {exc}")
            return False
        self._sink_practising = practising
        self._attach(sink)
        if self._lost:
            self._lost = False
            self._post(ev.AudioDeviceBack())
        return True

    def _attach(self, sink: AudioSink) -> None:
        """Write to ``sink`` from now on; the clicks go to its cue pair if it has one."""
        self.sink = sink
        self._xruns_seen = sink.xruns
        self._engine.cue_live = sink.cue_pair != 0 and self._engine.channels == 4
        self._post(ev.AudioOutputs(sink.output_pair, sink.cue_pair, sink.cue_warning,
                                   sink.config.channels, sink.config.latency_s))

    def _lose(self, message: str) -> None:
        self._engine.halt()
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        self._lost = True
        self._post(ev.AudioDeviceLost(message))


class OutputThread(threading.Thread):
    """Runs an :class:`OutputPump` until stopped, at realtime priority where allowed."""

    def __init__(self, pump: OutputPump) -> None:
        super().__init__(name="stagebox-output", daemon=True)
        self._pump = pump
        self._stop_event = threading.Event()
        self.alive_count = 0
        """Passes of the loop so far, waits for a lost interface included: a watchdog sees
        the thread move, and an unplugged interface does not get the box restarted."""

    def stop(self) -> None:
        """Ask the thread to end after the current block (any thread)."""
        self._stop_event.set()

    def run(self) -> None:
        _ask_for_realtime()
        while not self._stop_event.is_set():
            self.alive_count += 1
            if not self._pump.pump():
                self._stop_event.wait(REOPEN_INTERVAL_S)
        self._pump.close()


def _ask_for_realtime() -> None:
    """SCHED_FIFO for the calling thread if the service allows it; fine without."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except OSError as exc:
        log.warning("output thread runs without realtime priority: %s", exc)
    else:
        log.info("output thread at realtime priority %d", REALTIME_PRIORITY)
