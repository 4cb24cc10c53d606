"""GIL: how long a scan keeps the box's own process from running any other thread.

The box's scan worker thread runs :func:`~stagebox.media.scan_process.scan_in_child` and
builds the library from what the scanner process prints. Whatever that thread does while
holding the GIL, the output thread waits for: past its buffer, an underrun.

``python -m bench.gil STICK SCANS`` scans ``STICK`` ``SCANS`` times as the box does (in a
scanner process, on a thread of its own, with a fresh title cache, then with the cache it
left) while a watcher thread sleeps 1 ms at a time and notes how late it wakes. A thread
that wants the GIL waits for the holder to let it go, so the watcher's worst lateness is
the longest hold, plus the kernel's own wake-up delay: kept small by the realtime priority
the watcher asks for as the box's output thread does (``SCHED_FIFO``; root or the
service's limits allow it, and the figures say when it was refused), and measured, with
the rest of what a busy machine adds, by a control scan before each: the same scanner
process, its output thrown away unread, so that the box's process holds the GIL for
nothing but waiting. As in the box, everything
loaded before is frozen out of the collector's sweeps (``gc.freeze()``). It prints one
line of JSON, with the growth of the process's peak resident set over the scans (the
scanner process not counted: it is not the box).
"""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.report import Report, Row
from stagebox.audio.output import REALTIME_PRIORITY
from stagebox.media.model import Library
from stagebox.media.scan_process import scan_in_child
from stagebox.state import StateStore

WAKE_PERIOD_S = 0.001
GOAL_MS = 5.0


class LatenessWatcher(threading.Thread):
    """A thread that sleeps :data:`WAKE_PERIOD_S` over and over, noting how late it wakes."""

    def __init__(self) -> None:
        super().__init__(name="bench-gil-watcher", daemon=True)
        self._stop_event = threading.Event()
        self.worst_s = 0.0
        self.wakes = 0
        self.late_over_1ms = 0
        self.late_over_goal = 0
        self.realtime = True

    def run(self) -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
        except OSError:
            self.realtime = False
        while not self._stop_event.is_set():
            slept_at_s = time.perf_counter()
            time.sleep(WAKE_PERIOD_S)
            late_s = time.perf_counter() - slept_at_s - WAKE_PERIOD_S
            self.wakes += 1
            self.worst_s = max(self.worst_s, late_s)
            self.late_over_1ms += late_s > 0.001
            self.late_over_goal += late_s > GOAL_MS / 1000

    def stop(self) -> None:
        """Stop, and wait until the thread has."""
        self._stop_event.set()
        self.join()


def peak_rss_bytes() -> int:
    """The peak resident set of this process since :func:`reset_peak_rss` (or its start).

    Not ``getrusage``'s ``ru_maxrss``: that keeps the peak of the process the benchmark's
    runner forked this one from, before it ran Python anew.
    """
    return _status_bytes("VmHWM:")


def reset_peak_rss() -> int:
    """Start the peak resident set again from the current one (Linux 4.0 and later);
    return the current one."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")
    return _status_bytes("VmRSS:")


def _status_bytes(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def watch_scans(stick: Path, scans: int) -> dict[str, float]:
    """Scan ``stick`` ``scans`` times as the box does, each after a control scan; the
    lateness figures of both in ms, the peak RSS growth in MB, the songs found."""
    gc.collect()
    gc.freeze()
    libraries: list[Library] = []
    controls: list[LatenessWatcher] = []
    watched: list[LatenessWatcher] = []
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as other:
        cache_path = StateStore(Path(state)).cache_path("titles", stick.name)
        control_cache_path = StateStore(Path(other)).cache_path("titles", stick.name)

        def control() -> None:
            subprocess.run([sys.executable, "-m", "stagebox.media.scan_process", str(stick),
                            stick.name, str(control_cache_path)],
                           stdout=subprocess.DEVNULL, check=True)

        def scan() -> None:
            libraries[:] = [scan_in_child(stick, stick.name, cache_path)]

        rss_before = reset_peak_rss()
        for _ in range(scans):
            controls.append(_watched(control))
            watched.append(_watched(scan))
        rss_growth = peak_rss_bytes() - rss_before
    return {"worst_ms": max(w.worst_s for w in watched) * 1000,
            "control_worst_ms": max(w.worst_s for w in controls) * 1000,
            "wakes": sum(w.wakes for w in watched),
            "late_wakes": sum(w.late_over_1ms for w in watched),
            "over_goal_wakes": sum(w.late_over_goal for w in watched),
            "control_over_goal_wakes": sum(w.late_over_goal for w in controls),
            "realtime": all(w.realtime for w in watched),
            "rss_growth_mb": rss_growth / 1e6,
            "songs": sum(len(setlist.songs) for setlist in libraries[0].setlists)}


def _watched(work: Callable[[], None]) -> LatenessWatcher:
    """Run ``work`` on a thread of its own, as the box's scan worker, under a watcher."""
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            work()
        except Exception as exc:
            errors.append(exc)

    watcher = LatenessWatcher()
    watcher.start()
    thread = threading.Thread(target=worker, name="stagebox-scan")
    thread.start()
    thread.join()
    watcher.stop()
    if errors:
        raise errors[0]
    return watcher


@dataclass(frozen=True)
class WatchedStick:
    """A stick whose scans are watched."""

    key: str
    """Its figures' names: ``gil.KEY.worst_ms``, ``gil.KEY.rss_growth_mb``."""
    description: str
    root: Path
    songs: int
    """Songs in all its setlists: the scans must find them all."""


def run(report: Report, *, sticks: list[WatchedStick], scans: int, repo: Path) -> None:
    """Watch the scans of each stick in a process of its own (so that each peak resident
    set is its own); add the rows."""
    for stick in sticks:
        result = subprocess.run([sys.executable, "-m", "bench.gil", str(stick.root),
                                 str(scans)],
                                cwd=repo, capture_output=True, text=True, check=False)
        try:
            found = json.loads(result.stdout)
        except json.JSONDecodeError:
            found = {}
            report.notes.append(f"gil, {stick.key}: failed: {result.stderr.strip()[-300:]}")
        if found and found["songs"] != stick.songs:
            report.notes.append(f"gil, {stick.key}: found {found['songs']} songs of "
                                f"{stick.songs}")
            found = {}
        worst_ms = report.figure(f"gil.{stick.key}.worst_ms", found.get("worst_ms", math.nan))
        growth_mb = report.figure(f"gil.{stick.key}.rss_growth_mb",
                                  found.get("rss_growth_mb", math.nan))
        report.add(Row("gil", f"longest GIL hold in the box's process, {scans} "
                       f"scan{'s' if scans > 1 else ''} of "
                       f"{stick.description}", f"{worst_ms:.1f} ms", "", "",
                       f"< {GOAL_MS:g} ms", None if math.isnan(worst_ms) else worst_ms < GOAL_MS))
        report.add(Row("gil", "peak RSS growth of the box's process, the same scans",
                       f"{growth_mb:.1f} MB"))
        if found:
            report.notes.append(
                f"gil, {stick.description}: the watcher woke {found['wakes']} times, "
                f"{found['late_wakes']} of them over 1 ms late, {found['over_goal_wakes']} "
                f"over {GOAL_MS:g} ms. In a control scan before each, whose output the box's "
                f"process threw away unread, its worst lateness was "
                f"{found['control_worst_ms']:.1f} ms, {found['control_over_goal_wakes']} "
                f"wakes over {GOAL_MS:g} ms: what the machine adds by itself"
                + ("" if found["realtime"] else "; realtime priority refused, so the "
                   "figures include the waits of a thread that any process may preempt"))


def main(argv: list[str] | None = None) -> int:
    """Print the lateness and memory figures of the stick named on the command line."""
    stick, scans = argv if argv is not None else sys.argv[1:]
    print(json.dumps(watch_scans(Path(stick), int(scans))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
