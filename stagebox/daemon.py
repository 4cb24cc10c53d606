"""Wiring: the box built from the config, on real hardware (``stagebox run``) or simulated.

Which implementation of each device runs is decided here, once; the rest of the package
only sees the interfaces.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import luma.core.error

from stagebox import __version__
from stagebox.audio.engine import Engine
from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.loader import Loader, songs_budget_from_meminfo
from stagebox.audio.memfile import BYTES_PER_MB
from stagebox.audio.output import OutputPump, OutputThread
from stagebox.box import Box, EventLog
from stagebox.clock import Clock, MonotonicClock
from stagebox.config import Config
from stagebox.hal.alsa import open_configured
from stagebox.hal.audio import AudioSink, DeviceLost
from stagebox.hal.display import open_dummy, open_oled
from stagebox.hal.media_watch import MountWatcher
from stagebox.inputs.midi import MidiSender
from stagebox.player import Player
from stagebox.state import StateStore
from stagebox.systemd import Notifier, Watchdog
from stagebox.workers import ThreadWorker, Worker

if TYPE_CHECKING:
    from stagebox.hal.buttons import ButtonPanel
    from stagebox.hal.inputs import InputSet

log = logging.getLogger(__name__)

MOUNT_POLL_S = 0.5
MAIN_LOOP_WAIT_S = 0.1
OUTPUT_STOP_TIMEOUT_S = 2.0
"""The longest the main loop sleeps: one screen frame. Buttons, loads and scans wake it
at once; only the mount poll, the watchdog and the engine's notices wait for this."""
DEFAULT_RUNTIME_DIR = "/run/stagebox"
SHUTDOWN_FLAG = "shutdown"


def build_box(config: Config, *, clock: Clock, rate: int, event_log: EventLog, display: Any,
              load_worker: Worker, scan_worker: Worker, measure_worker: Worker,
              wait_for_data: bool,
              state_store: StateStore | None, info: tuple[str, ...] = (),
              on_frame: Callable[..., None] | None = None,
              shut_down: Callable[[], None] | None = None,
              launcher: DecoderLauncher | None = None,
              songs_budget_bytes: int | None = None,
              midi_out: MidiSender | None = None, measure_idle: bool = True) -> Box:
    """The box with its player, engine and loader, its remembered state applied.

    The loader starts decoders through ``launcher`` (the caller closes it after the box),
    or each as a process of its own without one. ``songs_budget_bytes`` is the most
    memory the songs held in RAM may take together (None: only ``player.max_file_mb``).
    ``midi_out`` takes the MIDI songs send when cued, on ``midi.out_channel``.
    ``measure_idle``: the songs' loudness is measured at the idle priority, as on the box
    (the simulator, which waits for the measuring, says False: at that priority its wait
    would last as long as anything else keeps the machine busy).
    """
    if state_store is not None:
        removed = state_store.remove_stale_temp_files()
        if removed:
            log.info("removed %d temporary files left by an interrupted write", removed)
    saved, state_warning = state_store.load() if state_store else (None, None)
    volume_db = config["player.volume_db"]
    after_song = config["player.after_song"]
    if saved is not None:
        volume_db = saved.volume_db if saved.volume_db is not None else volume_db
        after_song = saved.after_song or after_song
    loudness_lufs = config["player.loudness_lufs"]
    player = Player(after_song=after_song, volume_db=volume_db,
                    info=(f"stagebox {__version__}", *info),
                    chosen_setlists=saved.setlists if saved else None,
                    resume=saved.resume if saved else None,
                    loudness_lufs=None if loudness_lufs == "off" else loudness_lufs)
    engine = Engine(rate, fade_s=config["player.fade_s"], volume_db=volume_db,
                    buses=2 if config["audio.cue_pair"] else 1)
    box: Box

    def post(event: object) -> None:
        box.post(event)

    loader = Loader(rate=rate, max_bytes=config["player.max_file_mb"] * BYTES_PER_MB,
                    stretch_engine=config["practice.engine"], cue_bus=engine.channels == 4,
                    post=post, worker=load_worker, wait_for_data=wait_for_data,
                    launcher=launcher, budget_bytes=songs_budget_bytes)
    box = Box(clock=clock, player=player, engine=engine, loader=loader, scan_worker=scan_worker,
              measure_worker=measure_worker, measure_idle=measure_idle,
              display=display, event_log=event_log, state_store=state_store, saved=saved,
              on_frame=on_frame, hold_s=config["buttons.hold_s"],
              debounce_s=config["buttons.debounce_s"], shut_down=shut_down,
              midi_out=midi_out, midi_channel=config["midi.out_channel"],
              click_to_main=config["player.click_without_cue_pair"] == "main")
    if state_warning:
        box.notify(state_warning)
    return box


def run_daemon(config: Config, config_warnings: list[str]) -> int:
    """``stagebox run``: the box on real hardware until SIGTERM or SIGINT (main thread).

    Tells systemd ``READY=1`` once the output thread runs and the main loop is about to:
    before it, only what the first screen and the audio path need. The buttons come right
    after, as the main loop starts (gpiozero and the search for its pin factory are the
    slowest imports of a start), and with them everything the box only needs later: the
    pedals and MIDI ports, followed as they are plugged in. At a stop the inputs are
    closed first, the last opened first.
    """
    # First, while this process has one thread and no device open: the launcher is then a
    # fork of the box, sharing the libraries both have imported instead of loading them
    # again, and it has its own imported before the first song is cued.
    with contextlib.ExitStack() as running:
        # Each part is closed as it was started, in reverse: nothing is stopped while a
        # part started after it may still use it.
        _run(config, config_warnings, running)
    return 0


def _run(config: Config, config_warnings: list[str], running: contextlib.ExitStack) -> None:
    launcher = running.enter_context(DecoderLauncher(fork_first=True))
    launcher.start()
    clock = MonotonicClock()
    display = _open_display(config)
    # The engine runs at the rate the device settled on; if there is no interface yet,
    # at the configured one, and the output thread keeps trying to open it.
    sink: AudioSink | None = None
    try:
        sink = open_configured(config)
    except DeviceLost as exc:
        config_warnings = [*config_warnings, f"No audio interface yet: {exc}"]
    rate = sink.config.rate if sink else config["audio.rate"]
    load_worker = ThreadWorker("stagebox-load")
    running.callback(load_worker.close)
    scan_worker = ThreadWorker("stagebox-scan")
    running.callback(scan_worker.close)
    measure_worker = ThreadWorker("stagebox-measure")
    running.callback(measure_worker.close)
    device_info = f"Audio: {config['audio.device']} {rate // 1000} kHz"
    box = build_box(config, clock=clock, rate=rate, event_log=EventLog(clock), display=display,
                    load_worker=load_worker, scan_worker=scan_worker,
                    measure_worker=measure_worker, wait_for_data=False,
                    state_store=StateStore(Path(config["state.dir"])), info=(device_info,),
                    shut_down=request_power_off, launcher=launcher,
                    songs_budget_bytes=songs_budget_from_meminfo())
    running.callback(box.close)
    for warning in config_warnings:
        box.notify(warning)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    output = OutputThread(OutputPump(
        box.engine, lambda practising: open_configured(config, practising=practising),
        box.post, sink))
    notifier = Notifier.from_environment()
    output.start()
    running.callback(_stop_output, output)
    running.callback(notifier.stopping)
    log.info("stagebox %s running", __version__)
    notifier.ready(f"stagebox {__version__}")
    box.step()  # the first screen, before the wait for the buttons
    panel = _open_buttons(config, box, clock)
    inputs = _open_inputs(config, box, clock, panel)
    if inputs is not None:
        running.callback(inputs.close)  # the panel with them
    elif panel is not None:
        running.callback(panel.close)
    # Everything made so far lives as long as the box: keep it out of the collector's
    # sweeps, so a collection (which holds the GIL) stays short.
    gc.collect()
    gc.freeze()
    watcher = MountWatcher(Path(config["media.root"]), box.post)
    polls = [watcher.poll] + ([inputs.poll] if inputs is not None else [])
    _main_loop(box, stop, clock, polls, Watchdog.from_environment(notifier), output)


def _stop_output(output: OutputThread) -> None:
    """Stop the output thread, and say so if it will not stop (a driver stuck in a write)."""
    output.stop()
    output.join(timeout=OUTPUT_STOP_TIMEOUT_S)
    if output.is_alive():
        log.error("the output thread did not stop within %.0f s: stopping without it",
                  OUTPUT_STOP_TIMEOUT_S)


def _main_loop(box: Box, stop: threading.Event, clock: Clock, polls: list[Callable[[], None]],
               watchdog: Watchdog, output: OutputThread) -> None:
    """Poll the mounts and the inputs, step the box and feed the watchdog until ``stop``
    is set."""
    next_poll_s = 0.0
    while not stop.is_set():
        now = clock.now()
        if now >= next_poll_s:
            for poll in polls:
                poll()
            next_poll_s = now + MOUNT_POLL_S
        box.step()
        box.wait(MAIN_LOOP_WAIT_S)
        watchdog.tick(clock.now(), output.alive_count)


def _open_buttons(config: Config, box: Box, clock: Clock) -> ButtonPanel | None:
    """The button panel, or None (and a message on the screen) if there are no buttons."""
    # Imported here, after READY=1: gpiozero is the slowest library of a start.
    from gpiozero.exc import GPIOZeroError

    from stagebox.hal.buttons import ButtonPanel

    try:
        return ButtonPanel(config.button_pins, box.post, clock)
    except GPIOZeroError as exc:
        box.notify(f"No buttons: {exc}", "error")
        return None


def _open_inputs(config: Config, box: Box, clock: Clock,
                 panel: ButtonPanel | None) -> InputSet | None:
    """The inputs, the panel first, with the pedals and MIDI ports plugged in now; None
    (and a message on the screen) if their libraries cannot be loaded."""
    try:
        # Imported after READY=1, like gpiozero: evdev, pyudev and rtmidi.
        from stagebox.hal.inputs import InputSet

        inputs = InputSet(config, box.post, clock.now)
    except ImportError as exc:
        box.notify(f"No pedals or MIDI: {exc}", "error")
        return None
    if panel is not None:
        inputs.add(panel)
    for warning in inputs.warnings:
        box.notify(warning)
    box.set_midi_out(inputs.midi_out)
    inputs.poll()
    return inputs


def request_power_off(runtime_dir: Path | None = None) -> None:
    """Ask for the box to power off (main loop).

    The daemon has no privilege to do it: it leaves a flag in its runtime folder, and
    ``stagebox-shutdown.path`` (outside the sandbox) powers the box off when it appears.
    """
    folder = runtime_dir or Path(os.environ.get("RUNTIME_DIRECTORY", DEFAULT_RUNTIME_DIR))
    try:
        (folder / SHUTDOWN_FLAG).touch()
    except OSError as exc:
        log.error("cannot ask for power-off: %s", exc)


def _open_display(config: Config) -> Any:
    driver = config["display.driver"]
    if driver == "none":
        return open_dummy(config["display.rotate"])
    try:
        return open_oled(driver, config["display.i2c_port"], config["display.i2c_address"],
                         config["display.rotate"], config["display.contrast"])
    except (OSError, RuntimeError, luma.core.error.Error) as exc:
        log.error("no OLED (%s): running without a display", exc)
        return open_dummy(config["display.rotate"])
