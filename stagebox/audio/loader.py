"""Getting a song ready: into memory, decoder started, first frames waiting.

The loader reads the whole file into RAM (so a pulled stick cannot stop the song),
starts its decoder process (through the decoder launcher, if it has one) and waits for
the decoder's header, then posts
:class:`~stagebox.events.TrackReady` or :class:`~stagebox.events.TrackFailed`.

The songs held in RAM share one budget, a share of the board's memory (see
:func:`songs_budget_from_meminfo`): a song too big for it is refused with its size, and
a song that fits alone but not beside the one playing (the second of a ``then=next``
join) is refused as :attr:`~stagebox.events.TrackFailed.no_room`, to be loaded once that
one is let go.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.memfile import NoRoomError, TrackLoadError, load_into_memory
from stagebox.audio.packet_count import new_count_file
from stagebox.audio.request import DecodeRequest
from stagebox.audio.stretch import Engine
from stagebox.audio.track import TrackStream
from stagebox.events import TrackFailed, TrackReady
from stagebox.media.model import Song
from stagebox.workers import Worker

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0
MEMORY_SHARE = 0.5
"""The share of the memory available at start that songs held in RAM may take together.

A song's memory file is shared memory: with no swap (the read-only image has none) it
cannot be paged out, and when memory runs short the kernel kills the box. The other half
is for the box and its decoders (about 140 MB), the page cache that reading the stick
and the libraries need, and the read-only root's overlay, which keeps every write in
RAM. A 1 GB Pi 3 has about 750 MB available after boot: up to about 375 MB of songs,
so one 370 MB song plays, and two 300 MB songs of a ``then=next`` join are never held
at once."""


def songs_budget_from_meminfo(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """How many bytes of songs the box may hold in RAM at once: :data:`MEMORY_SHARE` of
    MemAvailable (MemTotal on a kernel without it), or None if ``meminfo`` cannot be read.

    Read once, at start, when the box's own memory is what it will stay.
    """
    try:
        text = meminfo.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    sizes_kib: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            sizes_kib[name] = int(words[0])
    available_kib = sizes_kib.get("MemAvailable", sizes_kib.get("MemTotal"))
    if available_kib is None:
        return None
    return int(available_kib * 1024 * MEMORY_SHARE)


def decode_request(song: Song, rate: int, start_s: float,
                   stretch_engine: Engine = "faster", cue_bus: bool = False,
                   guide: bool = False) -> DecodeRequest:
    """How ``song`` is to be decoded, from ``start_s``, at ``rate``; with ``cue_bus``,
    its cue channels too (the engine has a cue bus), and with ``guide`` its guide track."""
    loop = song.loop
    return DecodeRequest(rate, start_s, loop.start_s if loop else None,
                         loop.end_s if loop else None, song.key_semitones, song.speed,
                         stretch_engine, cue_bus, song.split, guide)


@dataclass(frozen=True)
class _Held:
    """A load's song in memory: a descriptor of the memory file, kept so that the song
    can be decoded anew from it, its size, and which load first read it (loads of one
    file share its memory)."""

    fd: int
    size_bytes: int
    """The song's bytes and its guide track's."""
    memory: int
    guide_fd: int | None = None
    count_fd: int | None = None
    """The song's count file, shared by the loads of it (:mod:`~stagebox.audio.packet_count`)."""


class Loader:
    """Loads songs on a worker and posts the outcome (main loop calls :meth:`load` and
    :meth:`release`).

    ``max_bytes`` is the largest file read into memory; ``budget_bytes``, if given, the
    most bytes of songs held at once. ``cue_bus``: each song's cue channels are decoded
    too (the engine has a cue bus to play them on), and its guide track (``cue=``) is read
    into memory with it; without a cue bus a guide is not read at all.
    """

    def __init__(self, *, rate: int, max_bytes: int, post: Callable[[object], None],
                 worker: Worker, wait_for_data: bool = False, ring_s: float = 4.0,
                 launcher: DecoderLauncher | None = None,
                 budget_bytes: int | None = None, stretch_engine: Engine = "faster",
                 cue_bus: bool = False) -> None:
        self.rate = rate
        self.max_bytes = max_bytes if budget_bytes is None else min(max_bytes, budget_bytes)
        self.budget_bytes = budget_bytes
        self._post = post
        self._worker = worker
        self._wait_for_data = wait_for_data
        self._ring_s = ring_s
        self._launcher = launcher
        self._stretch_engine: Engine = stretch_engine
        self._cue_bus = cue_bus
        self._lock = threading.Lock()
        """Guards the three below, shared by the main loop and the worker; held for a few
        dictionary operations, never by the output thread."""
        self._held: dict[int, _Held] = {}
        self._waiting: set[int] = set()
        self._let_go: set[int] = set()

    @property
    def held_bytes(self) -> int:
        """Bytes of the songs read into memory and not yet released (any thread)."""
        with self._lock:
            return self._held_bytes_locked()

    def _held_bytes_locked(self) -> int:
        # Loads of one file share its memory: counted once.
        return sum({held.memory: held.size_bytes for held in self._held.values()}.values())

    def load(self, load_id: int, song: Song, start_s: float = 0.0,
             same_file_as: int | None = None) -> None:
        """Start loading ``song``; the result arrives as an event.

        ``same_file_as``: a load of the same file still held (the song playing, to be
        decoded anew with other practice settings): its memory is shared, not read from
        the stick again, so the change works with the stick pulled and costs no memory.
        """
        with self._lock:
            self._waiting.add(load_id)
        self._worker.submit(lambda: self._load_and_post(load_id, song, start_s, same_file_as))

    def release(self, load_id: int) -> None:
        """The box has let go of this load: its memory leaves the budget (once no other
        load shares it), and a load still waiting for the worker is not done at all (main
        loop)."""
        with self._lock:
            held = self._held.pop(load_id, None)
            if load_id in self._waiting:
                self._waiting.discard(load_id)
                self._let_go.add(load_id)
        if held is not None:
            _close(held.fd, held.guide_fd, held.count_fd)

    def _load_and_post(self, load_id: int, song: Song, start_s: float,
                       same_file_as: int | None) -> None:
        with self._lock:
            if load_id in self._let_go:
                self._let_go.discard(load_id)
                return
            self._waiting.discard(load_id)
            room_bytes = (None if self.budget_bytes is None
                          else self.budget_bytes - self._held_bytes_locked())
            shared = self._held.get(same_file_as) if same_file_as is not None else None
            # Descriptors of its own, opened afresh (not a dup: that would share the file
            # offset with the other decoder), taken under the lock so no release closes them.
            fd = _reopen(shared.fd) if shared is not None else None
            guide_fd = (_reopen(shared.guide_fd)
                        if shared is not None and shared.guide_fd is not None else None)
            # The same file: what its first decoder counted, the next need not count again.
            count_fd = (os.dup(shared.count_fd)
                        if shared is not None and shared.count_fd is not None else None)
        self._post(self._load_now(load_id, song, start_s, room_bytes, fd, guide_fd, count_fd,
                                  shared.memory if shared is not None else load_id))

    def _load_now(self, load_id: int, song: Song, start_s: float, room_bytes: int | None,
                  fd: int | None, guide_fd: int | None, count_fd: int | None,
                  memory: int) -> TrackReady | TrackFailed:
        warning = None
        if fd is None:
            try:
                fd = load_into_memory(song.path, self.max_bytes, room_bytes)
            except NoRoomError as exc:
                return TrackFailed(load_id, str(exc), no_room=True)
            except TrackLoadError as exc:
                return TrackFailed(load_id, str(exc))
            if song.cue is not None and self._cue_bus:
                guide_fd, warning = self._load_guide(song.cue, fd, room_bytes)
        try:
            if count_fd is None:
                count_fd = new_count_file()
            size_bytes = sum(os.fstat(held).st_size for held in (fd, guide_fd)
                             if held is not None)
            request = decode_request(song, self.rate, start_s, self._stretch_engine,
                                     self._cue_bus, guide=guide_fd is not None)
            stream = TrackStream.open(fd, request, ring_s=self._ring_s,
                                      wait_for_data=self._wait_for_data,
                                      launcher=self._launcher, guide_fd=guide_fd,
                                      count_fd=count_fd)
        except OSError as exc:
            _close(fd, guide_fd, count_fd)
            return TrackFailed(load_id, f"decoder did not start: {exc.strerror}")
        if not stream.wait_ready(HEADER_TIMEOUT_S) or stream.error:
            _close(fd, guide_fd, count_fd)
            message = stream.error or "decoder did not answer"
            stream.close()
            return TrackFailed(load_id, message)
        with self._lock:
            self._held[load_id] = _Held(fd, size_bytes, memory, guide_fd, count_fd)
        log.info("loaded %s (%.1f s)", song.rel_path, stream.duration_s or 0.0)
        guide_error = stream.header.guide_error if stream.header is not None else None
        return TrackReady(load_id, stream.duration_s, stream, warning or guide_error)

    def _load_guide(self, path: Path, song_fd: int,
                    room_bytes: int | None) -> tuple[int | None, str | None]:
        """The song's guide track read into memory (counted with the song), or None and
        why it is left out: the song plays without it."""
        if room_bytes is not None:
            room_bytes -= os.fstat(song_fd).st_size
        try:
            return load_into_memory(path, self.max_bytes, room_bytes), None
        except TrackLoadError as exc:  # NoRoomError too
            return None, f"guide track: {exc}"


def _reopen(fd: int) -> int:
    return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)
