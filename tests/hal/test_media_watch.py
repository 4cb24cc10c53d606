"""Sticks noticed from the mount table, as the daemon sees them inside its sandbox."""

from pathlib import Path

from stagebox.events import StickInserted, StickRemoved
from stagebox.hal.media_watch import MountWatcher, parse_mountinfo

BASE = """\
22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw
25 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
"""
STICK = "90 22 8:1 / /media/stagebox/MY\\040SONGS ro,nosuid,nodev,noexec - vfat /dev/sda1 ro\n"


def test_only_mounts_below_the_media_root_count_and_escapes_are_undone():
    mounts = parse_mountinfo(BASE + STICK, Path("/media/stagebox"))
    assert [(m.mount_point, m.source) for m in mounts] == [
        (Path("/media/stagebox/MY SONGS"), "/dev/sda1")]
    assert parse_mountinfo(BASE, Path("/media/stagebox")) == []


def test_a_stick_appearing_and_going_posts_inserted_then_removed(tmp_path: Path):
    table = tmp_path / "mountinfo"
    posted: list = []
    watcher = MountWatcher(Path("/media/stagebox"), posted.append, mountinfo=table,
                           label_of=lambda source, fallback: "GIG-1")
    table.write_text(BASE)
    watcher.poll()
    assert posted == []
    table.write_text(BASE + STICK)
    watcher.poll()
    watcher.poll()
    assert posted == [StickInserted(Path("/media/stagebox/MY SONGS"), "GIG-1")]
    table.write_text(BASE)
    watcher.poll()
    assert posted[-1] == StickRemoved()


def test_an_unreadable_mount_table_is_not_a_crash(tmp_path: Path):
    posted: list = []
    MountWatcher(Path("/media/stagebox"), posted.append, mountinfo=tmp_path / "nope").poll()
    assert posted == []
