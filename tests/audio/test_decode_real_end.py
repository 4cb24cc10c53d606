"""A song plays until its audio ends, never until its header's guess, and the length on
the screen is the length that plays, from the start."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
from mutagen.id3 import APIC, ID3, TIT2
from real_files import (
    chirp,
    decode,
    dominant_hz,
    fades_out,
    rms,
    tone,
    without_xing_frame,
    write_vbr_mp3,
    write_wav_with_sizes,
)

from stagebox.audio.sources import open_source

OUT_RATE = 48000
MPEG_FRAME = 1152
"""An MPEG-1 Layer III frame's samples: what an MP3 without a LAME tag may add at its end."""


def test_a_vbr_mp3_without_its_xing_frame_plays_whole(tmp_path: Path) -> None:
    # Old encoders wrote no Xing frame: libsndfile then guessed the length from the first
    # frame's bitrate and played 0.9 s of 6.
    path = tmp_path / "song.mp3"
    write_vbr_mp3(path, tone(6.0, 44100), 44100)
    path.write_bytes(without_xing_frame(path.read_bytes()))
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None and stream.header is not None
    # Without the LAME tag the encoder's delay and padding stay in: up to two frames more.
    extra = len(frames) - 6 * OUT_RATE
    assert 0 <= extra <= 2 * MPEG_FRAME * OUT_RATE // 44100
    assert stream.header.frames == len(frames)
    assert dominant_hz(frames[-OUT_RATE:-OUT_RATE // 10, 0], OUT_RATE) \
        == pytest.approx(440.0, abs=3)
    assert rms(frames[-OUT_RATE // 2:-OUT_RATE // 10]) == pytest.approx(0.3 / np.sqrt(2),
                                                                        rel=0.05)


def test_an_mp3_with_cover_art_is_told_by_its_audio_after_the_tag(tmp_path: Path) -> None:
    # Taggers put the cover art first: 60 KB of ID3 tag before the first frame. Taken for
    # something else, the song went to libsndfile, which played a VBR song without its
    # Xing frame only as long as its first frame's bitrate guessed.
    path = tmp_path / "song.mp3"
    write_vbr_mp3(path, tone(6.0, 44100), 44100)
    path.write_bytes(without_xing_frame(path.read_bytes()))
    tag_mp3(path, "Song", cover_art=True)
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None and stream.header is not None
    assert 0 <= len(frames) - 6 * OUT_RATE <= 2 * MPEG_FRAME * OUT_RATE // 44100
    assert stream.header.frames == len(frames)


def tag_mp3(path: Path, title: str, cover_art: bool = False, id3v1: bool = False) -> None:
    """Tag ``path`` as taggers do: an ID3v2 tag first, with cover art if asked (bytes like
    a JPEG's: full of what look like MPEG frame headers), and an ID3v1 tag last."""
    tag = ID3()
    tag.add(TIT2(encoding=3, text=title))
    if cover_art:
        picture = np.random.default_rng(1).integers(0, 256, 60_000, np.uint8).tobytes()
        tag.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="", data=picture))
    tag.save(path, v1=2 if id3v1 else 0)


@pytest.mark.parametrize("tags", ["untagged", "id3v2", "id3v1 and id3v2", "cover art"])
def test_two_mp3s_joined_with_cat_play_as_one_medley(tmp_path: Path, tags: str) -> None:
    # Every tagger writes an ID3v2 tag at the start (and some an ID3v1 tag at the end):
    # joined with cat, the second song's tag sits between the two, where FFmpeg hands it
    # to the decoder as a packet, which refused it as bad data: the medley ended there.
    first, second = tmp_path / "first.mp3", tmp_path / "second.mp3"
    write_vbr_mp3(first, tone(3.0, 44100, 440.0), 44100)
    write_vbr_mp3(second, tone(3.0, 44100, 660.0), 44100)
    if tags != "untagged":
        for path, title in ((first, "First"), (second, "Second")):
            tag_mp3(path, title, cover_art=tags == "cover art",
                    id3v1=tags == "id3v1 and id3v2")
    medley = tmp_path / "medley.mp3"
    medley.write_bytes(first.read_bytes() + second.read_bytes())
    frames, stream = decode(medley, OUT_RATE)
    assert stream.error is None and stream.header is not None
    # The second song's own priming and padding, and its Info frame (a silent frame), stay in.
    assert 0 <= len(frames) - 6 * OUT_RATE <= 3 * MPEG_FRAME * OUT_RATE // 44100
    assert abs(stream.header.frames - len(frames)) <= 2
    assert dominant_hz(frames[OUT_RATE // 2:OUT_RATE * 5 // 2, 0], OUT_RATE) \
        == pytest.approx(440.0, abs=3)
    assert dominant_hz(frames[-OUT_RATE * 5 // 2:-OUT_RATE // 2, 0], OUT_RATE) \
        == pytest.approx(660.0, abs=3)
    whole = source_frames(medley)
    start = len(whole) - 2 * 44100
    np.testing.assert_array_equal(source_frames(medley, start), whole[start:])


def test_a_medley_of_a_mono_22_khz_mp3_and_a_stereo_44_khz_one_plays_each_at_its_pitch(
        tmp_path: Path) -> None:
    first, second = tmp_path / "first.mp3", tmp_path / "second.mp3"
    write_vbr_mp3(first, tone(3.0, 22050, 440.0, channels=1), 22050)
    write_vbr_mp3(second, tone(3.0, 44100, 660.0), 44100)
    medley = tmp_path / "medley.mp3"
    medley.write_bytes(first.read_bytes() + second.read_bytes())
    frames, stream = decode(medley, OUT_RATE)
    assert stream.error is None and stream.header is not None
    assert abs(len(frames) - 6 * OUT_RATE) <= 3 * MPEG_FRAME * OUT_RATE // 22050
    assert abs(stream.header.frames - len(frames)) <= 2 * MPEG_FRAME * OUT_RATE // 22050
    for side in (0, 1):
        assert dominant_hz(frames[OUT_RATE // 2:OUT_RATE * 5 // 2, side], OUT_RATE) \
            == pytest.approx(440.0, abs=3)
        assert dominant_hz(frames[-OUT_RATE * 5 // 2:-OUT_RATE // 2, side], OUT_RATE) \
            == pytest.approx(660.0, abs=3)
    assert rms(frames[-OUT_RATE * 5 // 2:-OUT_RATE // 2]) == pytest.approx(0.3 / np.sqrt(2),
                                                                        rel=0.05)


def source_frames(path: Path, start: int = 0) -> np.ndarray:
    """The song's frames at its own rate from ``start``, as the decoder's source gives
    them (no resampler to settle at the start)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        source = open_source(fd)
    finally:
        os.close(fd)
    try:
        source.skip_to(start)
        parts = [np.zeros((0, source.channels), np.float32)]
        block = np.zeros((65536, source.channels), np.float32)
        while got := source.read(block):
            parts.append(block[:got].copy())
    finally:
        source.close()
    return np.concatenate(parts)


@pytest.mark.parametrize("kind", ["vbr", "without xing", "medley"])
def test_a_start_deep_in_an_mp3_is_exact_to_the_sample(tmp_path: Path, kind: str) -> None:
    # A seek by time lands only near the place in an MP3; the decoder seeks to a packet's
    # byte instead, whose place it counted when it opened the song.
    path = tmp_path / "song.mp3"
    write_vbr_mp3(path, chirp(8.0, 44100), 44100)
    if kind == "without xing":
        path.write_bytes(without_xing_frame(path.read_bytes()))
    if kind == "medley":
        second = tmp_path / "second.mp3"
        write_vbr_mp3(second, tone(3.0, 44100, 660.0), 44100)
        path.write_bytes(path.read_bytes() + second.read_bytes())
    whole = source_frames(path)
    for start in (round(3.3 * 44100), round(7.9 * 44100), len(whole) - 3000):
        np.testing.assert_array_equal(source_frames(path, start), whole[start:])


@pytest.mark.parametrize(("subtype", "metadata_bytes"),
                         [("PCM_16", 0), ("PCM_24", 0), ("FLOAT", 0), ("PCM_24", 8000)])
@pytest.mark.parametrize("size", [0, 0xFFFFFFFF], ids=["zero", "unknown"])
def test_a_wav_whose_recorder_never_wrote_its_sizes_plays_whole(
        tmp_path: Path, subtype: str, metadata_bytes: int, size: int) -> None:
    # A recorder that lost power leaves 0; a writer that could not seek back, 0xFFFFFFFF.
    # Field recorders put kilobytes of metadata before the audio.
    path = tmp_path / "take.wav"
    source = chirp(2.0, 44100)
    write_wav_with_sizes(path, source, 44100, size, size, subtype, metadata_bytes)
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None and stream.header is not None
    assert stream.header.frames == len(frames) == 2 * OUT_RATE
    np.testing.assert_allclose(frames, soxr.resample(source, 44100, OUT_RATE, quality="HQ"),
                               atol=1e-4)


def test_a_wav_whose_sizes_say_more_than_the_file_holds_plays_every_sample(
        tmp_path: Path) -> None:
    # Every sample there comes out; the file is cut short of its header's length, so its
    # last milliseconds fade (no click) and the player says so.
    path = tmp_path / "take.wav"
    source = tone(2.0, 48000)
    write_wav_with_sizes(path, source, 48000, 100_000_000, 99_999_964)
    frames, stream = decode(path, OUT_RATE)
    assert stream.header is not None
    assert stream.header.frames == len(frames) == 2 * OUT_RATE
    fade = round(0.015 * OUT_RATE)
    np.testing.assert_allclose(frames[:-fade], source[:-fade], atol=1e-4)
    assert stream.error == "ended early: file is cut short"
    assert fades_out(frames, OUT_RATE)


def test_a_wav_that_is_whole_neither_fades_nor_warns(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    source = tone(1.0, 48000)
    soundfile.write(path, source, 48000, subtype="FLOAT")
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None
    np.testing.assert_array_equal(frames, source)
    assert not fades_out(frames, OUT_RATE)


def test_an_mp3_with_junk_before_its_first_frame_plays_whole(tmp_path: Path) -> None:
    # A tag writer that padded the file's start with zeros, after an old encoder: the first
    # bytes do not look like MPEG audio, and libsndfile does not know it (by a name it
    # would, and stop at its guess of the length).
    path = tmp_path / "song.mp3"
    write_vbr_mp3(path, tone(6.0, 44100), 44100)
    path.write_bytes(bytes(1000) + without_xing_frame(path.read_bytes()))
    frames, stream = decode(path, OUT_RATE)
    assert stream.error is None and stream.header is not None
    assert stream.header.format == "MP3"
    assert 0 <= len(frames) - 6 * OUT_RATE <= 2 * MPEG_FRAME * OUT_RATE // 44100
