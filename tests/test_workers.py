"""Background workers: jobs in order, and a close that says when a job will not end."""

from __future__ import annotations

import logging
import threading

import pytest

from stagebox import workers
from stagebox.workers import ThreadWorker


def test_a_worker_runs_its_jobs_in_order_and_finishes_them_before_it_closes() -> None:
    done: list[int] = []
    worker = ThreadWorker("test-worker")
    for number in range(20):
        worker.submit(lambda number=number: done.append(number))
    worker.close()
    assert done == list(range(20))


def test_a_worker_stuck_in_a_job_is_named_in_the_log_and_the_close_goes_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(workers, "CLOSE_TIMEOUT_S", 0.01)
    release = threading.Event()
    worker = ThreadWorker("stuck-worker")
    worker.submit(release.wait)
    with caplog.at_level(logging.ERROR, "stagebox.workers"):
        worker.close()
    release.set()
    assert "stuck-worker is still busy" in caplog.text
