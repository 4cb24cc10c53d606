"""Where background work runs: a thread in real life, in step in the simulator.

The simulator must give the same output every time, so its scans and loads run to the
end at the moment they are asked for, instead of racing the virtual clock.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0
"""How long closing waits for the job under way (a scan of a big stick, a song's load)."""


class Worker(Protocol):
    """Runs jobs one after another, in the order given."""

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` (soon, or now)."""
        ...

    def close(self) -> None:
        """Finish: no more jobs will come."""
        ...


class InlineWorker:
    """Runs each job at once, in the caller's thread (the simulator)."""

    def submit(self, job: Callable[[], None]) -> None:
        job()

    def close(self) -> None:
        """Nothing runs in the background, so there is nothing to wait for."""


class ThreadWorker:
    """Runs jobs on one daemon thread of its own, in order."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        """Finish the jobs already given and end the thread; say so if it will not end."""
        self._jobs.put(None)
        self._thread.join(timeout=CLOSE_TIMEOUT_S)
        if self._thread.is_alive():
            log.error("%s is still busy after %.0f s: stopping without it",
                      self._thread.name, CLOSE_TIMEOUT_S)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                # A job's own errors are posted as events; this is a bug, and the box goes on.
                log.exception("background job failed")
