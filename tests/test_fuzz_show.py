"""A few seeded random shows (``make fuzz`` runs many), and the fuzz's checks themselves:
each must catch what it is there to catch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from fuzz_show import (
    Usage,
    audio_problems,
    json_lines_problems,
    report,
    run_seed,
    state_problems,
    usage_problems,
)

SEEDS = (10, 20, 26, 33)
"""Between them: then=next joins, a broken file skipped, the interface unplugged and the
stick pulled mid-song, songs started and cued from a pedal and from a MIDI controller (by
its switches and by program changes), MENU's long hold, and power cuts with the runs that
resume them."""
RATE = 48000
STEP = 0.5 * 2 * math.pi * 330 / RATE


@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_show_gives_the_musician_nothing_to_notice(seed: int, tmp_path: Path) -> None:
    outcome = run_seed(seed, tmp_path)
    assert not outcome.problems, report(outcome)


def state(t: float, name: str) -> dict:
    return {"t": t, "event": "state", "state": name}


def button(t: float, name: str, gesture: str) -> dict:
    return {"t": t, "event": "button", "button": name, "gesture": gesture}


def test_the_state_check_takes_a_show_that_follows_the_rules() -> None:
    events = [state(0.2, "scanning"), state(0.2, "cued"), button(1.0, "play", "down"),
              state(1.0, "playing"), state(3.0, "playing"), button(4.0, "play", "hold"),
              state(4.0, "paused"), button(5.0, "menu", "long_hold"), state(5.0, "shutdown")]
    assert state_problems(events) == []


def test_the_state_check_catches_a_song_starting_by_itself() -> None:
    events = [state(0.2, "scanning"), state(0.2, "cued"), button(1.0, "play", "down"),
              state(1.0, "playing"), button(2.0, "play", "hold"), state(2.0, "paused"),
              state(2.4, "playing")]
    assert state_problems(events) == ["2.4 s: paused -> playing without a PLAY press"]


def test_the_state_check_catches_an_illegal_change() -> None:
    events = [state(0.2, "scanning"), state(0.2, "cued"), button(1.0, "menu", "long_hold"),
              state(1.0, "shutdown"), state(2.0, "no_stick"), state(3.0, "scanning")]
    assert state_problems(events) == ["2.0 s: shutdown -> no_stick is not a legal state change"]


def sine(seconds: float, hz: float = 330) -> np.ndarray:
    wave = 0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)
    return np.stack([wave, wave], 1).astype(np.float32)


def faded(audio: np.ndarray) -> np.ndarray:
    ramp = np.minimum(1, np.minimum(np.arange(len(audio)), np.arange(len(audio))[::-1]) / 480)
    return (audio * ramp[:, None]).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros((int(seconds * RATE), 2), np.float32)


PLAYED = [state(0.2, "cued"), button(1.0, "play", "down"), state(1.0, "playing"),
          button(2.0, "play", "hold"), state(2.0, "paused")]


def test_the_audio_check_takes_a_song_that_plays_and_fades_when_asked() -> None:
    audio = np.concatenate([silence(1.0), faded(sine(1.4)), silence(1.0)])
    assert audio_problems(audio, RATE, PLAYED, [], 1.5 * STEP) == []


def test_the_audio_check_catches_sound_before_play() -> None:
    audio = np.concatenate([silence(0.5), faded(sine(1.9)), silence(1.0)])
    assert audio_problems(audio, RATE, PLAYED, [], 1.5 * STEP) == [
        "sound at 0.500 s with no PLAY press for it"]


def test_the_audio_check_catches_a_click() -> None:
    audio = np.concatenate([silence(1.0), faded(sine(0.5)), sine(0.51), silence(1.0)])
    (problem,) = audio_problems(audio, RATE, PLAYED, [], 1.5 * STEP)
    assert problem.startswith("a click at 2.010 s")


def test_the_audio_check_catches_a_song_that_starts_when_the_interface_returns() -> None:
    # PLAY pressed while the interface was gone; the song waits for another PLAY when it
    # returns. The recording has no frames for the 2 s it was gone.
    lost = [state(0.2, "cued"), button(1.0, "play", "down"), state(1.0, "playing")]
    gone = [(0.5, 2.5)]
    audio = np.concatenate([silence(0.5), silence(0.5), faded(sine(1.0))])
    assert audio_problems(audio, RATE, lost, gone, 1.5 * STEP) == [
        "sound at 3.000 s with no PLAY press for it"]
    waits = [*lost, button(3.2, "play", "down")]
    audio = np.concatenate([silence(0.5), silence(0.7), faded(sine(1.0))])
    assert audio_problems(audio, RATE, waits, gone, 1.5 * STEP) == []


def test_the_click_check_leaves_out_the_jump_where_the_interface_went() -> None:
    playing = [state(0.2, "cued"), button(0.5, "play", "down"), state(0.5, "playing")]
    audio = np.concatenate([silence(0.5), faded(sine(0.5))[:18_000], silence(1.0)])
    assert audio_problems(audio, RATE, playing, [(0.875, 2.0)], 1.5 * STEP) == []
    (problem,) = audio_problems(audio, RATE, playing, [], 1.5 * STEP)
    assert problem.startswith("a click at 0.875 s")


def test_the_json_check_catches_what_a_reader_cannot_read(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"title": "Caf\u00e9 \u2028"}) + "\n", encoding="utf-8")
    assert json_lines_problems(good) == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"position": Infinity}\n{"title": "a\u2028b"}\n[1]\n', encoding="utf-8")
    problems = json_lines_problems(bad)
    assert len(problems) == 3
    assert "splitlines" in problems[0]
    assert problems[1].startswith("bad.jsonl line 1 is not JSON (Infinity is not JSON")
    assert problems[2] == "bad.jsonl line 3 is not a JSON object"


def test_the_usage_check_catches_songs_descriptors_memory_and_children_that_pile_up(
        ) -> None:
    steady = Usage(fds=[30, 34, 31, 33, 34, 30], rss_kb=[90_000] * 6, most_descendants=3,
                   most_rings=3)
    assert usage_problems(steady) == []
    leaking = Usage(fds=[30, 34, 38, 50, 55, 60],
                    rss_kb=[90_000, 95_000, 100_000, 140_000, 150_000, 160_000],
                    most_descendants=9, most_rings=4)
    assert usage_problems(leaking) == ["9 child processes at once (at most 5)",
                                       "4 songs held in memory at once (at most 3)",
                                       "open descriptors grew from 38 to 60",
                                       "resident memory grew from 97 MB to 156 MB"]
