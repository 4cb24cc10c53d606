"""The cue bus in `stagebox sim`: on a four-output interface the click, the count-in and a
split track's click side reach the band's pair (outputs 3-4) and never the audience's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import Show, write_tone

from stagebox.audio.click import ACCENT_HZ, BEAT_HZ

SONG_HZ = 220.0
GUIDE_HZ = 1000.0
"""A split track's click side, told apart from the box's own click by its pitch."""
FOUR_OUTPUTS = "[audio]\nchannels = 4\ncue_pair = 2\n"
SCRIPT = "0.2 insert\n1.0 press play\n7.5 end\n"
DITHER = 2 / 32768
"""The 16-bit output's TPDF dither differs from channel to channel by up to 2 LSB."""


def band_level(channel: np.ndarray, rate: int, low_hz: float, high_hz: float) -> float:
    """The peak level of ``channel`` with everything outside ``low_hz..high_hz`` removed."""
    spectrum = np.fft.rfft(channel.astype(np.float64))
    hz = np.fft.rfftfreq(len(channel), 1 / rate)
    spectrum[(hz < low_hz) | (hz > high_hz)] = 0.0
    return float(np.abs(np.fft.irfft(spectrum, len(channel))).max())


def click_level(channel: np.ndarray, rate: int) -> float:
    return band_level(channel, rate, BEAT_HZ - 200, ACCENT_HZ + 200)


def song_level(channel: np.ndarray, rate: int) -> float:
    return band_level(channel, rate, SONG_HZ - 50, SONG_HZ + 50)


def click_onsets(channel: np.ndarray, rate: int) -> list[float]:
    """When each click starts: the first sample above a faint level after a tenth of a
    second of silence."""
    loud = np.flatnonzero(np.abs(channel) > 0.01)
    firsts = loud[np.concatenate(([True], np.diff(loud) > 0.1 * rate))] if len(loud) else loud
    return [float(index) / rate for index in firsts]


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    root = tmp_path / "stick"
    write_tone(root / "song.flac", SONG_HZ, 4.0, rate=44100, fade_s=0.1)
    return root


def four_outputs(show: Show) -> tuple[np.ndarray, int]:
    data, rate = show.audio()
    assert data.shape[1] == 4, "the device is opened with its four outputs"
    return data, rate


def test_the_count_in_and_click_reach_outputs_3_4_only_and_the_music_1_2_only(
        stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | bpm=120 count=1 click=on\n",
                                       encoding="utf-8")
    show = run_sim(stick, SCRIPT, FOUR_OUTPUTS)
    data, rate = four_outputs(show)
    main, cue = data[:, :2], data[:, 2:]
    np.testing.assert_allclose(cue[:, 0], cue[:, 1], atol=DITHER)
    onsets = click_onsets(cue[:, 0], rate)
    # A bar of count-in and a click on each of the song's eight beats, on one line.
    assert onsets == pytest.approx([onsets[0] + 0.5 * beat for beat in range(4 + 8)],
                                   abs=0.002)
    assert click_level(cue[:, 0], rate) > 0.1
    assert song_level(cue[:, 0], rate) < 1e-3, "no music in the band's ears"
    for side in (0, 1):
        assert song_level(main[:, side], rate) > 0.1
        assert click_level(main[:, side], rate) < 1e-3, "no click for the audience"
    assert not main[:round((onsets[0] + 1.9) * rate)].any(), "the count-in is the band's"


def test_without_a_click_outputs_3_4_are_digital_silence(stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac\n", encoding="utf-8")
    show = run_sim(stick, SCRIPT, FOUR_OUTPUTS)
    data, rate = four_outputs(show)
    assert not data[:, 2:].any()
    assert song_level(data[:, 0], rate) > 0.1


def split_track(path: Path, click_side: int, seconds: float = 4.0, rate: int = 48000) -> None:
    """A split track: a guide tone on ``click_side``, the music on the other."""
    t = np.arange(int(seconds * rate)) / rate
    ramp = np.clip(np.minimum(t, seconds - t) / 0.1, 0, 1)
    music = 0.5 * np.sin(2 * np.pi * SONG_HZ * t) * ramp
    guide = 0.3 * np.sin(2 * np.pi * GUIDE_HZ * t) * ramp
    sides = [music, music]
    sides[click_side] = guide
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.stack(sides, axis=1).astype(np.float32), rate)


@pytest.mark.parametrize(("option", "click_side"), [("click-left", 0), ("click-right", 1)])
def test_a_split_tracks_click_side_goes_to_outputs_3_4_and_its_music_to_both_of_1_2(
        tmp_path: Path, run_sim, option: str, click_side: int):
    stick = tmp_path / "stick"
    split_track(stick / "split.wav", click_side)
    (stick / "setlist.txt").write_text(f"split.wav | split={option}\n", encoding="utf-8")
    show = run_sim(stick, SCRIPT, FOUR_OUTPUTS)
    data, rate = four_outputs(show)
    assert not show.named("warning")
    for channel in (0, 1):
        assert song_level(data[:, channel], rate) > 0.1
        assert band_level(data[:, channel], rate, GUIDE_HZ - 50, GUIDE_HZ + 50) < 1e-3
    np.testing.assert_allclose(data[:, 0], data[:, 1], atol=DITHER)
    for channel in (2, 3):
        guide = band_level(data[:, channel], rate, GUIDE_HZ - 50, GUIDE_HZ + 50)
        assert guide == pytest.approx(0.3, abs=0.02), "the guide at its own level"
        assert song_level(data[:, channel], rate) < 1e-3


def test_a_split_track_without_a_cue_pair_plays_its_music_only(tmp_path: Path, run_sim):
    stick = tmp_path / "stick"
    split_track(stick / "split.wav", 0)
    (stick / "setlist.txt").write_text("split.wav | split=click-left\n", encoding="utf-8")
    data, rate = run_sim(stick, SCRIPT).audio()
    assert data.shape[1] == 2
    for channel in (0, 1):
        assert song_level(data[:, channel], rate) > 0.1
        assert band_level(data[:, channel], rate, GUIDE_HZ - 50, GUIDE_HZ + 50) < 1e-3


def test_a_four_channel_files_channels_3_4_play_on_the_cue_pair(tmp_path: Path, run_sim):
    stick = tmp_path / "stick"
    rate, seconds = 48000, 4.0
    t = np.arange(int(seconds * rate)) / rate
    ramp = np.clip(np.minimum(t, seconds - t) / 0.1, 0, 1)
    music = 0.5 * np.sin(2 * np.pi * SONG_HZ * t) * ramp
    guide = 0.3 * np.sin(2 * np.pi * GUIDE_HZ * t) * ramp
    stick.mkdir()
    soundfile.write(stick / "stems.wav",
                    np.stack([music, music, guide, guide], axis=1).astype(np.float32), rate)
    data, out_rate = four_outputs(run_sim(stick, SCRIPT, FOUR_OUTPUTS))
    assert song_level(data[:, 0], out_rate) > 0.1
    assert band_level(data[:, 0], out_rate, GUIDE_HZ - 50, GUIDE_HZ + 50) < 1e-3
    assert band_level(data[:, 2], out_rate, GUIDE_HZ - 50, GUIDE_HZ + 50) > 0.25
    assert song_level(data[:, 2], out_rate) < 1e-3


def test_a_cue_pair_the_interface_lacks_is_said_and_the_click_follows_the_config(
        stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | bpm=120 count=1\n", encoding="utf-8")
    lacking = "[audio]\nchannels = 2\ncue_pair = 2\n"
    to_main = run_sim(stick, SCRIPT, lacking, name="main")
    assert any("cue_pair = 2 needs 4 outputs" in w["message"]
               for w in to_main.named("warning"))
    data, rate = to_main.audio()
    assert len(click_onsets(data[:round(2.9 * rate), 0], rate)) == 4

    off = run_sim(stick, SCRIPT, lacking + "[player]\nclick_without_cue_pair = \"off\"\n",
                  name="off")
    data, rate = off.audio()
    assert click_level(data[:, 0], rate) < 1e-3, "show mode: no click for the audience"


def test_practice_hears_the_click_on_the_main_pair_whatever_show_mode_is_set_to(
        stick, run_sim):
    (stick / "setlist.txt").write_text("song.flac | bpm=120 count=1\n", encoding="utf-8")
    config = ("[audio]\nchannels = 2\ncue_pair = 2\n"
              "[player]\nclick_without_cue_pair = \"off\"\n")
    into_practice = ("1.0 press menu\n1.2 press next\n1.4 press next\n1.6 press next\n"
                     "1.8 press play\n2.0 press next\n2.2 press play\n2.4 press menu\n")
    show = run_sim(stick, "0.2 insert\n" + into_practice + "3.0 press play\n9.0 end\n",
                   config)
    data, rate = show.audio()
    onsets = click_onsets(data[:, 0], rate)
    assert onsets[:4] == pytest.approx([3.0 + 0.5 * beat for beat in range(4)], abs=0.05)


def guide_track(path: Path, seconds: float = 4.0, rate: int = 44100) -> None:
    """A spoken cue stood in for by a tone burst at song time 1.0 s to 1.5 s."""
    t = np.arange(int(seconds * rate)) / rate
    burst = (t >= 1.0) & (t < 1.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * GUIDE_HZ * t) * burst).astype(np.float32),
                    rate)


def test_a_guide_track_plays_on_outputs_3_4_in_step_with_its_song(stick, run_sim):
    guide_track(stick / "guides" / "verse cues.wav")
    (stick / "setlist.txt").write_text('song.flac | cue="guides/verse cues.wav"\n',
                                       encoding="utf-8")
    show = run_sim(stick, SCRIPT, FOUR_OUTPUTS)
    assert not show.named("warning")
    data, rate = four_outputs(show)
    song_start_s = int(np.flatnonzero(np.abs(data[:, 0]) > 3 * DITHER)[0]) / rate
    assert click_onsets(data[:, 2], rate) == pytest.approx([song_start_s + 1.0], abs=0.002)
    middle = round((song_start_s + 1.25) * rate)
    assert np.abs(data[middle - 1000:middle + 1000, 2]).max() == pytest.approx(0.3, abs=0.01)
    # Beside the cue (and its resampler's ringing), nothing: no music in the band's ears.
    cue = data[:, 2].copy()
    cue[round((song_start_s + 0.99) * rate):round((song_start_s + 1.51) * rate)] = 0.0
    assert np.abs(cue).max() <= DITHER
    assert band_level(data[:, 0], rate, GUIDE_HZ - 50, GUIDE_HZ + 50) < 1e-3
    assert song_level(data[:, 0], rate) > 0.1


def test_a_guide_track_without_a_cue_pair_is_never_heard(stick, run_sim):
    guide_track(stick / "guide.wav")
    (stick / "setlist.txt").write_text("song.flac | cue=guide.wav\n", encoding="utf-8")
    data, rate = run_sim(stick, SCRIPT).audio()
    assert band_level(data[:, 0], rate, GUIDE_HZ - 50, GUIDE_HZ + 50) < 1e-3
    assert song_level(data[:, 0], rate) > 0.1


def test_a_missing_or_broken_guide_is_said_and_the_song_plays_without_it(stick, run_sim):
    (stick / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 8)
    (stick / "setlist.txt").write_text("song.flac | cue=nothing.wav\nsong.flac | cue=broken.wav\n",
                                       encoding="utf-8")
    show = run_sim(stick, "0.2 insert\n1.0 press play\n5.6 press next\n6.0 press play\n"
                          "11.0 end\n", FOUR_OUTPUTS)
    warnings = [w["message"] for w in show.named("warning")]
    assert any("setlist.txt:1: cue: no file" in w and "without its guide" in w
               for w in warnings), warnings
    assert any(w.startswith("song.flac: guide track: ") for w in warnings), warnings
    data, _ = four_outputs(show)
    assert len(show.named("track_started")) == 2
    assert not data[:, 2:].any()
