"""What a decoder learnt by counting a song's packets, kept for the next decoder of it.

A song FFmpeg decodes is counted when it is opened (:class:`~stagebox.audio.sources.FFmpegSource`):
its true length, whether it is cut short, and for an MP3 where each packet starts, which
is how a start deep in it is exact. For a 10-minute MP3 that is 23,000 packets, about
80 ms on the development VM and several times that on a Pi, and every key or speed
change starts a new decoder of the same song. So the loader keeps one count file per
song it holds (a memory file, :func:`new_count_file`), every decoder of the song gets it,
the first one writes its count there, and the later ones read it instead of counting.

The file is written by a decoder, which reads untrusted files, and read by another: a
reader takes it only if it is whole (its checksum), is of this song (the song's size),
and holds what a count can hold (places rising, inside the file); else it counts itself.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"SBCOUNT1"
_HEADER = struct.Struct("<8sQqBQ")
"""Magic, the song's bytes, its frames, cut short (0 or 1), the places that follow."""
_CHECKSUM = struct.Struct("<I")
MAX_PLACES = 1 << 22
"""More packets than any song has (a day of 48 kHz MP3 is 3.6 million): a bound on what
a reader allocates (64 MB)."""


@dataclass(frozen=True)
class PacketCount:
    """A song's count: its length, and where each packet starts, if known."""

    file_bytes: int
    """The song file's size: a count is only ever of one song."""
    frames: int
    cut_short: bool
    place_bytes: np.ndarray | None = None
    """Each packet's first byte in the file, rising (int64); None if not known."""
    place_frames: np.ndarray | None = None
    """The song frame each of those packets starts at (int64)."""

    @property
    def placed(self) -> bool:
        """True if the count says where each packet starts."""
        return self.place_bytes is not None and self.place_frames is not None

    def packet_before(self, frame: int) -> tuple[int, int] | None:
        """The first byte and song frame of the last packet that starts at or before song
        frame ``frame`` (after the first: one the priming is dropped from is no place to
        start), or None."""
        if self.place_bytes is None or self.place_frames is None:
            return None
        at = int(np.searchsorted(self.place_frames, frame, side="right")) - 1
        return (int(self.place_bytes[at]), int(self.place_frames[at])) if at >= 1 else None

    def write(self, fd: int) -> None:
        """Write the count to the count file ``fd``, from its start."""
        places = self.place_bytes if self.place_bytes is not None else np.zeros(0, np.int64)
        frames = self.place_frames if self.place_frames is not None \
            else np.zeros(0, np.int64)
        body = b"".join((_HEADER.pack(MAGIC, self.file_bytes, self.frames,
                                      int(self.cut_short), len(places)),
                         places.astype("<i8").tobytes(), frames.astype("<i8").tobytes()))
        data = body + _CHECKSUM.pack(zlib.crc32(body))
        os.ftruncate(fd, len(data))
        os.pwrite(fd, data, 0)

    @classmethod
    def read(cls, fd: int, file_bytes: int) -> PacketCount | None:
        """The count in the count file ``fd`` if it is a whole count of a song of
        ``file_bytes`` bytes; else None."""
        try:
            size = os.fstat(fd).st_size
            if size < _HEADER.size + _CHECKSUM.size:
                return None
            header = os.pread(fd, _HEADER.size, 0)
            magic, of_bytes, frames, cut_short, count = _HEADER.unpack(header)
            if magic != MAGIC or of_bytes != file_bytes or count > MAX_PLACES \
                    or size != _HEADER.size + 16 * count + _CHECKSUM.size:
                return None
            data = os.pread(fd, size, 0)
        except (OSError, struct.error):
            return None
        body, (checksum,) = data[:-_CHECKSUM.size], _CHECKSUM.unpack(data[-_CHECKSUM.size:])
        if len(data) != size or zlib.crc32(body) != checksum or frames < 0 \
                or cut_short not in (0, 1):
            return None
        if not count:
            return cls(file_bytes, frames, bool(cut_short))
        places = np.frombuffer(body, "<i8", count, _HEADER.size).astype(np.int64)
        starts = np.frombuffer(body, "<i8", count, _HEADER.size + 8 * count).astype(np.int64)
        if places[0] < 0 or places[-1] >= file_bytes or np.any(places[1:] <= places[:-1]) \
                or np.any(starts[1:] < starts[:-1]):
            return None
        return cls(file_bytes, frames, bool(cut_short), places, starts)


def new_count_file() -> int:
    """A new, empty count file (a memory file, closed on exec): the caller owns it."""
    return os.memfd_create("stagebox-count", os.MFD_CLOEXEC)
