"""One song being decoded ahead of playback: the parent side of the decoder process.

:class:`TrackStream` starts :mod:`stagebox.audio.decode_worker` on a song's memory file
(forked by the :class:`~stagebox.audio.launcher.DecoderLauncher` if it is given one, else
as a command of its own). The decoder puts its frames straight into a ring in shared
memory (:mod:`stagebox.audio.ring`), from which the output thread takes them with
:meth:`TrackStream.read`. In real time a feeder thread reads the decoder's counts off its
pipe and tells it, now and then, how far playback has got; a reader that waits for data
(the simulator, ``stagebox play``) reads the counts itself, and tells the decoder after
every read.

The ring has one producer (the decoder) and one consumer (the output thread) and no lock.
Each side owns one counter and only reads the other's: ``_written_frames`` (the decoder's
latest count, as read off its pipe) and the reader's ``_read_frames`` are ever-growing
frame counts (their difference is what is waiting; the position in the ring is the count
modulo its size). Rebinding an attribute to a new int is atomic under the GIL, and a count
arrives through a pipe only after the frames it covers are in place, so the reader never
sees a count ahead of its data. The pipe has one reader at a time: the feeder until the
header has come, then the feeder in real time or the reader if it waits. The decoder fills
the ring only as far as the player has said it has read, then sleeps on the room pipe:
decoding never runs further ahead than the ring holds. In real time the output thread
itself makes no system call: the feeder passes its count on, a quarter of the ring at a
time.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from stagebox.audio import ring
from stagebox.audio.launcher import DecoderLauncher, DecoderProcess, spawn_decoder
from stagebox.audio.request import DecodeRequest, DecoderFiles
from stagebox.audio.ring import CountReceiver

MIN_RING_FRAMES = 8192
STREAM_CHANNELS = (2, 4)
"""A stream is the main bus, or the main and cue buses."""
HEADER_MAX_BYTES = 4096
STDERR_TAIL_BYTES = 2048
ROOM_POLL_S = 0.01
"""The shortest the feeder waits before it looks at how far the reader has got (the
reader never signals it in real time: that would be a system call or a lock on the
output thread)."""
MAX_ROOM_WAIT_S = 0.25
PIPE_POLL_S = 0.25
"""The longest the feeder waits on the pipe before it checks whether it was closed."""
REAP_TIMEOUT_S = 2.0
COUNTS_READ_BYTES = 4096
BATCH_FILL = 0.75
"""How full a reader that waits for data lets the ring get, once it has run dry, before it
reads on. The decoder and the reader then each work in long stretches instead of taking
turns every block: work done just after a sleep runs slower (on the README's VM, a
65,536-frame block cost 490 µs after a 3 ms sleep, 190 µs straight after the one
before). With ``stagebox play``'s 30-second ring and the decoder's counts a quarter ring
apart, the player's CPU for 10 minutes of music fell from about 510 to 390 ms."""


@dataclass(frozen=True)
class TrackInfo:
    """What the decoder found in the file (its header line)."""

    format: str
    """The container or codec: ``"WAV"``, ``"FLAC"``, ``"OGG"`` (Vorbis), ``"AIFF"``
    (libsndfile's names), ``"MP3"``, ``"AAC"``, ``"ALAC"``, ``"OPUS"``, ``"WMA"``,
    ``"WAVPACK"``, ``"APE"``..."""
    source_rate: int
    source_channels: int
    source_frames: int
    frames: int
    """The whole song's length at the output rate."""
    start_frames: int
    """Where this stream starts in the song, at the output rate."""
    loop_frames: tuple[int, int] | None = None
    """The song frames the decoder plays over and over once it gets there, if any."""
    channels: int = 2
    """The stream's width: 2 (the main bus) or 4 (the main and cue buses)."""
    guide_error: str | None = None
    """Why the request's guide track does not play (the song plays on without it)."""


class TrackStream:
    """A song decoding in a child process into a ring of stereo float32 frames.

    Made by :meth:`open`. :meth:`read` and :attr:`finished` belong to the output thread
    (or the simulator's); :meth:`close` to the main loop; the rest may be read from any
    thread.
    """

    def __init__(self, process: DecoderProcess, frames: np.ndarray, room_fd: int,
                 request: DecodeRequest, wait_for_data: bool, stall_timeout_s: float,
                 start_timeout_s: float) -> None:
        self.request = request
        """What the decoder was asked to do."""
        self.out_rate = request.out_rate
        self._process = process
        self._wait_for_data = wait_for_data
        self._stall_timeout_s = stall_timeout_s
        self._start_timeout_s = start_timeout_s
        self._ring = frames
        self._ring_frames = len(frames)
        self._room_fd = room_fd
        # Closed only when nothing can write to it any more: a reader that waits for data
        # sends its count from its own thread, and a descriptor closed under it could be
        # reused by another file before the write.
        weakref.finalize(self, os.close, room_fd)
        if wait_for_data:
            # Likewise the counts pipe, which that reader reads from its own thread.
            assert process.stdout is not None
            weakref.finalize(self, process.stdout.close)
        self._counts = CountReceiver()
        self._written_frames = 0
        self._read_frames = 0
        self._ended = False
        self._closing = False
        self._header: TrackInfo | None = None
        self._error: str | None = None
        self._stderr_tail = b""
        self._stderr_open = True
        self._ready = threading.Event()
        self._ended_event = threading.Event()
        self._counts_ended = False
        """The reader that waits has read the end of the counts (or given up on them)."""
        self._feeder = threading.Thread(target=self._feed, name="track-feeder", daemon=True)

    @classmethod
    def open(cls, fd: int, request: DecodeRequest, ring_s: float = 4.0,
             wait_for_data: bool = False, stall_timeout_s: float = 5.0,
             start_timeout_s: float = 10.0,
             launcher: DecoderLauncher | None = None,
             guide_fd: int | None = None, count_fd: int | None = None) -> TrackStream:
        """Start decoding the memory file ``fd`` as ``request`` says (with the guide
        track's memory file ``guide_fd``, for a request with ``guide``, and the song's
        count file ``count_fd``, :mod:`~stagebox.audio.packet_count`).

        The caller keeps the descriptors (the decoder gets its own copies) and may
        close them as soon as this returns. ``ring_s`` is how far decoding runs ahead of
        playback. With ``wait_for_data`` (the simulator), :meth:`read` waits for the decoder
        instead of coming back short, so the output is the same on every run. The decoder is killed
        when it sends nothing for ``stall_timeout_s`` while there is room for its frames,
        or for ``start_timeout_s`` before its header (a cold start on a small Pi is slow).
        With a ``launcher`` the decoder is forked from it, else started as a new
        interpreter. Raises OSError if the process cannot be started. Called from the
        loader's thread.
        """
        ring_fd, frames = ring.create(max(MIN_RING_FRAMES,
                                          round(ring_s * request.out_rate)))
        try:
            room_read, room_write = os.pipe()
            files = DecoderFiles(fd, ring_fd, room_read, guide_fd, count_fd)
            try:
                process = (launcher.launch(request, files) if launcher is not None
                           else spawn_decoder(request, files))
            except BaseException:
                os.close(room_write)
                raise
            finally:
                os.close(room_read)
        finally:
            os.close(ring_fd)
        os.set_blocking(room_write, False)
        stream = cls(process, frames, room_write, request, wait_for_data, stall_timeout_s,
                     start_timeout_s)
        stream._feeder.start()
        return stream

    # --- output thread side --------------------------------------------------------------

    def read(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` frames into ``out`` (shape ``(n, channels)``, float32).

        Returns how many were copied. 0 means none are ready yet, or, if :attr:`finished`,
        none ever will be. Never blocks and allocates no sample buffer (two slice copies
        at most), unless the stream was opened with ``wait_for_data``: then it waits until
        it can fill ``out`` or the song has ended (and, once the song is under way and it
        has had to wait, until the ring is :data:`BATCH_FILL` full). Called from the
        output thread only.
        """
        wanted = len(out)
        if self._wait_for_data and self._written_frames - self._read_frames < wanted:
            self._wait_for(wanted)
        read = self._read_frames
        count = min(wanted, self._written_frames - read)
        if count <= 0:
            return 0
        ring.take(self._ring, read, out[:count])
        self._read_frames = read + count
        if self._wait_for_data:
            ring.send_count(self._room_fd, self._read_frames)
        return count

    @property
    def finished(self) -> bool:
        """True when every frame the ended decoder sent has been read, or after :meth:`close`."""
        # A reader that waits reads the counts itself: the decoder may be gone before the
        # reader has read its last ones.
        counts_read = self._counts_ended or not self._wait_for_data
        return self._closing or (self._ended and counts_read
                                 and self._read_frames == self._written_frames)

    def _wait_for(self, wanted: int) -> None:
        """Read the decoder's counts until a batch of frames is waiting, or ``wanted`` (or
        a ring full) and the decoder has gone quiet for a poll, or the song has ended."""
        while not (self._ready.is_set() or self._closing):
            self._ready.wait(PIPE_POLL_S)
        # The ring's size in frames is known once the header has said the stream's width.
        needed = min(wanted, self._ring_frames)
        # A song's first frames come as soon as they are there: a device that runs on
        # between songs (``stagebox play`` on an interface) is not kept waiting.
        batch = (max(needed, int(self._ring_frames * BATCH_FILL)) if self._read_frames
                 else needed)
        assert self._process.stdout is not None
        counts = self._process.stdout.fileno()
        heard_s = time.monotonic()
        while not (self._counts_ended or self._closing) \
                and self._written_frames - self._read_frames < batch:
            readable, _, _ = select.select([counts], [], [], PIPE_POLL_S)
            if readable:
                received = os.read(counts, COUNTS_READ_BYTES)
                self._counts_ended = not received or not self._take_counts(received)
                heard_s = time.monotonic()
            elif self._written_frames - self._read_frames >= needed:
                # A decoder slower than a poll per count: take what there is.
                break
            elif time.monotonic() - heard_s >= self._stall_timeout_s:
                # We wait, so the ring has room: the decoder owes us frames.
                self._fail("decoder stalled")
                self._counts_ended = True
            else:
                # Told again after a quiet while: the count :meth:`read` sent is dropped
                # if the room pipe was full (many small reads while the decoder was
                # busy), and a decoder that believes the ring is full would wait for us
                # as we wait for it.
                ring.send_count(self._room_fd, self._read_frames)
        if self._counts_ended:
            # The feeder reaps the decoder and says why it ended.
            while not (self._ended or self._closing):
                self._ended_event.wait(PIPE_POLL_S)

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
        """Why the song could not start, or, once it has :attr:`finished`, why it ended
        early; for the user. None if all is well (so far).

        A song that ends early (cut short, damaged) still plays what it has: the loader,
        seeing no error once the header is in, lets it play even if its decoder has
        already reached the early end.
        """
        return self._error if self._header is None or self.finished else None

    @property
    def duration_s(self) -> float | None:
        """The whole song's length, once the header has arrived.

        A song whose decoder ended early (cut short, damaged) is as long as the song the
        frames it really sent hold (at a slower speed, fewer than were sent), known once
        they are all counted: up to a ring ahead of playback, so the screen's remaining
        time is put right before the song reaches its early end.
        """
        header = self._header
        if header is None:
            return None
        frames = header.frames
        counts_read = self._counts_ended or not self._wait_for_data
        if self._ended and self._error is not None and counts_read:
            song_frames = round(self._written_frames * self.request.speed)
            frames = min(frames, header.start_frames + song_frames)
        return frames / self.out_rate

    @property
    def buffered_frames(self) -> int:
        """Frames decoded and waiting in the ring: how far decoding is ahead of playback
        (for a reader that waits for data, as of its last read)."""
        return self._written_frames - self._read_frames

    @property
    def channels(self) -> int:
        """The stream's width (2 until the header has said otherwise): what :meth:`read`
        fills."""
        return self._header.channels if self._header is not None else 2

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
                 else round(self.request.start_s * self.out_rate))
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
            header_read = self._read_header(poller, stdout.fileno(), stderr.fileno())
            if header_read and self._wait_for_data:
                poller.unregister(stdout.fileno())
                self._collect_stderr(poller, stderr.fileno())
            elif header_read:
                self._pump(poller, stdout.fileno(), stderr.fileno())
        except OSError as exc:
            self._fail(f"decoder pipe error: {exc.strerror}")
        finally:
            self._finish(poller, stderr.fileno())
            if not self._wait_for_data:
                stdout.close()
            stderr.close()

    def _read_header(self, poller: select.poll, stdout: int, stderr: int) -> bool:
        """Read and check the header line; keep any counts that came with it."""
        received = b""
        while b"\n" not in received:
            if len(received) > HEADER_MAX_BYTES:
                self._fail("decoder sent garbage")
                return False
            if not self._wait_readable(poller, stdout, stderr, self._start_timeout_s):
                if not self._closing:
                    self._fail("decoder stalled")
                return False
            chunk = os.read(stdout, HEADER_MAX_BYTES)
            if not chunk:
                return False
            received += chunk
        line, _, counts = received.partition(b"\n")
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
                loop_frames=_section(message.get("loop_frames")),
                channels=int(message.get("channels", 2)),
                guide_error=_short_text(message.get("guide_error")),
            )
            if self._header.channels not in STREAM_CHANNELS[:1 + self.request.cue_bus]:
                raise ValueError(f"a stream of {self._header.channels} channels")
        except (ValueError, KeyError, TypeError):
            self._header = None
            self._fail("decoder sent garbage")
            return False
        if self._header.channels != self._ring.shape[1]:
            # The same memory, in frames of the stream's width; the output thread reads
            # the ring only once the header is published.
            self._ring = self._ring.reshape(-1, self._header.channels)
            self._ring_frames = len(self._ring)
        # Before the header is published: from then on a reader that waits reads the
        # counts itself.
        counts_good = self._take_counts(counts)
        self._ready.set()
        return counts_good

    def _pump(self, poller: select.poll, stdout: int, stderr: int) -> None:
        """Pass counts between the decoder and a real-time reader until the decoder ends
        or we close."""
        # The decoder is told in large gulps: telling it of every block the output thread
        # takes would cost it a wake-up and a short decode each 20 ms; a quarter of the
        # ring keeps it three quarters of the ring (3 s by default) ahead.
        refill_frames = self._ring_frames // 4
        told_frames = 0  # the read count the decoder was last sent
        stalling_since_s: float | None = None
        while not self._closing:
            if self._read_frames - told_frames >= refill_frames:
                told_frames = self._read_frames
                ring.send_count(self._room_fd, told_frames)
            now_s = time.monotonic()
            if self._written_frames - told_frames < self._ring_frames:
                # The decoder has room, so it owes us frames.
                stalling_since_s = stalling_since_s or now_s
                timeout_s = stalling_since_s + self._stall_timeout_s - now_s
                if timeout_s <= 0:
                    self._fail("decoder stalled")
                    return
            else:
                stalling_since_s = None
                unread_frames = refill_frames - (self._read_frames - told_frames)
                timeout_s = min(MAX_ROOM_WAIT_S,
                                max(ROOM_POLL_S, unread_frames / self.out_rate))
            if not self._wait_readable(poller, stdout, stderr, timeout_s):
                continue
            received = os.read(stdout, COUNTS_READ_BYTES)
            if not received or not self._take_counts(received):
                return
            stalling_since_s = None

    def _take_counts(self, received: bytes) -> bool:
        """Publish the newest count in ``received``; False (and the decoder killed) if it
        is one no honest decoder sends."""
        count = self._counts.latest(received)
        if count is None:
            return True
        if not self._written_frames <= count <= self._read_frames + self._ring_frames:
            self._fail("decoder sent garbage")
            return False
        self._written_frames = count
        return True

    def _wait_readable(self, poller: select.poll, stdout: int, stderr: int,
                       timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for bytes (or the end) on stdout, collecting stderr
        meanwhile. False if the time ran out or we are closing."""
        deadline = time.monotonic() + timeout_s
        while not self._closing:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False
            for fd, _ in poller.poll(min(remaining_s, PIPE_POLL_S) * 1000):
                if fd == stdout:
                    return True
                self._drain_stderr(poller, stderr)
        return False

    def _collect_stderr(self, poller: select.poll, stderr: int) -> None:
        """While a reader that waits reads the counts: keep what the decoder says on
        stderr until it ends (its stderr ends with it) or we close."""
        while self._stderr_open and not self._closing:
            if poller.poll(PIPE_POLL_S * 1000):
                self._drain_stderr(poller, stderr)

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
        self._ended_event.set()

    def _exit_message(self, returncode: int) -> str | None:
        if returncode < 0:
            return f"decoder crashed (signal {-returncode})"
        if returncode > 0:
            lines = self._stderr_tail.decode("utf-8", "replace").strip().splitlines()
            return lines[-1][:80] if lines else f"decoder failed (exit status {returncode})"
        if self._header is None:
            return "decoder sent no header"
        return None


def _section(value: object) -> tuple[int, int] | None:
    """A header's ``loop_frames``: None, or two frame counts, the second the greater."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2
            and all(type(frame) is int and frame >= 0 for frame in value)
            and value[0] < value[1]):
        raise ValueError(f"loop_frames {value!r}")
    return value[0], value[1]


GUIDE_ERROR_MAX_CHARS = 120


def _short_text(value: object) -> str | None:
    """A header's ``guide_error``: None, or a short message (the decoder reads an
    untrusted file, so a longer one is cut)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"guide_error {value!r}")
    return value[:GUIDE_ERROR_MAX_CHARS]
