"""Key and speed: the CPU of stagebox's Stretcher against Rubber Band alone on the same
audio, and the peak memory of a process stretching.

The audio is the benchmark's synthesised music at 48 kHz, stereo float32, in a raw file
both contenders read block by block (so neither holds the song in memory):

- stagebox: ``python -m bench.stretch RAW --key K --speed S --engine E``, a process that
  reads blocks of the decoder's size (:data:`stagebox.audio.decode_worker.BLOCK_FRAMES`)
  and puts them through :class:`stagebox.audio.stretch.Stretcher`, as the decoder will;
- Rubber Band alone: ``bench/rubberband_peer.c``, compiled here with gcc against the
  system's library, feeding the same options 4,096 frames at a time, as the Stretcher
  does inside.

Each reports the CPU of its own stretching (from before the stretcher is made to its last
output; not the interpreter's start-up), as a fraction of one core: CPU seconds over the
song's seconds. The two take turns, ``reps`` rounds over, and each ratio is the median of
the ratios within one turn (see :mod:`bench.throughput` for why).

The Pi 4 figure is an estimate, not a measurement: this machine's CPU times
:data:`PI4_SLOWER`, the ratio assumed between one core here and one Cortex-A72 core of a
Pi 4 at 1.5 GHz for this single-threaded floating-point work (clock about half, about
two-thirds the work per clock, hence 3 to 4; the slower end is taken). Measure it on a
Pi before relying on it.

Memory: the same stagebox process with key +2 on a stretcher made ``adjustable`` that
changes key half-way, sampled every 100 ms (proportional and resident set,
:mod:`bench.proctree`), and its own peak resident set (``VmHWM``) at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.media import DEVICE_RATE, music_segments
from bench.proctree import PeakMemorySampler
from bench.report import Report, Row, ratio
from stagebox import ONE_THREAD_ENV

PI4_SLOWER = 4.0
GOAL_RATIO = 1.2
GOAL_MEMORY_MB = 150.0
MB = 1e6


@dataclass(frozen=True)
class Setting:
    """One key and speed the benchmark measures."""

    name: str
    key_semitones: float
    speed: float
    adjustable: bool = False
    """Made so that its key may change while it plays (costs more CPU)."""


SETTINGS = (Setting("key +2", 2, 1.0), Setting("speed 80 %", 0, 0.8),
            Setting("key +2 adjustable", 2, 1.0, adjustable=True))
ENGINE_NAMES = {"faster": "faster (R2)", "finer": "finer (R3)"}


@dataclass(frozen=True)
class Measured:
    """One contender's run: CPU seconds of its stretching, output frames."""

    cpu_s: float
    frames_out: int


def raw_music(folder: Path, seconds: float) -> Path:
    """``seconds`` of the benchmark's music at 48 kHz, raw float32 stereo (cached)."""
    path = folder / f"music-{seconds:g}s-48k.f32"
    if not path.exists():
        partial = path.with_suffix(".part")
        with partial.open("wb") as out:
            for segment in music_segments(seconds, DEVICE_RATE):
                out.write(segment.astype("<f4").tobytes())
        partial.rename(path)
    return path


def compile_peer(work: Path, repo: Path) -> Path:
    """``bench/rubberband_peer.c`` compiled into ``work`` (gcc, -O2, as Debian builds the
    library itself)."""
    binary = work / "rubberband_peer"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "rubberband"],
                           capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(repo / "bench" / "rubberband_peer.c"),
                    *flags], check=True)
    return binary


def run(report: Report, *, seconds: float, reps: int, work: Path, repo: Path) -> None:
    """Measure both contenders for each setting and engine ``reps`` times; add the rows."""
    raw = raw_music(work, seconds)
    peer = compile_peer(work, repo)
    env = {**os.environ, **ONE_THREAD_ENV}
    for engine in ENGINE_NAMES:
        for setting in SETTINGS:
            _compare(report, engine, setting, raw, peer, seconds, reps, env, repo)
    for engine in ENGINE_NAMES:
        _memory(report, engine, raw, env, repo)
    report.notes.append(
        f"stretch: {seconds:g} s of the benchmark's music at 48 kHz stereo float32, read "
        f"block by block from a raw file by both sides; {reps} turns, medians; the Pi 4 "
        f"rows are this machine's figures times {PI4_SLOWER:g} (an estimate: see "
        "bench/stretch.py)")


def _compare(report: Report, engine: str, setting: Setting, raw: Path, peer: Path,
             seconds: float, reps: int, env: dict[str, str], repo: Path) -> None:
    ours: list[Measured] = []
    theirs: list[Measured] = []
    options = _library_options(engine, setting.adjustable, env, repo)
    peer_command = [str(peer), str(raw), str(DEVICE_RATE), str(options),
                    repr(1.0 / setting.speed), repr(2.0 ** (setting.key_semitones / 12))]
    worker_command = [sys.executable, "-m", "bench.stretch", str(raw), "--key",
                      str(setting.key_semitones), "--speed", str(setting.speed),
                      "--engine", engine] + (["--adjustable"] if setting.adjustable else [])
    for turn in range(reps):
        first, second = (ours, theirs) if turn % 2 == 0 else (theirs, ours)
        commands = (worker_command, peer_command) if turn % 2 == 0 \
            else (peer_command, worker_command)
        first.append(_measure(commands[0], env, repo))
        second.append(_measure(commands[1], env, repo))
    key = f"stretch.{engine}.{setting.name.replace(' ', '').replace('%', '')}"
    ours_core = report.figure(f"{key}.stagebox_core",
                              statistics.median(m.cpu_s for m in ours) / seconds)
    peer_core = report.figure(f"{key}.peer_core",
                              statistics.median(m.cpu_s for m in theirs) / seconds)
    turn_ratios = [ratio(o.cpu_s, t.cpu_s) for o, t in zip(ours, theirs, strict=True)]
    over = report.figure(f"{key}.ratio", statistics.median(turn_ratios))
    pi4 = report.figure(f"{key}.pi4_core", ours_core * PI4_SLOWER)
    expected = round(seconds * DEVICE_RATE / setting.speed)
    if any(m.frames_out != expected for m in ours):
        report.notes.append(f"stretch: {engine} {setting.name} gave "
                            f"{ours[0].frames_out} frames, not {expected}")
    report.add(Row("stretch", f"CPU, fraction of one core, 48 kHz stereo, {setting.name}, "
                   f"{ENGINE_NAMES[engine]}, vs Rubber Band alone (C, same options)",
                   _percent(ours_core), _percent(peer_core), f"{over:.2f}×",
                   f"≤ {GOAL_RATIO:g}×", None if math.isnan(over) else over <= GOAL_RATIO))
    report.add(Row("stretch", f"the same on a Pi 4, estimated (× {PI4_SLOWER:g})",
                   _percent(pi4)))
    report.notes.append(f"stretch {engine} {setting.name}: stagebox over Rubber Band alone, "
                        "turn by turn: " + ", ".join(f"{r:.2f}" for r in turn_ratios))


def _library_options(engine: str, adjustable: bool, env: dict[str, str], repo: Path) -> int:
    """The options stagebox's Stretcher passes (asked of the package, so both sides run
    exactly the same)."""
    code = ("from stagebox.audio.stretch import library_options; "
            f"print(library_options({engine!r}, {adjustable}))")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, cwd=repo, env=env).stdout)


def _measure(command: list[str], env: dict[str, str], repo: Path) -> Measured:
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=repo,
                            env=env)
    if result.returncode != 0:
        return Measured(math.nan, -1)
    last = result.stdout.strip().splitlines()[-1]
    if last.startswith("{"):
        figures = json.loads(last)
        return Measured(figures["cpu_s"], figures["frames_out"])
    cpu_s, frames_out = last.split()
    return Measured(float(cpu_s), int(frames_out))


def _memory(report: Report, engine: str, raw: Path, env: dict[str, str], repo: Path) -> None:
    command = [sys.executable, "-m", "bench.stretch", str(raw), "--key", "2", "--engine",
               engine, "--change-key", "3"]
    process = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
    sampler = PeakMemorySampler(process.pid).start()
    stdout, _ = process.communicate()
    sampler.stop()
    ok = process.returncode == 0
    figures = json.loads(stdout.strip().splitlines()[-1]) if ok else {}
    pss_mb = report.figure(f"stretch.{engine}.peak_pss_mb",
                           sampler.peak_pss_bytes / MB if ok else math.nan)
    rss_mb = report.figure(f"stretch.{engine}.peak_rss_mb",
                           figures.get("peak_rss_bytes", math.nan) / MB)
    report.add(Row("stretch", f"peak MB (PSS) of a process stretching, key +2 changed to +3 "
                   f"half-way, {ENGINE_NAMES[engine]}", f"{pss_mb:.0f} MB", "", "",
                   f"< {GOAL_MEMORY_MB:.0f} MB",
                   None if math.isnan(pss_mb) else pss_mb < GOAL_MEMORY_MB))
    report.add(Row("stretch", "the same, peak resident set (VmHWM)", f"{rss_mb:.0f} MB"))


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def stretch_file(raw: Path, key_semitones: float, speed: float, engine: str,
                 adjustable: bool, change_key: float | None) -> dict[str, float]:
    """Stretch ``raw`` as the decoder will, its output thrown away (its key changed to
    ``change_key`` half-way, if given); the CPU it took, the frames out, and this
    process's peak resident set."""
    # Imported here, so that the command line parses before numpy and the library load.
    from stagebox.audio.decode_worker import BLOCK_FRAMES
    from stagebox.audio.stretch import Stretcher, StretchSettings, check_engine

    block = np.zeros((BLOCK_FRAMES, 2), np.float32)
    song_frames = raw.stat().st_size // block.itemsize // 2
    started_s = time.process_time()
    stretcher = Stretcher(DEVICE_RATE, 2, StretchSettings(key_semitones, speed,
                                                          check_engine(engine)),
                          adjustable=adjustable or change_key is not None)
    frames_out = 0
    with raw.open("rb", buffering=0) as source:
        while frames := source.readinto(memoryview(block).cast("B")) // (2 * block.itemsize):
            if change_key is not None and stretcher.song_frames_in >= song_frames // 2:
                stretcher.set_key(change_key)
                change_key = None
            frames_out += len(stretcher.process(block[:frames]))
    frames_out += len(stretcher.finish())
    cpu_s = time.process_time() - started_s
    return {"cpu_s": cpu_s, "frames_out": frames_out, "peak_rss_bytes": _peak_rss_bytes()}


def _peak_rss_bytes() -> int:
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stretch the raw file named on the command line; print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.stretch")
    parser.add_argument("raw", type=Path)
    parser.add_argument("--key", type=float, default=0.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--engine", default="faster")
    parser.add_argument("--adjustable", action="store_true",
                        help="a stretcher whose key may change while it plays")
    parser.add_argument("--change-key", type=float, default=None,
                        help="change to this key half-way (an adjustable stretcher)")
    args = parser.parse_args(argv)
    print(json.dumps(stretch_file(args.raw, args.key, args.speed, args.engine,
                                  args.adjustable, args.change_key)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
