"""The ring of decoded frames that a decoder process fills and the player empties.

The frames live in a memory file that both processes map, so they cross between them
without being copied through the kernel. Only counts travel by pipe: the decoder sends
the running total of frames it has put in the ring, and the player sends back the total
it has taken out (each as one 8-byte little-endian record, which a pipe moves whole).
The decoder never writes over frames the player has not yet taken, and it sends its
count only after the frames it covers are in place. A pipe's write and read order
memory like a lock's release and acquire, so the frames are visible before the count,
on any CPU (an ARM core may reorder plain stores that a lock-free flag would rely on).

The ring's size is sealed before the decoder gets it: a decoder taken over by a hostile
file cannot shrink the file under the player's mapping, where a read would kill the
player with SIGBUS.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct

import numpy as np

BYTES_PER_FRAME = 8
"""Two float32 samples: a ring is sized in stereo frames. A stream of four channels (main
and cue buses) maps the same ring as half as many frames."""
SAMPLE_BYTES = 4
COUNT = struct.Struct("<q")
"""One running count: the records on both count pipes."""
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


def create(frames: int) -> tuple[int, np.ndarray]:
    """A new ring of ``frames`` stereo float32 frames (rounded up to even, so that it holds
    whole four-channel frames too): its memory file and its frames.

    The caller passes the descriptor to the decoder and then closes it; the mapping
    stays until the array is dropped.
    """
    fd = os.memfd_create("stagebox-ring", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, (frames + frames % 2) * BYTES_PER_FRAME)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        return fd, attach(fd)
    except BaseException:
        os.close(fd)
        raise


def attach(fd: int, channels: int = 2) -> np.ndarray:
    """Map the ring in the memory file ``fd`` as an ``(n, channels)`` float32 array."""
    size = os.fstat(fd).st_size
    frame_bytes = channels * SAMPLE_BYTES
    if size < frame_bytes or size % frame_bytes:
        raise ValueError(f"not a ring of {channels} channels: {size} bytes")
    return np.frombuffer(mmap.mmap(fd, size), np.float32).reshape(-1, channels)


def put(ring: np.ndarray, position: int, frames: np.ndarray) -> None:
    """Copy ``frames`` into ``ring`` from the running frame count ``position`` on (its
    place is the count modulo the ring's size), wrapping round at the ring's end."""
    at = position % len(ring)
    first = min(len(frames), len(ring) - at)
    ring[at:at + first] = frames[:first]
    if len(frames) > first:
        ring[:len(frames) - first] = frames[first:]


def take(ring: np.ndarray, position: int, out: np.ndarray) -> None:
    """Fill ``out`` from ``ring`` from the running frame count ``position`` on: the
    reverse of :func:`put`. Allocates nothing but two views (the output thread calls it)."""
    at = position % len(ring)
    first = min(len(out), len(ring) - at)
    out[:first] = ring[at:at + first]
    if len(out) > first:
        out[first:] = ring[:len(out) - first]


def send_count(fd: int, count: int) -> None:
    """Send ``count`` on the non-blocking pipe ``fd``, or nothing if it is full or closed.

    Counts are running totals, so a record that could not be sent is made good by the
    next one.
    """
    with contextlib.suppress(BlockingIOError, BrokenPipeError):
        os.write(fd, COUNT.pack(count))


class CountReceiver:
    """Whole count records out of the bytes read from a count pipe."""

    def __init__(self) -> None:
        self._pending = b""

    def latest(self, received: bytes) -> int | None:
        """Add ``received``; the newest whole count so far, None if none has come yet."""
        data = self._pending + received
        whole = len(data) - len(data) % COUNT.size
        self._pending = data[whole:]
        return COUNT.unpack_from(data, whole - COUNT.size)[0] if whole else None


class RingWriter:
    """The decoder's side: put frames in the ring, waiting for room, and say so.

    ``counts_fd`` carries the totals put in (to the player), ``room_fd`` the totals the
    player has taken out (a blocking read while the ring is full: the decoder sleeps
    until the player makes room, and ends if the player lets go of the song).

    The total is sent after every put until a quarter of the ring has been announced (a
    song's first frames go out at once), then once a quarter of the ring more has been
    put, and always before waiting for room and at :meth:`flush`: each count wakes the
    player, and with a deep ring, one a block is more than it needs.
    """

    def __init__(self, ring: np.ndarray, counts_fd: int, room_fd: int) -> None:
        self._ring = ring
        self._frames = len(ring)
        self._count_step = max(1, self._frames // 4)
        self._counts_fd = counts_fd
        self._room_fd = room_fd
        self._room = CountReceiver()
        self._written = 0
        self._sent = 0
        self._read = 0

    def put(self, frames: np.ndarray) -> None:
        """Copy ``frames`` (shape ``(n, channels)``) into the ring; raises BrokenPipeError if
        the player has gone."""
        while len(frames):
            room = self._frames - (self._written - self._read)
            if room <= 0:
                # The player must know of every frame in the ring, or it could wait for
                # frames held back while we wait for it.
                self.flush()
                self._wait_for_room()
                continue
            count = min(room, len(frames))
            put(self._ring, self._written, frames[:count])
            self._written += count
            frames = frames[count:]
        if self._sent < self._count_step or self._written - self._sent >= self._count_step:
            self.flush()

    def flush(self) -> None:
        """Send the total put so far, if the player has not been told it."""
        if self._written != self._sent:
            # A record is far below PIPE_BUF: a blocking write puts it in whole.
            os.write(self._counts_fd, COUNT.pack(self._written))
            self._sent = self._written

    def _wait_for_room(self) -> None:
        received = os.read(self._room_fd, 1 << 16)
        if not received:
            raise BrokenPipeError("the player closed the song")
        read = self._room.latest(received)
        if read is not None:
            self._read = max(self._read, min(read, self._written))
