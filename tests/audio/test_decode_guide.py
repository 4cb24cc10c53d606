"""A guide track on the cue bus: decoded beside its song, sample-locked to it through
resampling, a resume, a loop and a key or speed change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from test_decode_buses import decode_buses
from test_track import OUT_RATE

from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.request import DecodeRequest
from stagebox.audio.track import TrackStream

SONG_RATE = 44100
SECONDS = 3.0


def chirp(rate: int, seconds: float = SECONDS) -> np.ndarray:
    """A rising tone: every moment sounds different, so a guide out of step shows."""
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (200 + 150 * t) * t)).astype(np.float32)


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.flac"
    wave = chirp(SONG_RATE)
    soundfile.write(path, np.stack([wave, wave], axis=1), SONG_RATE)
    return path


def write_guide(path: Path, rate: int = SONG_RATE, seconds: float = SECONDS) -> Path:
    """A mono guide that is the song itself: on the cue bus it must match the main bus."""
    soundfile.write(path, chirp(rate, seconds), rate)
    return path


def decode(song: Path, guide: Path | None, most_frames: int = 10**9,
           launcher: DecoderLauncher | None = None,
           **request: object) -> tuple[np.ndarray, TrackStream]:
    """``song`` decoded with a cue bus, and the guide track ``guide`` on it."""
    return decode_buses(song, most_frames, guide, launcher, cue_bus=True, **request)


def test_the_guide_plays_on_the_cue_bus_in_step_with_the_song_which_it_leaves_alone(
        song: Path, tmp_path: Path) -> None:
    frames, stream = decode(song, write_guide(tmp_path / "guide.flac"))
    assert stream.header.channels == 4 and stream.header.guide_error is None
    alone, _ = decode(song, None)
    assert alone.shape[1] == 2, "a stereo song alone needs no cue bus"
    np.testing.assert_array_equal(frames[:, :2], alone)
    np.testing.assert_allclose(frames[:, 2:], frames[:, :2], atol=1e-6)


@pytest.mark.parametrize("options", [{"start_s": 1.3}, {"loop_start_s": 0.5, "loop_end_s": 1.5},
                                     {"speed": 0.8}, {"key_semitones": 2.0}])
def test_the_guide_stays_with_the_song_through_a_resume_a_loop_and_a_stretch(
        song: Path, tmp_path: Path, options: dict) -> None:
    frames, _ = decode(song, write_guide(tmp_path / "guide.flac"), most_frames=5 * OUT_RATE,
                       **options)
    assert len(frames) > OUT_RATE
    np.testing.assert_allclose(frames[:, 2:], frames[:, :2], atol=1e-4)


def test_a_guide_at_another_rate_is_resampled_into_step(song: Path, tmp_path: Path) -> None:
    frames, _ = decode(song, write_guide(tmp_path / "guide.flac", rate=22050))
    # Resampled from 22.05 kHz, the guide has lost the top of its band: compare the
    # chirp's lower half, where both still hold it whole.
    lag = np.argmax(np.correlate(frames[OUT_RATE:OUT_RATE + 4800, 2],
                                 frames[OUT_RATE + 100:OUT_RATE + 4700, 0], "valid"))
    assert lag == 100, "the guide is sample-locked to the song"
    np.testing.assert_allclose(frames[:OUT_RATE, 2], frames[:OUT_RATE, 0], atol=5e-3)


def test_a_guide_shorter_than_its_song_falls_silent_and_a_longer_one_stops_with_it(
        song: Path, tmp_path: Path) -> None:
    short, _ = decode(song, write_guide(tmp_path / "short.flac", seconds=1.0))
    assert not short[round(1.01 * OUT_RATE):, 2:].any()
    assert np.abs(short[round(1.01 * OUT_RATE):, :2]).max() > 0.2
    long, _ = decode(song, write_guide(tmp_path / "long.flac", seconds=6.0))
    assert len(long) == len(short) == round(SECONDS * OUT_RATE)


def test_a_broken_guide_says_why_and_the_song_plays_without_it(song: Path,
                                                               tmp_path: Path) -> None:
    broken = tmp_path / "guide.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 8)
    frames, stream = decode(song, broken)
    assert stream.header.guide_error is not None
    assert stream.header.guide_error.startswith("guide track: ")
    assert not frames[:, 2:].any()
    assert np.abs(frames[:, :2]).max() > 0.2


def test_the_launcher_hands_the_guide_to_the_decoder_it_forks(song: Path,
                                                              tmp_path: Path) -> None:
    with DecoderLauncher() as launcher:
        launcher.start()
        frames, stream = decode(song, write_guide(tmp_path / "guide.flac"), launcher=launcher)
    assert stream.header.guide_error is None
    np.testing.assert_allclose(frames[:, 2:], frames[:, :2], atol=1e-6)


def test_a_guide_needs_the_cue_bus() -> None:
    with pytest.raises(ValueError, match="needs the cue bus"):
        DecodeRequest(OUT_RATE, guide=True)


@pytest.mark.parametrize("channels", [1, 4])
def test_a_guide_joins_a_mono_song_and_a_songs_own_cue_channels(tmp_path: Path,
                                                                channels: int) -> None:
    wave = chirp(SONG_RATE)
    song = tmp_path / "song.flac"
    soundfile.write(song, np.stack([wave] * channels, axis=1) if channels > 1 else wave,
                    SONG_RATE)
    frames, stream = decode(song, write_guide(tmp_path / "guide.flac"))
    assert stream.header.channels == 4
    np.testing.assert_allclose(frames[:, 0], frames[:, 1], atol=1e-6)
    own = 1.0 if channels == 4 else 0.0  # a four-channel song's 3-4 are its own cue too
    np.testing.assert_allclose(frames[:, 2], (1.0 + own) * frames[:, 0], atol=2e-6)
