"""The pi-gen stage run as pi-gen runs it: ``01-run.sh`` with pi-gen's own ``on_chroot``.

``image/prepare-stage.sh`` lays the stage out as ``image/build.sh`` does; its script runs
with ``ROOTFS_DIR`` on an overlay of the installed test rootfs (which stands for pi-gen's
stage 2: Debian with the stage's packages), with ``on_chroot`` vendored from the pi-gen
commit ``build.sh`` pins (``pigen/on_chroot.sh``). Inside that chroot the root is ``/``
and the disks, ``/proc`` and ``/sys`` are the build machine's: the install must neither
look for the image's state partition there nor fail for want of it.
All of it in a mount namespace of its own, so on_chroot's mounts go when it ends.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rootfs import REPO, Overlay, installed_rootfs, need

from stagebox import __version__

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ON_CHROOT = Path(__file__).parent / "pigen" / "on_chroot.sh"
# What pi-gen's stage 2 leaves in the boot folder and fstab (its IMGID placeholders
# already replaced, as export-image does later).
PI_GEN_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 "
                  "fsck.repair=yes rootwait resize\n")
PI_GEN_FSTAB = "proc /proc proc defaults 0 0\nPARTUUID=1234-02 / ext4 defaults,noatime 0 1\n"


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Iterator[tuple[Path, subprocess.CompletedProcess]]:
    assert os.geteuid() == 0, "the stage test needs root (overlay, chroot)"
    need("capsh")
    pigen = tmp_path_factory.mktemp("pi-gen")
    subprocess.run([str(REPO / "image/prepare-stage.sh"), str(pigen)], check=True)
    with Overlay(installed_rootfs(), tmp_path_factory.mktemp("stage-work")) as overlay:
        boot = overlay.root / "boot/firmware"
        boot.mkdir(parents=True, exist_ok=True)
        (boot / "config.txt").write_text("dtparam=audio=on\n")
        (boot / "cmdline.txt").write_text(PI_GEN_CMDLINE)
        (overlay.root / "etc/fstab").write_text(PI_GEN_FSTAB)
        script = f'. "{ON_CHROOT}"; cd "{pigen}/stage-stagebox/00-stagebox"; ./01-run.sh'
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "bash", "-e", "-c", script],
            env={**os.environ, "ROOTFS_DIR": str(overlay.root),
                 "CAPSH_ARG": "--drop=cap_setfcap"},
            capture_output=True, text=True, check=False, timeout=600)
        yield overlay.root, run


def test_the_stage_runs_to_its_end_under_on_chroot(staged):
    _, run = staged
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "stagebox install: done." in run.stdout


def test_the_image_gets_the_read_only_root_and_the_state_generator(staged):
    root, _ = staged
    cmdline = (root / "boot/firmware/cmdline.txt").read_text().split()
    assert "overlayroot=tmpfs:recurse=0" in cmdline and "resize" not in cmdline
    assert (root / "etc/systemd/system-generators/stagebox-state-generator").is_file()
    assert (root / "etc/fstab").read_text() == PI_GEN_FSTAB
    assert not (root / "var/tmp/stagebox-src").exists(), "the source copy is left behind"


def test_the_installed_player_runs_in_the_image(staged):
    root, _ = staged
    version = subprocess.run(["chroot", str(root), "/opt/stagebox/venv/bin/stagebox",
                              "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip().endswith(__version__)
    enabled = subprocess.run([need("systemctl"), f"--root={root}", "is-enabled",
                              "stagebox.service"], capture_output=True, text=True, check=False)
    assert enabled.stdout.strip() == "enabled"
