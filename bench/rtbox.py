"""The daemon in real time on simulated devices: the steady, latency and soak benchmarks.

Run as ``python -m bench.rtbox MODE --stick DIR [options]``; it prints one line of JSON.
The box is wired as ``stagebox run`` wires it (the same ``build_box``, output pump and
thread at realtime priority where allowed, ``gc.freeze()``, main loop of ``step`` and
``wait``), with the devices swapped for doubles: a :class:`~bench.paced_sink.PacedSink`
for the interface, gpiozero's ``MockFactory`` for the buttons, a dummy luma display (the
screen is drawn, at up to 10 frames a second, and not sent over I2C), and the simulator's
stick. A driver thread plays the part of the performer.

Modes:

- ``steady``: play, wait for the stick's loudness measuring to end (a one-off after an
  insertion, not playback), then measure the CPU of the process and its children (the
  decoder) over ``--seconds``.
- ``soak``: the same, while the box's scan worker scans ``--scan-stick`` over and over;
  the caller runs the CPU hogs beside it.
- ``latency``: ``--presses`` times: tap PLAY on the cued song, note when its first frame
  left the interface (from the press edge), hold PREV (back to the start, cued again) and
  wait for silence.
- ``change``: in practice mode, ``--presses`` times while the song plays: tap NEXT or PREV
  (key up or down) and note, from the tap's release, when the first frame of the song's
  new decoding left the interface: the moment the engine swapped to it, plus what the
  device still held.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from bench.paced_sink import PacedSink
from bench.proctree import process_cpu_s, thread_cpu_s, tree_cpu_s
from stagebox import events as ev
from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.output import OutputPump, OutputThread
from stagebox.box import Box, EventLog
from stagebox.clock import MonotonicClock
from stagebox.config import Config
from stagebox.daemon import MAIN_LOOP_WAIT_S, build_box
from stagebox.hal.buttons import ButtonPanel
from stagebox.hal.display import open_dummy
from stagebox.hal.media_watch import SimMedia
from stagebox.media.scan_process import scan_in_child
from stagebox.workers import ThreadWorker

RATE = 48000
PRESS_S = 0.05
"""How long a tap holds the button down."""
SETTLE_S = 1.0
"""Playback before CPU is measured: the decoder's first run ahead is start-up, not steady."""
WAIT_TIMEOUT_S = 30.0
MEASURE_TIMEOUT_S = 300.0
"""The loudness measuring of a stick of one 10-minute song, at idle priority."""
PERFORMER = "bench-performer"


class BenchFailed(Exception):
    """The box did not do what the scenario waited for."""


@dataclass
class Rig:
    """The running box and the handles the performer needs."""

    box: Box
    sink: PacedSink
    factory: MockFactory
    config: Config
    stick: SimMedia
    scan_worker: ThreadWorker
    result: dict[str, Any] = field(default_factory=dict)
    released_s: float = 0.0
    """When the last tap's button went up (a tap is known to be one from then on)."""

    def press(self, button: ev.ButtonName) -> float:
        """Tap ``button``; return the monotonic time of its press edge."""
        pin = self.factory.pin(self.config.button_pins[button])
        down_s = time.monotonic()
        pin.drive_low()
        time.sleep(PRESS_S)
        self.released_s = time.monotonic()
        pin.drive_high()
        return down_s

    def wait_until(self, condition: Callable[[], bool], what: str,
                   timeout_s: float = WAIT_TIMEOUT_S) -> None:
        """Poll ``condition`` until it holds; raise BenchFailed after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise BenchFailed(f"timed out waiting for {what} "
                                  f"(player {self.box.player.state})")
            time.sleep(0.002)

    def cued(self) -> bool:
        """A song is cued and its decoder has answered: PLAY starts it at once."""
        player = self.box.player
        return player.state == "cued" and player.duration_s is not None

    def start_song(self) -> None:
        """Wait for the first song to be cued, press PLAY and wait for sound."""
        self.wait_until(self.cued, "the first song to be cued")
        heard = len(self.sink.onsets_s)
        self.press("play")
        self.wait_until(functools.partial(self.sounded_since, heard), "the song to sound")

    def sounded_since(self, onsets: int) -> bool:
        """Sound has started after silence since the sink had counted ``onsets`` starts."""
        return len(self.sink.onsets_s) > onsets


class GcPauses:
    """Times each garbage collection: while one runs it holds the GIL, and the output
    thread, realtime or not, waits for it."""

    def __init__(self) -> None:
        self.durations_s: list[float] = []
        self._started_s = 0.0

    def callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started_s = time.perf_counter()
        else:
            self.durations_s.append(time.perf_counter() - self._started_s)


def steady(rig: Rig, seconds: float, scan_stick_root: Path | None) -> None:
    """Play; measure CPU, xruns and late frames over ``seconds``, scanning meanwhile if
    ``scan_stick_root`` is given."""
    rig.start_song()
    if scan_stick_root is None:
        # Beside the soak's CPU hogs the measuring, at idle priority, gets no CPU at all.
        rig.wait_until(lambda: rig.box.player.measuring is None,
                       "the stick's loudness measuring", MEASURE_TIMEOUT_S)
    time.sleep(SETTLE_S)
    scanning = threading.Event()
    scans = [0]
    if scan_stick_root is not None:
        root = scan_stick_root

        def scan_again() -> None:
            if scanning.is_set():
                scan_in_child(root, root.name, None)  # as the box scans: in a child
                scans[0] += 1
                rig.scan_worker.submit(scan_again)

        scanning.set()
        rig.scan_worker.submit(scan_again)
    engine = rig.box.engine
    pid = os.getpid()
    threads_start, own_start_s = _threads_cpu_s(pid), process_cpu_s(pid)
    cpu_start_s, start_s = tree_cpu_s(pid), time.monotonic()
    xruns_start, late_start = rig.sink.xruns, engine.late_frames
    pauses = GcPauses()
    gc.callbacks.append(pauses.callback)
    time.sleep(seconds)
    gc.callbacks.remove(pauses.callback)
    cpu_end_s, end_s = tree_cpu_s(pid), time.monotonic()
    threads_end, own_end_s = _threads_cpu_s(pid), process_cpu_s(pid)
    scanning.clear()
    window_s = end_s - start_s
    by_thread = {name: 100.0 * (threads_end[name] - threads_start.get(name, 0.0)) / window_s
                 for name in threads_end}
    by_thread["threads that ended"] = (100.0 * (own_end_s - own_start_s) / window_s
                                       - sum(by_thread.values()))
    by_thread["decoder processes"] = (100.0 * (cpu_end_s - cpu_start_s - own_end_s
                                               + own_start_s) / window_s)
    rig.result.update(
        seconds=window_s,
        cpu_s=cpu_end_s - cpu_start_s,
        # The performer thread is the benchmark, not the box: its CPU (reading /proc) is
        # left out.
        cpu_percent=100.0 * (cpu_end_s - cpu_start_s) / window_s
        - by_thread.get(PERFORMER, 0.0),
        xruns=rig.sink.xruns - xruns_start,
        late_frames=engine.late_frames - late_start,
        scans=scans[0],
        gc_collections=len(pauses.durations_s),
        gc_longest_ms=1000.0 * max(pauses.durations_s, default=0.0),
        state=rig.box.player.state,
        cpu_percent_by_thread={name: round(share, 2) for name, share in by_thread.items()},
    )


def _threads_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of each Python thread of this process, by thread name; threads a library
    started without a name go by library and class (``gpiozero HoldThread``), summed."""
    seconds: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.native_id is not None:
            name = thread.name
            if name.startswith("Thread-"):
                kind = type(thread)
                name = f"{kind.__module__.split('.')[0]} {kind.__name__}"
            seconds[name] = seconds.get(name, 0.0) + thread_cpu_s(pid, thread.native_id)
    return seconds


def latency(rig: Rig, presses: int) -> None:
    """Time PLAY, ``presses`` times, from a cued song in silence to its first frame out."""
    chance = random.Random(1)
    engine, buffer_frames = rig.box.engine, rig.sink.config.buffer_frames
    from_press_s = []
    for _ in range(presses):
        rig.wait_until(lambda: rig.cued() and engine.silent_run_frames >= buffer_frames,
                       "a cued song in silence")
        # A performer's press falls anywhere in the output's period.
        time.sleep(chance.uniform(0.05, 0.15))
        heard = len(rig.sink.onsets_s)
        down_s = rig.press("play")
        rig.wait_until(functools.partial(rig.sounded_since, heard), "the song to sound")
        from_press_s.append(rig.sink.onsets_s[heard] - down_s)
        time.sleep(0.05)
        rig.box.post(ev.Gesture("prev", "hold"))
        rig.wait_until(lambda: rig.box.player.state != "playing", "the restart")
    rig.result.update(from_press_s=from_press_s, xruns=rig.sink.xruns)


CHANGE_GAP_S = 0.3
"""Playing between two practice changes: the crossfade is long over."""


def _swapped_from(engine: Any, load_id: int | None) -> bool:
    return engine.current_load_id != load_id


def change(rig: Rig, presses: int) -> None:
    """Time a key change while the song plays, ``presses`` times, from NEXT's or PREV's
    release (a tap is known to be one, not a hold, only then) to the first frame of the
    new decoding out (key +1 and back, in turns)."""
    engine, sink = rig.box.engine, rig.sink
    rig.start_song()
    time.sleep(SETTLE_S)
    heard_after_s, swapped_after_s = [], []
    for turn in range(presses):
        before = engine.current_load_id
        rig.press("next" if turn % 2 == 0 else "prev")
        rig.wait_until(functools.partial(_swapped_from, engine, before), "the key change")
        # The swap's block went to the device just now, behind what it still holds.
        swapped_s = time.monotonic()
        swapped_after_s.append(swapped_s - rig.released_s)
        heard_after_s.append(swapped_s + sink.delay_frames() / RATE - rig.released_s)
        time.sleep(CHANGE_GAP_S)
    rig.result.update(heard_after_s=heard_after_s, swapped_after_s=swapped_after_s,
                      xruns=sink.xruns,
                      late_frames=engine.late_frames)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Wire the box, run the scenario on a driver thread, run the main loop here."""
    config = Config({"audio.period_frames": args.period, "audio.periods": args.periods,
                     "practice.period_frames": args.practice_period,
                     "practice.periods": args.practice_periods,
                     "audio.channels": args.channels, "audio.cue_pair": args.cue_pair,
                     "player.after_song": args.after_song, "player.fade_s": args.fade_s,
                     "display.driver": "none"})
    clock = MonotonicClock()
    sink = PacedSink(RATE, args.channels, period_frames=args.period, periods=args.periods,
                     cue_pair=args.cue_pair)
    load_worker, scan_worker = ThreadWorker("stagebox-load"), ThreadWorker("stagebox-scan")
    measure_worker = ThreadWorker("stagebox-measure")
    launcher = DecoderLauncher()
    launcher.start()
    box = build_box(config, clock=clock, rate=RATE, event_log=EventLog(clock),
                    display=open_dummy(), load_worker=load_worker, scan_worker=scan_worker,
                    measure_worker=measure_worker, wait_for_data=False, state_store=None,
                    info=("bench",),
                    launcher=launcher)
    if args.mode == "change" or args.practice:
        # As the menu sets it (the tests drive the menu): the output runs with the
        # practice buffer from the first silence on.
        box.player.mode = "practice"
        box.engine.set_practising(True)
    factory = MockFactory()
    panel = ButtonPanel(config.button_pins, box.post, clock, pin_factory=factory)
    rig = Rig(box, sink, factory, config, SimMedia(box.post), scan_worker)
    output = OutputThread(OutputPump(
        box.engine, lambda practising: sink.reopen(*config.buffer_shape(practising)),
        box.post, sink))
    gc.collect()
    gc.freeze()
    output.start()
    done = threading.Event()
    failure: list[BaseException] = []

    def perform() -> None:
        try:
            rig.stick.insert(args.stick)
            if args.mode == "latency":
                latency(rig, args.presses)
            elif args.mode == "change":
                change(rig, args.presses)
            else:
                steady(rig, args.seconds, args.scan_stick if args.mode == "soak" else None)
        except BaseException as exc:  # reported by the main thread, which then exits
            failure.append(exc)
        finally:
            done.set()

    driver = threading.Thread(target=perform, name=PERFORMER, daemon=True)
    driver.start()
    try:
        while not done.is_set():
            box.step()
            box.wait(MAIN_LOOP_WAIT_S)
    finally:
        output.stop()
        output.join(timeout=2.0)
        panel.close()
        box.close()
        load_worker.close()
        scan_worker.close()
        measure_worker.close()
        launcher.close()
    if failure:
        raise failure[0]
    return {**rig.result, "period": sink.config.period_frames,
            "periods": sink.config.buffer_frames // sink.config.period_frames,
            "buffer_frames": sink.config.buffer_frames}


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, print the result as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.rtbox")
    parser.add_argument("mode", choices=("steady", "soak", "latency", "change"))
    parser.add_argument("--stick", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--period", type=int, default=1024)
    parser.add_argument("--periods", type=int, default=4)
    parser.add_argument("--practice", action="store_true",
                        help="in practice mode (change always is), at the practice buffer")
    parser.add_argument("--practice-period", type=int, default=512)
    parser.add_argument("--practice-periods", type=int, default=4)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--cue-pair", type=int, default=0)
    parser.add_argument("--after-song", default="stop", choices=("stop", "next"))
    parser.add_argument("--fade-s", type=float, default=0.5)
    parser.add_argument("--scan-stick", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.mode == "soak" and args.scan_stick is None:
        parser.error("soak needs --scan-stick")
    try:
        result = run(args)
    except BenchFailed as exc:
        print(f"bench.rtbox: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
