"""Starting deep in a song: from a decoder's start to its first frame, at the top and at
the song's middle, for the FLAC and the MP3 of the throughput benchmark.

Every start of a song somewhere in it (a resume after a power cut, a key or speed change
in practice mode, a loop's section) starts a decoder there, and the engine keeps playing
the old decoding until the new one's first frame is in. So the time from
:meth:`~stagebox.audio.track.TrackStream.open` to the first frame read is what a key
change waits for before the crossfade (the bench's practice rows measure the whole of
it, on the FLAC). Each start is a fresh decoder forked by the launcher, as in the box,
with key +2 (Rubber Band's priming included) and without; the median and the slowest of
``reps`` in turns.

An MP3 has no index: at open the decoder counts its packets (the true length, and where
each one starts), and a start seeks to the byte of the packet before it. Before that
seek it decoded from the top, so a start at 5:00 of this MP3 took 0.4 s here. The count
is what is left: the first decoder of a song writes it to the song's count file
(:mod:`stagebox.audio.packet_count`), and the later ones (every key change) read it, so
the MP3 is timed both ways: "first" with a new count file each start, "again" with the
one the untimed first turn wrote.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from bench.report import Report, Row
from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.memfile import load_into_memory
from stagebox.audio.packet_count import new_count_file
from stagebox.audio.request import DecodeRequest
from stagebox.audio.track import TrackStream

RATE = 48000
KEYS = (0.0, 2.0)
MAX_SONG_BYTES = 1 << 30


def run(report: Report, *, flac: Path, mp3: Path, seconds: float, reps: int) -> None:
    """Time ``reps`` starts of each song, at the top and at ``seconds / 2``, each key."""
    songs = {"FLAC": flac, "MP3": mp3}
    starts_s = (0.0, seconds / 2)
    cases = [(kind, start_s, key, again) for kind in songs for start_s in starts_s
             for key in KEYS for again in ((False, True) if kind == "MP3" else (False,))]
    times_s: dict[tuple[str, float, float, bool], list[float]] = {case: [] for case in cases}
    count_files = {kind: new_count_file() for kind in songs}
    try:
        with DecoderLauncher(fork_first=True) as launcher:
            launcher.start()
            # A first turn not counted: the launcher's FFmpeg, the page cache, the count
            # files of the starts "again".
            for turn in range(reps + 1):
                for case in cases:
                    kind, start_s, key, again = case
                    count_fd = count_files[kind] if again or not turn else new_count_file()
                    try:
                        took_s = _first_frame_s(launcher, songs[kind], count_fd,
                                                DecodeRequest(RATE, start_s, key_semitones=key))
                    finally:
                        if count_fd != count_files[kind]:
                            os.close(count_fd)
                    if turn:
                        times_s[case].append(took_s)
    finally:
        for fd in count_files.values():
            os.close(fd)
    for kind, start_s, key, again in cases:
        taken = times_s[(kind, start_s, key, again)]
        tag = ".again" if again else ""
        median_ms = report.figure(
            f"seek.{kind.lower()}.at{start_s:g}s.key{key:g}{tag}_median_ms",
            1000 * statistics.median(taken))
        where = "the top" if start_s == 0 else f"{start_s:g} s"
        which = (", again (the count file its first decoder wrote)" if again else
                 ", first" if kind == "MP3" else "")
        report.add(Row("seek", f"ms from a decoder's start to its first frame, "
                       f"{seconds:g} s {kind} from {where}, key {key:+g}{which}, {reps} "
                       "starts, median / slowest",
                       f"{median_ms:.0f} / {1000 * max(taken):.0f} ms"))


def _first_frame_s(launcher: DecoderLauncher, song: Path, count_fd: int,
                   request: DecodeRequest) -> float:
    """Seconds from opening a decoding of ``song`` as ``request`` asks, with the count file
    ``count_fd``, to its first frame."""
    fd = load_into_memory(song, MAX_SONG_BYTES)
    out = np.zeros((1024, 2), np.float32)
    try:
        started_s = time.monotonic()
        stream = TrackStream.open(fd, request, wait_for_data=True, launcher=launcher,
                                  count_fd=count_fd)
    finally:
        os.close(fd)
    try:
        if stream.read(out) == 0:
            raise RuntimeError(f"{song.name}: no frames ({stream.error})")
        return time.monotonic() - started_s
    finally:
        stream.close()
