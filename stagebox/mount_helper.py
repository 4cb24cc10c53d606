"""The privileged mount helper: each USB stick's file system, read-only, under the media root.

udev starts ``stagebox-mount@<kernel name>.service`` for every USB partition with a file
system it knows (``systemd/99-stagebox.rules``); the unit runs
``python -m stagebox.mount_helper add sda1`` and, when the stick is pulled out (the unit is
bound to its device), ``... remove sda1``. The daemon never mounts: it only sees the mount
appear in its own mount table.

The decisions (which device qualifies, the mount options, the folder's name) are pure
functions; running ``mount``/``umount`` is a function passed in, so tests need no root.
"""

from __future__ import annotations

import argparse
import logging
import pwd
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyudev

from stagebox.config import DEFAULT_PATH, load_config
from stagebox.hal.media_watch import MOUNTINFO, Mount, parse_mountinfo

log = logging.getLogger(__name__)

FS_TYPES = {"vfat": "vfat", "exfat": "exfat", "ntfs": "ntfs3", "ntfs3": "ntfs3", "ext4": "ext4"}
"""udev's ``ID_FS_TYPE`` of the file systems we mount, and the kernel driver for each."""

BASE_OPTIONS = ("ro", "nosuid", "nodev", "noexec", "nosymfollow")
"""For every stick: read-only, no set-uid programs, no device files, nothing runnable, and
no symbolic links followed (a link on the stick could point anywhere on the box)."""

MAX_NAME_CHARS = 64
FILE_MASK = "0133"
DIR_MASK = "0022"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Owner:
    """Who owns the files on a FAT, exFAT or NTFS stick (these keep no owners)."""

    uid: int
    gid: int


def qualifies(properties: Mapping[str, str]) -> str | None:
    """Why a block device is not mounted, or None if it is a USB file system we mount."""
    if properties.get("SUBSYSTEM", "block") != "block":
        return "not a block device"
    if properties.get("ID_BUS") != "usb":
        return "not on USB"
    if properties.get("DEVTYPE") not in ("partition", "disk"):
        return "not a disk or partition"
    fs_type = properties.get("ID_FS_TYPE", "")
    if fs_type not in FS_TYPES:
        return f"file system {fs_type or 'unknown'!r} not supported"
    return None


def mount_options(fs_type: str, owner: Owner) -> tuple[str, str]:
    """The kernel driver and the ``-o`` option string for a file system of ``fs_type``."""
    driver = FS_TYPES[fs_type]
    options = list(BASE_OPTIONS)
    if driver in ("vfat", "exfat", "ntfs3"):
        options += [f"uid={owner.uid}", f"gid={owner.gid}", f"fmask={FILE_MASK}",
                    f"dmask={DIR_MASK}"]
        options.append("utf8" if driver == "vfat" else "iocharset=utf8")
    elif driver == "ext4":
        # A read-only mount would still replay a dirty journal, writing to the stick.
        options.append("norecovery")
    return driver, ",".join(options)


def decode_udev_label(encoded: str) -> str:
    """Undo udev's ``\\xNN`` escapes in ``ID_FS_LABEL_ENC`` (bytes in UTF-8)."""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 encoded.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "replace")


def sanitise_name(text: str) -> str:
    """``text`` made a safe single folder name, or "" if nothing usable is left.

    No path separators, no control or invisible format characters, no leading dots (so
    never ``.`` or ``..``, nor a hidden folder), at most :data:`MAX_NAME_CHARS` characters.
    """
    kept = "".join("_" if c in "/\\" else c for c in text
                   if not unicodedata.category(c).startswith("C"))
    kept = " ".join(kept.split()).lstrip(".").strip()
    return kept[:MAX_NAME_CHARS].rstrip()


def folder_name(properties: Mapping[str, str], kernel_name: str, taken: set[str]) -> str:
    """The folder under the media root for this device: its label, else its kernel name.

    A name in ``taken`` (another stick's, or a leftover that is not an empty folder) gets
    the kernel name appended.
    """
    label = properties.get("ID_FS_LABEL_ENC")
    label = decode_udev_label(label) if label else properties.get("ID_FS_LABEL", "")
    fallback = sanitise_name(kernel_name) or "usb"
    name = sanitise_name(label) or fallback
    if name in taken:
        name = f"{name}-{fallback}" if name != fallback else f"usb-{fallback}"
    return name


def run_command(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``mount``/``umount``; the real :data:`Runner`."""
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)


class MountHelper:
    """Mounts and unmounts sticks under ``media_root`` (the helper's process only)."""

    def __init__(self, media_root: Path, owner: Owner, run: Runner = run_command,
                 mountinfo: Path = MOUNTINFO) -> None:
        self.media_root = media_root
        self.owner = owner
        self._run = run
        self._mountinfo = mountinfo

    def add(self, kernel_name: str, properties: Mapping[str, str]) -> Path | None:
        """Mount the device if it qualifies; its mount point, or None. Raises MountError."""
        reason = qualifies(properties)
        if reason is not None:
            log.info("not mounting %s: %s", kernel_name, reason)
            return None
        device = properties.get("DEVNAME") or f"/dev/{kernel_name}"
        # systemd starts the helper once each time the device appears, so a mount of the
        # same device name is an earlier stick's, left by a helper stopped before it could
        # unmount: it would hide this stick until a reboot.
        if self.remove(kernel_name, device):
            log.warning("%s: replaced an earlier stick's stale mount", device)
        if not self.media_root.is_dir():
            self.media_root.mkdir(parents=True)
            # Whatever the umask: the daemon's user must be able to look inside.
            self.media_root.chmod(0o755)
        name = folder_name(properties, kernel_name, self._taken_names())
        point = self.media_root / name
        # Its own mode is hidden by the mount; the stick's root folder counts.
        point.mkdir(exist_ok=True)
        driver, options = mount_options(properties["ID_FS_TYPE"], self.owner)
        result = self._run(["mount", "-t", driver, "-o", options, device, str(point)])
        if result.returncode != 0:
            _remove_folder(point)
            raise MountError(f"mount {device} ({driver}) failed: {result.stderr.strip()}")
        log.info("mounted %s (%s) read-only on %s", device, driver, point)
        return point

    def remove(self, kernel_name: str, devname: str | None = None) -> list[Path]:
        """Lazily unmount the device's mounts under the root and remove their folders."""
        device = devname or f"/dev/{kernel_name}"
        points = self._mount_points_of(device)
        for point in points:
            result = self._run(["umount", "--lazy", str(point)])
            if result.returncode != 0:
                log.warning("umount %s failed: %s", point, result.stderr.strip())
                continue
            _remove_folder(point)
            log.info("unmounted %s from %s", device, point)
        return points

    def _mounts(self) -> list[Mount]:
        try:
            text = self._mountinfo.read_text()
        except OSError as exc:
            log.warning("cannot read %s: %s", self._mountinfo, exc)
            return []
        return parse_mountinfo(text, self.media_root)

    def _mount_points_of(self, device: str) -> list[Path]:
        return [m.mount_point for m in self._mounts() if m.source == device]

    def _taken_names(self) -> set[str]:
        taken = {m.mount_point.name for m in self._mounts()
                 if m.mount_point.parent == self.media_root}
        for entry in self.media_root.iterdir():
            if not (entry.is_dir() and not entry.is_symlink() and not any(entry.iterdir())):
                taken.add(entry.name)
        return taken


class MountError(Exception):
    """A qualifying stick could not be mounted."""


def _remove_folder(point: Path) -> None:
    try:
        point.rmdir()
    except OSError as exc:
        log.warning("cannot remove %s: %s", point, exc)


def udev_properties(kernel_name: str) -> dict[str, str]:
    """What udev knows of block device ``kernel_name`` (reads its database; no netlink)."""
    device = pyudev.Devices.from_name(pyudev.Context(), "block", kernel_name)
    properties = dict(device.properties)
    properties.setdefault("DEVTYPE", device.device_type or "")
    properties.setdefault("SUBSYSTEM", device.subsystem or "")
    return properties


def main(argv: Sequence[str] | None = None,
         properties_of: Callable[[str], Mapping[str, str]] = udev_properties,
         run: Runner = run_command) -> int:
    """``python -m stagebox.mount_helper add|remove KERNEL_NAME``; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m stagebox.mount_helper",
                                     description="Mount a USB stick read-only for stagebox.")
    parser.add_argument("action", choices=("add", "remove"))
    parser.add_argument("kernel_name", help="the block device's kernel name, e.g. sda1")
    parser.add_argument("--config", type=Path, default=DEFAULT_PATH,
                        help="where the media root is configured")
    parser.add_argument("--user", default="stagebox", help="who owns the files on FAT/NTFS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s",
                        stream=sys.stdout)
    if "/" in args.kernel_name or args.kernel_name in ("", ".", ".."):
        log.error("not a kernel device name: %r", args.kernel_name)
        return 2
    config, warnings = load_config(args.config)
    for warning in warnings:
        log.warning("%s", warning)
    try:
        entry = pwd.getpwnam(args.user)
    except KeyError:
        log.error("no user %r", args.user)
        return 1
    helper = MountHelper(Path(config["media.root"]), Owner(entry.pw_uid, entry.pw_gid), run)
    if args.action == "remove":
        helper.remove(args.kernel_name)
        return 0
    try:
        helper.add(args.kernel_name, properties_of(args.kernel_name))
    except (OSError, ValueError, MountError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
