"""Run the benchmarks: ``python -m bench.run [--quick] [--out FILE] [--json FILE]``.

Prints the table as it goes and writes it, with the machine and the sizes, to
``bench/results.md``. ``--quick`` runs every benchmark on tiny sizes (the CI test: it
checks that each figure is produced, never what it is). Generated media is cached in
``--work`` (``bench/out/`` by default).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import (
    gil,
    loudness,
    media,
    memory,
    ready,
    realtime,
    scan,
    seek,
    stretch,
    throughput,
)
from bench.report import HEADER, Report, machine_lines

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ("throughput", "steady", "latency", "soak", "memory", "scan", "gil", "ready",
              "stretch", "practice", "seek", "loudness", "buses")


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs."""

    music_s: float
    """The song of the throughput, steady, latency and soak runs."""
    throughput_reps: int
    steady_s: float
    presses: int
    soak_runs: tuple[tuple[int, int, float], ...]
    """(period, periods, seconds) of each soak, the default buffer first."""
    memory_songs: int
    memory_song_s: float
    scan_files: int
    gil_setlist_lines: int
    """Lines of each of the two setlists of the GIL benchmark's second stick."""
    gil_scans: int
    ready_runs: int
    """Starts of ``stagebox run`` to READY=1, each beside its two peers."""
    stretch_s: float
    """The music each contender of the key and speed benchmark stretches."""
    stretch_reps: int
    loudness_s: float
    """The song each contender of the loudness benchmark measures."""
    loudness_reps: int
    practice_presses: int
    """PLAYs with key +2, and key changes while playing."""
    practice_soak_s: float
    seek_reps: int
    """Starts of each song at each place and key."""
    buses_s: float
    """Each turn of the buses benchmark, on each device."""
    buses_reps: int

    def lines(self) -> list[str]:
        """The sizes, for the report."""
        soaks = ", ".join(f"{period}×{periods} for {seconds:g} s"
                          for period, periods, seconds in self.soak_runs)
        return [
            f"Song: {self.music_s:g} s of synthesised music, 44.1 kHz 16-bit stereo FLAC "
            f"(~860 kbit/s), and as a 192 kbit/s MP3 (LAME); played at 48 kHz, S16_LE",
            f"Throughput: each contender {self.throughput_reps} times, in turns; medians, "
            "and each ratio the median of the ratios within a turn",
            f"Steady playback: {self.steady_s:g} s; start latency: {self.presses} presses",
            f"Soak: {soaks}",
            f"Memory: {self.memory_songs} songs of {self.memory_song_s:g} s "
            f"(one FLAC under {self.memory_songs} names), after_song = next",
            f"Scan: {self.scan_files} files in 5 formats, 2 levels of folders, "
            "a third with title tags",
            f"GIL: {self.gil_scans} scans of the scan stick, and of a stick of "
            f"{self.gil_setlist_lines} songs {media.SETLIST_STICK_DEPTH} folders deep listed "
            "by two setlists (~100-byte lines), the first scan without a title cache",
            f"Boot: {self.ready_runs} starts of `stagebox run` to READY=1, each turn also "
            "`python -c pass` and `python -c 'import numpy'`",
            f"Key and speed: {self.stretch_s:g} s of music at 48 kHz stereo, each contender "
            f"{self.stretch_reps} times, in turns",
            f"Practice: {self.practice_presses} PLAYs at key +2 and {self.practice_presses} key "
            f"changes while playing; soak {self.practice_soak_s:g} s at "
            f"{realtime.PRACTICE_OPTIONS}",
            f"Loudness: a {self.loudness_s:g} s song of the same music, 44.1 kHz FLAC, each "
            f"contender {self.loudness_reps} times, in turns",
            f"Seek: {self.seek_reps} starts of the throughput songs at the top and the middle, "
            "key 0 and +2, in turns",
            f"Buses: the same song as a split track ({realtime.BUSES_OPTIONS}), "
            f"{self.buses_s:g} s on each device, {self.buses_reps} turns",
        ]


FULL = Sizes(music_s=600.0, throughput_reps=15, steady_s=60.0, presses=200,
             soak_runs=((1024, 4, 600.0), (1024, 2, 30.0), (512, 2, 30.0), (256, 2, 30.0)),
             memory_songs=45, memory_song_s=240.0, scan_files=2000, gil_setlist_lines=10_000,
             gil_scans=3, ready_runs=30, stretch_s=60.0, stretch_reps=5, loudness_s=240.0,
             loudness_reps=5, practice_presses=100, practice_soak_s=300.0, seek_reps=20,
             buses_s=30.0, buses_reps=5)
QUICK = Sizes(music_s=8.0, throughput_reps=2, steady_s=2.0, presses=10,
              soak_runs=((1024, 4, 2.0),), memory_songs=3, memory_song_s=10.0, scan_files=100,
              gil_setlist_lines=300, gil_scans=1, ready_runs=3, stretch_s=3.0, stretch_reps=1,
              loudness_s=8.0, loudness_reps=1, practice_presses=4, practice_soak_s=2.0,
              seek_reps=2, buses_s=2.0, buses_reps=1)


def run(sizes: Sizes, work: Path, only: tuple[str, ...]) -> Report:
    """Generate what is missing, run the benchmarks in ``only``; the report."""
    report = Report(sizes=sizes.lines())
    work.mkdir(parents=True, exist_ok=True)
    print(f"generating media in {work} (cached)...", flush=True)
    song = media.music_flac(work, sizes.music_s)
    song_stick = media.song_stick(work, song, 1, setlist_repeats=3)
    scan_stick = media.scan_stick(work, sizes.scan_files)
    print(HEADER, flush=True)
    if "throughput" in only:
        throughput.run(report, flac=song, mp3=media.music_mp3(work, song),
                       wav48=media.device_rate_wav(work, song),
                       seconds=sizes.music_s, reps=sizes.throughput_reps, work=work, repo=REPO)
    if "steady" in only:
        realtime.steady(report, stick=song_stick, seconds=sizes.steady_s, work=work, repo=REPO)
    if "latency" in only:
        realtime.latency(report, stick=song_stick, presses=sizes.presses, work=work, repo=REPO)
    if "soak" in only:
        realtime.soak(report, stick=song_stick, scan_stick=scan_stick,
                      runs=list(sizes.soak_runs), work=work, repo=REPO)
    if "memory" in only:
        show_song = media.music_flac(work, sizes.memory_song_s)
        memory.run(report, stick=media.song_stick(work, show_song, sizes.memory_songs),
                   songs=sizes.memory_songs, song_s=sizes.memory_song_s, work=work, repo=REPO)
    if "scan" in only:
        scan.run(report, stick=scan_stick, files=sizes.scan_files, repo=REPO)
    if "gil" in only:
        lines = sizes.gil_setlist_lines
        gil.run(report, sticks=[
            gil.WatchedStick("scan_stick", f"the {sizes.scan_files}-file scan stick",
                             scan_stick, sizes.scan_files),
            gil.WatchedStick("setlists", f"2 setlists of {lines} deep paths",
                             media.setlist_stick(work, lines), 2 * lines)],
                scans=sizes.gil_scans, repo=REPO)
    if "ready" in only:
        ready.run(report, runs=sizes.ready_runs, repo=REPO)
    if "practice" in only:
        realtime.practice(report, stick=song_stick,
                          key_stick=media.song_stick(work, song, 1, 3, "key=+2"),
                          practice_stick=media.song_stick(work, song, 1, 3,
                                                          realtime.PRACTICE_OPTIONS),
                          presses=sizes.practice_presses, soak_s=sizes.practice_soak_s,
                          scan_stick=scan_stick, work=work, repo=REPO)
    if "seek" in only:
        seek.run(report, flac=song, mp3=media.music_mp3(work, song), seconds=sizes.music_s,
                 reps=sizes.seek_reps)
    if "stretch" in only:
        stretch.run(report, seconds=sizes.stretch_s, reps=sizes.stretch_reps, work=work,
                    repo=REPO)
    if "buses" in only:
        realtime.buses(report, stick=media.song_stick(work, song, 1, 3, realtime.BUSES_OPTIONS),
                       seconds=sizes.buses_s, reps=sizes.buses_reps, work=work, repo=REPO)
    if "loudness" in only:
        loudness.run(report, song=media.music_flac(work, sizes.loudness_s),
                     seconds=sizes.loudness_s, reps=sizes.loudness_reps, repo=REPO)
    return report


def main(argv: list[str] | None = None) -> int:
    """Run from the command line; 0 when every figure was produced."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for CI)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "out",
                        help="cache of generated media, and logs")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = set(only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    started_s = time.monotonic()
    report = run(QUICK if args.quick else FULL, args.work.resolve(), only)
    report.notes.append(f"whole run: {time.monotonic() - started_s:.0f} s"
                        + (" (quick sizes)" if args.quick else ""))
    report.write(args.out, args.json, machine_lines())
    print(f"written to {args.out}")
    for note in report.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
