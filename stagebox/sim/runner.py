"""Running a show on simulated hardware: the real box, a virtual clock, files out.

The loop is the simulator's whole idea of time: fire the script's steps that are due,
let the box handle its events, then have the sink take one period of audio from the
engine, which moves the clock on by that period. Scans and loads run in step, and the
decoders are waited for, so the same script always gives the same files.

Output folder: ``audio.wav`` (every frame the sink took), ``events.jsonl``,
``screens/NNNN.png`` (each distinct frame) and ``screens.jsonl``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpiozero.pins.mock import MockFactory
from PIL import Image

from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.output import OutputPump
from stagebox.box import EventLog
from stagebox.clock import VirtualClock
from stagebox.config import Config
from stagebox.daemon import build_box
from stagebox.hal.buttons import ButtonPanel
from stagebox.hal.display import open_dummy
from stagebox.hal.media_watch import SimMedia
from stagebox.hal.pedal import evdev
from stagebox.hal.sim_audio import SimSink
from stagebox.hal.sim_inputs import (
    SIM_MIDI_SOURCE,
    SIM_PEDAL_SOURCE,
    SimMidiIn,
    SimMidiOut,
    SimPedal,
)
from stagebox.inputs.keymap import KeyTranslator, key_codes
from stagebox.inputs.midi import MidiTranslator
from stagebox.jsonl import json_line
from stagebox.sim.script import Step
from stagebox.state import StateStore
from stagebox.ui import screens
from stagebox.ui.view import View
from stagebox.workers import InlineWorker

log = logging.getLogger(__name__)

SIM_DEFAULT_FORMAT = "S16_LE"


@dataclass
class SimResult:
    """What a run left behind."""

    out: Path
    end_s: float
    screens: int = 0
    """How many distinct screens were shown (each is a PNG and a line of ``screens.jsonl``)."""
    power_cut: bool = False
    """The script ended with ``powercut``: the box wrote nothing after that moment."""

    def frames(self) -> list[tuple[float, Path]]:
        """Each distinct screen: its time and its PNG, from ``screens.jsonl``.

        Read back rather than kept while the show runs, so a long show takes no more of
        the simulator's memory than of the box's.
        """
        lines = (self.out / "screens.jsonl").read_text(encoding="utf-8").splitlines()
        return [(shown["t"], self.out / "screens" / shown["file"])
                for shown in map(json.loads, lines)]


def run_show(*, media: Path, steps: list[Step], out: Path, config: Config,
             config_warnings: tuple[str, ...] = (), state_dir: Path | None = None,
             songs_budget_bytes: int | None = None) -> SimResult:
    """Play ``steps`` against ``media`` and write everything to ``out``.

    ``songs_budget_bytes`` is the simulated board's memory for songs held in RAM; by
    default only ``player.max_file_mb`` limits them, so a show does not depend on the
    memory of the machine that simulates it.
    """
    (out / "screens").mkdir(parents=True, exist_ok=True)
    for old in (out / "screens").glob("*.png"):
        old.unlink()
    clock = VirtualClock()
    result = SimResult(out, 0.0)
    fmt = config["audio.sample_format"]
    sink = SimSink(clock, rate=config["audio.rate"], channels=config["audio.channels"],
                   sample_format=SIM_DEFAULT_FORMAT if fmt == "auto" else fmt,
                   period_frames=config["audio.period_frames"], periods=config["audio.periods"],
                   output_pair=config["audio.output_pair"], cue_pair=config["audio.cue_pair"],
                   wav_path=out / "audio.wav")
    # Line-buffered, so what happened before a kill of the simulator is on disk.
    with (out / "events.jsonl").open("w", encoding="utf-8", buffering=1) as events_file, \
            (out / "screens.jsonl").open("w", encoding="utf-8") as screens_file, \
            DecoderLauncher(fork_first=True) as launcher:
        # Forked now, while the simulator has one thread, as the box does.
        launcher.start()

        def on_frame(image: Image.Image, view: View) -> None:
            path = out / "screens" / f"{result.screens:04d}.png"
            image.save(path)
            result.screens += 1
            screens_file.write(json_line({"t": round(clock.now(), 4), "file": path.name,
                                          "text": screens.text_lines(view)}))

        box = build_box(config, clock=clock, rate=sink.config.rate,
                        event_log=EventLog(clock, events_file), display=open_dummy(),
                        load_worker=InlineWorker(), scan_worker=InlineWorker(),
                        measure_worker=InlineWorker(),
                        wait_for_data=True, info=("Simulator",), on_frame=on_frame,
                        state_store=StateStore(state_dir) if state_dir else None,
                        launcher=launcher, songs_budget_bytes=songs_budget_bytes,
                        midi_out=SimMidiOut(), measure_idle=False)
        for warning in config_warnings:
            box.notify(warning)
        factory = MockFactory()
        panel = ButtonPanel(config.button_pins, box.post, clock, pin_factory=factory)
        inputs = _SimInputs(config, box.post, clock.now)
        for warning in inputs.warnings:
            box.notify(warning)
        stick = SimMedia(box.post)
        pump = OutputPump(box.engine,
                          lambda practising: sink.reopen(*config.buffer_shape(practising)),
                          box.post, sink)
        pending = list(steps)
        try:
            while True:
                while pending and pending[0].t <= clock.now():
                    step = pending.pop(0)
                    if step.action == "powercut":
                        result.end_s, result.power_cut = clock.now(), True
                        return result
                    if step.action == "end":
                        box.step()
                        result.end_s = clock.now()
                        return result
                    _perform(step, media, stick, factory, config, sink, inputs)
                box.step()
                if not pump.pump():
                    clock.advance(sink.config.period_frames / sink.config.rate)
        finally:
            panel.close()
            box.close()
            sink.finish()


class _SimInputs:
    """The show's pedal and MIDI controller, mapped by the config as real ones are."""

    def __init__(self, config: Config, post: Callable[[object], None],
                 now: Callable[[], float]) -> None:
        ecodes = evdev().ecodes

        codes, self.warnings = key_codes(config.pedal_keys, ecodes.ecodes)
        self.pedal = SimPedal(KeyTranslator(codes, SIM_PEDAL_SOURCE, post, now),
                              lambda name: ecodes.ecodes[name])
        midi = MidiTranslator(config.midi_map, SIM_MIDI_SOURCE, post, now,
                              in_channel=config["midi.in_channel"],
                              cc_threshold=config["midi.cc_threshold"])
        self.midi = SimMidiIn(midi, config["midi.in_channel"] or 1)


def _perform(step: Step, media: Path, stick: SimMedia, factory: MockFactory,
             config: Config, sink: SimSink, inputs: _SimInputs) -> None:
    if step.action in ("key_down", "key_up"):
        inputs.pedal.key(step.arg, step.action == "key_down")
    elif step.action == "midi":
        inputs.midi.send(step.arg)
    elif step.action == "insert":
        stick.insert(Path(step.arg) if step.arg else media)
    elif step.action == "remove":
        stick.remove()
    elif step.action == "unplug":
        sink.unplug()
    elif step.action == "replug":
        sink.replug()
    elif step.action == "xrun":
        sink.inject_xrun()
    else:
        pin = factory.pin(config[f"buttons.{step.arg}_pin"])
        if step.action == "down":
            pin.drive_low()
        else:
            pin.drive_high()
