"""Practice from the four buttons in `stagebox sim`: key, speed and A-B loop changed while
a song plays, heard in the audio, shown on the screen, remembered per song."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import Show, write_tone

RATE = 48000
STEP_HZ = (300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0)
"""A song whose pitch says where it is: second n plays STEP_HZ[n]."""

INTO_PRACTICE = """\
1.0 press menu
1.2 press next
1.4 press next
1.6 press next
1.8 press play
2.0 press next
2.2 press play
2.4 press menu
"""
"""Menu, down to "Mode: show", edit, change it to practice, confirm, close."""


def write_steps(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(len(STEP_HZ) * RATE) / RATE
    hz = np.repeat(STEP_HZ, RATE)
    wave = 0.4 * np.sin(2 * np.pi * np.cumsum(hz) / RATE)
    ramp = np.clip(np.minimum(t, t[-1] - t) / 0.01, 0, 1)
    soundfile.write(path, np.stack([wave * ramp] * 2, axis=1).astype(np.float32), RATE)


def max_jump(show: Show, start_s: float, end_s: float) -> float:
    data, rate = show.audio()
    return float(np.abs(np.diff(data[int(start_s * rate):int(end_s * rate), 0])).max())


def applied(show: Show) -> list[dict]:
    return show.named("practice_applied")


def test_key_up_from_the_buttons_is_heard_a_few_blocks_later_and_shown(tmp_path, run_sim):
    stick = tmp_path / "stick"
    write_tone(stick / "song.flac", 440.0, 10.0)
    show = run_sim(stick, "0.2 insert\n" + INTO_PRACTICE
                   + "2.6 press play\n4.0 press next\n4.4 press next\n4.8 press next\n9.0 end\n")
    assert [event["mode"] for event in show.named("mode")] == ["practice"]
    assert show.dominant_hz(3.0, 3.9) == pytest.approx(440.0, abs=3)
    changes = applied(show)
    assert [change["key"] for change in changes] == [1, 2, 3]
    # Each change is heard once its new decoding is under way: well within a second here.
    assert changes[-1]["t"] < 4.8 + 0.5
    assert show.dominant_hz(changes[-1]["t"] + 0.1, 8.5) == pytest.approx(523.25, rel=0.01)
    # Each swap crossfades: no step in the audio beyond the tones' own.
    assert max_jump(show, 3.0, 8.5) < 0.4 * 2 * np.pi * 560 / RATE * 1.5
    # The song screen shows the fields, the one being changed marked.
    assert show.screen_at(6.0)[0] == "1/1 [+3] 100% A-B? no clk ▶"


def test_speed_down_from_the_buttons_stretches_the_rest_of_the_song_at_its_pitch(
        tmp_path, run_sim):
    stick = tmp_path / "stick"
    write_tone(stick / "song.flac", 440.0, 6.0)
    # PLAY picks the speed field; four taps of PREV take it to 80 %.
    show = run_sim(stick, "0.2 insert\n" + INTO_PRACTICE + "2.6 press play\n3.0 press play\n"
                   "3.2 press prev\n3.4 press prev\n3.6 press prev\n3.8 press prev\n"
                   "12.0 end\n")
    changes = applied(show)
    assert [change["speed"] for change in changes][-1] == 0.8
    (started,) = show.named("track_started")
    (ended,) = show.named("track_ended")
    swap_s = changes[-1]["t"]
    # Up to the last change some song time went by at 100 % to 85 %; the rest at 80 %.
    assert ended["t"] - started["t"] > 6.0 + 0.2 * (6.0 - (swap_s - started["t"])) * 0.9
    assert show.dominant_hz(swap_s + 0.2, ended["t"] - 0.3) == pytest.approx(440.0, abs=4)
    assert "80%" in show.screen_at(swap_s + 0.5)[0]


def test_a_b_set_from_the_buttons_repeats_the_section_until_let_go(tmp_path, run_sim):
    stick = tmp_path / "stick"
    write_steps(stick / "steps.wav")
    # Started at 2.6 s: song time = t - 2.6. PLAY twice picks the loop field; NEXT sets
    # A at song time 2.2 (500 Hz), NEXT sets B at 4.3 (700 Hz) and goes back to A, NEXT
    # lets it go after the second pass.
    show = run_sim(stick, "0.2 insert\n" + INTO_PRACTICE + "2.6 press play\n3.0 press play\n"
                   "3.2 press play\n4.8 press next\n6.9 press next\n10.0 press next\n"
                   "16.0 end\n")
    jump = applied(show)[0]
    assert jump["loop"] == [pytest.approx(2.25, abs=0.1), pytest.approx(4.35, abs=0.1)]
    back_s = jump["t"]
    # Back at A: the song plays its 500 Hz second again, then 600, then 700 up to B...
    assert show.dominant_hz(back_s + 0.1, back_s + 0.7) == pytest.approx(500.0, abs=5)
    assert show.dominant_hz(back_s + 0.9, back_s + 1.7) == pytest.approx(600.0, abs=5)
    # ... and round again: at 2.1 s after the jump the section starts over.
    assert show.dominant_hz(back_s + 2.2, back_s + 2.7) == pytest.approx(500.0, abs=5)
    assert "A-B" in show.screen_at(back_s + 1.0)[0]
    released = applied(show)[1]
    assert released["loop"] is None
    # Let go, the song plays on past B (the section's highest step is 700 Hz) to its end.
    assert show.dominant_hz(released["t"] + 2.6, released["t"] + 3.1) > 750.0
    assert show.named("track_ended")
    assert max_jump(show, 3.0, released["t"] + 3.0) < 0.4 * 2 * np.pi * 1000 / RATE * 1.5


def test_settings_made_on_the_box_are_remembered_per_song_and_played_in_practice_only(
        tmp_path, run_sim):
    stick = tmp_path / "stick"
    write_tone(stick / "song.flac", 440.0, 8.0)
    state = tmp_path / "state"
    state.mkdir()

    def run(name: str, script: str) -> Show:
        return run_sim(stick, script, name=name, state=state)

    run("first", "0.2 insert\n" + INTO_PRACTICE + "2.6 press play\n3.0 press next\n"
        "3.3 press next\n4.0 end\n")
    # Next time, in show mode, the setlist rules: the song plays as recorded...
    show = run("show", "0.2 insert\n1.0 press play\n3.0 end\n")
    assert show.dominant_hz(1.5, 2.9) == pytest.approx(440.0, abs=3)
    # ... and in practice mode at the key set last time.
    show = run("practice", "0.2 insert\n" + INTO_PRACTICE + "2.6 press play\n5.0 end\n")
    assert show.dominant_hz(3.0, 4.9) == pytest.approx(493.9, rel=0.01)
    assert show.screen_at(4.0)[0].startswith("1/1 [+2]")


def test_a_change_after_the_stick_is_pulled_still_works(tmp_path, run_sim):
    # The new decoding shares the playing one's memory: that the file itself need not be
    # there is shown in tests/test_loader_memory.py.
    stick = tmp_path / "stick"
    write_tone(stick / "song.flac", 440.0, 8.0)
    show = run_sim(stick, "0.2 insert\n" + INTO_PRACTICE
                   + "2.6 press play\n3.5 remove\n4.0 press next\n4.3 press next\n7.0 end\n")
    assert show.named("stick_removed")
    changes = applied(show)
    assert [change["key"] for change in changes] == [1, 2]
    assert show.dominant_hz(changes[-1]["t"] + 0.1, 6.9) == pytest.approx(493.9, rel=0.01)
    assert not show.named("warning")[1:]  # only the stick's own "plays from memory"


def band_onsets(show: Show, low_hz: float, high_hz: float, after_s: float) -> list[float]:
    """When each sound in ``low_hz..high_hz`` starts, after ``after_s``."""
    data, rate = show.audio()
    spectrum = np.fft.rfft(data[:, 0].astype(np.float64))
    hz = np.fft.rfftfreq(len(data), 1 / rate)
    spectrum[(hz < low_hz) | (hz > high_hz)] = 0.0
    band = np.abs(np.fft.irfft(spectrum, len(data)))
    loud = np.flatnonzero(band > 0.05)
    firsts = loud[np.concatenate(([True], np.diff(loud) > 0.1 * rate))]
    return [float(at) / rate for at in firsts if at / rate > after_s]


def test_a_tempo_tapped_on_next_sets_a_click_on_the_songs_own_beat(tmp_path, run_sim):
    # A song with no bpm=: a kick every half second from song time 0.3 s (120 bpm).
    stick = tmp_path / "stick"
    stick.mkdir()
    t = np.arange(12 * RATE) / RATE
    since = (t - 0.3) % 0.5
    kicks = 0.5 * np.sin(2 * np.pi * 100.0 * t) * np.sin(np.pi * np.minimum(since / 0.04, 1))
    soundfile.write(stick / "song.wav", np.stack([kicks] * 2, axis=1).astype(np.float32), RATE)
    # Small periods, so that the simulator's taps land within 3 ms of their times. PLAY at
    # 2.6 s starts the song a period later; three PLAYs pick the click field; the taps come
    # as the kicks are heard, the device's buffer of 4 periods after they leave.
    period = 128
    latency_s = 4 * period / RATE
    taps = "".join(f"{2.6 + period / RATE + 0.3 + 0.5 * beat + latency_s:.4f} press next\n"
                   for beat in range(2, 8))
    show = run_sim(stick, "0.2 insert\n" + INTO_PRACTICE + "2.6 press play\n3.0 press play\n"
                   "3.2 press play\n3.4 press play\n" + taps + "11.0 end\n",
                   f"[audio]\nperiod_frames = {period}\n[practice]\nperiod_frames = {period}\n")
    changes = applied(show)
    assert len(changes) == 3, "from the fourth tap on, each refines the tempo"
    change = changes[-1]
    assert change["bpm"] == 120.0 and change["click"] is True
    kicks_heard = band_onsets(show, 60.0, 160.0, change["t"] + 0.2)
    clicks = band_onsets(show, 1100.0, 2000.0, change["t"] + 0.2)
    assert len(clicks) >= 6 and len(kicks_heard) >= len(clicks)
    for click in clicks:
        nearest = min(kicks_heard, key=lambda kick: abs(kick - click))
        assert abs(click - nearest) < 0.004, (clicks, kicks_heard)


def test_practice_mode_runs_the_interface_with_its_shorter_buffer_and_show_mode_with_its_own(
        tmp_path, run_sim):
    stick = tmp_path / "stick"
    write_tone(stick / "song.flac", 440.0, 4.0)
    # Back to show mode while the song plays: the buffer changes only once it has ended.
    back_to_show = "3.0 press menu\n3.2 press next\n3.4 press next\n3.6 press next\n" \
                   "3.8 press play\n4.0 press prev\n4.2 press play\n4.4 press menu\n"
    show = run_sim(stick, "0.2 insert\n" + INTO_PRACTICE + "2.6 press play\n" + back_to_show
                   + "9.0 end\n")
    buffers = [(event["t"], event["buffer_ms"]) for event in show.named("audio_outputs")]
    assert [ms for _, ms in buffers] == [85.3, 42.7, 85.3]
    into_practice, back = (event["t"] for event in show.named("mode"))
    (started,) = show.named("track_started")
    (ended,) = show.named("track_ended")
    assert into_practice < buffers[1][0] < started["t"]
    assert back < ended["t"] < buffers[2][0]
    # The song played whole and unbroken in practice mode's buffer.
    assert ended["t"] - started["t"] == pytest.approx(4.0, abs=0.05)
    assert show.dominant_hz(started["t"] + 0.5, started["t"] + 3.5) == pytest.approx(440, abs=3)


def test_a_speed_trainer_also_speeds_up_a_loop_set_from_the_buttons(tmp_path, run_sim):
    stick = tmp_path / "stick"
    write_steps(stick / "steps.wav")
    (stick / "setlist.txt").write_text("steps.wav | speed=80% speedup=10%\n", encoding="utf-8")
    # PLAY twice picks the loop field; NEXT sets A, then B (going back to A).
    show = run_sim(stick, "0.2 insert\n" + INTO_PRACTICE + "2.6 press play\n3.0 press play\n"
                   "3.2 press play\n4.8 press next\n6.9 press next\n14.0 end\n")
    (jump, *steps) = applied(show)
    assert jump["loop"] is not None and jump["speed"] == 0.8
    assert [step["speed"] for step in show.named("trainer")] == [0.9, 1.0]
    assert [step["speed"] for step in steps] == [0.9, 1.0]
    assert "90%" in show.screen_at(steps[0]["t"] + 0.5)[0]
    assert "100%" in show.screen_at(steps[1]["t"] + 0.5)[0]
