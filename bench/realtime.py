"""The real-time benchmarks: steady playback, start latency and the soak.

Each runs :mod:`bench.rtbox` (the box wired as ``stagebox run``, on a wall-clock-paced
sink) as a process of its own and reads the JSON line it prints.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import Report, Row
from stagebox import ONE_THREAD_ENV

RATE = 48000
DEFAULT_PERIOD = 1024
DEFAULT_PERIODS = 4
PRACTICE_PERIOD = 512
PRACTICE_PERIODS = 4
"""Practice mode's buffer (``practice.period_frames`` and ``practice.periods``)."""
GOAL_CPU_PERCENT = 2.0
GOAL_P99_MS = 30.0
BUSY_LOOPS = 2
GOAL_CHANGE_MS = 100.0
PRACTICE_OPTIONS = "key=+2 speed=80%"
"""The soak's practice run: both stretched at once, the heavier case."""
BUSES_OPTIONS = "split=click-left bpm=120 click=on"
"""The buses benchmark's song: a split track with a click through it, so that on a
four-output device both buses carry sound (on a stereo one the click side is dropped and
the click joins the music)."""
GOAL_BUSES_RATIO = 1.2
LATENCY_FADE_S = 0.05
"""Fade after each timed start: shorter than the default, so 200 presses take less time;
it happens after the measurement and does not change it."""


def rtbox(mode: str, stick: Path, work: Path, repo: Path, *options: str) -> dict[str, Any]:
    """Run one scenario; its result, or ``{"error": ...}`` if it failed."""
    log = work / f"rtbox-{mode}.log"
    command = [sys.executable, "-m", "bench.rtbox", mode, "--stick", str(stick), *options]
    with log.open("ab") as log_file:
        # As `stagebox run` sets it (stagebox.cli), before numpy is imported.
        env = {**os.environ, **ONE_THREAD_ENV}
        result = subprocess.run(command, cwd=repo, stdout=subprocess.PIPE, stderr=log_file,
                                stdin=subprocess.DEVNULL, check=False, env=env)
    if result.returncode != 0:
        return {"error": f"exit status {result.returncode}; see {log}"}
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def steady(report: Report, *, stick: Path, seconds: float, work: Path, repo: Path) -> None:
    """CPU of the whole box while it plays in real time."""
    result = rtbox("steady", stick, work, repo, "--seconds", str(seconds))
    cpu = report.figure("steady.cpu_percent", result.get("cpu_percent", math.nan))
    report.add(Row("steady playback", f"CPU % of one core, whole box, {seconds:g} s playing",
                   f"{cpu:.2f} %", "", "", f"< {GOAL_CPU_PERCENT:g} %",
                   None if math.isnan(cpu) else cpu < GOAL_CPU_PERCENT))
    longest = report.figure("steady.gc_longest_ms", result.get("gc_longest_ms", math.nan))
    report.add(Row("steady playback", f"longest garbage-collector pause, {seconds:g} s playing "
                   f"({result.get('gc_collections', 0)} collections, after gc.freeze())",
                   f"{longest:.2f} ms", "", "", "", None))
    _note_failure(report, "steady", result)
    if "cpu_percent_by_thread" in result:
        shares = ", ".join(f"{name} {share:.2f}" for name, share
                           in sorted(result["cpu_percent_by_thread"].items(),
                                     key=lambda item: -item[1]))
        report.notes.append(f"steady playback: CPU % by thread: {shares}; xruns "
                            f"{result['xruns']}, late frames {result['late_frames']}")


def latency(report: Report, *, stick: Path, presses: int, work: Path, repo: Path) -> None:
    """PLAY to first frame out, at the default buffer."""
    result = rtbox("latency", stick, work, repo, "--presses", str(presses),
                   "--fade-s", str(LATENCY_FADE_S))
    _note_failure(report, "start latency", result)
    press_ms = np.array(result.get("from_press_s", [math.nan])) * 1000
    p50 = report.figure("latency.p50_ms", float(np.percentile(press_ms, 50)))
    p99 = report.figure("latency.p99_ms", float(np.percentile(press_ms, 99)))
    buffer = f"{DEFAULT_PERIOD}×{DEFAULT_PERIODS} at {RATE // 1000} kHz"
    figure = f"ms from PLAY's press edge to the first frame out, {presses} presses, {buffer}"
    report.add(Row("start latency", figure + ", p50", f"{p50:.1f} ms"))
    report.add(Row("start latency", figure + ", p99", f"{p99:.1f} ms", "", "",
                   f"< {GOAL_P99_MS:g} ms", None if math.isnan(p99) else p99 < GOAL_P99_MS))
    report.notes.append(
        f"start latency: worst {press_ms.max():.1f} ms. The buffer alone holds "
        f"{DEFAULT_PERIOD * DEFAULT_PERIODS / RATE * 1000:.0f} ms; the paced sink models the "
        "device's buffer, not the interface's own converter and USB delay (a few ms on a "
        f"real one); xruns {result.get('xruns')}")


def practice(report: Report, *, stick: Path, key_stick: Path, practice_stick: Path,
             presses: int, soak_s: float, scan_stick: Path, work: Path, repo: Path) -> None:
    """Practice in real time: PLAY to first frame with key +2 (rendered ahead while
    cued), at the default buffer; a key change while playing to its first frame out, at
    practice mode's buffer, idle and beside the CPU hogs; and xruns in the soak with key
    and speed on beside the CPU hogs, in show mode at the default buffer and in practice
    mode at its own."""
    result = rtbox("latency", key_stick, work, repo, "--presses", str(presses),
                   "--fade-s", str(LATENCY_FADE_S))
    _note_failure(report, "practice start", result)
    press_ms = np.array(result.get("from_press_s", [math.nan])) * 1000
    p99 = report.figure("practice.key_latency_p99_ms", float(np.percentile(press_ms, 99)))
    buffer = f"{DEFAULT_PERIOD}×{DEFAULT_PERIODS} at {RATE // 1000} kHz"
    report.add(Row("practice", f"ms from PLAY's press edge to the first frame out, key +2, "
                   f"{presses} presses, {buffer}, p99", f"{p99:.1f} ms", "", "",
                   f"< {GOAL_P99_MS:g} ms", None if math.isnan(p99) else p99 < GOAL_P99_MS))
    practice_buffer = f"{PRACTICE_PERIOD}×{PRACTICE_PERIODS} (practice mode's buffer)"
    for loaded in (False, True):
        _change(report, stick=stick, presses=presses, buffer=practice_buffer, loaded=loaded,
                work=work, repo=repo)
    for mode, buffer_name, options in (("show", buffer, ()),
                                       ("practice", practice_buffer, ("--practice",))):
        with _busy_loops(BUSY_LOOPS):
            result = rtbox("soak", practice_stick, work, repo, "--seconds", str(soak_s),
                           "--after-song", "next", "--scan-stick", str(scan_stick), *options)
        _note_failure(report, f"practice soak, {mode} mode", result)
        xruns = report.figure(f"practice.soak_{mode}_xruns", result.get("xruns", math.nan))
        report.add(Row("practice", f"xruns, {soak_s:g} s at {PRACTICE_OPTIONS} in {mode} mode "
                       f"beside {BUSY_LOOPS} CPU hogs and scans, {buffer_name}", f"{xruns}",
                       "", "", "0", None if math.isnan(xruns) else xruns == 0))


def _change(report: Report, *, stick: Path, presses: int, buffer: str, loaded: bool,
            work: Path, repo: Path) -> None:
    """A key change while playing in practice mode, ``presses`` times, idle or beside the
    CPU hogs: to its first frame out, and to the engine's swap."""
    with _busy_loops(BUSY_LOOPS if loaded else 0):
        result = rtbox("change", stick, work, repo, "--presses", str(presses))
    where = f"beside {BUSY_LOOPS} CPU hogs" if loaded else "idle"
    _note_failure(report, f"practice change, {where}", result)
    tag = "_loaded" if loaded else ""
    change_ms = np.array(result.get("heard_after_s", [math.nan])) * 1000
    p50 = report.figure(f"practice.change{tag}_p50_ms", float(np.percentile(change_ms, 50)))
    p99 = report.figure(f"practice.change{tag}_p99_ms", float(np.percentile(change_ms, 99)))
    report.add(Row("practice", f"ms from a key change's tap (NEXT/PREV released, practice "
                   f"mode, song playing) to the new key's first frame out, {presses} changes, "
                   f"{buffer}, {where}, p50 / p99", f"{p50:.0f} / {p99:.0f} ms", "", "",
                   f"< {GOAL_CHANGE_MS:g} ms",
                   None if math.isnan(p99) else p99 < GOAL_CHANGE_MS))
    swap_ms = np.array(result.get("swapped_after_s", [math.nan])) * 1000
    swap_p50 = report.figure(f"practice.swap{tag}_p50_ms", float(np.percentile(swap_ms, 50)))
    report.add(Row("practice", "the same, to the engine's swap (without the device buffer "
                   "ahead of it), p50 / p99",
                   f"{swap_p50:.0f} / {np.percentile(swap_ms, 99):.0f} ms"))
    buffer_ms = PRACTICE_PERIOD * PRACTICE_PERIODS / RATE * 1000
    report.notes.append(
        f"practice change, {where}: worst {np.nanmax(change_ms):.0f} ms; it includes the "
        f"device buffer still ahead of the swap (up to {buffer_ms:.0f} ms), a new decoder "
        "from the launcher, Rubber Band's priming and the 30 ms crossfade's start; xruns "
        f"{result.get('xruns')}, late frames {result.get('late_frames')}")


def buses(report: Report, *, stick: Path, seconds: float, reps: int, work: Path,
          repo: Path) -> None:
    """CPU of the whole box playing ``stick`` (a split track with a click) on a stereo
    device and on a four-output one with the cue bus on outputs 3-4, ``reps`` turns of
    ``seconds`` each, the two in turn; the ratio is the median of each turn's."""
    devices = {"stereo": ("--channels", "2", "--cue-pair", "0"),
               "cue": ("--channels", "4", "--cue-pair", "2")}
    cpu: dict[str, list[float]] = {"stereo": [], "cue": []}
    for turn in range(reps):
        for name in (("stereo", "cue") if turn % 2 == 0 else ("cue", "stereo")):
            result = rtbox("steady", stick, work, repo, "--seconds", str(seconds),
                           *devices[name])
            _note_failure(report, f"buses {name}", result)
            cpu[name].append(result.get("cpu_percent", math.nan))
    stereo = report.figure("buses.stereo_cpu_percent", float(np.median(cpu["stereo"])))
    cue = report.figure("buses.cue_cpu_percent", float(np.median(cpu["cue"])))
    ratio = report.figure("buses.ratio", float(np.median(
        [c / s for c, s in zip(cpu["cue"], cpu["stereo"], strict=True)])))
    report.add(Row("buses", f"CPU % of one core, whole box, a split track with a click "
                   f"({BUSES_OPTIONS}), 4-output device with the cue bus on 3-4, against a "
                   f"stereo device, {reps} turns of {seconds:g} s each",
                   f"{cue:.2f} %", f"{stereo:.2f} %", f"{ratio:.2f}×",
                   f"≤ {GOAL_BUSES_RATIO:g}×",
                   None if math.isnan(ratio) else ratio <= GOAL_BUSES_RATIO))


def soak(report: Report, *, stick: Path, scan_stick: Path,
         runs: list[tuple[int, int, float]], work: Path, repo: Path) -> None:
    """Real-time playback beside CPU hogs and a scan: xruns at each buffer of ``runs``
    ((period, periods, seconds)), the default one first."""
    clean: list[int] = []
    for period, periods, seconds in runs:
        with _busy_loops(BUSY_LOOPS):
            result = rtbox("soak", stick, work, repo, "--seconds", str(seconds),
                           "--period", str(period), "--periods", str(periods),
                           "--after-song", "next", "--scan-stick", str(scan_stick))
        _note_failure(report, "soak", result)
        xruns = result.get("xruns", math.nan)
        buffer_frames = period * periods
        default = (period, periods) == (DEFAULT_PERIOD, DEFAULT_PERIODS)
        if default:
            report.figure("soak.default_xruns", xruns)
        if xruns == 0:
            clean.append(buffer_frames)
        minutes = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
        report.add(Row(
            "soak", f"xruns, {minutes} beside {BUSY_LOOPS} CPU hogs and scans, buffer "
            f"{period}×{periods} ({buffer_frames / RATE * 1000:.1f} ms)",
            f"{xruns}", "", "", "0" if default else "",
            (xruns == 0) if default and not math.isnan(xruns) else None))
        if "scans" in result:
            report.notes.append(f"soak {period}×{periods}: {result['scans']} scans of the "
                                f"stick meanwhile, late frames {result['late_frames']}, "
                                f"CPU {result['cpu_percent']:.1f} %")
    smallest = min(clean, default=math.nan)
    report.figure("soak.smallest_clean_frames", smallest)
    report.add(Row("soak", "smallest buffer tried with no xruns",
                   "none" if math.isnan(smallest) else
                   f"{smallest} frames ({smallest / RATE * 1000:.1f} ms)"))


@contextlib.contextmanager
def _busy_loops(count: int) -> Iterator[None]:
    """``count`` CPU-bound processes, for as long as the block runs."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def _note_failure(report: Report, benchmark: str, result: dict[str, Any]) -> None:
    if "error" in result:
        report.notes.append(f"{benchmark}: failed: {result['error']}")
