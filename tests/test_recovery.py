"""After a power cut or a crash the box comes back on the same song, paused at its place."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Show, write_tone

from stagebox.cli import main as stagebox

HZ = (330.0, 440.0, 550.0)


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    root = tmp_path / "GIG"
    for number, hz in enumerate(HZ, start=1):
        write_tone(root / f"{number} song.flac", hz, 20.0, rate=44100)
    return root


def first_song_state(show: Show) -> dict:
    return next(e for e in show.named("state") if "index" in e)


def sim(tmp_path: Path, stick: Path, script: str, name: str) -> Show:
    script_path = tmp_path / f"{name}.txt"
    script_path.write_text(script, encoding="utf-8")
    assert stagebox(["sim", "--media", str(stick), "--script", str(script_path),
                     "--out", str(tmp_path / name), "--state", str(tmp_path / "state")]) == 0
    return Show(tmp_path / name)


def test_a_power_cut_mid_song_comes_back_paused_at_the_same_place(tmp_path, stick):
    sim(tmp_path, stick, "0.2 insert\n1 press next\n2 press play\n9.6 powercut\n", "before")
    after = sim(tmp_path, stick, "0.2 insert\n3 press play\n5 end\n", "after")
    restored = first_song_state(after)
    assert restored["state"] == "paused" and restored["index"] == 1
    assert restored["position"] == pytest.approx(7.6, abs=1.0)
    assert after.dominant_hz(0.0, 2.9) == 0.0, "nothing plays until PLAY"
    assert after.dominant_hz(3.2, 4.9) == pytest.approx(HZ[1], abs=3)
    assert any("PAUSED" in line for line in after.screen_at(2.5))


def test_volume_and_setlist_choice_survive_a_power_cut(tmp_path, stick):
    (stick / "setlists").mkdir()
    (stick / "setlists" / "short.txt").write_text("../3 song.flac\n", encoding="utf-8")
    menu = "1 press menu\n1.2 press play\n1.4 press prev\n1.6 press play\n1.8 press next\n" \
           "2.0 press play\n2.2 press next\n2.4 press play\n"
    sim(tmp_path, stick, "0.2 insert\n" + menu + "3 powercut\n", "before")
    after = sim(tmp_path, stick, "0.2 insert\n1 press play\n2 end\n", "after")
    assert after.named("track_started")[0]["title"] == "3 song"
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["volume_db"] == -1.0
    assert state["setlists"] == {"GIG": "setlists/short.txt"}


def test_a_changed_stick_is_not_resumed_blindly(tmp_path, stick):
    sim(tmp_path, stick, "0.2 insert\n1 press next\n2 press play\n5 powercut\n", "before")
    (stick / "2 song.flac").rename(stick / "9 song.flac")
    after = sim(tmp_path, stick, "0.2 insert\n1 end\n", "after")
    restored = first_song_state(after)
    assert (restored["state"], restored["index"]) == ("cued", 0)


@pytest.mark.slow
def test_a_killed_daemon_comes_back_on_the_same_song(tmp_path, stick):
    """SIGKILL of the simulated box mid-song, then a start on the same state folder."""
    write_tone(stick / "2 song.flac", HZ[1], 600.0, rate=44100)
    script = tmp_path / "long.txt"
    script.write_text("0.2 insert\n1 press next\n2 press play\n590 end\n", encoding="utf-8")
    out = tmp_path / "killed"
    box = subprocess.Popen([sys.executable, "-m", "stagebox", "sim", "--media", str(stick),
                            "--script", str(script), "--out", str(out),
                            "--state", str(tmp_path / "state")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        events = out / "events.jsonl"
        while not (events.exists() and '"track_started"' in events.read_text()):
            assert box.poll() is None, "the simulator ended before the song started"
            time.sleep(0.05)
        # Killed once the box has saved a place over a second into the song, however
        # slowly a loaded machine runs the simulator.
        while saved_position_s(tmp_path / "state" / "state.json") <= 1.0:
            assert box.poll() is None, "the simulator ended before it saved a place"
            time.sleep(0.05)
    finally:
        os.kill(box.pid, signal.SIGKILL)
        box.wait()
    after = sim(tmp_path, stick, "0.2 insert\n1 end\n", "after")
    restored = first_song_state(after)
    assert restored["state"] == "paused" and restored["index"] == 1
    assert 1.0 < restored["position"] < 600.0


def saved_position_s(state_file: Path) -> float:
    """The place in the song the state file holds (0 before there is one)."""
    try:
        resume = json.loads(state_file.read_text(encoding="utf-8")).get("resume")
    except (OSError, ValueError):
        return 0.0
    return float(resume["position_s"]) if resume else 0.0


def test_holding_menu_shuts_down_and_the_place_is_kept(tmp_path, stick):
    show = sim(tmp_path, stick, "0.2 insert\n1 press play\n3 hold play 1\n5 hold menu 3.5\n"
                                "9 powercut\n", "before")
    assert show.named("shutdown")
    assert "Shutting down" in " ".join(show.screen_at(8.9))
    after = sim(tmp_path, stick, "0.2 insert\n1 end\n", "after")
    restored = first_song_state(after)
    assert restored["state"] == "paused"
    assert restored["position"] == pytest.approx(3.3, abs=0.15)  # held at 3.8 s, 0.5 s fade


def test_the_power_off_request_leaves_a_flag_for_the_path_unit(tmp_path):
    from stagebox.daemon import request_power_off

    request_power_off(tmp_path)
    assert (tmp_path / "shutdown").exists()
    unit = (Path(__file__).parent.parent / "systemd" / "stagebox-shutdown.path").read_text()
    assert "PathExists=/run/stagebox/shutdown" in unit


def test_a_broken_state_file_and_a_killed_write_are_cleaned_up_at_start(tmp_path, stick):
    state = tmp_path / "state"
    (state / "cache").mkdir(parents=True)
    (state / "state.json").write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    (state / ".state.json.999.1.tmp").write_text('{"volu', encoding="utf-8")
    (state / "cache" / ".titles-00000000.json.999.1.tmp").write_text("{", encoding="utf-8")
    show = sim(tmp_path, stick, "0.2 insert\n1 press play\n2 end\n", "after")
    assert any("State file" in e["message"] for e in show.named("warning"))
    assert show.named("track_started"), "the box runs on the defaults"
    assert not list(state.rglob("*.tmp"))


def test_a_speed_trainer_comes_back_at_the_speed_it_had_reached(tmp_path):
    # A loop of two seconds at 80 %, 10 % faster each pass: cut in the second pass (90 %).
    root = tmp_path / "PRACTICE"
    write_tone(root / "song.flac", 440.0, 20.0, rate=44100)
    (root / "setlist.txt").write_text("song.flac | loop=1-3 speed=80% speedup=10%\n",
                                      encoding="utf-8")
    before = sim(tmp_path, root, "0.2 insert\n1 press play\n6.2 powercut\n", "before")
    assert [step["speed"] for step in before.named("trainer")] == [0.9]
    after = sim(tmp_path, root, "0.2 insert\n2 press play\n4 end\n", "after")
    (resumed,) = after.named("resumed")
    assert resumed["speed"] == 0.9
    # Back inside the loop at 90 %: at the loop's end the trainer goes on to 100 %.
    assert "90%" in after.screen_at(2.5)[0]
    assert [step["speed"] for step in after.named("trainer")] == [1.0]
    assert after.dominant_hz(2.3, 3.9) == pytest.approx(440.0, abs=3)
