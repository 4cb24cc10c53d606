"""The decoder launcher: decoders forked from one process that has numpy, soundfile and soxr
imported already, instead of a fresh interpreter per song.

A new interpreter importing the decoder's libraries costs about 0.2 s of CPU and 15 MB of
private memory per song, twice over while the next song is preloaded. A fork of a process
that imported them once costs milliseconds, and the libraries' pages stay shared with the
launcher. Each decoder is still a process of its own: it limits its own address space and
core dumps (:func:`stagebox.audio.decode_worker.run`), so a crash, a hang or a runaway
allocation costs one song, not the box and not the launcher.

Two sides:

- :class:`DecoderLauncher` (the box's side) starts ``python -m stagebox.audio.launcher``
  over a ``socketpair`` and asks it for decoders; each comes back as a
  :class:`LaunchedDecoder`, a process handle shaped like :class:`subprocess.Popen`. If the
  launcher has died or hung, the next request starts a new one; if one cannot start at
  all, every decoder from then on is started as a command of its own
  (:func:`spawn_decoder`), as before.
- :func:`serve` (the launcher process): for each request, fork; the child puts the pipes
  it was sent on its stdout and stderr and decodes. The launcher reaps its children and
  reports each exit status, and when the box closes the socket (or dies), kills what is
  left of its children and exits.

Protocol, one JSON object per ``SOCK_SEQPACKET`` message. To the launcher: ``{"id": N,
"request": {...}}`` (a :class:`~stagebox.audio.request.DecodeRequest`) with five
descriptors: the :class:`~stagebox.audio.request.DecoderFiles` and the write ends of the
decoder's stdout and stderr pipes. From it: ``{"ready": true}`` once it has imported the
libraries; ``{"started": N, "pid": P}`` with a pidfd of the child, or ``{"failed": N,
"errno": E}``; and ``{"exited": P, "returncode": C}`` when a child has been reaped.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import itertools
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Protocol

from stagebox import ONE_THREAD_ENV
from stagebox.audio.request import DecodeRequest, DecoderFiles

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 20.0
"""How long a new launcher may take to import its libraries (a cold start on a small Pi)."""
REPLY_TIMEOUT_S = 5.0
"""How long a running launcher may take to fork; after that it counts as hung."""
REAP_TIMEOUT_S = 2.0
REAP_POLL_S = 0.01
MESSAGE_MAX_BYTES = 4096
REQUEST_FDS = 5
"""The descriptors of a request: song, ring, room, stdout and stderr (a guide track's
memory file and the song's count file, each if there is one, come after them)."""
OPTIONAL_FDS = 2
"""The guide track's memory file and the song's count file."""


class DecoderProcess(Protocol):
    """What :class:`~stagebox.audio.track.TrackStream` needs of its decoder's process:
    :class:`subprocess.Popen` or :class:`LaunchedDecoder`."""

    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> IO[bytes] | None: ...

    @property
    def stderr(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class LauncherLost(Exception):
    """The launcher died or hung (a new one may do better), or never became ready."""

    def __init__(self, reason: str, worth_retry: bool = True) -> None:
        super().__init__(reason)
        self.worth_retry = worth_retry


def spawn_decoder(request: DecodeRequest, files: DecoderFiles) -> subprocess.Popen[bytes]:
    """Start the decoder as a fresh interpreter (``python -m stagebox.audio.decode_worker``).

    The way without a launcher; as for :meth:`DecoderLauncher.launch`. Raises OSError if
    it cannot be started. Any thread.
    """
    command = [sys.executable, "-m", "stagebox.audio.decode_worker",
               "--fd", str(files.song), "--ring-fd", str(files.ring),
               "--request", request.to_json()]
    passed = [files.song, files.ring]
    if files.guide is not None:
        command += ["--guide-fd", str(files.guide)]
        passed.append(files.guide)
    if files.count_file is not None:
        command += ["--count-fd", str(files.count_file)]
        passed.append(files.count_file)
    return subprocess.Popen(command, pass_fds=passed, stdin=files.room,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **ONE_THREAD_ENV}, bufsize=0)


class LaunchedDecoder:
    """A decoder forked by the launcher: a :class:`DecoderProcess`.

    Signals go through a pidfd, so a kill can never reach another process that took the
    pid after this one was reaped. The exit status comes from the launcher, which reaps
    it. Any thread may call any method.
    """

    def __init__(self, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.pid = 0
        """0 until the launcher has answered."""
        self.stdout: IO[bytes] | None = stdout
        self.stderr: IO[bytes] | None = stderr
        self._pidfd = -1
        self._returncode: int | None = None
        self._killed = False
        self._answered = threading.Event()
        self._failed_errno = 0
        self._exited = threading.Event()
        self._lock = threading.Lock()

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: the signal that ended it), None while it runs."""
        return self._returncode

    def poll(self) -> int | None:
        """The exit status if the launcher has reported it, else None."""
        return self._returncode

    def kill(self) -> None:
        """Send SIGKILL, unless it has already ended."""
        with self._lock:
            if self._returncode is not None or self._pidfd < 0:
                return
            self._killed = True
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit status; raises :class:`subprocess.TimeoutExpired`."""
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"decoder {self.pid}", timeout or 0.0)
        assert self._returncode is not None
        return self._returncode

    # --- the launcher connection's reader thread -------------------------------------

    def _started(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._answered.set()

    def _refused(self, error_number: int) -> None:
        self._failed_errno = error_number
        self._answered.set()

    def _ended(self, returncode: int | None) -> None:
        """Record the exit; None when it is unknown (the launcher died before reaping it)."""
        with self._lock:
            if returncode is None:
                returncode = -signal.SIGKILL if self._killed else 0
            self._returncode = returncode
            if self._pidfd >= 0:
                os.close(self._pidfd)
                self._pidfd = -1
        self._exited.set()

    def _pidfd_now(self) -> int:
        return self._pidfd

    def _close_pipes(self) -> None:
        for pipe in (self.stdout, self.stderr):
            if pipe is not None:
                pipe.close()


class _ForkedLauncher:
    """A launcher forked from this process: the part of :class:`subprocess.Popen` that
    :class:`_Connection` uses. Main loop and loader's thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (returncode := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"launcher {self.pid}", timeout or 0.0)
            time.sleep(REAP_POLL_S)
        return returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _single_threaded() -> bool:
    """True if this process has one thread, so a fork of it is sound (no lock in the
    child can be held by a thread that is not there)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _fork_launcher(theirs: socket.socket, ours: socket.socket) -> _ForkedLauncher:
    """Fork this (single-threaded) process into a launcher serving ``theirs``."""
    # Whatever is buffered would be written again by the child's decoders.
    sys.stdout.flush()
    sys.stderr.flush()
    # What exists now (the modules both sides imported) lives as long as this process.
    # Frozen, no collection on either side writes to it, so its pages stay shared.
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            ours.close()
            serve(theirs)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    return _ForkedLauncher(pid)


class _Connection:
    """One launcher process, the socket to it and the thread that reads its messages."""

    def __init__(self, python: str, fork: bool) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process: subprocess.Popen[bytes] | _ForkedLauncher
        try:
            if fork:
                self.process = _fork_launcher(theirs, ours)
            else:
                self.process = subprocess.Popen(
                    [python, "-m", "stagebox.audio.launcher", "--socket-fd",
                     str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, env={**os.environ, **ONE_THREAD_ENV})
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        self._ready = threading.Event()
        self.was_ready = False
        """The launcher said it was ready (else it could not start: a broken install)."""
        self.lost = False
        self._closing = False
        self._lock = threading.Lock()
        self._waiting: dict[int, LaunchedDecoder] = {}
        self._running: dict[int, LaunchedDecoder] = {}
        self._reader = threading.Thread(target=self._read, name="launcher-reader", daemon=True)
        self._reader.start()
        log.info("decoder launcher started (pid %d)", self.process.pid)

    def launch(self, request_id: int, request: DecodeRequest,
               files: DecoderFiles) -> LaunchedDecoder:
        """Ask for a decoder; raises LauncherLost, or OSError if the fork failed."""
        if not self._ready.wait(READY_TIMEOUT_S):
            raise LauncherLost("it did not become ready", worth_retry=False)
        if not self.was_ready:
            raise LauncherLost("it ended before it was ready", worth_retry=False)
        if self.lost:
            raise LauncherLost("it ended")
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        decoder = LaunchedDecoder(os.fdopen(out_read, "rb", buffering=0),
                                  os.fdopen(err_read, "rb", buffering=0))
        with self._lock:
            self._waiting[request_id] = decoder
        counted = files.count_file is not None
        message = (f'{{"id": {request_id}, "request": {request.to_json()}, '
                   f'"count": {json.dumps(counted)}}}')
        try:
            # The guide's descriptor and the count file's, if any, last: the launcher
            # knows from the request and the message.
            extra = [fd for fd in (files.guide, files.count_file) if fd is not None]
            socket.send_fds(self._socket, [message.encode()],
                            [files.song, files.ring, files.room, out_write, err_write, *extra])
            if not decoder._answered.wait(REPLY_TIMEOUT_S):
                raise LauncherLost("it did not answer")
        except OSError as exc:
            raise LauncherLost(exc.strerror or str(exc)) from exc
        finally:
            # The launcher and then the decoder have their own copies: with ours closed,
            # the decoder's exit is the end of its pipes.
            os.close(out_write)
            os.close(err_write)
            with self._lock:
                self._waiting.pop(request_id, None)
            if not decoder.pid:
                decoder._close_pipes()
        if decoder._failed_errno:
            raise OSError(decoder._failed_errno, os.strerror(decoder._failed_errno))
        if not decoder.pid:
            raise LauncherLost("it ended")
        return decoder

    def close(self) -> None:
        """End the launcher: it sees the socket's end, kills its children and exits.

        The reader thread ends on its own once the launcher's children have (it watches
        those the launcher could no longer report).
        """
        self._closing = True
        with self._lock:
            if self._socket.fileno() >= 0:
                self._socket.shutdown(socket.SHUT_RDWR)
        try:
            self.process.wait(REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def abandon(self) -> None:
        """Give up on a launcher that hung: kill it (its decoders play on)."""
        self.lost = True
        self.process.kill()
        self.close()

    # --- reader thread ---------------------------------------------------------------

    def _read(self) -> None:
        try:
            while True:
                data, fds, _, _ = socket.recv_fds(self._socket, MESSAGE_MAX_BYTES, 1)
                if not self._handle(data, fds):
                    break
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("decoder launcher connection failed: %s", exc)
        self.lost = True
        self._ready.set()
        with self._lock:
            waiting = list(self._waiting.values())
            orphans = list(self._running.values())
            self._running.clear()
            self._socket.close()
        for decoder in waiting:
            decoder._answered.set()
        self._watch_orphans(orphans)

    def _handle(self, data: bytes, fds: list[int]) -> bool:
        """Act on one message; False at the end of the connection."""
        if not data:
            for fd in fds:
                os.close(fd)
            return False
        message = json.loads(data)
        if "ready" in message:
            self.was_ready = True
            self._ready.set()
        elif "started" in message:
            with self._lock:
                decoder = self._waiting.get(message["started"])
                if decoder is not None and fds:
                    self._running[message["pid"]] = decoder
                    decoder._started(message["pid"], fds.pop())
        elif "failed" in message:
            with self._lock:
                decoder = self._waiting.get(message["failed"])
            if decoder is not None:
                decoder._refused(int(message["errno"]) or errno.EIO)
        elif "exited" in message:
            with self._lock:
                decoder = self._running.pop(message["exited"], None)
            if decoder is not None:
                decoder._ended(int(message["returncode"]))
        for fd in fds:
            os.close(fd)
        return True

    def _watch_orphans(self, orphans: list[LaunchedDecoder]) -> None:
        """The launcher is gone and cannot report its children's ends: watch their pidfds
        (their status is unknown; their pipes tell the rest)."""
        if orphans and not self._closing:
            log.warning("decoder launcher ended; %d decoder(s) play on without it",
                        len(orphans))
        poller = select.poll()
        by_pidfd = {}
        for decoder in orphans:
            pidfd = decoder._pidfd_now()
            if pidfd >= 0:
                by_pidfd[pidfd] = decoder
                poller.register(pidfd, select.POLLIN)
        while by_pidfd:
            for pidfd, _ in poller.poll():
                poller.unregister(pidfd)
                by_pidfd.pop(pidfd)._ended(None)


class DecoderLauncher:
    """Starts decoders by fork from one launcher process (see the module's docstring).

    Thread-safe: the loader's thread calls :meth:`launch`, the main loop :meth:`close`.
    Nothing is started until :meth:`start` or the first :meth:`launch`.
    """

    def __init__(self, python: str = sys.executable, fork_first: bool = False) -> None:
        """``fork_first``: start the first launcher as a fork of this process, if it has a
        single thread then: no interpreter to start, and the libraries this process has
        imported already are shared, not loaded again (the box, the simulator and ``stagebox
        play`` start their launcher so, first thing). The fork freezes the objects this
        process has then (:func:`gc.freeze`): they are never collected after, so that no
        collection copies the pages the two share. Any later launcher, or one started
        while threads run, is a new interpreter running ``python``."""
        self._python = python
        self._fork_first = fork_first
        self._connection: _Connection | None = None
        self._request_ids = itertools.count(1)
        self._unavailable = False
        """A launcher could not start: decoders start on their own from then on."""
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The launcher process's id while one runs (for diagnostics and tests)."""
        connection = self._connection
        return connection.process.pid if connection is not None and not connection.lost \
            else None

    def start(self) -> None:
        """Start the launcher now, so the first song need not wait for its imports.

        Does not wait for it. A launcher that cannot start is logged, and decoders then
        start on their own. Any thread.
        """
        with self._lock:
            if not self._unavailable:
                self._connect()

    def launch(self, request: DecodeRequest, files: DecoderFiles) -> DecoderProcess:
        """Start a decoder carrying out ``request`` on ``files``: the song's memory file, the
        ring it fills and the pipe it reads the player's counts from (see
        :mod:`stagebox.audio.ring`). The caller keeps all three descriptors.

        Through the launcher, starting a new one if it died (once); without it if no
        launcher can be had. Raises OSError if no decoder can be started. Called from the
        loader's thread.
        """
        with self._lock:
            for _ in range(0 if self._unavailable else 2):
                connection = self._connect()
                if connection is None:
                    break
                try:
                    return connection.launch(next(self._request_ids), request, files)
                except LauncherLost as exc:
                    log.warning("decoder launcher (pid %d) lost: %s", connection.process.pid,
                                exc)
                    connection.abandon()
                    self._connection = None
                    if not exc.worth_retry:
                        self._give_up()
                        break
            if not self._unavailable:
                log.warning("decoder launcher failed twice: this decoder starts on its own")
        return spawn_decoder(request, files)

    def close(self) -> None:
        """Stop the launcher (which kills any decoder still running). Main loop only."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> DecoderLauncher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _connect(self) -> _Connection | None:
        connection = self._connection
        if connection is not None and connection.lost:
            log.warning("decoder launcher (pid %d) ended (status %s)", connection.process.pid,
                        connection.process.poll())
            connection.close()
            connection = self._connection = None
        if connection is None:
            try:
                fork = self._fork_first and _single_threaded()
                self._fork_first = False
                connection = self._connection = _Connection(self._python, fork)
            except OSError as exc:
                log.error("cannot start the decoder launcher: %s", exc)
                self._give_up()
        return connection

    def _give_up(self) -> None:
        log.error("no decoder launcher: decoders start as processes of their own from now on")
        self._unavailable = True


# --- the launcher process ------------------------------------------------------------------


def serve(channel: socket.socket) -> None:
    """Fork a decoder for each request on ``channel`` until it ends (the launcher's
    main thread; it has no other)."""
    # Imported here, not by the box: these are the libraries the launcher exists to hold.
    from stagebox.audio import decode_worker

    ffmpeg = _FFmpegOnDemand()
    # Each decoder is handed back as a pidfd: without them (Linux < 5.3, or a seccomp
    # filter), fail here, before "ready", and the box starts its decoders on their own.
    os.close(os.pidfd_open(os.getpid()))
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    # A handler, not SIG_DFL: SIGCHLD must write to the wake-up pipe to end the poll.
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # Ctrl-C reaches the whole process group; the box decides when the launcher ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # What exists now lives as long as the launcher: frozen, the collector never touches
    # (and so never copies) its pages in the children.
    gc.freeze()
    children: set[int] = set()
    poller = select.poll()
    poller.register(channel.fileno(), select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    try:
        channel.send(json.dumps({"ready": True}).encode())
        while True:
            for fd, _ in poller.poll():
                if fd == wake_read:
                    _drain(wake_read)
                    _reap(channel, children)
                    continue
                data, fds, _, _ = socket.recv_fds(channel, MESSAGE_MAX_BYTES,
                                                  REQUEST_FDS + OPTIONAL_FDS)
                if not data:
                    return
                child = _fork_decoder(channel, data, fds, (wake_read, wake_write),
                                      decode_worker.run, ffmpeg.load_for)
                if child:
                    children.add(child)
    except OSError:
        # The box went away mid-message: as at the end of the socket.
        return
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)


class _FFmpegOnDemand:
    """FFmpeg (PyAV) loaded into the launcher before the first decoder whose song may need
    it is forked, so that it and every later one share it.

    Measured on the development VM, a 4-minute M4A, a 1-minute MP3 and a FLAC, twelve
    starts each (request to header, median): an M4A's decoder starts in 76-98 ms and an
    MP3's in 26-38 ms with FFmpeg in the launcher, against 171-184 and 118-124 ms when the
    decoder imports it. But held, it costs a show of only WAV and FLAC 10 MB (PSS of the
    launcher and its decoders): so only a song that may need it loads it. The first such
    song's decoder waits for the import (about 0.1 s), once, as it is cued.
    """

    def __init__(self) -> None:
        self.loaded = False

    def load_for(self, song_fds: list[int]) -> None:
        """Load FFmpeg now if a song in ``song_fds`` (memory files) is one that FFmpeg
        decodes first (:func:`~stagebox.audio.sources.sniff`: a few bounded reads)."""
        from stagebox.audio.sources import load_ffmpeg, sniff

        if self.loaded:
            return
        try:
            if not any(sniff(fd, os.fstat(fd).st_size).ffmpeg_first for fd in song_fds):
                return
        except OSError:
            return  # not a file to read: the decoder will say so
        self.loaded = True
        with contextlib.suppress(ImportError):  # then no decoder has it: each says so
            load_ffmpeg()
        # Like what the launcher made at its start, FFmpeg's objects live as long as it.
        gc.freeze()


def _drain(fd: int) -> None:
    """Empty the non-blocking pipe ``fd`` (the signals' wake-up bytes)."""
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 512):
            continue


def _reap(channel: socket.socket, children: set[int]) -> None:
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        children.discard(pid)
        returncode = os.waitstatus_to_exitcode(status)
        channel.send(json.dumps({"exited": pid, "returncode": returncode}).encode())


def _fork_decoder(channel: socket.socket, data: bytes, fds: list[int],
                  wake_fds: tuple[int, int], decode: _Decode,
                  before_fork: Callable[[list[int]], None]) -> int:
    """Fork one decoder; its pid (0 if none was started). ``before_fork`` is given the
    song's memory files (and its guide track's) first. Closes ``fds`` here."""
    try:
        message = json.loads(data)
        request_id = int(message["id"])
        request = DecodeRequest.from_fields(message["request"])
        counted = message.get("count", False)
        if not isinstance(counted, bool):
            raise TypeError("count")
    except (ValueError, KeyError, TypeError):
        for fd in fds:
            os.close(fd)
        return 0
    if len(fds) != REQUEST_FDS + request.guide + counted:
        for fd in fds:
            os.close(fd)
        channel.send(json.dumps({"failed": request_id, "errno": errno.EBADF}).encode())
        return 0
    before_fork([fds[0], *fds[REQUEST_FDS:REQUEST_FDS + request.guide]])
    try:
        pid = os.fork()
    except OSError as exc:
        pid = -exc.errno if exc.errno else -errno.EIO
    if pid == 0:
        _be_decoder(channel, fds, wake_fds, request, counted, decode)
    for fd in fds:
        os.close(fd)
    if pid < 0:
        channel.send(json.dumps({"failed": request_id, "errno": -pid}).encode())
        return 0
    # No reaping happens before this pidfd is taken, so it is this child's.
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(channel, [json.dumps({"started": request_id, "pid": pid}).encode()],
                        [pidfd])
    finally:
        os.close(pidfd)
    return pid


class _Decode(Protocol):
    def __call__(self, fd: int, request: DecodeRequest, ring_fd: int,
                 guide_fd: int | None, count_fd: int | None) -> int: ...


def _be_decoder(channel: socket.socket, fds: list[int], wake_fds: tuple[int, int],
                request: DecodeRequest, counted: bool, decode: _Decode) -> None:
    """The forked child: become a decoder with the room pipe as stdin and the output
    pipes as stdout and stderr; never returns."""
    status = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        channel.close()
        for fd in wake_fds:
            os.close(fd)
        memfd, ring_fd, room_fd, out_write, err_write, *extra = fds
        os.dup2(room_fd, 0)
        os.dup2(out_write, 1)
        os.dup2(err_write, 2)
        for fd in (room_fd, out_write, err_write):
            os.close(fd)
        # The decoder speaks through sys.stdin, sys.stdout and sys.stderr: make them these
        # pipes, whatever the process it was forked from had put there (a test runner's
        # capture).
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        status = decode(memfd, request, ring_fd, extra[0] if request.guide else None,
                        extra[-1] if counted else None)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)


def main(argv: list[str] | None = None) -> int:
    """``python -m stagebox.audio.launcher --socket-fd N`` (started by DecoderLauncher)."""
    parser = argparse.ArgumentParser(prog="python -m stagebox.audio.launcher")
    parser.add_argument("--socket-fd", type=int, required=True)
    args = parser.parse_args(argv)
    with socket.socket(fileno=args.socket_fd) as channel:
        serve(channel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
