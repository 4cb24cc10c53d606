"""Loudness measurement: the CPU per minute of music of the box's measuring process against
pyloudnorm alone and libebur128 alone on the same file, and the measuring process's peak
memory.

Each contender is a process of its own, run on the benchmark's song (44.1 kHz 16-bit
stereo FLAC), the three taking turns:

- stagebox: ``python -m stagebox.media.measure_process 48000 '' normal``, the process the
  box starts after a scan: the box's decoder, forked, decodes the song and resamples it to
  48 kHz as the box will play it, and libebur128 meters the integrated loudness and the
  true peak (4 times oversampled);
- libebur128 alone: ``python -m bench.loudness ebur128 FILE``, the file read by soundfile
  at its own rate, block by block, into the same library (through stagebox's binding) for
  the same two figures;
- pyloudnorm alone: ``python -m bench.loudness pyloudnorm FILE``, the whole file read into
  memory (pyloudnorm takes one array) for the integrated loudness (it has no true peak).

CPU is each process's whole CPU, start-up and the children it reaped included (the
measuring process's decoder), from ``getrusage(RUSAGE_CHILDREN)`` around it, over the
minutes of music. The measuring process's memory is its tree (itself and its decoder)
sampled every 100 ms, proportional and resident sets (:mod:`bench.proctree`), and each
peer's resident set likewise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.proctree import PeakMemorySampler
from bench.report import Report, Row, ratio
from stagebox import ONE_THREAD_ENV

DEVICE_RATE = 48000
BLOCK_FRAMES = 65536
MB = 1e6
GOAL_MEMORY_MB = 150.0


def run(report: Report, *, song: Path, seconds: float, reps: int, repo: Path) -> None:
    """Measure the three contenders ``reps`` times each, in turns; add the rows."""
    env = {**os.environ, **ONE_THREAD_ENV}
    contenders: dict[str, list[str]] = {
        "stagebox": [sys.executable, "-m", "stagebox.media.measure_process",
                     str(DEVICE_RATE), "", "normal"],
        "ebur128": [sys.executable, "-m", "bench.loudness", "ebur128", str(song)],
        "pyloudnorm": [sys.executable, "-m", "bench.loudness", "pyloudnorm", str(song)],
    }
    cpu_s: dict[str, list[float]] = {name: [] for name in contenders}
    lufs: dict[str, float] = {}
    stdin = json.dumps([os.fsdecode(song), None]) + "\n"  # a song, not a split track
    names = list(contenders)
    for turn in range(reps):
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            spent_s, output = _cpu_of(contenders[name], stdin, env, repo)
            cpu_s[name].append(spent_s)
            lufs[name] = _lufs(name, output)
    minutes = seconds / 60.0
    per_minute = {name: report.figure(f"loudness.{name}.cpu_s_per_min",
                                      statistics.median(times) / minutes)
                  for name, times in cpu_s.items()}
    ours = per_minute["stagebox"]
    for peer, label in (("ebur128", "libebur128 alone (soundfile, its own rate)"),
                        ("pyloudnorm", "pyloudnorm alone (whole file in memory)")):
        over = report.figure(f"loudness.ratio_{peer}", ratio(ours, per_minute[peer]))
        report.add(Row("loudness", f"CPU s per minute of music measured (44.1 kHz FLAC, "
                       f"decoded, to 48 kHz, loudness and true peak) vs {label}",
                       f"{ours:.2f} s", f"{per_minute[peer]:.2f} s", f"{over:.2f}×"))
    _memory(report, contenders, stdin, env, repo)
    report.notes.append(
        f"loudness: {seconds:g} s song, {reps} turns, medians of whole-process CPU "
        "(start-up included); integrated loudness found: "
        + ", ".join(f"{name} {value:.2f} LUFS" for name, value in lufs.items()))


def _cpu_of(command: list[str], stdin: str, env: dict[str, str],
            repo: Path) -> tuple[float, str]:
    """Run ``command`` to its end; the CPU it and its children took, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, input=stdin, capture_output=True, text=True,
                            check=False, cwd=repo, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        return math.nan, ""
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
            result.stdout)


def _lufs(name: str, output: str) -> float:
    """The integrated loudness a contender printed (NaN if it failed)."""
    lines = output.strip().splitlines()
    if not lines:
        return math.nan
    message = json.loads(lines[-1])
    value = message["song"][1] if name == "stagebox" else message["lufs"]
    return float(value) if value is not None else math.nan


def _memory(report: Report, contenders: dict[str, list[str]], stdin: str,
            env: dict[str, str], repo: Path) -> None:
    """Each contender's peak memory, once, sampled from outside."""
    peaks: dict[str, PeakMemorySampler | None] = {}
    for name, command in contenders.items():
        process = subprocess.Popen(command, cwd=repo, env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, text=True)
        sampler = PeakMemorySampler(process.pid).start()
        process.communicate(stdin)
        sampler.stop()
        peaks[name] = sampler if process.returncode == 0 else None

    def peak_mb(name: str, kind: str) -> float:
        sampler = peaks[name]
        value = math.nan if sampler is None else getattr(sampler, f"peak_{kind}_bytes") / MB
        return report.figure(f"loudness.{name}.peak_{kind}_mb", value)

    pss_mb = peak_mb("stagebox", "pss")
    report.add(Row("loudness", "peak MB (PSS) of the measuring process and its decoder",
                   f"{pss_mb:.0f} MB", "", "", f"< {GOAL_MEMORY_MB:.0f} MB",
                   None if math.isnan(pss_mb) else pss_mb < GOAL_MEMORY_MB))
    ours = peak_mb("stagebox", "rss")
    for peer in ("ebur128", "pyloudnorm"):
        theirs = peak_mb(peer, "rss")
        report.add(Row("loudness", f"peak MB, resident sets summed, vs {peer} alone",
                       f"{ours:.0f} MB", f"{theirs:.0f} MB", f"{ratio(ours, theirs):.2f}×"))


def meter_with_ebur128(path: Path) -> dict[str, float]:
    """libebur128 alone: the file at its own rate, block by block."""
    import soundfile

    from stagebox.media.ebur128 import Meter

    with soundfile.SoundFile(path) as song, Meter(song.samplerate, song.channels) as meter:
        for block in song.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
            meter.add(np.ascontiguousarray(block))
        return {"lufs": meter.integrated_lufs(), "dbtp": meter.true_peak_dbtp()}


def meter_with_pyloudnorm(path: Path) -> dict[str, float]:
    """pyloudnorm alone: the whole file as one array, its integrated loudness."""
    import pyloudnorm
    import soundfile

    data, rate = soundfile.read(path, dtype="float64", always_2d=True)
    return {"lufs": float(pyloudnorm.Meter(rate).integrated_loudness(data))}


METERS: dict[str, Callable[[Path], dict[str, float]]] = {
    "ebur128": meter_with_ebur128, "pyloudnorm": meter_with_pyloudnorm}


def main(argv: list[str] | None = None) -> int:
    """One peer's measuring, its figures printed as a JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.loudness")
    parser.add_argument("meter", choices=sorted(METERS))
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(METERS[args.meter](args.file)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
