"""Scan: time from a stick's insertion to a playable setlist, first time and again.

``python -m bench.scan STICK`` runs the box's own scan twice and prints the two times
as JSON: :func:`~stagebox.media.scan_process.scan_in_child`, so each time includes
starting the scanner process. The second is a stick inserted again, whose titles come
from the cache the first scan left in the state folder. Both run with the stick's files
in the page cache (it was just generated, and dropping the cache would touch the whole
system), so the first time is not a cold USB read.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Report, Row
from stagebox.media.scan_process import scan_in_child
from stagebox.state import StateStore

GOAL_FIRST_S = 1.0
GOAL_AGAIN_S = 0.3


def time_scans(stick: Path) -> dict[str, float]:
    """Scan ``stick`` twice as the box does: in a scanner process, with the stick's title
    cache in a fresh state folder; the seconds each took and the songs found."""
    times = []
    songs = 0
    with tempfile.TemporaryDirectory() as state:
        cache_path = StateStore(Path(state)).cache_path("titles", stick.name)
        for _ in range(2):
            started_s = time.perf_counter()
            library = scan_in_child(stick, stick.name, cache_path)
            times.append(time.perf_counter() - started_s)
            songs = len(library.default.songs)
    return {"first_s": times[0], "again_s": times[1], "songs": songs}


def run(report: Report, *, stick: Path, files: int, repo: Path) -> None:
    """Time the scans in a process of their own; add the rows."""
    result = subprocess.run([sys.executable, "-m", "bench.scan", str(stick)], cwd=repo,
                            capture_output=True, text=True, check=False)
    try:
        found = json.loads(result.stdout)
    except json.JSONDecodeError:
        found = {"first_s": math.nan, "again_s": math.nan, "songs": 0}
        report.notes.append(f"scan: failed: {result.stderr.strip()[-300:]}")
    if found["songs"] != files:
        report.notes.append(f"scan: found {found['songs']} songs of {files}")
        found = {**found, "first_s": math.nan, "again_s": math.nan}
    first_s = report.figure("scan.first_s", found["first_s"])
    again_s = report.figure("scan.again_s", found["again_s"])
    figure = f"s to a playable setlist, {files} files"
    report.add(Row("scan", figure + ", first insertion", f"{first_s:.3f} s", "", "",
                   f"< {GOAL_FIRST_S:g} s", _under(first_s, GOAL_FIRST_S)))
    report.add(Row("scan", figure + ", inserted again", f"{again_s:.3f} s", "", "",
                   f"< {GOAL_AGAIN_S:g} s", _under(again_s, GOAL_AGAIN_S)))


def _under(value: float, limit: float) -> bool | None:
    return None if math.isnan(value) else value < limit


def main(argv: list[str] | None = None) -> int:
    """Print the scan times of the stick named on the command line."""
    (stick,) = argv if argv is not None else sys.argv[1:]
    print(json.dumps(time_scans(Path(stick))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
