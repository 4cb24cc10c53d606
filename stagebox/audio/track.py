"""One song being decoded ahead of playback: the parent side of the decoder process.

:class:`TrackStream` starts :mod:`stagebox.audio.decode_worker` on a song's memory file
(forked by the :class:`~stagebox.audio.launcher.DecoderLauncher` if it is given one, else
as a command of its own) and runs a feeder thread that moves the decoded frames from the
pipe into a ring buffer, from which the output thread takes them with :meth:`TrackStream.read`.

The ring has one producer (the feeder) and one consumer (the output thread) and no lock.
Each side owns one counter and only reads the other's: the feeder's ``_written_frames``
and the reader's ``_read_frames`` are ever-growing frame counts (their difference is what
is waiting; the position in the ring is the count modulo its size). Rebinding an attribute
to a new int is atomic under the GIL, and the feeder stores the frames before it publishes
the count that covers them, so the reader never sees a count ahead of its data. (A
free-threaded Python would need explicit ordering here.) When the ring is full the feeder
stops reading the pipe, the pipe fills, and the decoder blocks in its write: decoding never
runs further ahead than the ring and the pipe hold.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import subprocess
import threading
import time
from dataclasses import dataclass

import numpy as np

from stagebox.audio.launcher import DecoderLauncher, DecoderProcess, spawn_decoder

BYTES_PER_FRAME = 8
"""Two float32 samples."""
MIN_RING_FRAMES = 8192
HEADER_MAX_BYTES = 4096
STDERR_TAIL_BYTES = 2048
ROOM_POLL_S = 0.01
"""The shortest the feeder waits for room in a full ring (the reader never signals it in
real time: an Event takes a lock, and the output thread takes none)."""
MAX_ROOM_WAIT_S = 0.25
PIPE_POLL_S = 0.25
"""The longest the feeder waits on the pipe before it checks whether it was closed."""
REAP_TIMEOUT_S = 2.0
PIPE_BYTES = 1 << 20
"""The decoder's pipe, enlarged from the kernel's 64 KiB: each time it fills, the decoder
and the feeder hand over (two context switches and a short read); at 1 MiB that happens
a sixteenth as often, which measurably cut the CPU of playing a song. The default
``fs.pipe-max-size`` allows it."""


@dataclass(frozen=True)
class TrackInfo:
    """What the decoder found in the file (its header line)."""

    format: str
    """libsndfile's name for the container: ``"FLAC"``, ``"MP3"``, ``"WAV"``..."""
    source_rate: int
    source_channels: int
    source_frames: int
    frames: int
    """The whole song's length at the output rate."""
    start_frames: int
    """Where this stream starts in the song, at the output rate."""


class TrackStream:
    """A song decoding in a child process into a ring of stereo float32 frames.

    Made by :meth:`open`. :meth:`read` and :attr:`finished` belong to the output thread
    (or the simulator's); :meth:`close` to the main loop; the rest may be read from any
    thread.
    """

    def __init__(self, process: DecoderProcess, out_rate: int, start_s: float,
                 ring_frames: int, wait_for_data: bool, stall_timeout_s: float,
                 start_timeout_s: float) -> None:
        self.out_rate = out_rate
        self._process = process
        self._start_s = start_s
        self._wait_for_data = wait_for_data
        self._stall_timeout_s = stall_timeout_s
        self._start_timeout_s = start_timeout_s
        self._ring = np.zeros((ring_frames, 2), np.float32)
        self._ring_frames = ring_frames
        self._ring_bytes = self._ring.reshape(-1).view(np.uint8).data
        self._written_bytes = 0
        """The feeder's own count: it may end inside a frame the pipe has not finished."""
        self._written_frames = 0
        self._read_frames = 0
        self._ended = False
        self._closing = False
        self._header: TrackInfo | None = None
        self._error: str | None = None
        self._stderr_tail = b""
        self._stderr_open = True
        self._ready = threading.Event()
        self._data_arrived = threading.Event()
        self._room_made = threading.Event()
        self._feeder = threading.Thread(target=self._feed, name="track-feeder", daemon=True)

    @classmethod
    def open(cls, fd: int, out_rate: int, start_s: float = 0.0, ring_s: float = 4.0,
             wait_for_data: bool = False, stall_timeout_s: float = 5.0,
             start_timeout_s: float = 10.0,
             launcher: DecoderLauncher | None = None) -> TrackStream:
        """Start decoding the memory file ``fd`` at ``start_s`` seconds, to ``out_rate`` Hz.

        The caller keeps ``fd`` (the decoder gets its own copy) and may close it as soon as
        this returns. ``ring_s`` is how far decoding runs ahead of playback. With
        ``wait_for_data`` (the simulator), :meth:`read` waits for the decoder instead of
        coming back short, so the output is the same on every run. The decoder is killed
        when it sends nothing for ``stall_timeout_s`` while there is room for its frames,
        or for ``start_timeout_s`` before its header (a cold start on a small Pi is slow).
        With a ``launcher`` the decoder is forked from it, else started as a new
        interpreter. Raises OSError if the process cannot be started. Called from the
        loader's thread.
        """
        ring_frames = max(MIN_RING_FRAMES, round(ring_s * out_rate))
        process = (launcher.launch(fd, out_rate, start_s) if launcher is not None
                   else spawn_decoder(fd, out_rate, start_s))
        if process.stdout is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        stream = cls(process, out_rate, start_s, ring_frames, wait_for_data, stall_timeout_s,
                     start_timeout_s)
        stream._feeder.start()
        return stream

    # --- output thread side --------------------------------------------------------------

    def read(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` frames into ``out`` (shape ``(n, 2)``, float32).

        Returns how many were copied. 0 means none are ready yet, or, if :attr:`finished`,
        none ever will be. Never blocks and allocates no sample buffer (two slice copies
        at most), unless the stream was opened with ``wait_for_data``: then it waits until
        it can fill ``out`` or the song has ended. Called from the output thread only.
        """
        wanted = len(out)
        if self._wait_for_data:
            self._wait_for(min(wanted, self._ring_frames))
        read = self._read_frames
        count = min(wanted, self._written_frames - read)
        if count <= 0:
            return 0
        start = read % self._ring_frames
        first = min(count, self._ring_frames - start)
        out[:first] = self._ring[start:start + first]
        if count > first:
            out[first:count] = self._ring[:count - first]
        self._read_frames = read + count
        if self._wait_for_data:
            self._room_made.set()
        return count

    @property
    def finished(self) -> bool:
        """True when every frame the ended decoder sent has been read, or after :meth:`close`."""
        return self._closing or (self._ended and self._read_frames == self._written_frames)

    def _wait_for(self, frames: int) -> None:
        while not self._ended and self._written_frames - self._read_frames < frames:
            self._data_arrived.clear()
            if self._ended or self._written_frames - self._read_frames >= frames:
                return
            self._data_arrived.wait(PIPE_POLL_S)

    # --- any thread ----------------------------------------------------------------------

    @property
    def header(self) -> TrackInfo | None:
        """What the decoder found, once its header has arrived."""
        return self._header

    @property
    def ready(self) -> bool:
        """True once the header has arrived or the decoder has failed."""
        return self._ready.is_set()

    @property
    def error(self) -> str | None:
        """Why the song could not start or ended early, for the user; None if all is well."""
        return self._error

    @property
    def duration_s(self) -> float | None:
        """The whole song's length, once the header has arrived."""
        return None if self._header is None else self._header.frames / self.out_rate

    @property
    def buffered_frames(self) -> int:
        """Frames decoded and waiting in the ring: how far decoding is ahead of playback."""
        return self._written_frames - self._read_frames

    @property
    def ring_frames(self) -> int:
        """The ring's capacity: decoding never runs further ahead than this (plus the pipe)."""
        return self._ring_frames

    @property
    def decoder_pid(self) -> int:
        """The decoder process's id, for logs and diagnostics."""
        return self._process.pid

    @property
    def position_frames(self) -> int:
        """Where playback is in the song, at the output rate: the start plus frames read."""
        start = (self._header.start_frames if self._header is not None
                 else round(self._start_s * self.out_rate))
        return start + self._read_frames

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the header or a failure; return :attr:`ready`.

        For the loader, the simulator and tests; never the output thread.
        """
        return self._ready.wait(timeout_s)

    # --- main loop side ------------------------------------------------------------------

    def close(self) -> None:
        """Stop the decoder and reap it. Safe to call twice. Main loop only.

        Takes at most a few milliseconds: the decoder is killed, not asked.
        """
        self._closing = True
        self._room_made.set()
        if self._process.poll() is None:
            self._process.kill()
        # The feeder reaps the decoder on its way out. If the decoder is stuck in the
        # kernel past the timeout, the feeder (a daemon thread) waits for it alone.
        self._feeder.join(REAP_TIMEOUT_S)

    # --- feeder thread -------------------------------------------------------------------

    def _feed(self) -> None:
        stdout = self._process.stdout
        stderr = self._process.stderr
        assert stdout is not None and stderr is not None
        poller = select.poll()
        poller.register(stdout.fileno(), select.POLLIN)
        poller.register(stderr.fileno(), select.POLLIN)
        try:
            if self._read_header(poller, stdout.fileno(), stderr.fileno()):
                self._pump(poller, stdout.fileno(), stderr.fileno())
        except OSError as exc:
            self._fail(f"decoder pipe error: {exc.strerror}")
        finally:
            poller.unregister(stdout.fileno())
            self._finish(poller, stderr.fileno())
            stdout.close()
            stderr.close()

    def _read_header(self, poller: select.poll, stdout: int, stderr: int) -> bool:
        """Read and check the header line; keep any frames that came with it."""
        received = b""
        while b"\n" not in received:
            if len(received) > HEADER_MAX_BYTES:
                self._fail("decoder sent garbage")
                return False
            if not self._wait_readable(poller, stdout, stderr, self._start_timeout_s):
                return False
            chunk = os.read(stdout, HEADER_MAX_BYTES)
            if not chunk:
                return False
            received += chunk
        line, _, frames = received.partition(b"\n")
        try:
            message = json.loads(line)
            if not message["ok"]:
                self._error = str(message["error"]) or "decoder failed"
                return False
            self._header = TrackInfo(
                format=str(message["format"]),
                source_rate=int(message["source_rate"]),
                source_channels=int(message["source_channels"]),
                source_frames=int(message["source_frames"]),
                frames=int(message["frames"]),
                start_frames=int(message["start_frames"]),
            )
        except (ValueError, KeyError, TypeError):
            self._fail("decoder sent garbage")
            return False
        self._ring_bytes[:len(frames)] = frames
        self._written_bytes = len(frames)
        self._written_frames = len(frames) // BYTES_PER_FRAME
        self._ready.set()
        return True

    def _pump(self, poller: select.poll, stdout: int, stderr: int) -> None:
        """Move frames from the pipe into the ring until the decoder ends or we close."""
        ring_bytes = self._ring_frames * BYTES_PER_FRAME
        # Refill in large gulps: waking for every block the output thread takes would
        # cost a wake-up and a small read each 20 ms; a quarter of the ring keeps the
        # decoder three quarters of the ring (3 s by default) ahead. A reader that waits
        # for data (the simulator) may want the whole ring: then any room is refilled.
        refill_bytes = BYTES_PER_FRAME if self._wait_for_data else ring_bytes // 4
        bytes_per_s = self.out_rate * BYTES_PER_FRAME
        while not self._closing:
            room = ring_bytes - (self._written_bytes - self._read_frames * BYTES_PER_FRAME)
            if room < refill_bytes:
                wait_s = min(MAX_ROOM_WAIT_S, max(ROOM_POLL_S, (refill_bytes - room) / bytes_per_s))
                self._room_made.wait(wait_s)
                self._room_made.clear()
                continue
            if not self._wait_readable(poller, stdout, stderr, self._stall_timeout_s):
                return
            at = self._written_bytes % ring_bytes
            received = os.readv(stdout, [self._ring_bytes[at:at + min(room, ring_bytes - at)]])
            if received == 0:
                return
            self._written_bytes += received
            self._written_frames = self._written_bytes // BYTES_PER_FRAME
            self._data_arrived.set()

    def _wait_readable(self, poller: select.poll, stdout: int, stderr: int,
                       timeout_s: float) -> bool:
        """Wait for bytes (or the end) on stdout, collecting stderr meanwhile.

        False if we are closing, or the decoder sent nothing for ``timeout_s`` (it is
        then killed as stalled).
        """
        deadline = time.monotonic() + timeout_s
        while not self._closing:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                self._fail("decoder stalled")
                return False
            for fd, _ in poller.poll(min(remaining_s, PIPE_POLL_S) * 1000):
                if fd == stdout:
                    return True
                self._drain_stderr(poller, stderr)
        return False

    def _drain_stderr(self, poller: select.poll, stderr: int) -> None:
        """Keep the tail of what the decoder (and the libraries in it) said on stderr."""
        chunk = os.read(stderr, STDERR_TAIL_BYTES)
        if chunk:
            self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_TAIL_BYTES:]
        else:
            poller.unregister(stderr)
            self._stderr_open = False

    def _fail(self, message: str) -> None:
        """Give up on the decoder: remember why and kill it."""
        self._error = message
        if self._process.poll() is None:
            self._process.kill()

    def _finish(self, poller: select.poll, stderr: int) -> None:
        """Reap the decoder, say why it ended if it ended badly, and mark the stream ended."""
        try:
            returncode = self._process.wait(REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._fail("decoder did not stop")
            returncode = self._process.wait()
        # The decoder is gone, so its stderr ends now: read what is left of it.
        while self._stderr_open:
            self._drain_stderr(poller, stderr)
        if self._error is None and not self._closing:
            self._error = self._exit_message(returncode)
        # The error is set before the end is published: whoever sees `finished` sees why.
        self._ended = True
        self._ready.set()
        self._data_arrived.set()

    def _exit_message(self, returncode: int) -> str | None:
        if returncode < 0:
            return f"decoder crashed (signal {-returncode})"
        if returncode > 0:
            lines = self._stderr_tail.decode("utf-8", "replace").strip().splitlines()
            return lines[-1][:80] if lines else f"decoder failed (exit status {returncode})"
        if self._header is None:
            return "decoder sent no header"
        return None
