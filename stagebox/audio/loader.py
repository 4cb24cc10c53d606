"""Getting a song ready: into memory, decoder started, first frames waiting.

The loader reads the whole file into RAM (so a pulled stick cannot stop the song),
starts its decoder process (through the decoder launcher, if it has one) and waits for
the decoder's header, then posts
:class:`~stagebox.events.TrackReady` or :class:`~stagebox.events.TrackFailed`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from stagebox.audio.launcher import DecoderLauncher
from stagebox.audio.memfile import TrackLoadError, load_into_memory
from stagebox.audio.track import TrackStream
from stagebox.events import TrackFailed, TrackReady
from stagebox.media.model import Song
from stagebox.workers import Worker

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0


class Loader:
    """Loads songs on a worker and posts the outcome (main loop calls :meth:`load`)."""

    def __init__(self, *, rate: int, max_bytes: int, post: Callable[[object], None],
                 worker: Worker, wait_for_data: bool = False, ring_s: float = 4.0,
                 launcher: DecoderLauncher | None = None) -> None:
        self.rate = rate
        self.max_bytes = max_bytes
        self._post = post
        self._worker = worker
        self._wait_for_data = wait_for_data
        self._ring_s = ring_s
        self._launcher = launcher

    def load(self, load_id: int, song: Song, start_s: float = 0.0) -> None:
        """Start loading ``song``; the result arrives as an event."""
        self._worker.submit(lambda: self._post(self._load_now(load_id, song, start_s)))

    def _load_now(self, load_id: int, song: Song, start_s: float) -> TrackReady | TrackFailed:
        try:
            fd = load_into_memory(song.path, self.max_bytes)
        except TrackLoadError as exc:
            return TrackFailed(load_id, str(exc))
        try:
            stream = TrackStream.open(fd, self.rate, start_s=start_s, ring_s=self._ring_s,
                                      wait_for_data=self._wait_for_data,
                                      launcher=self._launcher)
        except OSError as exc:
            return TrackFailed(load_id, f"decoder did not start: {exc.strerror}")
        finally:
            os.close(fd)
        if not stream.wait_ready(HEADER_TIMEOUT_S) or stream.error:
            message = stream.error or "decoder did not answer"
            stream.close()
            return TrackFailed(load_id, message)
        log.info("loaded %s (%.1f s)", song.rel_path, stream.duration_s or 0.0)
        return TrackReady(load_id, stream.duration_s, stream)
