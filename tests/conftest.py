"""Shared helpers: sticks of tone songs, and running the simulator on them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from stagebox.cli import main as stagebox


def write_tone(path: Path, hz: float, seconds: float, rate: int = 48000, channels: int = 2,
               level: float = 0.5, fade_s: float = 0.01) -> None:
    """A sine with short fades (as a mastered song starts and ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    wave = level * np.sin(2 * np.pi * hz * t)
    ramp = np.clip(np.minimum(t, seconds - t) / fade_s, 0, 1) if fade_s else 1.0
    wave = (wave * ramp).astype(np.float32)
    soundfile.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, rate)


def music(seconds: float, rate: int = 48000, level: float = 0.3, seed: int = 1) -> np.ndarray:
    """Stereo chords over pink-ish noise, louder and quieter in turn: gating has work to do."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    chord = sum(np.sin(2 * np.pi * hz * t) for hz in (110.0, 220.0, 277.2, 329.6, 1760.0))
    noise = np.cumsum(rng.standard_normal((len(t), 2)), axis=0)
    noise -= np.convolve(noise[:, 0], np.ones(64) / 64, "same")[:, None]
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 0.2 * t)
    left = chord * envelope + 0.02 * noise[:, 0]
    right = chord * envelope[::-1] + 0.02 * noise[:, 1]
    stereo = np.stack([left, right], axis=1)
    return (level * stereo / np.abs(stereo).max()).astype(np.float32)


@dataclass
class Show:
    """A finished simulator run, read back."""

    out: Path

    @property
    def events(self) -> list[dict]:
        lines = (self.out / "events.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def named(self, event: str) -> list[dict]:
        return [e for e in self.events if e["event"] == event]

    @property
    def screens(self) -> list[dict]:
        lines = (self.out / "screens.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def screen_at(self, t: float) -> list[str]:
        shown = [s for s in self.screens if s["t"] <= t]
        return shown[-1]["text"] if shown else []

    def audio(self) -> tuple[np.ndarray, int]:
        data, rate = soundfile.read(self.out / "audio.wav", dtype="float32", always_2d=True)
        return data, rate

    def dominant_hz(self, start_s: float, end_s: float) -> float:
        """The loudest frequency between two times (0 for silence)."""
        data, rate = self.audio()
        part = data[int(start_s * rate):int(end_s * rate), 0]
        if not np.abs(part).max() > 1e-3:
            return 0.0
        spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
        return float(np.fft.rfftfreq(len(part), 1 / rate)[int(spectrum.argmax())])


@pytest.fixture
def run_sim(tmp_path: Path):
    """Run ``stagebox sim`` on a stick with a script; return the Show."""

    def run(stick: Path, script: str, config: str | None = None, name: str = "out",
            state: Path | None = None) -> Show:
        script_path = tmp_path / f"{name}.script"
        script_path.write_text(script, encoding="utf-8")
        args = ["sim", "--media", str(stick), "--script", str(script_path),
                "--out", str(tmp_path / name)]
        if config is not None:
            config_path = tmp_path / f"{name}.toml"
            config_path.write_text(config, encoding="utf-8")
            args += ["--config", str(config_path)]
        if state is not None:
            args += ["--state", str(state)]
        assert stagebox(args) == 0
        return Show(tmp_path / name)

    return run


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In CI a skipped test fails the run: CI installs everything the tests need, so a
    skip there means a check that silently stopped running. The one exception is a test
    marked ``kernel_device``: it needs a kernel module (uinput, the ALSA sequencer) that
    no package can bring to a machine whose kernel has none; the same logic is tested
    through the libraries' test doubles, and the skips are named."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    kernel = [report for report in skipped if "kernel_device" in report.keywords]
    if kernel and reporter is not None:
        reporter.write_line(f"CI: {len(kernel)} tests need kernel devices this machine lacks: "
                            + ", ".join(report.nodeid for report in kernel), yellow=True)
    skipped = [report for report in skipped if report not in kernel]
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter.write_line(f"CI: {len(skipped)} tests skipped, and CI must run them all: "
                            + ", ".join(report.nodeid for report in skipped), red=True)
