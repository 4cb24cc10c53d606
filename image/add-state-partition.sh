#!/bin/bash
# Add stagebox's state partition to a freshly built SD card image, offline:
#   image/add-state-partition.sh IMAGE [SIZE_MIB]
# IMAGE is pi-gen's raw .img (boot and root partitions only). The file grows by SIZE_MIB
# (default 512) plus alignment, a third primary partition fills the new space, and an
# ext4 file system labelled sbstate (for people; the box goes by partition number) is
# made in it, which systemd/stagebox-state-generator mounts on /var/lib/stagebox as
# partition 3 of the root's disk (install.sh --read-only-root). Nothing already in the
# image moves.
# With a partition after the root, Raspberry Pi OS does not grow the root at first boot.
# Needs parted and mkfs.ext4; no root, no loop devices.
set -euo pipefail

label=sbstate
align_sectors=8192 # 4 MiB, as pi-gen aligns its partitions

usage() { echo "usage: image/add-state-partition.sh IMAGE [SIZE_MIB]" >&2; exit 2; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
image="$1"
size_mib="${2:-512}"
case "$size_mib" in
'' | *[!0-9]*) usage ;;
esac
if [ "$size_mib" -lt 16 ]; then
	echo "add-state-partition: $size_mib MiB is too small (16 at least)" >&2
	exit 2
fi
if [ ! -f "$image" ]; then
	echo "add-state-partition: no image $image" >&2
	exit 1
fi

# parted -m: "number:start:end:size:fs:name:flags;" per partition, in sectors.
partitions() {
	parted -s -m "$image" unit s print 2>/dev/null | sed -n 's/^\([0-9]\+\):\([0-9]\+\)s:\([0-9]\+\)s:.*/\1 \2 \3/p'
}

mapfile -t table < <(partitions)
if [ "$(parted -s -m "$image" print 2>/dev/null | sed -n '2p' | cut -d: -f6)" != msdos ]; then
	echo "add-state-partition: $image has no MBR (msdos) partition table" >&2
	exit 1
fi
if [ ${#table[@]} -ne 2 ]; then
	echo "add-state-partition: $image has ${#table[@]} partitions, not pi-gen's 2 (boot, root):" \
		"already done, or not a pi-gen image" >&2
	exit 1
fi

read -r _ _ root_end <<<"${table[1]}"
start=$(((root_end + 1 + align_sectors - 1) / align_sectors * align_sectors))
sectors=$((size_mib * 2048))
end=$((start + sectors - 1))

truncate -s $(((end + 1) * 512)) "$image"
parted -s "$image" unit s mkpart primary ext4 "${start}s" "${end}s" 2>/dev/null
mkfs.ext4 -q -F -L "$label" -m 0 \
	-E "offset=$((start * 512)),nodiscard,lazy_itable_init=0,lazy_journal_init=0" \
	"$image" "$((sectors / 2))k"

mapfile -t table < <(partitions)
if [ ${#table[@]} -ne 3 ]; then
	echo "add-state-partition: the new partition is missing from $image" >&2
	exit 1
fi
echo "add-state-partition: $image: partition 3 ($label, ext4, $size_mib MiB) at sector $start"
