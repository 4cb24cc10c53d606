"""Noticing sticks: mounts appearing and vanishing under the media root.

Mounting is the privileged mount helper's job; the daemon only watches. It polls
``/proc/self/mountinfo``, which keeps working inside a sandbox with no network (where
udev's netlink events never arrive), and asks pyudev what the device is when it can.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stagebox.events import StickInserted, StickRemoved

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Mount:
    """One mounted file system under the media root."""

    mount_point: Path
    source: str
    """The block device, e.g. ``/dev/sda1``."""


def parse_mountinfo(text: str, media_root: Path) -> list[Mount]:
    """The mounts strictly below ``media_root``, in mount order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = Path(_unescape(fields[4]))
        after = line.split(" - ", 1)[1].split()
        source = _unescape(after[1]) if len(after) > 1 else ""
        if point != media_root and point.is_relative_to(media_root):
            mounts.append(Mount(point, source))
    return mounts


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def device_label(source: str, fallback: str) -> str:
    """The file system label udev knows for ``source``, else ``fallback`` (main loop)."""
    # Imported at the first stick, not as the box starts: it is not needed before then.
    import pyudev

    try:
        device = pyudev.Devices.from_device_file(pyudev.Context(), source)
        return device.properties.get("ID_FS_LABEL") or fallback
    except (OSError, ValueError, pyudev.DeviceNotFoundError) as exc:
        log.debug("no udev label for %s: %s", source, exc)
        return fallback


class MountWatcher:
    """Polls the mount table and posts stick events; the main loop calls :meth:`poll`.

    One stick at a time: the first mount under the root is the stick, and another one
    is noticed when the first has gone.
    """

    def __init__(self, media_root: Path, post: Callable[[object], None],
                 mountinfo: Path = MOUNTINFO,
                 label_of: Callable[[str, str], str] = device_label) -> None:
        self.media_root = media_root
        self._post = post
        self._mountinfo = mountinfo
        self._label_of = label_of
        self._current: Mount | None = None
        self._last_text = ""

    def poll(self) -> None:
        """Read the mount table; post StickInserted or StickRemoved on a change."""
        try:
            text = self._mountinfo.read_text()
        except OSError as exc:
            log.warning("cannot read %s: %s", self._mountinfo, exc)
            return
        if text == self._last_text:
            return
        self._last_text = text
        mounts = parse_mountinfo(text, self.media_root)
        if self._current is not None and self._current not in mounts:
            self._current = None
            self._post(StickRemoved())
        if self._current is None and mounts:
            self._current = mounts[0]
            name = self._current.mount_point.name
            label = self._label_of(self._current.source, name)
            self._post(StickInserted(self._current.mount_point, label))


class SimMedia:
    """The simulator's stick: a folder that the script inserts and removes."""

    def __init__(self, post: Callable[[object], None]) -> None:
        self._post = post
        self.inserted: Path | None = None

    def insert(self, folder: Path) -> None:
        """Plug in ``folder`` as a stick (removing any stick that was in)."""
        if self.inserted is not None:
            self.remove()
        self.inserted = folder
        self._post(StickInserted(folder, folder.name))

    def remove(self) -> None:
        """Pull the stick out."""
        if self.inserted is not None:
            self.inserted = None
            self._post(StickRemoved())
