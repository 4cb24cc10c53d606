"""image/install.sh into a debootstrapped Debian bookworm root file system.

The rootfs (minbase plus systemd and Python) is made once a day and kept in
/var/tmp/stagebox-rootfs-cache; each run installs into a fresh copy of it, twice, to prove
that running the script again is harmless. The package goes into the venv with
``--pip-offline`` (stagebox alone, no PyPI): its dependencies are not in this rootfs.
Needs root, debootstrap, systemd (systemctl, systemd-analyze) and Debian's archive.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rootfs import REPO, cached_rootfs, need

from stagebox import __version__

ORIGINAL_CONFIG_TXT = "# Raspberry Pi OS\ndtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\n"
ORIGINAL_CMDLINE = "console=serial0,115200 root=PARTUUID=1234-02 rootfstype=ext4 rootwait\n"
FAKE_UNIT = "[Unit]\nDescription={}\n[Service]\nExecStart=/bin/true\n" \
            "[Install]\nWantedBy=multi-user.target\n"


def run_install(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "image" / "install.sh"), "--root", str(root),
                           "--no-apt", "--pip-offline"], capture_output=True, text=True,
                          check=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Iterator[Path]:
    assert os.geteuid() == 0, "the install test needs root (chroot, useradd --root)"
    need("systemctl")
    root = tmp_path_factory.mktemp("rootfs") / "root"
    subprocess.run(["cp", "-a", str(cached_rootfs()), str(root)], check=True)
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "config.txt").write_text(ORIGINAL_CONFIG_TXT)
    (boot / "cmdline.txt").write_text(ORIGINAL_CMDLINE)
    # Services of Raspberry Pi OS Lite that a stage box does not need.
    for unit in ("bluetooth.service", "avahi-daemon.service"):
        (root / "lib/systemd/system" / unit).write_text(FAKE_UNIT.format(unit))
        subprocess.run([need("systemctl"), f"--root={root}", "enable", unit], check=True,
                       capture_output=True)
    first = run_install(root)
    assert first.returncode == 0, first.stdout + first.stderr
    shutil.copy(root / "etc/stagebox/config.toml", root.parent / "fresh-config.toml")
    (root / "etc/stagebox/config.toml").write_text('[audio]\ndevice = "hw:CARD=Gig"\n')
    second = run_install(root)
    assert second.returncode == 0, second.stdout + second.stderr
    yield root
    shutil.rmtree(root)  # a few hundred MB: not kept in pytest's last three temp folders


def passwd_entry(root: Path, file: str, name: str) -> list[str]:
    for line in (root / "etc" / file).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    raise AssertionError(f"no {name} in /etc/{file}")


@pytest.mark.slow
def test_a_system_user_that_cannot_log_in_with_just_audio_gpio_i2c(root):
    _, _, uid, gid, _, home, shell = passwd_entry(root, "passwd", "stagebox")
    assert int(uid) < 1000 and shell == "/usr/sbin/nologin" and home == "/var/lib/stagebox"
    assert passwd_entry(root, "group", "stagebox")[2] == gid
    member_of = {g for g in ("audio", "gpio", "i2c", "sudo", "adm", "disk")
                 if "stagebox" in passwd_entry(root, "group", g)[3].split(",")}
    assert member_of == {"audio", "gpio", "i2c"}


@pytest.mark.slow
def test_the_venv_uses_the_system_packages_and_runs_stagebox(root):
    cfg = (root / "opt/stagebox/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    version = subprocess.run(["chroot", str(root), "/opt/stagebox/venv/bin/stagebox",
                              "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"stagebox {__version__}"
    helper = subprocess.run(["chroot", str(root), "/opt/stagebox/venv/bin/python", "-m",
                             "stagebox.mount_helper", "--help"], capture_output=True,
                            text=True, check=True)
    assert "add" in helper.stdout and "remove" in helper.stdout


def mode_owner(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_mode & 0o7777, st.st_uid, st.st_gid


@pytest.mark.slow
def test_files_are_in_place_with_their_permissions(root):
    _, _, uid, gid, *_ = passwd_entry(root, "passwd", "stagebox")
    assert mode_owner(root / "var/lib/stagebox") == (0o700, int(uid), int(gid))
    assert mode_owner(root / "media/stagebox") == (0o755, 0, 0)
    installed = {
        "etc/systemd/system/stagebox.service": "systemd/stagebox.service",
        "etc/systemd/system/stagebox-mount@.service": "systemd/stagebox-mount@.service",
        "etc/systemd/system/stagebox-shutdown.path": "systemd/stagebox-shutdown.path",
        "etc/systemd/system/stagebox-shutdown.service": "systemd/stagebox-shutdown.service",
        "etc/udev/rules.d/99-stagebox.rules": "systemd/99-stagebox.rules",
        "etc/tmpfiles.d/stagebox.conf": "systemd/stagebox-tmpfiles.conf",
    }
    for target, source in installed.items():
        assert (root / target).read_text() == (REPO / source).read_text(), target
        assert mode_owner(root / target) == (0o644, 0, 0), target
    # snd: ALSA's device major exists before the player starts, interface or not;
    # snd-seq: the sequencer MIDI goes through.
    assert (root / "etc/modules-load.d/stagebox.conf").read_text() == "i2c-dev\nsnd\nsnd-seq\n"


@pytest.mark.slow
def test_the_users_config_survives_a_second_install(root):
    assert (root / "etc/stagebox/config.toml").read_text() == '[audio]\ndevice = "hw:CARD=Gig"\n'
    assert mode_owner(root / "etc/stagebox/config.toml")[0] == 0o644


@pytest.mark.slow
def test_a_fresh_config_is_the_documented_example(root):
    fresh = (root.parent / "fresh-config.toml").read_text()
    assert fresh == (REPO / "stagebox/config.example.toml").read_text()


def is_enabled(root: Path, unit: str) -> str:
    return subprocess.run([need("systemctl"), f"--root={root}", "is-enabled", unit],
                          capture_output=True, text=True, check=False).stdout.strip()


@pytest.mark.slow
def test_stagebox_is_enabled_and_unneeded_services_are_not(root):
    assert is_enabled(root, "stagebox.service") == "enabled"
    assert is_enabled(root, "stagebox-shutdown.path") == "enabled"
    assert (root / "etc/systemd/system/multi-user.target.wants/stagebox.service").is_symlink()
    for unit in ("bluetooth.service", "avahi-daemon.service", "apt-daily.timer",
                 "apt-daily-upgrade.timer"):
        assert is_enabled(root, unit) == "disabled", unit


@pytest.mark.slow
def test_the_units_verify_inside_the_rootfs(root):
    result = subprocess.run([need("systemd-analyze"), "verify", f"--root={root}", "--man=no",
                             "stagebox.service", "stagebox-mount@sda1.service",
                             "stagebox-shutdown.path", "stagebox-shutdown.service"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


@pytest.mark.slow
def test_boot_config_turns_i2c_on_at_400khz_with_no_splash_once(root):
    text = (root / "boot/firmware/config.txt").read_text()
    assert text.startswith(ORIGINAL_CONFIG_TXT)
    ours = text[len(ORIGINAL_CONFIG_TXT):].splitlines()
    assert ours[1] == "[all]"
    for line in ("dtparam=i2c_arm=on", "dtparam=i2c_arm_baudrate=400000", "disable_splash=1",
                 "camera_auto_detect=0", "display_auto_detect=0", "dtoverlay=disable-bt"):
        assert text.count(line) == 1 and line in ours


@pytest.mark.slow
def test_the_kernel_boots_quietly_keeping_its_own_arguments(root):
    words = (root / "boot/firmware/cmdline.txt").read_text().split()
    assert words[:4] == ORIGINAL_CMDLINE.split()
    assert words[4:] == ["quiet", "loglevel=3", "logo.nologo"]
    assert (root / "boot/firmware/cmdline.txt").read_text().count("\n") == 1


# --- The image's variant: install.sh --read-only-root, as the pi-gen stage runs it. ---

PI_GEN_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 "
                  "fsck.repair=yes rootwait resize init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
PI_GEN_FSTAB = ("proc            /proc           proc    defaults          0       0\n"
                "PARTUUID=1234-01  /boot/firmware  vfat    defaults          0       2\n"
                "PARTUUID=1234-02  /               ext4    defaults,noatime  0       1\n")
# What an earlier install.sh added to fstab: the state partition by label.
OLD_STATE_FSTAB = ("# >>> stagebox\nLABEL=sbstate /var/lib/stagebox ext4 defaults,noatime,"
                   "nofail,x-systemd.device-timeout=10s,commit=1,data=journal 0 2\n"
                   "# <<< stagebox\n")
STATE_GENERATOR = "etc/systemd/system-generators/stagebox-state-generator"
FIRST_BOOT_UNITS = ("regenerate_ssh_host_keys.service", "userconfig.service")
# A stand-in for openssh's ssh-keygen: says how it was called.
FAKE_SSH_KEYGEN = "#!/bin/sh\necho \"$@\" >/etc/ssh/keygen-called\n"


@pytest.fixture(scope="module")
def ro_root(tmp_path_factory) -> Iterator[Path]:
    assert os.geteuid() == 0, "the install test needs root (chroot, useradd --root)"
    root = tmp_path_factory.mktemp("ro-rootfs") / "root"
    subprocess.run(["cp", "-a", str(cached_rootfs()), str(root)], check=True)
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "config.txt").write_text(ORIGINAL_CONFIG_TXT)
    (boot / "cmdline.txt").write_text(PI_GEN_CMDLINE)
    (root / "etc" / "fstab").write_text(PI_GEN_FSTAB + OLD_STATE_FSTAB)
    # Raspberry Pi OS's first-boot units: a SysV script (pi-gen's) and two units.
    (root / "etc/init.d/resize2fs_once").write_text("#!/bin/sh\n")
    for unit in FIRST_BOOT_UNITS:
        (root / "lib/systemd/system" / unit).write_text(FAKE_UNIT.format(unit))
        subprocess.run([need("systemctl"), f"--root={root}", "enable", unit], check=True,
                       capture_output=True)
    (root / "etc/ssh").mkdir(exist_ok=True)
    keygen = root / "usr/bin/ssh-keygen"
    keygen.write_text(FAKE_SSH_KEYGEN)
    keygen.chmod(0o755)
    for _ in range(2):  # the second run must change nothing
        done = subprocess.run([str(REPO / "image" / "install.sh"), "--root", str(root),
                               "--no-apt", "--no-pip", "--read-only-root"],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    yield root
    shutil.rmtree(root)


def generate(generator: Path, cmdline: str, out: Path) -> subprocess.CompletedProcess:
    """Run the state generator as systemd would, on the kernel command line ``cmdline``."""
    (out.parent / "cmdline").write_text(cmdline)
    out.mkdir()
    return subprocess.run([str(generator), str(out), str(out.parent / "early"),
                           str(out.parent / "late")], capture_output=True, text=True,
                          env={**os.environ, "STAGEBOX_CMDLINE": str(out.parent / "cmdline")},
                          check=True)


@pytest.mark.slow
def test_the_state_partition_is_no_longer_in_fstab_and_its_generator_is_installed(ro_root):
    assert (ro_root / "etc/fstab").read_text() == PI_GEN_FSTAB
    assert mode_owner(ro_root / STATE_GENERATOR) == (0o755, 0, 0)


@pytest.mark.slow
def test_the_state_partition_is_the_root_disks_third_checked_and_never_run_from(
        ro_root, tmp_path):
    generate(ro_root / STATE_GENERATOR, PI_GEN_CMDLINE, tmp_path / "normal")
    unit = (tmp_path / "normal/var-lib-stagebox.mount").read_text()
    # By the root's disk, not by label: a stick labelled sbstate cannot become the state.
    assert "What=/dev/disk/by-partuuid/1234-03\n" in unit and "label" not in unit
    assert "Where=/var/lib/stagebox\n" in unit and "Type=ext4\n" in unit
    assert "Options=nosuid,nodev,noexec,noatime,commit=1,data=journal\n" in unit
    # fsck runs first; nofail: only wanted by local-fs.target, so a lost partition
    # never stops the boot, and it is given up on after 10 s.
    assert "Requires=systemd-fsck@dev-disk-by\\x2dpartuuid-1234\\x2d03.service" in unit
    assert (tmp_path / "normal/local-fs.target.wants/var-lib-stagebox.mount").exists()
    assert not (tmp_path / "normal/local-fs.target.requires").exists()
    assert "Before=local-fs.target" not in unit
    timeout = tmp_path / "normal/dev-disk-by\\x2dpartuuid-1234\\x2d03.device.d"
    assert (timeout / "50-device-timeout.conf").read_text() == "[Unit]\nJobRunningTimeoutSec=10s\n"
    verify = subprocess.run([need("systemd-analyze"), "verify", "--man=no",
                             str(tmp_path / "normal/var-lib-stagebox.mount")],
                            capture_output=True, text=True, check=False)
    assert "var-lib-stagebox.mount" not in verify.stdout + verify.stderr


@pytest.mark.parametrize("cmdline", ["root=/dev/mmcblk0p2 rootwait", "root=PARTUUID=1234-01",
                                     "root=PARTUUID=$(reboot)-02", "quiet"])
def test_with_no_root_partuuid_to_go_by_no_state_partition_is_named(cmdline, tmp_path):
    generate(REPO / "systemd/stagebox-state-generator", cmdline + "\n", tmp_path / "normal")
    assert list((tmp_path / "normal").iterdir()) == []


@pytest.mark.parametrize(("option", "seconds"), [
    ("stagebox.state_device_timeout=120", "120"), ("stagebox.state_device_timeout=", "10"),
    ("stagebox.state_device_timeout=5m", "10"), ("stagebox.state_device_timeout=0", "10"),
    ("stagebox.state_device_timeout=-3", "10")])
def test_an_emulated_machine_can_wait_longer_for_the_state_partition(option, seconds, tmp_path):
    generate(REPO / "systemd/stagebox-state-generator", f"root=PARTUUID=abcd-02 {option}\n",
             tmp_path / "normal")
    timeout = tmp_path / "normal/dev-disk-by\\x2dpartuuid-abcd\\x2d03.device.d"
    assert ((timeout / "50-device-timeout.conf").read_text()
            == f"[Unit]\nJobRunningTimeoutSec={seconds}s\n")


@pytest.mark.slow
def test_first_boot_units_are_masked_under_the_overlay_and_host_keys_made_once(ro_root):
    for unit in ("resize2fs_once.service", *FIRST_BOOT_UNITS):
        assert is_enabled(ro_root, unit) == "masked", unit
    assert (ro_root / "etc/ssh/keygen-called").read_text() == "-A\n"


@pytest.mark.slow
def test_the_kernel_gets_the_overlay_and_no_first_boot_resize(ro_root):
    text = (ro_root / "boot/firmware/cmdline.txt").read_text()
    assert text.count("\n") == 1
    words = text.split()
    assert words == ["console=serial0,115200", "console=tty1", "root=PARTUUID=1234-02",
                     "rootfstype=ext4", "fsck.repair=yes", "rootwait", "quiet", "loglevel=3",
                     "logo.nologo", "overlayroot=tmpfs:recurse=0"]


@pytest.mark.slow
def test_the_overlay_is_built_into_the_initramfs_the_firmware_loads(ro_root):
    text = (ro_root / "boot/firmware/config.txt").read_text()
    ours = text[len(ORIGINAL_CONFIG_TXT):].splitlines()
    assert ours[0] == "# >>> stagebox" and ours[-1] == "# <<< stagebox"
    assert text.count("auto_initramfs=1") == 1 and "auto_initramfs=1" in ours
    assert "overlayroot" in (REPO / "image/stage-stagebox/00-stagebox/00-packages").read_text()


@pytest.mark.slow
def test_the_journal_stays_in_ram_and_small(ro_root):
    conf = ro_root / "etc/systemd/journald.conf.d/stagebox.conf"
    assert mode_owner(conf) == (0o644, 0, 0)
    assert "Storage=volatile" in conf.read_text() and "RuntimeMaxUse=16M" in conf.read_text()


@pytest.mark.slow
def test_the_plain_install_leaves_fstab_and_journal_alone(root):
    assert "sbstate" not in (root / "etc/fstab").read_text()
    assert not (root / "etc/systemd/journald.conf.d/stagebox.conf").exists()
    assert "overlayroot" not in (root / "boot/firmware/cmdline.txt").read_text()
