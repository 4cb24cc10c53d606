"""Practice in `stagebox sim`: the count-in and the click, as a player hears them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import Show, write_tone

from stagebox.audio.click import ACCENT_HZ, BEAT_HZ

SONG_HZ = 220.0
CLICK_THRESHOLD = 0.02


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    root = tmp_path / "stick"
    # Slow fades: a step at the song's start would sound in the click's band too.
    write_tone(root / "song.flac", SONG_HZ, 4.0, rate=44100, fade_s=0.1)
    return root


def click_onsets(show: Show) -> list[float]:
    """When each click starts, to a fraction of a millisecond: where the audio, with all
    but the clicks' band filtered out, first passes a threshold after a tenth of a second
    below it."""
    data, rate = show.audio()
    spectrum = np.fft.rfft(data[:, 0].astype(np.float64))
    hz = np.fft.rfftfreq(len(data), 1 / rate)
    spectrum[(hz < BEAT_HZ - 200) | (hz > ACCENT_HZ + 200)] = 0.0
    clicks = np.abs(np.fft.irfft(spectrum, len(data)))
    loud = np.flatnonzero(clicks > CLICK_THRESHOLD)
    if not len(loud):
        return []
    firsts = loud[np.concatenate(([True], np.diff(loud) > 0.1 * rate))]
    return [float(index) / rate for index in firsts]


def song_onset_after(show: Show, after_s: float) -> float:
    """When the song's fade-in starts after ``after_s``: its level, full at the end of a
    0.1 s linear fade, projected back from where it first passes 0.02 (the resampler's
    faint pre-ringing before a song's first sample is no part of it). Full is what it
    plays at once the fade is over (its loudness match changes it)."""
    data, rate = show.audio()
    start = round(after_s * rate)
    passed = start + int(np.flatnonzero(np.abs(data[start:, 0]) > 0.02)[0])
    cycle = round(rate / SONG_HZ)
    level = float(np.abs(data[passed:passed + cycle, 0]).max())
    full = float(np.abs(data[passed + rate // 5:passed + rate // 5 + cycle, 0]).max())
    return passed / rate - 0.1 * level / full


def song_start_s(show: Show) -> float:
    (started,) = show.named("track_started")
    return started["t"]


def test_a_bar_of_count_in_at_120_bpm_is_four_clicks_half_a_second_apart_then_the_song(
        stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | bpm=120 count=1\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n7.5 end\n")
    onsets = click_onsets(show)
    assert len(onsets) == 4
    assert np.diff(onsets) == pytest.approx([0.5, 0.5, 0.5], abs=0.005)
    assert 1.0 <= onsets[0] <= 1.1
    # The song's first frame comes on the beat after the last click, and not before.
    start_s = song_onset_after(show, onsets[-1] + 0.1)
    assert start_s == pytest.approx(onsets[0] + 2.0, abs=0.005)
    assert song_start_s(show) == pytest.approx(start_s, abs=0.05)
    assert show.dominant_hz(onsets[0], start_s - 0.05) != pytest.approx(SONG_HZ, abs=5)
    assert show.dominant_hz(start_s + 0.1, start_s + 3.5) == pytest.approx(SONG_HZ, abs=3)
    # The screen counts the beats with the clicks, then shows the song's times.
    for beat, onset in enumerate(onsets, start=1):
        assert f"Count-in {beat}" in show.screen_at(onset + 0.25)
    assert "0:01  -0:03" in show.screen_at(start_s + 1.5)


def test_the_first_beat_of_each_bar_is_accented(stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | bpm=120 count=2 meter=3/4\n",
                                       encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n8.0 end\n")
    onsets = click_onsets(show)
    assert len(onsets) == 6
    pitches = [show.dominant_hz(t + 0.002, t + 0.022) for t in onsets]
    accents = [abs(hz - ACCENT_HZ) < 60 for hz in pitches]
    assert accents == [True, False, False, True, False, False]


def test_a_click_through_the_song_stays_on_the_songs_beat(stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | bpm=100 count=1 click=on\n",
                                       encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n9.0 end\n")
    onsets = click_onsets(show)
    # One beat every 0.6 s from the count-in's first to the song's end (4 s after the
    # count-in's 2.4 s): none lost or added at the join.
    assert onsets == pytest.approx([onsets[0] + 0.6 * beat for beat in range(4 + 7)],
                                   abs=0.002)
    assert song_start_s(show) == pytest.approx(onsets[0] + 2.4, abs=0.05)


def test_a_click_through_a_loop_keeps_to_the_songs_beats_after_each_seam(stick, run_sim):
    # 120 bpm, a loop of 1.25-2 s: after each seam the song is back at 1.25 s, so the
    # click plays song time 1.5 s a quarter second later, then not again until the next
    # pass (song time 2.0 is the loop's end).
    (stick / "setlist.txt").write_text("song.flac | bpm=120 click=on loop=1.25-2\n",
                                       encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n5.0 hold play 1.0\n8.0 end\n")
    assert not show.named("warning")
    onsets = click_onsets(show)
    heard = [t - onsets[0] for t in onsets if t - onsets[0] < 3.8]
    assert heard == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.25, 3.0, 3.75], abs=0.003)


def test_a_count_in_is_not_heard_again_on_a_resume_and_no_click_without_click_on(
        stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | bpm=120 count=1\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n4.0 hold play 1.0\n"
                          "6.0 press play\n10.0 end\n")
    assert len(click_onsets(show)) == 4


def test_a_song_with_a_count_in_but_no_tempo_plays_at_once_with_a_warning(stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | count=1\n", encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n6.0 end\n")
    assert click_onsets(show) == []
    assert song_start_s(show) == pytest.approx(1.0, abs=0.1)
    assert any("need bpm=" in w["message"] for w in show.named("warning"))


def test_a_loop_repeats_its_section_without_a_click_until_the_song_is_stopped(
        tmp_path: Path, run_sim):
    # A song of three tones, a second each: the loop is the middle one and a little more.
    root = tmp_path / "loops"
    rate = 48000
    t = np.arange(3 * rate) / rate
    tones = np.where(t < 1, 300.0, np.where(t < 2, 500.0, 700.0))
    wave = (0.5 * np.sin(2 * np.pi * np.cumsum(tones) / rate)).astype(np.float32)
    root.mkdir()
    soundfile.write(root / "song.wav", np.stack([wave, wave], axis=1), rate)
    (root / "setlist.txt").write_text("song.wav | loop=1-2.25\n", encoding="utf-8")
    show = run_sim(root, "0.2 insert\n1.0 press play\n9.0 hold play 1.0\n12.0 end\n")
    start_s = song_start_s(show)
    # Song time 0-1 s: 300 Hz; then 1-2.25 s (500 Hz, then a quarter of 700) round and
    # round: 500 Hz again at 2.25-3.25 s and 3.5-4.5 s after the start, never 700 for long.
    for offset in (0.3, 1.5, 2.5, 3.8, 5.0, 6.3):
        hz = show.dominant_hz(start_s + offset, start_s + offset + 0.2)
        assert hz == pytest.approx(300.0 if offset < 1 else 500.0, abs=8), offset
    data, _ = show.audio()
    music = data[round((start_s + 0.1) * rate):round((start_s + 7.5) * rate), 0]
    # No step anywhere, seams included: at most what a 700 Hz sine moves in a frame at
    # the level an equal-power crossfade of two such sines can reach (0.5 times root 2).
    assert np.abs(np.diff(music)).max() < 1.05 * 0.5 * np.sqrt(2) * 2 * np.pi * 700 / rate
    # The screen's time goes round the section too.
    assert "0:01" in " ".join(show.screen_at(start_s + 2.5))


FINER = "[practice]\nengine = \"finer\"\n"


def sounding_s(show: Show) -> tuple[float, float]:
    """From the first to the last sample above a whisper."""
    data, rate = show.audio()
    loud = np.flatnonzero(np.abs(data[:, 0]) > 0.01)
    return loud[0] / rate, (loud[-1] + 1) / rate


def test_a_tone_at_key_plus_3_sounds_three_semitones_up(tmp_path: Path, run_sim):
    root = tmp_path / "key"
    write_tone(root / "a440.flac", 440.0, 4.0, rate=44100, fade_s=0.05)
    (root / "setlist.txt").write_text("a440.flac | key=+3\n", encoding="utf-8")
    show = run_sim(root, "0.2 insert\n1.0 press play\n6.0 end\n", config=FINER)
    start_s = song_start_s(show)
    data, rate = show.audio()
    part = data[round((start_s + 0.5) * rate):round((start_s + 3.5) * rate), 0]
    # Zero crossings over three seconds: the pitch to a small fraction of a percent.
    signs = np.signbit(part)
    crossings = np.flatnonzero(signs[1:] != signs[:-1])
    hz = (len(crossings) - 1) / 2 / ((crossings[-1] - crossings[0]) / rate)
    assert hz == pytest.approx(440.0 * 2 ** (3 / 12), rel=0.005)  # 523.3 Hz
    first, last = sounding_s(show)
    assert last - first == pytest.approx(4.0, rel=0.005), "the tempo is kept"


def test_a_five_second_song_at_80_percent_lasts_six_and_a_quarter_at_its_own_pitch(
        tmp_path: Path, run_sim):
    root = tmp_path / "speed"
    write_tone(root / "song.flac", 440.0, 5.0, rate=48000, fade_s=0.05)
    (root / "setlist.txt").write_text("song.flac | speed=80%\n", encoding="utf-8")
    show = run_sim(root, "0.2 insert\n1.0 press play\n9.5 end\n", config=FINER)
    first, last = sounding_s(show)
    assert last - first == pytest.approx(6.25, rel=0.005)
    assert show.dominant_hz(first + 1.0, first + 5.0) == pytest.approx(440.0, abs=1)
    # The screen keeps song time: half-way through the playing (3.1 s in) is 2.5 s of song.
    assert "0:02  -0:03" in show.screen_at(first + 3.2)


def test_a_speed_trainer_plays_each_pass_of_the_loop_faster_up_to_full_speed(
        tmp_path: Path, run_sim):
    # A second of 300 Hz, then the loop: a second of 500 Hz and one of 700 Hz.
    root = tmp_path / "trainer"
    rate = 48000
    t = np.arange(4 * rate) / rate
    tones = np.where(t < 1, 300.0, np.where(t < 2, 500.0, np.where(t < 3, 700.0, 300.0)))
    wave = (0.5 * np.sin(2 * np.pi * np.cumsum(tones) / rate)).astype(np.float32)
    root.mkdir()
    soundfile.write(root / "song.wav", np.stack([wave, wave], axis=1), rate)
    (root / "setlist.txt").write_text("song.wav | loop=1-3 speed=80% speedup=10%\n",
                                      encoding="utf-8")
    show = run_sim(root, "0.2 insert\n1.0 press play\n14.0 end\n")
    start_s = song_start_s(show)
    assert [step["speed"] for step in show.named("trainer")] == [0.9, 1.0]
    # Each seam is where 700 Hz gives way to 500 Hz again.
    data, _ = show.audio()
    window = rate // 100
    hz = np.fft.rfftfreq(window, 1 / rate)
    seams, last = [], None
    for begin in range(round(start_s * rate), len(data) - window, window):
        level = np.abs(np.fft.rfft(data[begin:begin + window, 0]))
        tone = max((300.0, 500.0, 700.0), key=lambda f: level[np.abs(hz - f) < 60].max())
        if last == 700.0 and tone == 500.0:
            seams.append(begin / rate - start_s)
        last = tone
    # Song time 3 s at 80 %, then a pass of 2 s at 90 %, then at 100 % from then on.
    assert seams[0] == pytest.approx(3.0 / 0.8, abs=0.03)
    assert np.diff(seams[:4]) == pytest.approx([2.0 / 0.9, 2.0, 2.0], rel=0.02)
    assert "90%" in show.screen_at(start_s + seams[0] + 1.0)[0]
