"""Measuring the loudness of a stick's songs in a child process, once per file.

After a scan the box measures each song's integrated loudness and true peak, so that it
can play every song at the same loudness. That means decoding whole files from an
untrusted stick, seconds of CPU each: in the box's process it would hold the GIL from
the output thread, so it runs in a process of its own, at the lowest priority
(``SCHED_IDLE`` and nice 19), which takes only the CPU nothing else wants.

``python -m stagebox.media.measure_process RATE CACHE PRIORITY`` (``CACHE`` a file or
empty, ``PRIORITY`` ``idle`` or ``normal``) reads the songs from stdin, a line of JSON
each, ``[path, split]`` (``split`` null, or a split track's ``click-left`` or
``click-right``: only its music side is measured, on both sides, as the audience hears
it), and prints a JSON line for each song, in order:
``{"song": [index, lufs, dbtp, failure, cached]}``; or, if there is no meter,
``{"unavailable": "why"}`` alone. Each song is decoded by the box's own decoder
(:func:`stagebox.audio.decode_worker.run`) in a process forked for it, with the
decoder's limits and a CPU-time limit besides: a file that crashes or hangs it costs
that song's measurement, and the meter (:mod:`stagebox.media.ebur128`) only ever sees
stereo float samples at the box's rate, which is what the box will play.

Measurements are kept in the stick's loudness cache by path, size and modification time,
like its titles: a stick inserted again measures only what changed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import resource
import select
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stagebox.audio.request import DecodeRequest
from stagebox.media.loudness import Loudness, LoudnessCache, Measured, MeasuredAs, plausible
from stagebox.media.model import SPLITS
from stagebox.state import write_atomically

MEMORY_LIMIT_BYTES = 1 << 30
CPU_BASE_S = 20
CPU_S_PER_MB = 2
"""A decoder's CPU-time limit: a few times what the slowest Pi takes to decode and
resample a file of that size. CPU time, not time on the clock: at SCHED_IDLE the
measuring may wait for as long as other work runs, and that is no hang."""
BLOCK_FRAMES = 65536
MAX_HEADER_BYTES = 4096
MAX_MESSAGE_CHARS = 200
MAX_STDERR_BYTES = 4096
MAX_LINE_BYTES = 4096
"""A result line is a few dozen bytes and a message; the box takes nothing longer."""
CACHE_SAVE_INTERVAL_S = 30.0
"""The cache is written this often while measuring, and at the end: a restart loses at
most this much work, and the state partition is not rewritten after every song."""
ENDED_EARLY = "ended early"
"""How the decoder's message starts when a song stops before its end (cut short, or bad
data): it plays up to there, so what was measured is what plays."""


class MeasureError(Exception):
    """The measuring process failed (could not start, crashed, or said something malformed)."""


@dataclass(frozen=True)
class MeasureSummary:
    """How one run went: songs measured afresh, taken from the cache, and failed."""

    measured: int = 0
    cached: int = 0
    failed: int = 0
    problem: str | None = None
    """Why nothing (more) could be measured: no meter installed, or the process failed."""


OnResult = Callable[[int, Measured, bool], None]
"""Called with a song's index, its outcome and whether it came from the cache."""


class Measurement:
    """One run of the measuring process over a stick's songs.

    The measuring worker thread calls :meth:`run`; the main loop may :meth:`cancel` it
    (the stick went, or another came).
    """

    def __init__(self, songs: Sequence[MeasuredAs], rate: int, cache_path: Path | None,
                 on_result: OnResult, *, idle: bool = True,
                 python: str = sys.executable) -> None:
        """``idle``: at the lowest priority, as on the box; the simulator waits for the
        measuring instead, and at that priority the wait would last as long as anything
        else on the machine keeps it busy."""
        self.songs = tuple(songs)
        self._rate = rate
        self._cache_path = cache_path
        self._idle = idle
        self._on_result = on_result
        self._python = python
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Stop measuring: the process is killed and :meth:`run` returns. Any thread."""
        with self._lock:
            self._cancelled = True
            if self._child is not None:
                self._child.kill()

    def run(self) -> MeasureSummary:
        """Measure every song, reporting each through ``on_result`` as it comes (the
        measuring worker thread). Never raises for what the child does."""
        try:
            return self._run()
        except MeasureError as exc:
            return MeasureSummary(problem=str(exc))

    def _run(self) -> MeasureSummary:
        args = [self._python, "-m", "stagebox.media.measure_process", str(self._rate),
                os.fsdecode(self._cache_path) if self._cache_path else "",
                "idle" if self._idle else "normal"]
        with self._lock:
            if self._cancelled:
                return MeasureSummary()
            try:
                self._child = child = subprocess.Popen(
                    args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL)
            except OSError as exc:
                raise MeasureError(f"cannot start the measuring ({exc.strerror})") from None
        counts = {"measured": 0, "cached": 0, "failed": 0}
        problem = None
        try:
            _send_songs(child, self.songs)
            assert child.stdout is not None
            while line := child.stdout.readline(MAX_LINE_BYTES + 1):
                message = _message(line)
                if "unavailable" in message:
                    problem = str(message["unavailable"])[:MAX_MESSAGE_CHARS]
                    break
                index, measured, cached = _song(message, expected=sum(counts.values()),
                                                count=len(self.songs))
                counts["failed" if measured.failure else "cached" if cached
                       else "measured"] += 1
                self._on_result(index, measured, cached)
            status = child.wait()
        finally:
            child.kill()
            child.wait()
        done = sum(counts.values())
        if problem is None and done < len(self.songs) and not self._cancelled:
            problem = f"the measuring failed ({_status_text(status)})"
        return MeasureSummary(**counts, problem=problem)


def _send_songs(child: subprocess.Popen[bytes], songs: Sequence[MeasuredAs]) -> None:
    """Write the songs to the child's stdin and close it; a child that died early shows
    as a short run, not here."""
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        for song in songs:
            child.stdin.write(json.dumps([os.fsdecode(song.path), song.split]).encode()
                              + b"\n")
    with contextlib.suppress(BrokenPipeError):
        child.stdin.close()


def _message(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE_BYTES or not line.endswith(b"\n"):
        raise MeasureError("the measuring said something too long")
    try:
        message = json.loads(line, parse_constant=_refuse)
    except (ValueError, RecursionError):
        raise MeasureError("the measuring said something malformed") from None
    if not isinstance(message, dict) or len(message) != 1:
        raise MeasureError("the measuring said something malformed")
    return message


def _song(message: dict[str, Any], expected: int, count: int) -> tuple[int, Measured, bool]:
    """A result line, checked: the child decodes untrusted files."""
    value = message.get("song")
    if not isinstance(value, list) or len(value) != 5:
        raise MeasureError("the measuring said something malformed")
    index, lufs, dbtp, failure, cached = value
    if type(index) is not int or index != expected or index >= count \
            or not isinstance(cached, bool):
        raise MeasureError("the measuring answered out of order")
    if failure is not None:
        if not isinstance(failure, str):
            raise MeasureError("the measuring said something malformed")
        return index, Measured(None, failure[:MAX_MESSAGE_CHARS] or "failed"), cached
    if not (plausible(lufs) and plausible(dbtp)):
        raise MeasureError("the measuring said something implausible")
    return index, Measured(Loudness(lufs, dbtp)), cached


def _refuse(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _status_text(status: int) -> str:
    return f"signal {-status}" if status < 0 else f"exit {status}"


# --- the measuring process ------------------------------------------------------------------


def measure_file(song: MeasuredAs, rate: int) -> Measured:
    """Decode the song's file in a forked decoder and meter what it gives (the measuring
    process's main thread, which must be its only thread: it forks)."""
    try:
        fd = _open_song(song.path)
    except OSError as exc:
        return Measured(None, _open_message(exc))
    try:
        return _measure_fd(fd, DecodeRequest(out_rate=rate, split=song.split))
    finally:
        os.close(fd)


def _open_song(path: Path) -> int:
    # As the loader opens it: no link followed, no FIFO waited on.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_message(exc: OSError) -> str:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "file is missing"
    if exc.errno == errno.ELOOP:
        return "file is a link (not followed)"
    if exc.errno == errno.EINVAL:
        return "not a regular file"
    return f"read error: {exc.strerror}"


def _measure_fd(fd: int, request: DecodeRequest) -> Measured:
    from stagebox.media.ebur128 import Meter, MeterError

    rate = request.out_rate
    cpu_limit_s = CPU_BASE_S + CPU_S_PER_MB * os.fstat(fd).st_size // 1_000_000
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    # Whatever is buffered would be written again by the child.
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _be_decoder(fd, request, cpu_limit_s, (out_read, err_read), out_write, err_write)
    os.close(out_write)
    os.close(err_write)
    try:
        with Meter(rate) as meter:
            header, errors = _meter_output(out_read, err_read, meter)
            status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            pid = 0
            return _outcome(header, errors, status, cpu_limit_s, meter)
    except MeterError as exc:
        return Measured(None, f"meter failed: {exc}")
    finally:
        os.close(out_read)
        os.close(err_read)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _be_decoder(fd: int, request: DecodeRequest, cpu_limit_s: int, parent_fds: tuple[int, int],
                out_write: int, err_write: int) -> None:
    """The forked child: the box's decoder on ``fd``, its frames down ``out_write``;
    never returns."""
    status = 1
    try:
        for parent_fd in parent_fds:
            os.close(parent_fd)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit_s, cpu_limit_s + 1))
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_write, 1)
        os.dup2(err_write, 2)
        for spare in (devnull, out_write, err_write):
            os.close(spare)
        from stagebox.audio import decode_worker

        status = decode_worker.run(fd, request)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)


def _meter_output(out_fd: int, err_fd: int, meter: Any) -> tuple[dict[str, Any] | None, bytes]:
    """Feed the decoder's frames to ``meter`` until both its pipes end; its header line
    (None if it gave none) and the end of what it said on stderr."""
    import numpy as np

    block = np.empty((BLOCK_FRAMES, 2), np.float32)
    space = memoryview(block.data).cast("B")
    header_bytes = b""
    header: dict[str, Any] | None = None
    filled = 0
    errors = b""
    poller = select.poll()
    poller.register(out_fd, select.POLLIN)
    poller.register(err_fd, select.POLLIN)
    open_fds = {out_fd, err_fd}
    while open_fds:
        for ready_fd, _ in poller.poll():
            if ready_fd == err_fd:
                chunk = os.read(err_fd, MAX_STDERR_BYTES)
                errors = (errors + chunk)[-MAX_STDERR_BYTES:]
                got = len(chunk)
            elif header is None:
                chunk = os.read(out_fd, MAX_HEADER_BYTES)
                got = len(chunk)
                header_bytes += chunk
                line, newline, rest = header_bytes.partition(b"\n")
                if newline:
                    header = _header(line)
                    space[:len(rest)] = rest
                    filled = len(rest)
                elif len(header_bytes) > MAX_HEADER_BYTES:
                    header, filled = {"ok": False, "error": "decoder said too much"}, 0
            else:
                got = os.readv(out_fd, [space[filled:]])
                filled += got
                whole = filled // 8
                meter.add(block[:whole])
                space[:filled - whole * 8] = space[whole * 8:filled]
                filled -= whole * 8
            if not got:
                poller.unregister(ready_fd)
                open_fds.discard(ready_fd)
    return header, errors


def _header(line: bytes) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        header = None
    return header if isinstance(header, dict) else {"ok": False, "error": "bad header"}


def _outcome(header: dict[str, Any] | None, errors: bytes, status: int, cpu_limit_s: int,
             meter: Any) -> Measured:
    last_error = (errors.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    if header is not None and header.get("ok") is not True:
        return Measured(None, str(header.get("error") or "cannot decode")[:MAX_MESSAGE_CHARS])
    if status == -signal.SIGXCPU:
        return Measured(None, f"decoder still busy after {cpu_limit_s} s of CPU")
    if status < 0:
        return Measured(None, f"decoder crashed (signal {-status})")
    if header is None or (status != 0 and not last_error.startswith(ENDED_EARLY)):
        return Measured(None, (last_error or f"decoder failed (exit {status})")
                        [:MAX_MESSAGE_CHARS])
    lufs, dbtp = meter.integrated_lufs(), meter.true_peak_dbtp()
    loudness = Loudness(lufs if math.isfinite(lufs) else None,
                        dbtp if math.isfinite(dbtp) else None)
    if not (plausible(loudness.integrated_lufs) and plausible(loudness.true_peak_dbtp)):
        # A float file can hold any number; the box would not believe it, and must not
        # stop measuring the rest of the stick for it.
        return Measured(None, "level out of range")
    return Measured(loudness)


class _CacheKeeper:
    """The stick's loudness cache in the measuring process: read at start, written now
    and then and at the end (a full or read-only disk only loses the cache)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.cache = LoudnessCache()
        # No cache yet, or an unreadable one: every song is measured afresh.
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if path is not None:
                self.cache = LoudnessCache.from_json(path.read_text(encoding="utf-8"))
        self._saved_s = time.monotonic()

    def save(self, *, unless_recent: bool = False) -> None:
        now_s = time.monotonic()
        if self.path is None or not self.cache.changed \
                or (unless_recent and now_s - self._saved_s < CACHE_SAVE_INTERVAL_S):
            return
        with contextlib.suppress(OSError):
            write_atomically(self.path, self.cache.to_json().encode())
        self.cache.changed = False
        self._saved_s = now_s


def measure_with_cache(song: MeasuredAs, rate: int,
                       cache: LoudnessCache) -> tuple[Measured, bool]:
    """The song's outcome from the cache when its file is unchanged, else measured (and
    kept, unless the file changed or went while it was read); and whether it was cached."""
    try:
        stamp = LoudnessCache.stamp(song.path)
    except OSError as exc:
        return Measured(None, _open_message(exc)), False
    cached = cache.get(song, stamp)
    if cached is not None:
        return cached, True
    measured = measure_file(song, rate)
    with contextlib.suppress(OSError):
        if LoudnessCache.stamp(song.path) == stamp:
            cache.put(song, stamp, measured)
    return measured, False


def _measured_as(line: bytes) -> MeasuredAs:
    """A song from its stdin line (written by the box: anything else is a bug)."""
    path, split = json.loads(line)
    if split is not None and split not in SPLITS:
        raise ValueError(f"split {split!r}")
    return MeasuredAs(Path(path), split)


def _lower_priority() -> None:
    """Take only the CPU nothing else wants (and, under CFQ or BFQ, the disk likewise)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message, allow_nan=False), flush=True)


def main(argv: list[str]) -> int:
    """The child: measure each path from stdin, print a line for each, keep the cache."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    rate, cache_arg, priority = int(argv[0]), argv[1], argv[2]
    if priority == "idle":
        _lower_priority()
    songs = [_measured_as(line) for line in sys.stdin.buffer]
    from stagebox.media.ebur128 import MeterUnavailable, version

    try:
        version()
    except MeterUnavailable as exc:
        _say({"unavailable": str(exc)})
        return 0
    # Imported once here, not in each song's fork: a fork then starts decoding at once.
    from stagebox.audio import decode_worker  # noqa: F401
    keeper = _CacheKeeper(Path(cache_arg) if cache_arg else None)
    for index, song in enumerate(songs):
        measured, cached = measure_with_cache(song, rate, keeper.cache)
        loudness = measured.loudness
        _say({"song": [index, loudness.integrated_lufs if loudness else None,
                       loudness.true_peak_dbtp if loudness else None, measured.failure,
                       cached]})
        keeper.save(unless_recent=True)
    keeper.cache.keep_only_keys({song.cache_key for song in songs})
    keeper.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
