"""What musicians bring besides WAV, FLAC, Ogg Vorbis and AIFF: iTunes' AAC and ALAC in
M4A, Opus, Windows Media Audio, WavPack, each decoded whole by the real decoder process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from real_files import chirp, decode, dominant_hz, encode_with_ffmpeg, tone

OUT_RATE = 48000
SECONDS = 3.0

# (encoder, container, extension, source rate, the header's format, frames a codec may add
# or take at its ends: priming and padding, one or two of its frames)
FORMATS = [
    ("aac", "mp4", "m4a", 44100, "AAC", 2048),
    ("alac", "mp4", "m4a", 44100, "ALAC", 0),
    ("libopus", "ogg", "opus", 48000, "OPUS", 960),
    ("wmav2", "asf", "wma", 44100, "WMA", 2048),
    ("wavpack", "wv", "wv", 44100, "WAVPACK", 0),
]


@pytest.mark.parametrize(("codec", "container", "extension", "rate", "name", "slack"), FORMATS,
                         ids=[f"{codec}.{extension}" for codec, _, extension, *_ in FORMATS])
@pytest.mark.parametrize("channels", [1, 2])
def test_each_format_plays_whole_at_the_output_rate(
        tmp_path: Path, codec: str, container: str, extension: str, rate: int, name: str,
        slack: int, channels: int) -> None:
    path = tmp_path / f"song.{extension}"
    encode_with_ffmpeg(path, tone(SECONDS, rate, 440.0, channels), rate, codec, container)
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None
    assert stream.header is not None
    assert (stream.header.format, stream.header.source_rate) == (name, rate)
    assert stream.header.source_channels == channels
    slack_out = slack * OUT_RATE // rate + 2
    assert abs(len(frames) - SECONDS * OUT_RATE) <= slack_out
    # The length on the screen is the length that plays.
    assert abs(stream.header.frames - len(frames)) <= slack_out
    middle = frames[len(frames) // 4: -len(frames) // 4]
    for side in (0, 1):
        assert dominant_hz(middle[:, side], OUT_RATE) == pytest.approx(440.0, abs=3)
        assert np.sqrt(np.mean(middle[:, side] ** 2)) == pytest.approx(0.3 / np.sqrt(2),
                                                                       rel=0.05)


def test_an_m4a_named_mp3_is_still_played_by_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    encode_with_ffmpeg(path, tone(1.0, 44100), 44100, "aac", "mp4")
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None and stream.header is not None
    assert stream.header.format == "AAC"
    assert dominant_hz(frames[OUT_RATE // 4: -OUT_RATE // 4, 0], OUT_RATE) \
        == pytest.approx(440.0, abs=3)


# Near the top the decoder decodes from there; further in, it seeks first.
@pytest.mark.parametrize("start_s", [0.75, 4.3])
@pytest.mark.parametrize(("codec", "container", "extension", "rate"),
                         [("aac", "mp4", "m4a", 44100), ("libopus", "ogg", "opus", 48000),
                          ("alac", "mp4", "m4a", 44100), ("wavpack", "wv", "wv", 44100),
                          ("wmav2", "asf", "wma", 44100), ("libmp3lame", "mp3", "mp3", 44100)])
def test_start_position_is_exact_in_song_time(tmp_path: Path, codec: str, container: str,
                                              extension: str, rate: int,
                                              start_s: float) -> None:
    path = tmp_path / f"song.{extension}"
    encode_with_ffmpeg(path, chirp(6.0, rate), rate, codec, container)
    whole, _ = decode(path, OUT_RATE)
    rest, stream = decode(path, OUT_RATE, start_s=start_s)
    assert stream.header is not None
    start = stream.header.start_frames
    assert start == round(start_s * OUT_RATE)
    assert len(rest) == len(whole) - start
    # The resampler starts cold at the start point: a few frames of its filter settle.
    np.testing.assert_allclose(rest[200:], whole[start + 200:], atol=2e-3)


