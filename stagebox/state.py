"""What the box remembers across restarts, written so a power cut can never break it.

The state is one small JSON file, replaced atomically: written to a temporary file,
flushed to the disk, renamed over the old one, and the folder flushed too. A reader
therefore sees the old state or the new one, never half of each; the temporary files of
a write that was killed are removed at the next start. A missing file gives the
defaults; anything else that is not a small regular file of sound JSON (a link, a FIFO,
a huge or deeply nested file, text that is not UTF-8) gives the defaults and a warning,
and each value is checked (type, finite, in range) before the box uses it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import stat
import threading
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from stagebox.media.options import SPEED_MIN

log = logging.getLogger(__name__)

FILE_NAME = "state.json"
CACHE_FOLDER = "cache"
TEMP_SUFFIX = ".tmp"
MAX_STATE_BYTES = 1_000_000
"""The state is a few hundred bytes (a kilobyte more per hundred sticks remembered): a
file near this size is not ours, and is not read."""
MAX_POSITION_S = 24 * 3600.0
"""The furthest into a song a resume point may be; further is no song of a show."""


@dataclass(frozen=True)
class ResumePoint:
    """Where the show was: after a power cut the box comes back here, paused."""

    stick: str
    setlist: str
    index: int
    path: str
    """The song's path on the stick, so a changed setlist is not resumed blindly."""
    position_s: float
    trainer_speed: float | None = None
    """How fast the song's speed trainer (a loop's ``speedup=``) had got it, if it had."""


@dataclass(frozen=True)
class SavedState:
    """Everything remembered. Unknown or mistyped values are dropped on reading."""

    volume_db: float | None = None
    after_song: str | None = None
    setlists: dict[str, str] | None = None
    """The chosen setlist's name, by stick label."""
    resume: ResumePoint | None = None


class StateStore:
    """Reads and writes :class:`SavedState` in ``folder`` (main loop only)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME

    def load(self) -> tuple[SavedState, str | None]:
        """The saved state, and a warning if it could not be read (then: the defaults) or
        if some of its values were dropped. Never raises."""
        try:
            payload = read_small_file(self.path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return SavedState(), None
        except SmallFileError as exc:
            return SavedState(), f"State file {exc}: defaults"
        try:
            data = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            return SavedState(), f"State file unreadable ({exc.__class__.__name__}): defaults"
        if not isinstance(data, dict):
            return SavedState(), "State file broken: defaults"
        kept = {}
        dropped = []
        for field in fields(SavedState):
            value = data.get(field.name)
            if _fits(field.name, value):
                kept[field.name] = value
            elif value is not None:
                dropped.append(field.name)
        if isinstance(resume := kept.get("resume"), dict):
            kept["resume"] = ResumePoint(**resume)
        warning = f"State file: bad {', '.join(dropped)} ignored" if dropped else None
        return SavedState(**kept), warning

    def save(self, state: SavedState) -> None:
        """Replace the saved state atomically. Raises OSError if the disk refuses."""
        write_atomically(self.path, json.dumps(asdict(state), sort_keys=True,
                                               allow_nan=False).encode())

    def remove_stale_temp_files(self) -> int:
        """Delete what writes killed part-way left behind, in the state folder and its
        cache folder; return how many. Called at start, before anything writes there."""
        removed = 0
        for folder in (self.path.parent, self.path.parent / CACHE_FOLDER):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                    try:
                        os.unlink(folder / name)
                    except OSError as exc:
                        log.warning("cannot remove %s: %s", folder / name, exc.strerror)
                    else:
                        removed += 1
        return removed

    def cache_path(self, kind: str, key: str) -> Path:
        """Where a per-stick cache (``kind``, e.g. ``titles``) of stick ``key`` lives."""
        # A name, not a defence: at worst two sticks share a cache whose entries are
        # checked file by file. crc32, because hashlib would load OpenSSL (3.5 MB).
        digest = f"{zlib.crc32(key.encode('utf-8', 'surrogateescape')):08x}"
        return self.path.parent / CACHE_FOLDER / f"{kind}-{digest}.json"


class SmallFileError(Exception):
    """Not a small regular file; the message says what it is instead (``is a link``)."""


def read_small_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, if it holds at most ``max_bytes``.

    A link is not followed, and a FIFO or a device is not waited on. Raises
    FileNotFoundError if there is nothing at ``path``, :class:`SmallFileError` for the rest.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SmallFileError("is a link") from exc
        raise SmallFileError(f"unreadable ({exc.strerror})") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SmallFileError("is not a regular file")
        chunks = []
        size = 0
        # Read to the end, not to fstat's size: the file may be growing.
        while chunk := os.read(fd, max_bytes + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise SmallFileError(f"too big (over {max_bytes} bytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise SmallFileError(f"unreadable ({exc.strerror})") from exc
    finally:
        os.close(fd)


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` so a reader sees the old or the new, never half.

    A temporary file, flushed to the disk, renamed over the old one, and the folder
    flushed too. Raises OSError if the disk refuses, and then leaves no temporary file.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}{TEMP_SUFFIX}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_RESUME_FIELDS = {field.name for field in fields(ResumePoint)}
_RESUME_OPTIONAL = {"trainer_speed"}


def _fits(name: str, value: object) -> bool:
    if value is None:
        return False
    if name == "volume_db":
        return _number_in(value, -60.0, 6.0)
    if name == "after_song":
        return value in ("stop", "next")
    if name == "resume":
        return isinstance(value, dict) \
            and _RESUME_FIELDS - _RESUME_OPTIONAL <= set(value) <= _RESUME_FIELDS and all(
                isinstance(value[key], str) for key in ("stick", "setlist", "path")) \
            and type(value["index"]) is int and value["index"] >= 0 \
            and _number_in(value["position_s"], 0.0, MAX_POSITION_S) \
            and (value.get("trainer_speed") is None
                 or _number_in(value["trainer_speed"], SPEED_MIN, 1.0))
    if name == "setlists":
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return False


def _number_in(value: object, low: float, high: float) -> bool:
    """A finite int or float, not a bool, from ``low`` to ``high``."""
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) and low <= value <= high


def _refuse_constant(name: str) -> float:
    """``NaN`` and ``Infinity`` are not JSON: a file holding them is broken."""
    raise ValueError(f"{name} is not a number")
