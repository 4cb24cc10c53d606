"""A song copied half-way, or damaged within, plays what is there, fades out in its last
milliseconds instead of stopping dead (a click), and the player is told why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile
from real_files import cut, decode, encode_with_ffmpeg, fades_out, rms, tone, write_vbr_mp3

OUT_RATE = 48000
SECONDS = 4.0
CUT_SHORT = "ended early: file is cut short"

Writer = Callable[[Path, np.ndarray, int], None]
WRITERS: dict[str, Writer] = {
    "wav": lambda path, samples, rate: soundfile.write(path, samples, rate, format="WAV"),
    "aiff": lambda path, samples, rate: soundfile.write(path, samples, rate, format="AIFF"),
    "flac": lambda path, samples, rate: soundfile.write(path, samples, rate, format="FLAC"),
    "ogg": lambda path, samples, rate: soundfile.write(path, with_hiss(samples), rate,
                                                       format="OGG"),
    "mp3": write_vbr_mp3,
    # iTunes puts the index first, so a copy cut short still opens.
    "m4a": lambda path, samples, rate: encode_with_ffmpeg(path, samples, rate, "aac", "mp4",
                                                          movflags="+faststart"),
    "opus": lambda path, samples, rate: encode_with_ffmpeg(path, samples, rate, "libopus",
                                                           "ogg"),
}


def with_hiss(samples: np.ndarray) -> np.ndarray:
    """A tone with a little noise: Vorbis packs a pure tone into so few bytes that half of
    such a file is mostly its codebooks, and no real song is that."""
    noise = np.random.default_rng(1).standard_normal(samples.shape) * 0.001
    return (samples + noise).astype(np.float32)


@pytest.mark.parametrize("extension", list(WRITERS))
def test_a_copy_pulled_half_way_plays_its_half_then_fades_and_says_so(
        tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"song.{extension}"
    rate = 48000 if extension == "opus" else 44100
    WRITERS[extension](path, tone(SECONDS, rate), rate)
    whole, _ = decode(path, OUT_RATE)
    cut(path, 0.5)
    frames, stream = decode(path, OUT_RATE)
    assert stream.error == CUT_SHORT
    assert 0.3 * len(whole) < len(frames) < 0.7 * len(whole)
    # What is there plays as it would have in the whole file, up to the fade.
    before_fade = len(frames) - round(0.015 * OUT_RATE)
    np.testing.assert_allclose(frames[:before_fade], whole[:before_fade], atol=1e-3)
    assert fades_out(frames, OUT_RATE)


@pytest.mark.parametrize("extension", list(WRITERS))
def test_a_whole_file_neither_fades_nor_warns(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"song.{extension}"
    rate = 48000 if extension == "opus" else 44100
    # 441 Hz at 44.1 kHz: whole periods, so a whole song's last samples are the tone's.
    WRITERS[extension](path, tone(SECONDS, rate, 441.0), rate)
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None
    if extension in ("wav", "aiff", "flac"):
        # Lossless: the song ends as it was written, at full level to its last sample.
        assert not fades_out(frames, OUT_RATE)
        assert rms(frames[-round(0.002 * OUT_RATE):]) == pytest.approx(0.3 / np.sqrt(2),
                                                                       rel=0.1)


def damage_the_middle(path: Path) -> None:
    """4 KB of the middle of the file overwritten (a bad sector, a flipped flash page)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(range(256)) * 16
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("extension", ["flac", "mp3", "m4a"])
def test_damage_within_a_file_ends_the_song_there_with_a_fade_and_says_where(
        tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"song.{extension}"
    WRITERS[extension](path, tone(20.0, 44100), 44100)
    damage_the_middle(path)
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is not None and stream.error.startswith("ended early: bad data at ")
    seconds = float(stream.error.removeprefix("ended early: bad data at ").removesuffix(" s"))
    assert 5.0 < seconds < 15.0
    assert 4.0 * OUT_RATE < len(frames) < 15.0 * OUT_RATE
    assert fades_out(frames, OUT_RATE)
