#!/bin/bash
# Build the stagebox SD card image with pi-gen: Raspberry Pi OS Lite (64-bit, Bookworm)
# with the stage in image/stage-stagebox on top. On a Debian or Ubuntu machine:
#   sudo image/build.sh              native pi-gen build; the image lands in pi-gen's deploy/
#   sudo image/build.sh --docker     the same, inside pi-gen's Docker build
# Environment: PIGEN_DIR (a pi-gen checkout; default image/pi-gen, cloned when missing),
# PIGEN_REPO, PIGEN_BRANCH (default arm64: the 64-bit build), FIRST_USER_PASS (a password
# for the maintenance user stagebox-admin; unset: Raspberry Pi OS asks at first boot),
# ENABLE_SSH (1 to enable ssh; default 0), STATE_MIB (the state partition's size; default 512).
# pi-gen's raw image then gets the state partition (add-state-partition.sh) and is
# compressed: deploy/*-stagebox.img.xz.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/.." && pwd)"
pigen="${PIGEN_DIR:-$here/pi-gen}"
docker=0
case "${1:-}" in
--docker) docker=1 ;;
"") ;;
*) echo "usage: sudo image/build.sh [--docker]" >&2; exit 2 ;;
esac

if [ ! -d "$pigen" ]; then
	git clone --depth 1 --branch "${PIGEN_BRANCH:-arm64}" \
		"${PIGEN_REPO:-https://github.com/RPi-Distro/pi-gen.git}" "$pigen"
fi

# The stage goes inside the pi-gen folder (the Docker build sees nothing else), with the
# stagebox source in its files/ folder.
stage="$pigen/stage-stagebox"
rm -rf "$stage"
cp -r "$here/stage-stagebox" "$stage"
files="$stage/00-stagebox/files/stagebox"
mkdir -p "$files/image"
cp -r "$repo_root/pyproject.toml" "$repo_root/README.md" "$repo_root/stagebox" \
	"$repo_root/systemd" "$files/"
cp -r "$here/install.sh" "$here/stage-stagebox" "$files/image/"
find "$files" -name __pycache__ -prune -exec rm -rf {} +

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
xz -T0 -f "$image"
echo "build.sh: $image.xz is ready to flash (Raspberry Pi Imager: Use custom)."
