"""The scan in its own process: the same library, and a failed scanner costs only the scan."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from stagebox.media import scan_process
from stagebox.media.scan import StickGone, scan_stick
from stagebox.media.scan_process import ScanError, library_from_json, scan_in_child


def make_stick(root: Path) -> Path:
    root.mkdir()
    for name in ("01 one.wav", "02 zwei\u00e4.flac"):
        soundfile.write(root / name, np.zeros(100, np.float32), 8000)
    soundfile.write(root / "plain.wav", np.zeros(100, np.float32), 8000)
    # A Latin-1 name, not valid UTF-8 (soundfile cannot open it by name, hence the rename).
    os.rename(root / "plain.wav", os.fsencode(root) + b"/03 caf\xe9.wav")
    (root / "setlist.txt").write_text("01 one.wav | gain=-2dB then=next\n02 zwei\u00e4.flac\n"
                                      "missing.wav\n03 caf\udce9.wav\n", encoding="utf-8",
                                      errors="surrogateescape")
    return root


def test_the_child_finds_what_an_in_process_scan_finds(tmp_path: Path):
    stick = make_stick(tmp_path / "stick")
    steps: list[tuple[int, int]] = []
    library = scan_in_child(stick, "GIG", tmp_path / "cache.json",
                            lambda done, total: steps.append((done, total)))
    assert library == scan_stick(stick, label="GIG")
    assert steps[-1] == (steps[-1][1], steps[-1][1])
    assert (tmp_path / "cache.json").exists(), "the titles were kept for next time"


def test_progress_comes_now_and_then_from_the_first_file_to_the_last(tmp_path: Path):
    stick = tmp_path / "stick"
    stick.mkdir()
    for number in range(300):
        soundfile.write(stick / f"{number:03d}.wav", np.zeros(100, np.float32), 8000)
    steps: list[tuple[int, int]] = []
    scan_in_child(stick, "GIG", None, lambda done, total: steps.append((done, total)))
    assert steps[0] == (0, 300) and steps[-1] == (300, 300)
    assert steps == sorted(steps)
    # Not a line per file: the display redraws a few times a second at most.
    assert len(steps) < 30


def test_a_stick_gone_before_the_scan_is_reported_as_gone(tmp_path: Path):
    with pytest.raises(StickGone):
        scan_in_child(tmp_path / "nothing-here", "GIG", None)


def test_a_scanner_that_crashes_costs_the_scan_not_the_box(tmp_path: Path, monkeypatch):
    stick = make_stick(tmp_path / "stick")
    crash = tmp_path / "crash.py"
    crash.write_text("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)\n")
    real_popen = scan_process.subprocess.Popen

    def crashing(args, **kwargs):
        return real_popen([sys.executable, str(crash)], **kwargs)

    monkeypatch.setattr(scan_process.subprocess, "Popen", crashing)
    with pytest.raises(ScanError, match="signal 11"):
        scan_in_child(stick, "GIG", None)


@pytest.mark.parametrize("data", [
    {}, {"label": "x", "warnings": [], "setlists": []},
    {"label": "x", "warnings": [], "setlists": [{"name": "s", "warnings": [],
                                                 "songs": [["/a", "a", "a", 0, "later"]]}]},
    {"label": "x", "warnings": [], "setlists": [{"name": "s", "warnings": [],
                                                 "songs": [["/a", "a"]]}]},
])
def test_malformed_scanner_output_is_an_error_not_a_crash(data):
    with pytest.raises(ScanError):
        library_from_json(data, Path("/stick"))
