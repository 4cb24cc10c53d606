"""A song's packet count, written by its first decoder and read by the next ones: taken
only when whole and of this song, and whatever else the file holds, the song plays right."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from real_files import chirp, decode, write_vbr_mp3

from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.packet_count import PacketCount, new_count_file
from stagebox.audio.track import TrackStream

RATE = 44100
START_S = 5.0


@pytest.fixture
def count_fd() -> Iterator[int]:
    fd = new_count_file()
    yield fd
    os.close(fd)


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("count") / "song.mp3"
    write_vbr_mp3(path, chirp(8.0, RATE), RATE)
    return path


@pytest.fixture(scope="module")
def launcher() -> Iterator[DecoderLauncher]:
    with DecoderLauncher() as started:
        yield started


def play(path: Path, count_fd: int | None, launcher: DecoderLauncher | None = None,
         start_s: float = START_S) -> tuple[np.ndarray, TrackStream]:
    return decode(path, RATE, start_s, launcher=launcher, count_fd=count_fd)


@pytest.mark.parametrize("through_launcher", [False, True], ids=["spawned", "forked"])
def test_the_first_decoder_writes_the_count_and_the_next_one_takes_it(
        song: Path, count_fd: int, launcher: DecoderLauncher, through_launcher: bool) -> None:
    forker = launcher if through_launcher else None
    alone, _ = play(song, None, forker)
    first, stream = play(song, count_fd, forker)
    count = PacketCount.read(count_fd, song.stat().st_size)
    assert count is not None and count.place_bytes is not None
    assert count.frames == stream.header.source_frames
    np.testing.assert_array_equal(first, alone)
    # Taken as it is: a count that says the song is shorter shows in the next header.
    PacketCount(count.file_bytes, count.frames - 1000, count.cut_short, count.place_bytes,
                count.place_frames).write(count_fd)
    again, stream = play(song, count_fd, forker)
    assert stream.header.source_frames == count.frames - 1000
    np.testing.assert_array_equal(again, alone[:len(again)])


def test_a_count_of_another_song_or_a_broken_one_is_left_and_the_song_counted(
        song: Path, count_fd: int, tmp_path: Path) -> None:
    alone, stream = play(song, None)
    other = tmp_path / "other.mp3"
    write_vbr_mp3(other, chirp(3.0, RATE), RATE)
    play(other, count_fd, start_s=0.0)
    played, _ = play(song, count_fd)
    np.testing.assert_array_equal(played, alone)
    data = bytearray(os.pread(count_fd, os.fstat(count_fd).st_size, 0))
    data[len(data) // 2] ^= 0xFF
    os.pwrite(count_fd, bytes(data), 0)
    played, again = play(song, count_fd)
    np.testing.assert_array_equal(played, alone)
    assert again.header.source_frames == stream.header.source_frames


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 1 << 40))
def test_whatever_a_count_file_holds_reading_it_never_raises(data: bytes,
                                                             file_bytes: int) -> None:
    fd = new_count_file()
    try:
        os.write(fd, data)
        count = PacketCount.read(fd, file_bytes)
    finally:
        os.close(fd)
    assert count is None or count.file_bytes == file_bytes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=50), st.booleans())
def test_a_count_reads_back_as_written_if_it_can_be_one(places: list[int],
                                                        cut_short: bool) -> None:
    place_bytes = np.array(places, np.int64)
    count = PacketCount(10_001, 12345, cut_short, place_bytes, np.arange(len(places)) * 1152)
    fd = new_count_file()
    try:
        count.write(fd)
        read = PacketCount.read(fd, 10_001)
    finally:
        os.close(fd)
    if np.all(place_bytes[1:] > place_bytes[:-1]):
        assert read is not None
        assert (read.frames, read.cut_short) == (12345, cut_short)
        np.testing.assert_array_equal(read.place_bytes, place_bytes)
        np.testing.assert_array_equal(read.place_frames, count.place_frames)
    else:
        assert read is None, "places that do not rise are no count"
