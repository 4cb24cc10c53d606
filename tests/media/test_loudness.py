"""Loudness: the meter against an independent one (pyloudnorm), the gain rule, the cache,
and the measuring process, whose decoders may crash or spin without costing the rest."""

from __future__ import annotations

import faulthandler
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile
from conftest import music, write_tone

from stagebox.media import ebur128, measure_process
from stagebox.media.ebur128 import Meter, MeterUnavailable
from stagebox.media.loudness import (
    TRUE_PEAK_CEILING_DBTP,
    Loudness,
    LoudnessCache,
    Measured,
    MeasuredAs,
    match_gain_db,
)
from stagebox.media.measure_process import Measurement, measure_file

RATE = 48000


def metered(frames: np.ndarray, rate: int = RATE, block: int = 4096) -> tuple[float, float]:
    with Meter(rate) as meter:
        for start in range(0, len(frames), block):
            meter.add(np.ascontiguousarray(frames[start:start + block]))
        return meter.integrated_lufs(), meter.true_peak_dbtp()


# --- the meter ------------------------------------------------------------------------------

def test_the_meter_agrees_with_pyloudnorm_on_music():
    frames = music(20.0)
    lufs, _ = metered(frames)
    reference = pyloudnorm.Meter(RATE).integrated_loudness(frames.astype(np.float64))
    assert lufs == pytest.approx(reference, abs=0.1)


def test_the_true_peak_sees_the_peak_between_samples():
    # A quarter of the rate, sampled 45 degrees off its crests: every sample is at 0.707
    # of the wave's true peak of 0.5.
    t = np.arange(RATE * 2)
    wave = (0.5 * np.sin(np.pi / 2 * t + np.pi / 4)).astype(np.float32)
    _, dbtp = metered(np.stack([wave, wave], axis=1))
    sample_peak_db = 20 * math.log10(np.abs(wave).max())
    assert sample_peak_db == pytest.approx(20 * math.log10(0.5 * 0.7071), abs=0.01)
    assert dbtp == pytest.approx(20 * math.log10(0.5), abs=0.3)


def test_silence_has_no_loudness_and_no_peak():
    assert metered(np.zeros((RATE, 2), np.float32)) == (-math.inf, -math.inf)


def test_the_meter_takes_only_contiguous_stereo_float32():
    with Meter(RATE) as meter, pytest.raises(ValueError):
        meter.add(np.zeros((10, 2), np.float64))


def test_a_missing_library_says_what_to_install(monkeypatch):
    monkeypatch.setattr(ebur128, "LIBRARY", "libnot-ebur128.so.9")
    monkeypatch.setattr(ebur128, "_library", None)
    with pytest.raises(MeterUnavailable, match="libebur128-1"):
        ebur128.version()


# --- the gain -------------------------------------------------------------------------------

def test_the_gain_brings_the_song_to_the_target():
    assert match_gain_db(Loudness(-9.0, -6.0), -18.0) == -9.0
    assert match_gain_db(Loudness(-24.0, -12.0), -18.0) == 6.0


def test_the_gain_never_lifts_the_true_peak_over_the_ceiling():
    gain_db = match_gain_db(Loudness(-26.0, -3.0), -18.0)
    assert gain_db == TRUE_PEAK_CEILING_DBTP + 3.0
    # A quiet song whose peaks are over the ceiling already comes down, not up.
    assert match_gain_db(Loudness(-20.0, 0.5), -18.0) == -1.5


def test_a_song_too_quiet_to_measure_is_not_matched():
    assert match_gain_db(Loudness(None, -60.0), -18.0) is None
    assert match_gain_db(Loudness(None, None), -18.0) is None


# --- the cache ------------------------------------------------------------------------------

def test_the_cache_keeps_a_measurement_while_the_file_stays_the_same(tmp_path: Path):
    song = tmp_path / "a.wav"
    song.write_bytes(b"x" * 10)
    cache = LoudnessCache()
    stamp = LoudnessCache.stamp(song)
    cache.put(MeasuredAs(song), stamp, Measured(Loudness(-12.5, -1.5)))
    cache.put(MeasuredAs(tmp_path / "bad.wav"), [1, 2], Measured(None, "cannot decode"))
    again = LoudnessCache.from_json(cache.to_json())
    assert again.get(MeasuredAs(song), stamp) == Measured(Loudness(-12.5, -1.5))
    assert again.get(MeasuredAs(tmp_path / "bad.wav"), [1, 2]) == Measured(None,
                                                                         "cannot decode")
    song.write_bytes(b"x" * 11)
    assert again.get(MeasuredAs(song), LoudnessCache.stamp(song)) is None


def test_a_file_played_as_a_split_track_has_its_own_entry(tmp_path: Path):
    song = tmp_path / "a.wav"
    song.write_bytes(b"x" * 10)
    cache, stamp = LoudnessCache(), LoudnessCache.stamp(song)
    cache.put(MeasuredAs(song), stamp, Measured(Loudness(-12.5, -1.5)))
    split = MeasuredAs(song, "click-left")
    assert cache.get(split, stamp) is None
    cache.put(split, stamp, Measured(Loudness(-15.0, -3.0)))
    again = LoudnessCache.from_json(cache.to_json())
    assert again.get(split, stamp) == Measured(Loudness(-15.0, -3.0))
    assert again.get(MeasuredAs(song), stamp) == Measured(Loudness(-12.5, -1.5))
    again.keep_only_keys({split.cache_key})
    assert again.get(MeasuredAs(song), stamp) is None and again.get(split, stamp)


def test_a_name_that_is_not_utf8_is_kept_in_the_cache_file(tmp_path: Path):
    song = tmp_path / os.fsdecode(b"caf\xe9.wav")
    write_tone(tmp_path / "cafe.wav", 440.0, 0.5)  # soundfile cannot open such a name
    (tmp_path / "cafe.wav").rename(song)
    cache = tmp_path / "loudness.json"
    assert run_measurement([song], cache)[1] == measure_process.MeasureSummary(measured=1)
    assert run_measurement([song], cache)[1] == measure_process.MeasureSummary(cached=1)


def test_a_malformed_cache_loses_only_what_is_malformed():
    good = [1, 2, -14.0, -1.0, None]
    text = json.dumps({"good": good, "nan": [1, 2, None, None, 3], "short": [1, 2],
                       "huge": [1, 2, 1e300, 0.0, None], "both": [1, 2, -3.0, 0.0, "x"]})
    assert json.loads(LoudnessCache.from_json(text).to_json()) == {"good": good}
    assert LoudnessCache.from_json('{"a": [1, 2, NaN, 0.0, null]}').to_json() == "{}"
    assert LoudnessCache.from_json("[not json").to_json() == "{}"


# --- the measuring process ------------------------------------------------------------------

def run_measurement(paths: list[Path], cache: Path | None, rate: int = RATE,
                    python: str = sys.executable) -> tuple[list, measure_process.MeasureSummary]:
    results: list = []
    # At normal priority: at the idle one, a busy test machine could starve it.
    summary = Measurement([MeasuredAs(path) for path in paths], rate, cache,
                          lambda *result: results.append(result), idle=False,
                          python=python).run()
    return results, summary


def test_the_measuring_process_lowers_itself_to_the_idle_class_and_nice_19():
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fork does next to nothing once idle: it cannot be starved for long
        measure_process._lower_priority()
        os.write(write_fd, json.dumps([os.sched_getscheduler(0),
                                       os.getpriority(os.PRIO_PROCESS, 0)]).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        seen = json.load(pipe)
    os.waitpid(pid, 0)
    assert seen == [os.SCHED_IDLE, 19]


def test_the_box_asks_for_the_idle_priority_and_the_simulator_does_not(tmp_path: Path):
    # A 'python' that says what it was asked to do instead of measuring.
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\ncat >/dev/null\n"
                      "printf '{\"unavailable\": \"%s\"}\\n' \"$*\"\n")
    script.chmod(0o755)
    (tmp_path / "a.wav").write_bytes(b"")
    for idle, priority in ((True, "idle"), (False, "normal")):
        summary = Measurement([MeasuredAs(tmp_path / "a.wav")], RATE, None, lambda *_: None,
                              idle=idle, python=str(script)).run()
        assert summary.problem == f"-m stagebox.media.measure_process {RATE}  {priority}"


def test_the_child_measures_each_song_as_it_plays_and_the_cache_spares_the_second_time(
        tmp_path: Path):
    loud, quiet = tmp_path / "loud.flac", tmp_path / "quiet.ogg"
    soundfile.write(loud, music(6.0, 44100, level=0.9), 44100)
    soundfile.write(quiet, music(6.0, 22050, level=0.1)[:, 0], 22050)
    cache = tmp_path / "state" / "loudness.json"
    results, summary = run_measurement([loud, quiet], cache)
    assert summary == measure_process.MeasureSummary(measured=2)
    assert [(index, cached) for index, _, cached in results] == [(0, False), (1, False)]
    for path, (_, measured, _) in zip([loud, quiet], results, strict=True):
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        # As the box plays it: mono on both sides.
        stereo = np.repeat(data, 2, axis=1) if data.shape[1] == 1 else data
        reference = pyloudnorm.Meter(rate).integrated_loudness(stereo.astype(np.float64))
        assert measured.loudness.integrated_lufs == pytest.approx(reference, abs=0.3)
        assert measured.loudness.true_peak_dbtp >= 20 * math.log10(np.abs(data).max()) - 0.1
    again, summary = run_measurement([loud, quiet], cache)
    assert summary == measure_process.MeasureSummary(cached=2), "nothing measured again"
    assert [measured for _, measured, _ in again] == [measured for _, measured, _ in results]


def test_a_split_track_is_measured_by_its_music_side_on_both_outputs(tmp_path: Path):
    # The click side is loud: measured as stereo it would pull the song down by 6 dB.
    stereo = music(6.0, 48000, level=0.2)
    click = 0.9 * np.sign(np.sin(2 * np.pi * 4.0 * np.arange(len(stereo)) / 48000))
    song = tmp_path / "split.wav"
    soundfile.write(song, np.stack([click, stereo[:, 1]], axis=1).astype(np.float32), 48000)
    results: list = []
    summary = Measurement([MeasuredAs(song, "click-left"), MeasuredAs(song)], RATE, None,
                          lambda *result: results.append(result), idle=False).run()
    assert summary == measure_process.MeasureSummary(measured=2)
    heard = np.stack([stereo[:, 1], stereo[:, 1]], axis=1).astype(np.float64)
    reference = pyloudnorm.Meter(48000).integrated_loudness(heard)
    split, whole = (measured.loudness for _, measured, _ in results)
    assert split.integrated_lufs == pytest.approx(reference, abs=0.3)
    assert whole.integrated_lufs > split.integrated_lufs + 3.0


def test_a_broken_or_missing_file_fails_alone_and_the_failure_is_kept(tmp_path: Path):
    good, broken = tmp_path / "good.wav", tmp_path / "broken.flac"
    write_tone(good, 440.0, 1.0)
    broken.write_bytes(b"fLaC" + bytes(range(256)) * 20)
    os.symlink("/etc/passwd", tmp_path / "link.wav")
    paths = [broken, tmp_path / "missing.wav", tmp_path / "link.wav", good]
    cache = tmp_path / "loudness.json"
    results, summary = run_measurement(paths, cache)
    failures = [measured.failure for _, measured, _ in results]
    assert failures[:3] == ["not a sound file", "file is missing", "file is a link (not followed)"]
    assert failures[3] is None and summary.failed == 3 and summary.measured == 1
    again, summary = run_measurement(paths, cache)
    assert [cached for _, _, cached in again] == [True, False, True, True]
    assert summary.measured == 0, "the broken file is not decoded again"


def test_a_song_cut_short_is_measured_as_far_as_it_plays(tmp_path: Path):
    whole = tmp_path / "whole.wav"
    write_tone(whole, 440.0, 4.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])
    (_, measured, _), = run_measurement([cut], None)[0]
    assert measured.failure is None
    assert measured.loudness.integrated_lufs == pytest.approx(-6.7, abs=0.3)


def test_a_decoder_that_crashes_costs_that_measurement_only(tmp_path: Path, monkeypatch):
    from stagebox.audio import decode_worker

    song = tmp_path / "song.wav"
    write_tone(song, 440.0, 1.0)

    def crash(*_: object) -> int:
        faulthandler.disable()  # pytest's, inherited by the fork: no dump on the terminal
        os.kill(os.getpid(), signal.SIGSEGV)
        return 0

    monkeypatch.setattr(decode_worker, "run", crash)
    assert measure_file(MeasuredAs(song), RATE) == Measured(None, "decoder crashed (signal 11)")


def test_a_decoder_that_spins_is_stopped_by_its_cpu_time(tmp_path: Path, monkeypatch):
    from stagebox.audio import decode_worker

    song = tmp_path / "song.wav"
    write_tone(song, 440.0, 1.0)

    def spin(*_: object) -> int:
        while True:
            pass

    monkeypatch.setattr(decode_worker, "run", spin)
    monkeypatch.setattr(measure_process, "CPU_BASE_S", 1)
    measured = measure_file(MeasuredAs(song), RATE)
    assert measured.failure is not None and "still busy" in measured.failure


def fake_child(tmp_path: Path, output: str) -> str:
    """A 'python' that reads the paths and prints ``output`` instead of measuring."""
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '%s' '{output}'\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(("output", "problem"), [
    ('{"unavailable": "libebur128.so.1 not found (install libebur128-1)"}\n', "libebur128-1"),
    ('{"song": [1, -9.0, -1.0, null, false]}\n', "out of order"),
    ('{"song": [0, 1e300, -1.0, null, false]}\n', "implausible"),
    ('{"song": [0, -9.0, NaN, null, false]}\n', "malformed"),
    ("not json\n", "malformed"),
    ('{"song": [0, -9.0, -1.0, null, false]}', "too long"),
    ("", "exit 0"),
])
def test_a_measuring_process_that_misbehaves_is_a_problem_not_a_crash(
        tmp_path: Path, output: str, problem: str):
    (tmp_path / "a.wav").write_bytes(b"")
    results, summary = run_measurement([tmp_path / "a.wav"], None,
                                       python=fake_child(tmp_path, output))
    assert summary.problem is not None and problem in summary.problem
    assert results == []


def test_a_cancelled_measurement_stops_its_process(tmp_path: Path):
    songs = []
    for number in range(3):
        songs.append(MeasuredAs(tmp_path / f"{number}.wav"))
        write_tone(songs[-1].path, 440.0, 2.0)
    results: list = []
    measurement = Measurement(songs, RATE, None, lambda *result: (results.append(result),
                                                                  measurement.cancel()),
                              idle=False)
    summary = measurement.run()
    assert len(results) == 1 and summary.problem is None


PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def test_the_measuring_process_works_with_writable_executable_memory_refused(tmp_path: Path):
    """The service runs under MemoryDenyWriteExecute=; ctypes and libebur128 must cope."""
    song = tmp_path / "song.flac"
    soundfile.write(song, music(2.0), RATE)
    code = (f"import ctypes, sys\n"
            f"libc = ctypes.CDLL(None, use_errno=True)\n"
            f"assert libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0\n"
            f"from stagebox.media import measure_process\n"
            f"sys.exit(measure_process.main(['{RATE}', '', 'normal']))\n")
    result = subprocess.run([sys.executable, "-c", code],
                            input=json.dumps([str(song), None]) + "\n",
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    (index, lufs, _, failure, _), = [json.loads(line)["song"] for line in
                                     result.stdout.splitlines()]
    assert (index, failure) == (0, None) and -30 < lufs < 0


def test_a_float_file_far_over_full_scale_fails_alone(tmp_path: Path):
    huge, good = tmp_path / "huge.wav", tmp_path / "good.wav"
    soundfile.write(huge, music(2.0) * 10_000.0, RATE, subtype="FLOAT")
    write_tone(good, 440.0, 1.0)
    results, summary = run_measurement([huge, good], None)
    assert [measured.failure for _, measured, _ in results] == ["level out of range", None]
    assert summary.problem is None
