"""Memory: the peak RAM of the box and its decoders while a whole setlist plays through.

``stagebox sim`` plays the setlist (faster than real time) as a process of its own, with
``after_song = "next"`` so each song is preloaded while the one before plays, as on a gig
with no gaps. A sampler reads the process tree every 100 ms (see :mod:`bench.proctree`):
the sum of the proportional set sizes plus the songs held in memory files, the headline
figure; and the sum of the resident sets plus the memory files, a secondary row.

The headline is the PSS sum because a sum of resident sets counts every shared page once
per process that maps it: the libraries the box and its decoders all load, and above all
the decoders' pages shared with the decoder launcher they are forked from, which are in
RAM once however many decoders run. PSS divides each shared page among the processes
that share it, so the sum is what the tree takes from RAM.

The simulator writes every frame to ``audio.wav``; for a 3-hour show that is 2 GB of disk
nobody reads, so the file is a link to ``/dev/null`` (what is written to a file is not in
any process's resident set, so the figure is the same).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.proctree import PeakMemorySampler
from bench.report import Report, Row

MB = 1e6
GOAL_MB = 150.0
START_S = 1.0
"""When the script presses PLAY."""


def run(report: Report, *, stick: Path, songs: int, song_s: float, work: Path,
        repo: Path) -> None:
    """Play the ``songs`` songs of ``stick`` through the simulator; add the rows."""
    out = work / "memory-sim"
    out.mkdir(parents=True, exist_ok=True)
    wav = out / "audio.wav"
    if wav.exists() or wav.is_symlink():
        wav.unlink()
    wav.symlink_to(os.devnull)
    show_s = songs * song_s
    script = work / "memory.script"
    script.write_text(f"0.2 insert\n{START_S} press play\n{START_S + show_s + 2.0:.1f} end\n",
                      encoding="utf-8")
    config = work / "memory.toml"
    config.write_text('[player]\nafter_song = "next"\n', encoding="utf-8")
    command = [sys.executable, "-m", "stagebox", "sim", "--media", str(stick), "--script",
               str(script), "--out", str(out), "--config", str(config)]
    log = work / "memory.log"
    with log.open("wb") as log_file:
        started_s = time.monotonic()
        process = subprocess.Popen(command, cwd=repo, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=log_file)
        sampler = PeakMemorySampler(process.pid).start()
        returncode = process.wait()
        sampler.stop()
        wall_s = time.monotonic() - started_s
    played = _songs_started(out / "events.jsonl")
    ok = returncode == 0 and played == songs
    if not ok:
        report.notes.append(f"memory: the simulated show failed or stopped early "
                            f"({played} of {songs} songs played); see {log}")
    peak_mb = report.figure("memory.peak_mb",
                            sampler.peak_pss_total_bytes / MB if ok else math.nan)
    report.figure("memory.peak_pss_mb", peak_mb)
    rss_total_mb = report.figure("memory.peak_rss_total_mb",
                                 sampler.peak_total_bytes / MB if ok else math.nan)
    rss_mb = report.figure("memory.peak_rss_mb", sampler.peak_rss_bytes / MB if ok else math.nan)
    memfd_mb = sampler.peak_memfd_bytes / MB
    hours = f"{show_s / 3600:.1f} h" if show_s >= 3600 else f"{show_s:g} s"
    report.add(Row("memory", f"peak MB (PSS), box + decoders, {songs} songs ({hours}) "
                   "played through", f"{peak_mb:.0f} MB", "", "", f"< {GOAL_MB:.0f} MB",
                   None if math.isnan(peak_mb) else peak_mb < GOAL_MB))
    report.add(Row("memory", "the same, resident sets summed (shared pages counted in each "
                   "process)", f"{rss_total_mb:.0f} MB"))
    report.notes.append(
        f"memory: peak proportional sets {sampler.peak_pss_bytes / MB:.0f} MB (the box alone "
        f"{sampler.peak_root_pss_bytes / MB:.0f} MB); peak resident sets {rss_mb:.0f} MB "
        f"(the box alone {sampler.peak_root_rss_bytes / MB:.0f} MB, the rest the decoder "
        f"launcher and its decoders, at most {sampler.peak_processes - 1} processes at once); "
        f"songs in memory files {memfd_mb:.0f} MB (peaks of each); "
        f"{sampler.samples} samples; {played} songs played, simulated in {wall_s:.0f} s")


def _songs_started(events: Path) -> int:
    if not events.exists():
        return 0
    count = 0
    for line in events.read_text(encoding="utf-8").splitlines():
        if json.loads(line).get("event") == "track_started":
            count += 1
    return count
