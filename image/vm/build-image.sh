#!/bin/bash
# Build the disk image, kernel and initramfs that `make vm-test` boots:
#   image/vm/build-image.sh ARCH CACHE_DIR
# ARCH is amd64 or arm64 (arm64 runs its packages' scripts under qemu-user-static).
# Two cached stages, each a folder named by a hash of what went into it:
#   base-ARCH-KEY/    debootstrap'ed bookworm with a Debian kernel and 00-packages
#   image-ARCH-KEY/   disk.img (boot dummy, root, sbstate), vmlinuz, initrd.img: the base
#                     plus image/install.sh --root --read-only-root and the test hooks;
#                     disk-id: the disk's MBR identifier, so the VM boots, like a Pi, with
#                     root=PARTUUID=<disk-id>-02 (the state partition is <disk-id>-03)
# Prints the image folder on the last line of stdout. Needs root. Everything it mounts
# lives in a private mount namespace (unshare -m), so no mount outlives it, even kill -9;
# it uses no loop devices (mkfs.ext4 -d writes the root file system from a folder).
set -euo pipefail

arch="${1:?usage: build-image.sh amd64|arm64 CACHE_DIR}"
cache="${2:?usage: build-image.sh amd64|arm64 CACHE_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
case "$arch" in
amd64 | arm64) ;;
*) echo "build-image: ARCH must be amd64 or arm64, not $arch" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "build-image: run me as root" >&2
	exit 1
fi
# arm64 packages' scripts run under qemu-user-static through binfmt_misc. A host whose
# PID 1 is not systemd (a container, a CI runner) has registered nothing: do what
# systemd-binfmt would, from the rule qemu-user-static ships.
if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ] && [ -z "${SBVM_IN_NS:-}" ]; then
	binfmt=/proc/sys/fs/binfmt_misc
	[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
	if [ ! -e "$binfmt/qemu-aarch64" ]; then
		cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register"
	fi
fi
# Run the rest in a mount namespace of our own: the chroot's /proc, /sys and /dev go with it.
if [ -z "${SBVM_IN_NS:-}" ]; then
	SBVM_IN_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

bundle=etc/ssl/certs/ca-certificates.crt
# A host's wheel folder means nothing inside the chroot.
unset PIP_FIND_LINKS

say() { echo "build-image[$arch]: $*" >&2; }

# What the base holds besides minbase: a bootable Debian with systemd and udev, and the
# tools the checks use in the guest. busybox: initramfs-tools recommends it and Raspberry
# Pi OS has it; without it the initramfs has no grep, overlayroot's init-bottom script
# fails and the root stays writable.
base_packages="systemd,systemd-sysv,udev,dbus,kmod,initramfs-tools,busybox,linux-image-$arch,procps,util-linux,e2fsprogs,ca-certificates,python3,iproute2"

# A hash of files and strings: the cache key of a stage.
key_of() {
	{
		for item in "$@"; do
			if [ -e "$item" ]; then
				find "$item" -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | awk '{print $1}'
			else
				echo "$item"
			fi
		done
	} | sha256sum | cut -c1-16
}

# The chroot's kernel file systems, for apt-get, dpkg's scripts and pip.
mount_chroot() {
	local dir="$1"
	mount -t proc proc "$dir/proc"
	mount -t sysfs sysfs "$dir/sys"
	mount --rbind /dev "$dir/dev"
	cp /etc/resolv.conf "$dir/etc/resolv.conf"
	# This machine's trust store for pip and apt (a proxy's CA, say), lent for the build
	# only: a bind mount, gone with the namespace, never copied into the image.
	if [ -f "$dir/$bundle" ] && [ -f "/$bundle" ]; then
		mount --bind "/$bundle" "$dir/$bundle"
	fi
}

umount_chroot() {
	local dir="$1"
	umount "$dir/$bundle" 2>/dev/null || true
	umount -R "$dir/dev" "$dir/sys" "$dir/proc" 2>/dev/null || true
}

build_base() {
	local dir="$1" tmp="$1.tmp" wanted=() available=() pkg
	rm -rf "$tmp"
	say "debootstrap bookworm ($base_packages)"
	debootstrap --arch "$arch" --variant=minbase --include="$base_packages" \
		bookworm "$tmp" "$mirror" >&2
	# install.sh installs 00-packages itself; doing it here puts the slow part in the
	# cache that changes least. Packages plain Debian lacks (python3-lgpio) are skipped.
	mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' \
		"$src/image/stage-stagebox/00-stagebox/00-packages" | tr -s '[:space:]' '\n')
	mount_chroot "$tmp"
	for pkg in "${wanted[@]}"; do
		[ -n "$pkg" ] || continue
		if chroot "$tmp" apt-cache show "$pkg" >/dev/null 2>&1; then
			available+=("$pkg")
		fi
	done
	say "apt-get install ${available[*]}"
	chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${available[@]}" >&2
	chroot "$tmp" apt-get clean
	umount_chroot "$tmp"
	mv "$tmp" "$dir"
}

# The test image's own additions: the command agent on a virtio serial port, the
# button wrapper as a drop-in for stagebox.service, a root file system entry, a name.
add_test_hooks() {
	local dir="$1" disk_id="$2"
	install -m 0755 "$here/guest/sbvm-agent" "$dir/usr/local/sbin/sbvm-agent"
	install -m 0644 "$here/guest/sbvm-agent.service" "$dir/etc/systemd/system/sbvm-agent.service"
	install -d -m 0755 "$dir/usr/local/lib/sbvm" "$dir/etc/systemd/system/stagebox.service.d"
	install -m 0644 "$here/guest/vm_buttons.py" "$dir/usr/local/lib/sbvm/vm_buttons.py"
	install -m 0644 "$here/guest/vm-buttons.conf" "$dir/etc/systemd/system/stagebox.service.d/vm-buttons.conf"
	systemctl --root="$dir" enable sbvm-agent.service >&2
	echo stagebox-vm >"$dir/etc/hostname"
	# The root, named as pi-gen's fstab names it: overlayroot mounts it read-only under
	# its RAM overlay.
	echo "PARTUUID=$disk_id-02 / ext4 defaults,noatime 0 1" >>"$dir/etc/fstab"
	# No network in the VM: nothing may wait for one.
	rm -f "$dir/etc/resolv.conf"
}

# A msdos disk laid out as pi-gen's image: a small FAT partition standing for the Pi's
# boot partition, the root; then add-state-partition.sh adds sbstate as on the real image.
# DISK_ID (8 hex digits) is written as the MBR's disk identifier, as pi-gen sets its own.
make_disk() {
	local dir="$1" out="$2" disk_id="$3" root_mib boot_start=8192 boot_sectors=16384 root_start root_sectors
	root_mib=$(($(du -sm "$dir" | cut -f1) * 13 / 10 + 256))
	root_start=$((boot_start + boot_sectors))
	root_sectors=$((root_mib * 2048))
	say "root file system: $root_mib MiB"
	rm -f "$out.boot" "$out.root" "$out"
	truncate -s $((boot_sectors * 512)) "$out.boot"
	mkfs.vfat -n BOOT "$out.boot" >/dev/null
	mkfs.ext4 -q -F -L sbroot -d "$dir" "$out.root" "${root_mib}M" >&2
	truncate -s $(((root_start + root_sectors) * 512)) "$out"
	parted -s "$out" mklabel msdos \
		mkpart primary fat32 "${boot_start}s" "$((root_start - 1))s" \
		mkpart primary ext4 "${root_start}s" "$((root_start + root_sectors - 1))s"
	# The identifier is the little-endian 32-bit word at byte 440 of the MBR.
	printf "%b" "\\x${disk_id:6:2}\\x${disk_id:4:2}\\x${disk_id:2:2}\\x${disk_id:0:2}" |
		dd of="$out" bs=1 seek=440 conv=notrunc status=none
	dd if="$out.boot" of="$out" bs=1M seek=$((boot_start * 512)) oflag=seek_bytes conv=notrunc status=none
	dd if="$out.root" of="$out" bs=4M seek=$((root_start * 512)) oflag=seek_bytes conv=notrunc status=none
	rm -f "$out.boot" "$out.root"
	"$src/image/add-state-partition.sh" "$out" 64 >&2
	if [ "$(blkid -p -s PTUUID -o value "$out")" != "$disk_id" ]; then
		echo "build-image: $out does not have the disk identifier $disk_id" >&2
		exit 1
	fi
}

build_image() {
	local base="$1" dir="$2" tmp="$2.tmp" work="$2.tmp/root" disk_id
	disk_id="$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp -a "$base" "$work"
	mount_chroot "$work"
	say "install.sh --root --read-only-root (pip from PyPI)"
	"$src/image/install.sh" --root "$work" --read-only-root >&2
	add_test_hooks "$work" "$disk_id"
	# overlayroot's initramfs hook, and the new modules list, into the initramfs.
	chroot "$work" update-initramfs -u -k all >&2
	umount_chroot "$work"
	cp "$(readlink -f "$work/vmlinuz")" "$tmp/vmlinuz"
	cp "$(readlink -f "$work/initrd.img")" "$tmp/initrd.img"
	make_disk "$work" "$tmp/disk.img" "$disk_id"
	echo "$disk_id" >"$tmp/disk-id"
	rm -rf "$work"
	mv "$tmp" "$dir"
}

mkdir -p "$cache"
# Bump base_version when build_base changes what it makes.
base_version=1
base_key="$(key_of "$arch" "$base_version" "$base_packages" "$mirror" \
	"$src/image/stage-stagebox/00-stagebox/00-packages")"
base="$cache/base-$arch-$base_key"
[ -d "$base" ] || build_base "$base"
image_key="$(key_of "$base_key" "$here/build-image.sh" "$src/image/install.sh" "$src/image/add-state-partition.sh" \
	"$src/systemd" "$src/stagebox" "$src/pyproject.toml" "$src/README.md" "$here/guest")"
image="$cache/image-$arch-$image_key"
if [ ! -d "$image" ]; then
	build_image "$base" "$image"
else
	say "cached: $image"
fi
# Older stages of this ARCH are superseded: keep the cache to one of each.
find "$cache" -maxdepth 1 \( -name "base-$arch-*" -o -name "image-$arch-*" \) \
	-not -name "base-$arch-$base_key" -not -name "image-$arch-$image_key" \
	-exec rm -rf {} + 2>/dev/null || true
echo "$image"
