"""The benchmarks run on tiny sizes, so they cannot rot; what they measure is not asserted.

Also the two measuring instruments whose logic the figures rest on: the paced sink's model
of a device (on a fake clock) and the memory count of a process tree.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
# bench/ sits beside the package, not in it: not installed, so not on the path by itself.
sys.path.insert(0, str(REPO))

from bench.paced_sink import PacedSink  # noqa: E402
from bench.proctree import tree_memory  # noqa: E402
from bench.throughput import contenders, turn_order  # noqa: E402

PERIOD = 1000
RATE = 48000


@pytest.mark.slow
def test_the_quick_benchmark_produces_every_figure_and_writes_the_table(tmp_path: Path):
    results, figures_file = tmp_path / "results.md", tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--work",
                          str(tmp_path / "work"), "--out", str(results),
                          "--json", str(figures_file)],
                         cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(figures_file.read_text(encoding="utf-8"))["figures"]
    expected = [f"throughput.{name}.cpu_s"
                for name in ("stagebox", "sox", "sox -v", "aplay", "floor", "decoder", "ffmpeg",
                             "stagebox mp3", "ffmpeg mp3")]
    expected += ["throughput.ratio_sox", "throughput.ratio_floor", "throughput.ratio_ffmpeg",
                 "throughput.ratio_ffmpeg_mp3", "steady.cpu_percent",
                 "latency.p50_ms", "latency.p99_ms", "soak.default_xruns", "memory.peak_mb",
                 "memory.peak_rss_mb", "memory.peak_pss_mb",
                 "scan.first_s", "scan.again_s", "gil.scan_stick.worst_ms",
                 "gil.scan_stick.rss_growth_mb", "gil.setlists.worst_ms",
                 "gil.setlists.rss_growth_mb", "ready.median_s", "ready.p90_s",
                 "ready.pass_s", "ready.numpy_s"]
    expected += [f"stretch.{engine}.{setting}.{figure}" for engine in ("faster", "finer")
                 for setting in ("key+2", "speed80", "key+2adjustable")
                 for figure in ("stagebox_core", "peer_core", "ratio", "pi4_core")]
    expected += [f"stretch.{engine}.peak_{kind}_mb" for engine in ("faster", "finer")
                 for kind in ("pss", "rss")]
    expected += [f"loudness.{name}.cpu_s_per_min" for name in ("stagebox", "ebur128",
                                                               "pyloudnorm")]
    expected += ["practice.key_latency_p99_ms", "practice.soak_show_xruns",
                 "practice.soak_practice_xruns"]
    expected += [f"practice.{figure}{load}_{percentile}_ms" for figure in ("change", "swap")
                 for load in ("", "_loaded") for percentile in ("p50", "p99")
                 if (figure, percentile) != ("swap", "p99")]
    expected += ["loudness.ratio_ebur128", "loudness.ratio_pyloudnorm",
                 "loudness.stagebox.peak_pss_mb"]
    expected += [f"loudness.{name}.peak_rss_mb" for name in ("stagebox", "ebur128",
                                                             "pyloudnorm")]
    expected += [f"seek.{kind}.at{start}s.key{key}{again}_median_ms"
                 for kind, again in (("flac", ""), ("mp3", ""), ("mp3", ".again"))
                 for start in ("0", "4") for key in ("0", "2")]
    expected += ["buses.stereo_cpu_percent", "buses.cue_cpu_percent", "buses.ratio"]
    not_numbers = {name: figures.get(name) for name in expected
                   if not isinstance(figures.get(name), float) or not math.isfinite(figures[name])}
    assert not not_numbers, f"figures missing or not finite: {not_numbers}\n{run.stdout}"
    assert "soak.smallest_clean_frames" in figures
    table = results.read_text(encoding="utf-8")
    for heading in ("## Machine", "## Sizes", "## Results", "CPU:", "Python:"):
        assert heading in table
    for benchmark in ("throughput", "steady playback", "start latency", "soak", "memory",
                      "scan", "gil", "boot", "stretch", "practice", "seek", "buses"):
        assert f"| {benchmark} |" in table


def test_stagebox_runs_between_its_peers_each_peer_going_first_in_turn(tmp_path: Path):
    every = contenders(tmp_path / "song.flac", tmp_path / "song.mp3", tmp_path / "song.wav",
                       tmp_path / "config")
    orders = [[contender.name for contender in turn_order(every, turn)] for turn in range(4)]
    assert [order[:5] for order in orders] == [
        ["ffmpeg", "stagebox", "floor", "stagebox mp3", "ffmpeg mp3"],
        ["floor", "stagebox", "ffmpeg", "ffmpeg mp3", "stagebox mp3"]] * 2
    assert all(sorted(order) == sorted(c.name for c in every) for order in orders)


class FakeTime:
    """A clock that moves only when slept on, or by hand."""

    def __init__(self) -> None:
        self.now_s = 100.0
        self.slept_s: list[float] = []

    def clock(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.now_s += seconds


def paced_sink(time: FakeTime) -> PacedSink:
    return PacedSink(RATE, period_frames=PERIOD, periods=4, clock=time.clock, sleep=time.sleep)


def block(sound_from: int | None = None) -> np.ndarray:
    data = np.zeros((PERIOD, 2), np.float32)
    if sound_from is not None:
        data[sound_from:] = 0.25
    return data


def test_the_paced_sink_fills_its_buffer_then_takes_a_period_per_period():
    time = FakeTime()
    sink = paced_sink(time)
    for _ in range(4):
        sink.write(block())
    assert time.slept_s == []
    sink.write(block())
    sink.write(block())
    assert time.slept_s == pytest.approx([PERIOD / RATE, PERIOD / RATE])
    assert sink.xruns == 0


def test_a_write_after_the_buffer_ran_dry_is_an_xrun_and_restarts_the_stream():
    time = FakeTime()
    sink = paced_sink(time)
    for _ in range(4):
        sink.write(block())
    time.now_s += 4 * PERIOD / RATE + 0.001
    sink.write(block())
    assert sink.xruns == 1
    sink.write(block())
    assert sink.xruns == 1


def test_sound_leaves_after_the_frames_queued_ahead_of_it():
    time = FakeTime()
    sink = paced_sink(time)
    start_s = time.now_s
    for _ in range(6):
        sink.write(block())
    sink.write(block(sound_from=10))
    assert sink.onsets_s == pytest.approx([start_s + (6 * PERIOD + 10) / RATE])


def test_a_drop_sends_the_next_frames_out_at_once_without_an_xrun():
    time = FakeTime()
    sink = paced_sink(time)
    for _ in range(6):
        sink.write(block())
    sink.drop()
    sink.write(block(sound_from=0))
    assert sink.onsets_s == pytest.approx([time.now_s])
    assert sink.xruns == 0


def test_a_paced_sink_opened_again_with_a_shorter_buffer_holds_only_that_much():
    time = FakeTime()
    sink = paced_sink(time)
    for _ in range(6):
        sink.write(block())
    sink.reopen(PERIOD // 2, 4)
    for _ in range(4):
        sink.write(block()[:PERIOD // 2])
    assert sink.delay_frames() == 2 * PERIOD
    sink.write(block(sound_from=0)[:PERIOD // 2])
    assert sink.onsets_s == pytest.approx([time.now_s + 3 * PERIOD // 2 / RATE])
    assert sink.xruns == 0


def test_memory_files_count_once_towards_the_tree_however_many_descriptors_hold_them():
    before = tree_memory(os.getpid()).memfd_bytes
    memory = os.memfd_create("bench-test")
    again = os.dup(memory)
    try:
        os.ftruncate(memory, 3_000_000)
        assert tree_memory(os.getpid()).memfd_bytes - before == 3_000_000
    finally:
        os.close(again)
        os.close(memory)
