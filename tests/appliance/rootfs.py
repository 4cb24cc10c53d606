"""Debian bookworm root file systems for the appliance tests, made once and kept.

``cached_rootfs`` is debootstrap's minbase with systemd and Python (a day in
/var/tmp/stagebox-rootfs-cache); ``installed_rootfs`` is that with ``image/install.sh``
run on it in full (the distribution's packages and the venv's dependencies from PyPI),
kept while its inputs stay the same, so a boot test only reinstalls stagebox itself.
:class:`Overlay` lays a throw-away layer over either. Needs root, debootstrap and Debian's
archive.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path("/var/tmp/stagebox-rootfs-cache")
INSTALLED_CACHE = Path("/var/tmp/stagebox-boot-cache")
MIRROR = "http://deb.debian.org/debian"
INCLUDE = "systemd,python3-venv,python3-setuptools,python3-wheel,python3-pyudev"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def need(tool: str) -> str:
    """The path of ``tool``, or a failure that says what to install."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    assert path, f"{tool} is missing: apt-get install {tool}"
    return path


def cached_rootfs() -> Path:
    """Today's minbase bookworm rootfs, made with debootstrap when there is none yet."""
    key = hashlib.sha256(f"{MIRROR} {INCLUDE}".encode()).hexdigest()[:8]
    target = CACHE / f"bookworm-{datetime.date.today():%Y%m%d}-{key}"
    if target.is_dir():
        return target
    building = _start_building(target)
    subprocess.run([need("debootstrap"), "--variant=minbase", f"--include={INCLUDE}",
                    "bookworm", str(building), MIRROR], check=True, capture_output=True)
    building.rename(target)
    return target


def _start_building(target: Path) -> Path:
    """The folder to build ``target`` in, beside it; older entries of its cache removed
    (one rootfs of each kind is kept: they are large)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for old in target.parent.iterdir():
        shutil.rmtree(old, ignore_errors=True)
    return target.parent / f"{target.name}.{os.getpid()}.part"


def installed_rootfs() -> Path:
    """:func:`cached_rootfs` with stagebox installed by ``install.sh`` in full.

    Kept under /var/tmp/stagebox-boot-cache for as long as the base rootfs, the package
    list and the package's dependencies are the same; stagebox itself is installed again
    by each test from the tree under test (``install.sh --no-apt --pip-offline``).
    """
    base = cached_rootfs()
    inputs = [base.name.encode()]
    inputs += [(REPO / name).read_bytes() for name in
               ("pyproject.toml", "image/stage-stagebox/00-stagebox/00-packages")]
    key = hashlib.sha256(b"\0".join(inputs)).hexdigest()[:12]
    target = INSTALLED_CACHE / key
    if target.is_dir():
        return target
    building = _start_building(target)
    subprocess.run(["cp", "-a", str(base), str(building)], check=True)
    # The rootfs's pip must trust what this machine trusts (a proxy's own CA, say).
    shutil.copy(HOST_CA_BUNDLE, building / "etc/ssl/certs/ca-certificates.crt")
    result = subprocess.run([str(REPO / "image" / "install.sh"), "--root", str(building)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    building.rename(target)
    return target


class Overlay:
    """``lower`` as an overlay mounted on ``work/root``, its changes kept in ``work``.

    The cached rootfs under it stays as it is. Use as a context manager; leaving it
    unmounts the overlay.
    """

    def __init__(self, lower: Path, work: Path) -> None:
        self.root = work / "root"
        for folder in ("upper", "overlay-work", "root"):
            (work / folder).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={work / 'upper'},"
                        f"workdir={work / 'overlay-work'}", str(self.root)], check=True)

    def __enter__(self) -> Overlay:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Unmount the overlay (lazily: a process still in it lets go when it ends)."""
        subprocess.run(["umount", "--lazy", str(self.root)], check=False)
