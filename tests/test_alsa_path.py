"""The real ALSA path with no sound card: alsa-lib's file plugin records what was played."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

from stagebox.cli import main as stagebox
from stagebox.hal.formats import decode

WAIT_S = 120.0
"""Only a guard against a hang: a daemon on a loaded machine (CI beside other jobs)
may take more than 20 s to stop, and the test waits for its exit, not for a time."""


def spectrum_peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(spectrum.argmax())])


@pytest.mark.parametrize("sample_format", ["S16_LE", "S24_3LE", "S32_LE", "FLOAT_LE"])
def test_stagebox_play_sends_the_songs_in_order_through_alsa(tmp_path: Path, sample_format):
    first, second = tmp_path / "a.flac", tmp_path / "b.ogg"
    write_tone(first, 330.0, 1.0, rate=44100)
    write_tone(second, 660.0, 1.0, rate=22050, channels=1)
    raw = tmp_path / "played.raw"
    device = f"file:FILE={raw},FORMAT=raw"
    assert stagebox(["play", str(first), str(second), "--device", device, "--rate", "48000",
                     "--format", sample_format, "--config", str(tmp_path / "none.toml")]) == 0
    audio = decode(raw.read_bytes(), sample_format, 2)
    songs = sounding_parts(audio[:, 0])
    assert [round((end - start) / 48000, 1) for start, end in songs] == [1.0, 1.0]
    (a_start, _), (b_start, _) = songs
    assert spectrum_peak_hz(audio[a_start + 4800:a_start + 43200, 0], 48000) \
        == pytest.approx(330, abs=3)
    assert spectrum_peak_hz(audio[b_start + 4800:b_start + 43200, 1], 48000) \
        == pytest.approx(660, abs=3)


def sounding_parts(channel: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frames of each stretch of sound, split at gaps of 10 ms or more."""
    sounding = np.flatnonzero(np.abs(channel) > 1e-3)
    breaks = np.flatnonzero(np.diff(sounding) > 480)
    starts = [sounding[0], *sounding[breaks + 1]]
    ends = [*sounding[breaks], sounding[-1]]
    return list(zip(starts, ends, strict=True))


def test_stagebox_play_reports_a_bad_file_and_plays_the_rest(tmp_path: Path, capsys):
    good, bad = tmp_path / "good.wav", tmp_path / "bad.mp3"
    write_tone(good, 440.0, 0.5)
    bad.write_bytes(b"ID3" + bytes(1000))
    raw = tmp_path / "played.raw"
    status = stagebox(["play", str(bad), str(good), "--device", f"file:FILE={raw},FORMAT=raw",
                       "--format", "S16_LE", "--config", str(tmp_path / "none.toml")])
    assert status == 1
    assert "bad.mp3" in capsys.readouterr().err
    assert np.abs(decode(raw.read_bytes(), "S16_LE", 2)).max() > 0.4


def test_stagebox_play_on_a_missing_device_says_so(tmp_path: Path, capsys):
    song = tmp_path / "a.wav"
    write_tone(song, 440.0, 0.2)
    assert stagebox(["play", str(song), "--device", "hw:CARD=NoSuchCard",
                     "--config", str(tmp_path / "none.toml")]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_the_daemon_starts_on_alsa_and_stops_cleanly_on_sigterm(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text(f'[audio]\ndevice = "null"\n[display]\ndriver = "none"\n'
                      f'[media]\nroot = "{tmp_path / "media"}"\n'
                      f'[state]\ndir = "{tmp_path / "state"}"\n', encoding="utf-8")
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    daemon = subprocess.Popen([sys.executable, "-m", "stagebox", "run", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    assert daemon.stdout is not None
    lines = []
    for line in daemon.stdout:
        lines.append(line)
        if "running" in line:
            break
    # Its one child is the decoder launcher, forked from it (sharing its libraries), not
    # a new interpreter.
    launchers = children(daemon.pid)
    time.sleep(0.5)
    daemon.send_signal(signal.SIGTERM)
    out, _ = daemon.communicate(timeout=WAIT_S)
    log = "".join(lines) + out
    assert daemon.returncode == 0, log
    assert "Traceback" not in log
    assert [cmdline for _, cmdline in launchers] == [daemon.args], log


def children(pid: int) -> list[tuple[int, list[str]]]:
    """The child processes of ``pid``, each with its command line."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            arguments = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[:-1]
            found.append((int(child), [os.fsdecode(argument) for argument in arguments]))
    return found
