"""image/add-state-partition.sh on a small stand-in for pi-gen's raw image.

The stand-in has pi-gen's layout (MBR; boot at 4 MiB; root to the end of the file); the
script must add the ext4 state partition after the root without moving anything.
Needs parted and e2fsprogs (mkfs.ext4, dumpe2fs, e2fsck); no root, no loop devices.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "image" / "add-state-partition.sh"
SECTOR = 512
MIB = 1024 * 1024


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install {tool}"
    return path


def partitions(image: Path) -> list[tuple[int, int, int]]:
    """(number, first sector, last sector) of each partition."""
    printed = subprocess.run([need("parted"), "-s", "-m", str(image), "unit", "s", "print"],
                             capture_output=True, text=True, check=True).stdout
    rows = []
    for line in printed.splitlines()[2:]:
        number, start, end, *_ = line.split(":")
        rows.append((int(number), int(start.rstrip("s")), int(end.rstrip("s"))))
    return rows


def pi_gen_like_image(path: Path, size_mib: int = 40) -> Path:
    path.write_bytes(b"")
    subprocess.run(["truncate", "-s", f"{size_mib}M", str(path)], check=True)
    subprocess.run([need("parted"), "-s", str(path), "mklabel", "msdos",
                    "mkpart", "primary", "fat32", "8192s", "16383s",
                    "mkpart", "primary", "ext4", "16384s", "100%"],
                   check=True, capture_output=True)
    return path


def add_state_partition(image: Path, *size_mib: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), str(image), *size_mib], capture_output=True,
                          text=True, check=False)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return pi_gen_like_image(tmp_path / "stagebox.img")


def test_a_third_partition_follows_the_root_aligned_and_nothing_moves(image):
    before = partitions(image)
    done = add_state_partition(image, "16")
    assert done.returncode == 0, done.stderr
    after = partitions(image)
    assert after[:2] == before
    number, start, end = after[2]
    assert number == 3
    assert start > before[1][2] and start % 8192 == 0
    assert (end - start + 1) * SECTOR == 16 * MIB
    assert image.stat().st_size == (end + 1) * SECTOR


def test_the_new_partition_holds_a_clean_ext4_labelled_sbstate(image, tmp_path):
    assert add_state_partition(image, "16").returncode == 0
    _, start, end = partitions(image)[2]
    with image.open("rb") as whole:
        whole.seek(start * SECTOR)
        (tmp_path / "p3").write_bytes(whole.read((end - start + 1) * SECTOR))
    header = subprocess.run([need("dumpe2fs"), "-h", str(tmp_path / "p3")],
                            capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
    assert fields["Filesystem volume name"].strip() == "sbstate"
    assert "has_journal" in fields["Filesystem features"]
    assert int(fields["Block count"]) * int(fields["Block size"]) == 16 * MIB
    assert int(fields["Reserved block count"]) == 0
    check = subprocess.run([need("e2fsck"), "-f", "-n", str(tmp_path / "p3")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_running_it_twice_changes_nothing_the_second_time(image):
    assert add_state_partition(image, "16").returncode == 0
    first = image.read_bytes()
    again = add_state_partition(image, "16")
    assert again.returncode == 1 and "already done" in again.stderr
    assert image.read_bytes() == first


@pytest.mark.parametrize("size", ["0", "8", "lots"])
def test_a_bad_size_is_refused_before_touching_the_image(image, size):
    first = image.read_bytes()
    done = add_state_partition(image, size)
    assert done.returncode == 2
    assert image.read_bytes() == first


def test_a_file_that_is_not_a_disk_image_is_refused(tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\0" * MIB)
    done = add_state_partition(junk)
    assert done.returncode == 1 and "no MBR" in done.stderr
    assert junk.stat().st_size == MIB
