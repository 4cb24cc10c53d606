"""The mount helper's decisions, and its mounting with a recorded ``mount``; one test
mounts a real ext4 image through a loop device (the tests run as root)."""

import os
import subprocess
from pathlib import Path

import pytest

from stagebox.mount_helper import (
    MountError,
    MountHelper,
    Owner,
    decode_udev_label,
    folder_name,
    main,
    mount_options,
    qualifies,
    run_command,
    sanitise_name,
)

OWNER = Owner(uid=999, gid=998)
RULES = Path(__file__).resolve().parents[2] / "systemd" / "99-stagebox.rules"


def stick(**changes: str) -> dict[str, str]:
    properties = {"SUBSYSTEM": "block", "DEVTYPE": "partition", "ID_BUS": "usb",
                  "ID_FS_TYPE": "vfat", "ID_FS_USAGE": "filesystem", "ID_FS_LABEL": "SONGS",
                  "ID_FS_LABEL_ENC": "SONGS", "DEVNAME": "/dev/sda1"}
    properties.update(changes)
    return properties


@pytest.mark.parametrize("fs_type", ["vfat", "exfat", "ntfs", "ext4"])
def test_usb_partitions_with_a_known_file_system_qualify(fs_type):
    assert qualifies(stick(ID_FS_TYPE=fs_type)) is None


def test_a_whole_disk_file_system_without_partitions_qualifies():
    assert qualifies(stick(DEVTYPE="disk")) is None


@pytest.mark.parametrize(("changes", "reason"), [
    ({"ID_BUS": "ata"}, "not on USB"),
    ({"ID_BUS": ""}, "not on USB"),
    ({"ID_FS_TYPE": "btrfs"}, "'btrfs' not supported"),
    ({"ID_FS_TYPE": ""}, "'unknown' not supported"),
    ({"ID_FS_TYPE": "crypto_LUKS"}, "not supported"),
    ({"DEVTYPE": "usb_device"}, "not a disk or partition"),
])
def test_other_devices_are_left_alone_with_the_reason(changes, reason):
    assert reason in qualifies(stick(**changes))


def test_every_stick_is_read_only_without_suid_devices_exec_or_symlinks():
    for fs_type in ("vfat", "exfat", "ntfs", "ext4"):
        _, options = mount_options(fs_type, OWNER)
        assert options.split(",")[:5] == ["ro", "nosuid", "nodev", "noexec", "nosymfollow"]


def test_fat_and_exfat_files_belong_to_the_stagebox_user_in_utf8():
    driver, options = mount_options("vfat", OWNER)
    assert driver == "vfat"
    assert {"uid=999", "gid=998", "fmask=0133", "dmask=0022", "utf8"} <= set(options.split(","))
    driver, options = mount_options("exfat", OWNER)
    assert driver == "exfat"
    assert {"uid=999", "gid=998", "iocharset=utf8"} <= set(options.split(","))


def test_ntfs_uses_the_kernel_driver_and_ext4_never_replays_its_journal():
    driver, options = mount_options("ntfs", OWNER)
    assert driver == "ntfs3" and "uid=999" in options
    driver, options = mount_options("ext4", OWNER)
    assert driver == "ext4" and "norecovery" in options and "uid=" not in options


@pytest.mark.parametrize(("label", "name"), [
    ("SONGS", "SONGS"),
    ("Gig 2024", "Gig 2024"),
    ("../../etc", "_.._etc"),
    ("..", ""),
    ("a/b\\c", "a_b_c"),
    ("\x1b[31mred\x07", "[31mred"),
    ("\u202eevil", "evil"),
    ("  .hidden  ", "hidden"),
    ("\t\n", ""),
    ("x" * 300, "x" * 64),
])
def test_labels_become_safe_single_folder_names(label, name):
    assert sanitise_name(label) == name


def test_udev_escapes_in_the_label_are_decoded():
    assert decode_udev_label("My\\x20Songs") == "My Songs"
    assert decode_udev_label("Caf\\xc3\\xa9") == "Café"
    assert decode_udev_label("a\\x2fb") == "a/b"


def test_the_folder_is_the_label_else_the_kernel_name_and_never_a_taken_one():
    assert folder_name(stick(ID_FS_LABEL_ENC="My\\x20Songs"), "sda1", set()) == "My Songs"
    assert folder_name(stick(ID_FS_LABEL_ENC="", ID_FS_LABEL=""), "sda1", set()) == "sda1"
    assert folder_name(stick(ID_FS_LABEL_ENC="\\x2e\\x2e"), "sdb1", set()) == "sdb1"
    assert folder_name(stick(), "sdb1", {"SONGS"}) == "SONGS-sdb1"
    assert folder_name(stick(ID_FS_LABEL_ENC=""), "sdb1", {"SONGS", "sdb1"}) == "SONGS-sdb1"
    assert folder_name(stick(ID_FS_LABEL_ENC="", ID_FS_LABEL=""), "sdb1", {"sdb1"}) == "usb-sdb1"


def test_the_udev_rule_names_the_same_file_systems_as_the_helper():
    rule = next(line for line in RULES.read_text().splitlines() if "SYSTEMD_WANTS" in line)
    assert 'ENV{ID_BUS}=="usb"' in rule
    listed = rule.split('ENV{ID_FS_TYPE}=="', 1)[1].split('"', 1)[0].split("|")
    assert all(qualifies(stick(ID_FS_TYPE=fs)) is None for fs in listed)
    assert {"vfat", "exfat", "ntfs", "ext4"} <= set(listed)
    assert '"stagebox-mount@%k.service"' in rule


class FakeSystem:
    """``mount``/``umount`` recorded, with a mount table the helper reads back."""

    def __init__(self, tmp_path: Path, fail_with: str = "") -> None:
        self.mountinfo = tmp_path / "mountinfo"
        self.mountinfo.write_text("22 1 179:2 / / rw,noatime - ext4 /dev/mmcblk0p2 rw\n")
        self.fail_with = fail_with
        self.commands: list[list[str]] = []

    def run(self, args):
        self.commands.append(list(args))
        if self.fail_with:
            return subprocess.CompletedProcess(args, 32, "", self.fail_with)
        lines = self.mountinfo.read_text().splitlines()
        if args[0] == "mount":
            point = args[-1].replace(" ", "\\040")
            lines.append(f"40 22 8:1 / {point} ro,nosuid - {args[2]} {args[-2]} ro")
        else:
            point = args[-1].replace(" ", "\\040")
            lines = [line for line in lines if f" {point} " not in line]
        self.mountinfo.write_text("\n".join(lines) + "\n")
        return subprocess.CompletedProcess(args, 0, "", "")


def test_a_stick_is_mounted_under_its_label_and_unmounted_lazily_on_removal(tmp_path):
    system = FakeSystem(tmp_path)
    root = tmp_path / "media"
    helper = MountHelper(root, OWNER, system.run, system.mountinfo)
    point = helper.add("sda1", stick(ID_FS_LABEL_ENC="My\\x20Songs"))
    assert point == root / "My Songs" and point.is_dir()
    assert system.commands[0][:3] == ["mount", "-t", "vfat"]
    assert system.commands[0][-2:] == ["/dev/sda1", str(root / "My Songs")]
    assert helper.remove("sda1") == [point]
    assert system.commands[-1] == ["umount", "--lazy", str(point)]
    assert not point.exists()


def test_a_stale_mount_left_on_the_device_name_gives_way_to_the_next_stick(tmp_path):
    # A helper stopped between mount and unmount left the first stick mounted on sda1.
    system = FakeSystem(tmp_path)
    root = tmp_path / "media"
    helper = MountHelper(root, OWNER, system.run, system.mountinfo)
    old = helper.add("sda1", stick(ID_FS_LABEL_ENC="OLD"))
    new = helper.add("sda1", stick(ID_FS_LABEL_ENC="GIG"))
    assert system.commands[1] == ["umount", "--lazy", str(old)]
    assert system.commands[2][-2:] == ["/dev/sda1", str(root / "GIG")]
    assert not old.exists() and new == root / "GIG" and new.is_dir()
    assert f" {new} " in system.mountinfo.read_text()


def test_two_sticks_with_one_label_get_two_folders(tmp_path):
    system = FakeSystem(tmp_path)
    helper = MountHelper(tmp_path / "media", OWNER, system.run, system.mountinfo)
    first = helper.add("sda1", stick())
    second = helper.add("sdb1", stick(DEVNAME="/dev/sdb1"))
    assert (first.name, second.name) == ("SONGS", "SONGS-sdb1")
    helper.remove("sda1")
    assert not first.exists() and second.is_dir()


def test_a_leftover_file_in_the_media_root_is_never_mounted_over(tmp_path):
    system = FakeSystem(tmp_path)
    root = tmp_path / "media"
    (root / "SONGS").mkdir(parents=True)
    (root / "SONGS" / "left.txt").write_text("x")
    helper = MountHelper(root, OWNER, system.run, system.mountinfo)
    assert helper.add("sda1", stick()).name == "SONGS-sda1"


def test_a_failed_mount_leaves_no_folder_and_says_why(tmp_path):
    system = FakeSystem(tmp_path, fail_with="wrong fs type, bad superblock")
    root = tmp_path / "media"
    helper = MountHelper(root, OWNER, system.run, system.mountinfo)
    with pytest.raises(MountError, match="bad superblock"):
        helper.add("sda1", stick())
    assert list(root.iterdir()) == []


def test_a_device_that_does_not_qualify_is_not_mounted(tmp_path):
    system = FakeSystem(tmp_path)
    helper = MountHelper(tmp_path / "media", OWNER, system.run, system.mountinfo)
    assert helper.add("sda1", stick(ID_BUS="ata")) is None
    assert system.commands == []


def test_removing_an_unknown_device_does_nothing(tmp_path):
    system = FakeSystem(tmp_path)
    helper = MountHelper(tmp_path / "media", OWNER, system.run, system.mountinfo)
    assert helper.remove("sdz9") == []
    assert system.commands == []


def test_the_command_line_mounts_under_the_configured_root(tmp_path, monkeypatch):
    root = tmp_path / "sticks"
    config = tmp_path / "config.toml"
    config.write_text(f'[media]\nroot = "{root}"\n')
    calls = []

    def run(args):
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 0, "", "")

    status = main(["add", "sda1", "--config", str(config), "--user", "root"],
                  properties_of=lambda name: stick(), run=run)
    assert status == 0
    assert calls[0][-1] == str(root / "SONGS")
    assert "uid=0" in calls[0][4]


def test_the_command_line_refuses_a_path_as_device_name(tmp_path):
    assert main(["add", "../sda1", "--config", str(tmp_path / "none.toml")]) == 2


def test_a_real_ext4_stick_is_mounted_read_only_and_the_options_are_accepted(tmp_path):
    image = tmp_path / "stick.img"
    with image.open("wb") as f:
        f.truncate(8 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-L", "Gig Songs", str(image)], check=True)
    loop = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                          capture_output=True, text=True).stdout.strip()
    root = tmp_path / "media"
    helper = MountHelper(root, OWNER, run_command)
    try:
        point = helper.add(Path(loop).name, stick(ID_FS_TYPE="ext4", DEVNAME=loop,
                                                  ID_FS_LABEL_ENC="Gig\\x20Songs"))
        assert point == root / "Gig Songs"
        assert os.path.ismount(point)
        with pytest.raises(OSError):
            (point / "new.txt").write_text("x")
        assert helper.remove(Path(loop).name, devname=loop) == [point]
        assert not point.exists()
    finally:
        subprocess.run(["umount", "--lazy", str(root / "Gig Songs")], capture_output=True)
        subprocess.run(["losetup", "-d", loop], check=True)
