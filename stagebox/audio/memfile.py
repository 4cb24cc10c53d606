"""Reading a song whole into an anonymous memory file, so a pulled stick cannot stop it.

The decoder reads the song from the memory file by descriptor, so once
:func:`load_into_memory` has returned, the stick can go away mid-song and the song plays on.

Sizes in messages are in MB of 1,000,000 bytes, as ``player.max_file_mb`` is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_CHUNK_BYTES = 1 << 20
BYTES_PER_MB = 1_000_000


class TrackLoadError(Exception):
    """A song could not be read into memory; the message is short and for the user."""


class NoRoomError(TrackLoadError):
    """The song fits in memory alone, but not beside the songs held now."""


def load_into_memory(path: Path, max_bytes: int, room_bytes: int | None = None) -> int:
    """Copy the regular file at ``path`` into a new memory file and return its descriptor.

    The caller owns the descriptor and closes it. Symbolic links are refused (a stick is
    untrusted), and so is anything but a regular file or a file over ``max_bytes``; a
    file over ``room_bytes`` (what is left beside the songs held now) raises
    :class:`NoRoomError`, before anything is copied. Raises :class:`TrackLoadError`.
    Called from the loader's worker thread: it blocks for as long as the stick takes to
    read.
    """
    try:
        # O_NONBLOCK: opening a FIFO someone put on the stick must not wait for a writer.
        source = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
                         | os.O_NONBLOCK)
    except OSError as exc:
        raise TrackLoadError(_open_message(exc)) from exc
    try:
        size_bytes = _regular_file_size(source, max_bytes)
        if room_bytes is not None and size_bytes > room_bytes:
            raise NoRoomError(f"not enough memory for both ({_mb(size_bytes, up=True)} MB, "
                              f"{_mb(max(0, room_bytes))} MB free)")
        memory = os.memfd_create("stagebox-track", os.MFD_CLOEXEC)
        try:
            _copy(source, memory, size_bytes)
        except BaseException:
            os.close(memory)
            raise
        return memory
    finally:
        os.close(source)


def _open_message(exc: OSError) -> str:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "file is missing"
    if exc.errno == errno.ELOOP:
        return "file is a link (not followed)"
    return f"read error: {exc.strerror}"


def _regular_file_size(fd: int, max_bytes: int) -> int:
    try:
        info = os.fstat(fd)
    except OSError as exc:
        raise TrackLoadError(f"read error: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise TrackLoadError("not a regular file")
    if info.st_size > max_bytes:
        raise TrackLoadError(f"too big to hold in memory ({_mb(info.st_size, up=True)} MB, "
                             f"limit {_mb(max_bytes)} MB)")
    return info.st_size


def _mb(size_bytes: int, *, up: bool = False) -> str:
    """MB to 0.1 under 100 MB, else whole; rounded ``up`` (a size over a limit) or down
    (the limit), so that a refused size never reads as the limit or under it."""
    step_bytes = BYTES_PER_MB // 10 if size_bytes < 100 * BYTES_PER_MB else BYTES_PER_MB
    steps = -(-size_bytes // step_bytes) if up else size_bytes // step_bytes
    mb = steps * step_bytes / BYTES_PER_MB
    return f"{mb:.1f}" if step_bytes < BYTES_PER_MB else f"{mb:.0f}"


def _copy(source: int, target: int, size_bytes: int) -> None:
    """Copy exactly ``size_bytes`` (the size seen by fstat: a file that grows is cut there)."""
    copied = 0
    use_sendfile = True
    while copied < size_bytes:
        count = min(_CHUNK_BYTES, size_bytes - copied)
        try:
            if use_sendfile:
                moved = os.sendfile(target, source, copied, count)
            else:
                moved = os.write(target, os.pread(source, count, copied))
        except OSError as exc:
            if use_sendfile and exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                use_sendfile = False
                continue
            if exc.errno in (errno.ENOMEM, errno.ENOSPC):
                raise TrackLoadError("not enough memory") from exc
            raise TrackLoadError(f"read error: {exc.strerror}") from exc
        if moved == 0:
            raise TrackLoadError("read error: file shrank while reading")
        copied += moved
