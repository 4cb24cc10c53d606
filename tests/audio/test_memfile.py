"""Songs read whole into memory, and the files from a stick that are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stagebox.audio.memfile import NoRoomError, TrackLoadError, load_into_memory


def read_fd(fd: int) -> bytes:
    return os.pread(fd, os.fstat(fd).st_size + 1, 0)


def test_memory_file_holds_the_song_after_the_file_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    content = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(content)
    fd = load_into_memory(path, len(content))
    try:
        path.unlink()
        assert read_fd(fd) == content
    finally:
        os.close(fd)


def test_empty_file_loads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    fd = load_into_memory(path, 10)
    try:
        assert read_fd(fd) == b""
    finally:
        os.close(fd)


def sparse_file(path: Path, size_bytes: int) -> Path:
    """A file of ``size_bytes`` that takes no room on the disk."""
    with path.open("wb") as sparse:
        sparse.truncate(size_bytes)
    return path


@pytest.mark.parametrize(("size_bytes", "limit_bytes", "shown"), [
    (250_000_000, 200_000_000, "250 MB, limit 200 MB"),
    (612_000_001, 380_000_000, "613 MB, limit 380 MB"),
    (20_500_000, 20_000_000, "20.5 MB, limit 20.0 MB"),
    (1_000_001, 1_000_000, "1.1 MB, limit 1.0 MB"),
])
def test_a_refused_size_never_reads_as_its_limit(tmp_path: Path, size_bytes: int,
                                                 limit_bytes: int, shown: str) -> None:
    path = sparse_file(tmp_path / "big.wav", size_bytes)
    with pytest.raises(TrackLoadError) as refused:
        load_into_memory(path, limit_bytes)
    assert str(refused.value) == f"too big to hold in memory ({shown})"


def test_a_file_over_the_room_left_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = sparse_file(tmp_path / "second.wav", 3_000_000)
    with pytest.raises(NoRoomError,
                       match=r"^not enough memory for both \(3\.0 MB, 0\.8 MB free\)$"):
        load_into_memory(path, 400_000_000, room_bytes=800_000)
    fd = load_into_memory(path, 400_000_000, room_bytes=3_000_000)
    os.close(fd)


def test_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "song.wav"
    target.write_bytes(b"RIFF")
    link = tmp_path / "link.wav"
    link.symlink_to(target)
    with pytest.raises(TrackLoadError, match="link"):
        load_into_memory(link, 1000)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TrackLoadError, match=r"^file is missing$"):
        load_into_memory(tmp_path / "gone.mp3", 1000)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_only_regular_files_load(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "odd.wav"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)  # opening it must not wait for a writer
    with pytest.raises(TrackLoadError, match=r"^not a regular file$"):
        load_into_memory(path, 1000)
