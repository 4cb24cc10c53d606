"""GIL: how long a scan keeps the box's own process from running any other thread.

The box's scan worker thread runs :func:`~stagebox.media.scan_process.scan_in_child` and
builds the library from what the scanner process prints. Whatever that thread does while
holding the GIL, the output thread waits for: past its buffer, an underrun.

``python -m bench.gil STICK SCANS`` scans ``STICK`` ``SCANS`` times as the box does (in a
scanner process, on a thread of its own, with a fresh title cache, then with the cache it
left) while a watcher thread sleeps 1 ms at a time and notes how late it wakes. A thread
that wants the GIL waits for the holder to let it go, so the watcher's worst lateness is
the longest hold, plus the kernel's own wake-up delay: measured alone beforehand as the
baseline, and kept small, whatever else the machine runs, by the realtime priority the
watcher asks for as the box's output thread does (``SCHED_FIFO``; root or the service's
limits allow it, and the figures say when it was refused). As in the box, everything
loaded before is frozen out of the collector's sweeps (``gc.freeze()``). It prints one
line of JSON, with the growth of the process's peak resident set over the scans (the
scanner process not counted: it is not the box).
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import Report, Row
from stagebox.audio.output import REALTIME_PRIORITY
from stagebox.media.model import Library
from stagebox.media.scan_process import scan_in_child
from stagebox.state import StateStore

WAKE_PERIOD_S = 0.001
BASELINE_S = 1.0
"""The watcher alone, before any scan: the lateness the kernel adds by itself."""
GOAL_MS = 5.0


class LatenessWatcher(threading.Thread):
    """A thread that sleeps :data:`WAKE_PERIOD_S` over and over, noting how late it wakes."""

    def __init__(self) -> None:
        super().__init__(name="bench-gil-watcher", daemon=True)
        self._stop_event = threading.Event()
        self.worst_s = 0.0
        self.wakes = 0
        self.late_over_1ms = 0
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

    def stop(self) -> None:
        """Stop, and wait until the thread has."""
        self._stop_event.set()
        self.join()


def peak_rss_bytes() -> int:
    """The peak resident set of this process so far (Linux counts ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def watch_scans(stick: Path, scans: int) -> dict[str, float]:
    """Scan ``stick`` ``scans`` times on a thread of its own, as the box does, under the
    watcher; the baseline and scan lateness in ms, the peak RSS growth in MB, the songs."""
    gc.collect()
    gc.freeze()
    baseline = LatenessWatcher()
    baseline.start()
    time.sleep(BASELINE_S)
    baseline.stop()
    libraries: list[Library] = []
    errors: list[BaseException] = []
    with tempfile.TemporaryDirectory() as state:
        cache_path = StateStore(Path(state)).cache_path("titles", stick.name)

        def scan() -> None:
            try:
                for _ in range(scans):
                    libraries[:] = [scan_in_child(stick, stick.name, cache_path)]
            except Exception as exc:
                errors.append(exc)

        rss_before = peak_rss_bytes()
        watcher = LatenessWatcher()
        watcher.start()
        worker = threading.Thread(target=scan, name="stagebox-scan")
        worker.start()
        worker.join()
        watcher.stop()
        rss_growth = peak_rss_bytes() - rss_before
    if errors:
        raise errors[0]
    return {"worst_ms": watcher.worst_s * 1000, "baseline_worst_ms": baseline.worst_s * 1000,
            "late_wakes": watcher.late_over_1ms, "wakes": watcher.wakes,
            "realtime": watcher.realtime,
            "rss_growth_mb": rss_growth / 1e6,
            "songs": sum(len(setlist.songs) for setlist in libraries[0].setlists)}


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
                f"{found['late_wakes']} of them over 1 ms late; alone, before the scans, "
                f"its worst lateness was {found['baseline_worst_ms']:.1f} ms"
                + ("" if found["realtime"] else "; realtime priority refused, so the "
                   "figures include the waits of a thread that any process may preempt"))


def main(argv: list[str] | None = None) -> int:
    """Print the lateness and memory figures of the stick named on the command line."""
    stick, scans = argv if argv is not None else sys.argv[1:]
    print(json.dumps(watch_scans(Path(stick), int(scans))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
