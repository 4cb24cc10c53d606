"""The installed appliance booted for real: systemd 252 in ``systemd-nspawn -b``.

The rootfs comes from ``image/install.sh`` run in full (kept between runs, see
``rootfs.installed_rootfs``); each run installs the tree under test on top, binds a
folder of songs under the media root as a stick, and boots it. The checks are made from
outside, as systemd and the kernel see the service: READY under the full hardening, the
stick scanned and its song decoded, nothing flooding the journal, the state folder
writable although its partition was mounted after tmpfiles ran, the stick's mount kept
off the daemon's start, and the watchdog bringing back a daemon that stopped moving.
What a container cannot show (an interface plugged after boot, the read-only overlay, a
hard reset) is for ``make vm-test``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_tone
from container import Container
from rootfs import REPO, installed_rootfs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TEST_CONFIG = """\
[display]
driver = "none"
"""
LATE_STATE_PARTITION = (
    "# The test's state partition: mounted after tmpfiles ran, root's and 0755, as a\n"
    "# fresh ext4 partition whose device appears late in a real boot.\n"
    "tmpfs /var/lib/stagebox tmpfs nofail,mode=0755,"
    "x-systemd.after=systemd-tmpfiles-setup.service 0 0\n")


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Iterator[Container]:
    assert os.geteuid() == 0, "the boot test needs root (overlay mount, nspawn)"
    songs = tmp_path_factory.mktemp("stick")
    write_tone(songs / "tone.flac", 440, 5.0, rate=44100)
    songs.chmod(0o755)  # as a stick's mount shows it; pytest makes its folders 0700
    work = tmp_path_factory.mktemp("boot")
    with Container(installed_rootfs(), work, "stagebox-boot-test",
                   binds=((songs, "/media/stagebox/STICK"),)) as container:
        install = subprocess.run([str(REPO / "image/install.sh"), "--root",
                                  str(container.root), "--no-apt", "--pip-offline"],
                                 capture_output=True, text=True, check=False)
        assert install.returncode == 0, install.stdout + install.stderr
        (container.root / "etc/stagebox/config.toml").write_text(TEST_CONFIG)
        with (container.root / "etc/fstab").open("a") as fstab:
            fstab.write(LATE_STATE_PARTITION)
        container.boot()
        container.wait_for(lambda: "loaded tone.flac" in container.journal("stagebox"),
                           "song loaded by the daemon")
        yield container


def daemon_pid(box: Container) -> int:
    return box.host_pid(int(box.unit("stagebox.service", "MainPID")["MainPID"]))


def status_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_the_daemon_is_ready_under_its_hardening(box):
    unit = box.unit("stagebox.service", "ActiveState", "SubState", "StatusText", "Type")
    assert (unit["Type"], unit["ActiveState"], unit["SubState"]) == (
        "notify", "active", "running")
    assert unit["StatusText"].startswith("stagebox ")
    pid = daemon_pid(box)
    status = status_of(pid)
    assert status["Seccomp"].strip() == "2", "no system call filter"
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    # PrivateUsers=: a user namespace mapping root and the service's user, nothing more.
    uid_map = Path(f"/proc/{pid}/uid_map").read_text().split("\n")
    assert sum(int(line.split()[2]) for line in uid_map if line.strip()) <= 2
    leader = box.host_pid(1)
    for namespace in ("net", "user", "ipc"):
        assert os.readlink(f"/proc/{pid}/ns/{namespace}") != \
            os.readlink(f"/proc/{leader}/ns/{namespace}"), f"no private {namespace}"


def test_a_stick_under_the_media_root_is_scanned_and_its_song_decoded(box):
    journal = box.journal("stagebox")
    assert "'songs': 1" in journal and "scan_finished" in journal
    assert "loaded tone.flac (5.0 s)" in journal


def test_an_absent_interface_is_said_once_and_alsa_lib_stays_out_of_the_journal(box):
    # The daemon started with no sound card and has retried since; its later lines
    # being in the journal, any earlier one would be too.
    journal = box.journal("stagebox")
    assert "No audio interface" in journal
    assert "ALSA lib" not in journal


def test_the_state_folder_is_the_daemons_though_its_partition_was_mounted_late(box):
    assert box.unit("var-lib-stagebox.mount", "ActiveState")["ActiveState"] == "active"
    folder = box.run("stat", "--format=%U %a", "/var/lib/stagebox", check=True).stdout
    assert folder.split() == ["stagebox", "700"]
    box.wait_for(lambda: box.run("find", "/var/lib/stagebox", "-type", "f", "-user",
                                 "stagebox").stdout.strip() != "", "a file the daemon saved")
    assert "Cannot save" not in box.journal("stagebox")


def test_a_stick_being_mounted_does_not_hold_the_daemons_start(box):
    mount_unit = box.unit("stagebox-mount@sda1.service", "Before", "RequiredBy", "WantedBy")
    assert "stagebox.service" not in " ".join(mount_unit.values())
    assert "stagebox-mount" not in box.unit("stagebox.service", "After")["After"]


def test_the_doctor_on_the_booted_box_finds_the_unit_ordered_sandboxed_running_and_metering(
        box):
    doctor = box.run("/opt/stagebox/venv/bin/stagebox", "doctor").stdout
    for name in ("service", "start order", "hardening", "loudness meter"):
        assert re.search(rf"^OK +{name}  ", doctor, re.MULTILINE), doctor
    # The test's state partition is a tmpfs: the doctor must say the place is not kept.
    assert re.search(r"^FAIL +state folder .*lost at power-off", doctor, re.MULTILINE), doctor


def test_the_watchdog_restarts_a_daemon_that_stops_moving(box):
    # Next to last: it restarts the daemon.
    before = box.unit("stagebox.service", "MainPID", "NRestarts")
    os.kill(daemon_pid(box), 19)  # SIGSTOP: a hung box, as far as systemd can tell

    def back() -> bool:
        now = box.unit("stagebox.service", "MainPID", "NRestarts", "ActiveState")
        return (int(now["NRestarts"]) > int(before["NRestarts"])
                and now["ActiveState"] == "active" and now["MainPID"] != before["MainPID"])

    box.wait_for(back, "restart by the watchdog")
    assert "Watchdog timeout" in box.journal("stagebox")


def test_the_daemons_power_off_request_powers_the_box_off(box):
    # Last: the box is off after it. The daemon asks by leaving a flag in its runtime
    # folder (it can do nothing else); the path unit starts the sandboxed power-off.
    box.run("setpriv", "--reuid=stagebox", "--regid=stagebox", "--clear-groups",
            "touch", "/run/stagebox/shutdown", check=True)
    assert box.wait_for_power_off() == 0
