#!/bin/bash
# Build the stagebox SD card image with pi-gen: Raspberry Pi OS Lite (64-bit, Bookworm)
# with the stage in image/stage-stagebox on top. On a Debian or Ubuntu machine:
#   sudo image/build.sh              native pi-gen build; the image lands in pi-gen's deploy/
#   sudo image/build.sh --docker     the same, inside pi-gen's Docker build
# Environment: PIGEN_DIR (a pi-gen checkout; default image/pi-gen, cloned when missing),
# PIGEN_REPO, PIGEN_COMMIT (default: the pinned commit below), FIRST_USER_PASS (a password
# for the maintenance user stagebox-admin; unset: Raspberry Pi OS asks at first boot),
# ENABLE_SSH (1 to enable ssh; default 0), STATE_MIB (the state partition's size; default 512).
# pi-gen's raw image then gets the state partition (add-state-partition.sh) and is
# compressed: deploy/*-stagebox.img.xz.
set -euo pipefail

# pi-gen's bookworm-arm64 branch as of 2026-06-15: Raspberry Pi OS Lite 64-bit, Bookworm.
# Pinned, not a branch: pi-gen's default branch moves to the next release (trixie brought
# cloud-init, rpi-resize and an "uninitialized" machine-id that makes every boot of a
# read-only root a first boot), and an image must build the same way every time.
pinned_commit=d7a31c6aa09f4b867902c51da2b45807c0a1709e

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pigen="${PIGEN_DIR:-$here/pi-gen}"
docker=0
case "${1:-}" in
--docker) docker=1 ;;
"") ;;
*) echo "usage: sudo image/build.sh [--docker]" >&2; exit 2 ;;
esac

commit="${PIGEN_COMMIT:-$pinned_commit}"
if [ ! -d "$pigen" ]; then
	git init --quiet "$pigen"
	git -C "$pigen" fetch --quiet --depth 1 \
		"${PIGEN_REPO:-https://github.com/RPi-Distro/pi-gen.git}" "$commit"
	git -C "$pigen" checkout --quiet --detach FETCH_HEAD
fi
if [ "$(git -C "$pigen" rev-parse HEAD 2>/dev/null)" != "$commit" ]; then
	echo "build.sh: $pigen is not at pi-gen commit $commit (set PIGEN_COMMIT to build" \
		"another on purpose, or remove the folder to fetch it)" >&2
	exit 1
fi

"$here/prepare-stage.sh" "$pigen"

{
	echo "IMG_NAME=stagebox"
	echo "RELEASE=bookworm"
	echo "TARGET_HOSTNAME=stagebox"
	echo "ENABLE_SSH=${ENABLE_SSH:-0}"
	if [ -n "${FIRST_USER_PASS:-}" ]; then
		echo "FIRST_USER_NAME=stagebox-admin"
		printf 'FIRST_USER_PASS=%q\n' "$FIRST_USER_PASS"
		echo "DISABLE_FIRST_BOOT_USER_RENAME=1"
	fi
	# Lite's stages, then ours, which exports the image (Lite's own is not needed).
	echo 'STAGE_LIST="stage0 stage1 stage2 stage-stagebox"'
	# A raw image, so the state partition can be added to it afterwards.
	echo "DEPLOY_COMPRESSION=none"
	echo "DEPLOY_ZIP=0"
} >"$pigen/config"
touch "$pigen/stage2/SKIP_IMAGES"

started="$(mktemp)"
cd "$pigen"
if [ "$docker" = 1 ]; then
	./build-docker.sh
else
	./build.sh
fi

image="$(find "$pigen/deploy" -maxdepth 1 -name '*-stagebox.img' -newer "$started" | sort | tail -n 1)"
rm -f "$started"
if [ -z "$image" ]; then
	echo "build.sh: pi-gen left no new *-stagebox.img in $pigen/deploy" >&2
	exit 1
fi
"$here/add-state-partition.sh" "$image" "${STATE_MIB:-512}"
# pi-gen's block map describes the image before the state partition was added: write it
# again, or drop it rather than ship one that leaves the partition out.
rm -f "${image%.img}.bmap"
if command -v bmaptool >/dev/null; then
	bmaptool create -o "${image%.img}.bmap" "$image"
fi
xz -T0 -f "$image"
echo "build.sh: $image.xz is ready to flash (Raspberry Pi Imager: Use custom)."
