"""The ``stagebox`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stagebox import ONE_THREAD_ENV, __version__
from stagebox.config import DEFAULT_PATH, Config, example_toml, load_config


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    for name, value in ONE_THREAD_ENV.items():  # before numpy is imported
        os.environ.setdefault(name, value)
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.command == "run" else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stagebox", description=__doc__)
    parser.add_argument("--version", action="version", version=f"stagebox {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="the daemon, on the real hardware")
    run.add_argument("--config", type=Path, default=DEFAULT_PATH)
    run.set_defaults(func=_run)

    play = commands.add_parser("play", help="play files through the engine and ALSA")
    play.add_argument("files", nargs="+", type=Path)
    play.add_argument("--device", default=None, help="ALSA device (default: the config's)")
    play.add_argument("--rate", type=int, default=None, help="force the device's rate (Hz)")
    play.add_argument("--format", default=None, help="force the sample format, e.g. S24_3LE")
    play.add_argument("--config", type=Path, default=DEFAULT_PATH)
    play.set_defaults(func=_play)

    sim = commands.add_parser("sim", help="run a scripted show on simulated hardware")
    sim.add_argument("--media", type=Path, required=True, help="the stick's folder")
    sim.add_argument("--script", type=Path, required=True)
    sim.add_argument("--out", type=Path, required=True)
    sim.add_argument("--config", type=Path, default=None)
    sim.add_argument("--state", type=Path, default=None, help="state folder (default: none)")
    sim.set_defaults(func=_sim)

    demo = commands.add_parser("demo", help="make a demo stick and run a show on it")
    demo.add_argument("--out", type=Path, default=Path("demo-out"))
    demo.set_defaults(func=_demo)

    doctor = commands.add_parser("doctor", help="check the hardware and set-up, and how to fix it")
    doctor.add_argument("--config", type=Path, default=DEFAULT_PATH)
    doctor.set_defaults(func=_doctor)

    devices = commands.add_parser(
        "devices", help="list playback devices and what they take, pedals and MIDI ports")
    devices.set_defaults(func=_devices)

    example = commands.add_parser("config-example", help="print the documented config")
    example.set_defaults(func=lambda args: print(example_toml(), end="") or 0)
    return parser


def _config(path: Path | None) -> tuple[Config, list[str]]:
    if path is None:
        return Config(), []
    config, warnings = load_config(path)
    for warning in warnings:
        logging.getLogger("stagebox.config").warning("%s", warning)
    return config, warnings


def _run(args: argparse.Namespace) -> int:
    from stagebox.daemon import run_daemon

    config, warnings = _config(args.config)
    return run_daemon(config, warnings)


def _play(args: argparse.Namespace) -> int:
    from stagebox.playfiles import play_files

    config, _ = _config(args.config)
    changes = {"audio__device": args.device, "audio__rate": args.rate,
               "audio__sample_format": args.format}
    try:
        config = config.replace(**{k: v for k, v in changes.items() if v is not None})
    except ValueError as exc:
        print(f"stagebox play: {exc}", file=sys.stderr)
        return 2
    return play_files(args.files, config)


def _sim(args: argparse.Namespace) -> int:
    from stagebox.sim.runner import run_show
    from stagebox.sim.script import ScriptError, parse_script

    try:
        steps = parse_script(args.script.read_text(encoding="utf-8"), base=args.script.parent)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"stagebox sim: cannot read {args.script}: {exc}", file=sys.stderr)
        return 2
    except ScriptError as exc:
        print(f"stagebox sim: {args.script}: {exc}", file=sys.stderr)
        return 2
    if not args.media.is_dir():
        print(f"stagebox sim: no folder {args.media}", file=sys.stderr)
        return 2
    config, warnings = _config(args.config)
    result = run_show(media=args.media, steps=steps, out=args.out, config=config,
                      config_warnings=tuple(warnings), state_dir=args.state)
    ending = "power cut" if result.power_cut else "end"
    print(f"simulated {result.end_s:.1f} s to the {ending}: {result.screens} screens "
          f"in {args.out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from stagebox.demo import run_demo

    return run_demo(args.out)


def _doctor(args: argparse.Namespace) -> int:
    from stagebox.doctor import run_doctor

    config, warnings = load_config(args.config)
    return run_doctor(config, config_path=args.config, config_warnings=warnings)


def _devices(args: argparse.Namespace) -> int:
    from stagebox.hal.alsa import list_devices, probe

    for device in list_devices():
        print(device.name + (f"  ({device.description})" if device.description else ""))
        caps = probe(device.name)
        if caps is None:
            print("    cannot be opened now")
            continue
        print(f"    formats:  {', '.join(caps.formats) or '-'}")
        print(f"    rates:    {', '.join(str(r) for r in caps.rates) or '-'}")
        print(f"    channels: {', '.join(str(c) for c in caps.channels) or '-'}")
    _print_inputs()
    return 0


def _print_inputs() -> None:
    from stagebox.hal.inputs import look_for_inputs

    seen = look_for_inputs()
    print("Pedals (USB and Bluetooth input devices):" if seen.pedals else "Pedals: none")
    for pedal in seen.pedals:
        untagged = " (not given to the player: udev rule missing)" if pedal.untagged else ""
        print(f"  {pedal.description}  {', '.join(pedal.nodes)}{untagged}")
    if seen.midi_problem:
        print(f"MIDI: {seen.midi_problem}")
        return
    ports = sorted({*seen.midi_in, *seen.midi_out})
    print("MIDI ports:" if ports else "MIDI ports: none")
    for port in ports:
        roles = [role for role, names in (("in", seen.midi_in), ("out", seen.midi_out))
                 if port in names]
        print(f"  {port}  ({', '.join(roles)})")
