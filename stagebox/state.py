"""What the box remembers across restarts, written so a power cut can never break it.

The state is one small JSON file, replaced atomically: written to a temporary file,
flushed to the disk, renamed over the old one, and the folder flushed too. A reader
therefore sees the old state or the new one, never half of each. A missing or broken
file gives the defaults and a warning.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "state.json"


@dataclass(frozen=True)
class ResumePoint:
    """Where the show was: after a power cut the box comes back here, paused."""

    stick: str
    setlist: str
    index: int
    path: str
    """The song's path on the stick, so a changed setlist is not resumed blindly."""
    position_s: float


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
        """The saved state and a warning if it could not be read (then: the defaults)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return SavedState(), None
        except (OSError, ValueError) as exc:
            return SavedState(), f"State file unreadable ({exc.__class__.__name__}): defaults"
        if not isinstance(data, dict):
            return SavedState(), "State file broken: defaults"
        kept = {}
        for field in fields(SavedState):
            value = data.get(field.name)
            if _fits(field.name, value):
                kept[field.name] = value
        if isinstance(resume := kept.get("resume"), dict):
            kept["resume"] = ResumePoint(**resume)
        return SavedState(**kept), None

    def save(self, state: SavedState) -> None:
        """Replace the saved state atomically. Raises OSError if the disk refuses."""
        write_atomically(self.path, json.dumps(asdict(state), sort_keys=True).encode())

    def cache_path(self, kind: str, key: str) -> Path:
        """Where a per-stick cache (``kind``, e.g. ``titles``) of stick ``key`` lives."""
        # A name, not a defence: at worst two sticks share a cache whose entries are
        # checked file by file. crc32, because hashlib would load OpenSSL (3.5 MB).
        digest = f"{zlib.crc32(key.encode('utf-8', 'surrogateescape')):08x}"
        return self.path.parent / "cache" / f"{kind}-{digest}.json"


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` so a reader sees the old or the new, never half.

    A temporary file, flushed to the disk, renamed over the old one, and the folder
    flushed too. Raises OSError if the disk refuses.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_RESUME_FIELDS = {field.name for field in fields(ResumePoint)}


def _fits(name: str, value: object) -> bool:
    if value is None:
        return False
    if name == "volume_db":
        return isinstance(value, int | float) and not isinstance(value, bool) \
            and -60.0 <= value <= 6.0
    if name == "after_song":
        return value in ("stop", "next")
    if name == "resume":
        return isinstance(value, dict) and set(value) == _RESUME_FIELDS and all(
            isinstance(value[key], str) for key in ("stick", "setlist", "path")) \
            and type(value["index"]) is int and value["index"] >= 0 \
            and isinstance(value["position_s"], int | float) \
            and not isinstance(value["position_s"], bool) and value["position_s"] >= 0
    if name == "setlists":
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return False
