#!/bin/bash
# Install stagebox as an appliance: on a running Raspberry Pi OS Lite (sudo image/install.sh),
# inside pi-gen's chroot (image/stage-stagebox), or into a root file system (--root DIR).
# Running it again changes nothing that is already right.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: sudo image/install.sh [--root DIR] [--src DIR] [--no-apt] [--no-pip | --pip-offline]
                            [--read-only-root [--image]]

  --root DIR     install into the root file system at DIR (default: /). Commands that must
                 run in the target (apt-get, python3, pip) run there through chroot.
  --src DIR      the stagebox source tree (default: the one this script is in)
  --no-apt       do not install the distribution packages (pi-gen installed them already)
  --no-pip       do not create the virtual environment nor install the package
  --pip-offline  install only stagebox itself into the venv, without PyPI: every
                 dependency must come from the distribution (used by the CI test)
  --read-only-root
                 run the root read-only under a RAM overlay (overlayroot) and mount the
                 state partition (the third partition of the root's disk) on
                 /var/lib/stagebox; the image does this, a running system needs that
                 partition first (image/README.md)
  --image        installing into an image being built (pi-gen's chroot): its state
                 partition is added after the build, so it is not looked for here
EOF
}

root=/
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
apt=1
pip_mode=online
read_only_root=0
image=0
while [ $# -gt 0 ]; do
	case "$1" in
	--root) root="${2:?--root needs a folder}"; shift 2 ;;
	--src) src="${2:?--src needs a folder}"; shift 2 ;;
	--no-apt) apt=0; shift ;;
	--no-pip) pip_mode=none; shift ;;
	--pip-offline) pip_mode=offline; shift ;;
	--read-only-root) read_only_root=1; shift ;;
	--image) image=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "install.sh: run me as root (sudo)" >&2
	exit 1
fi
root="$(cd "$root" && pwd)"
src="$(cd "$src" && pwd)"
if [ ! -f "$src/pyproject.toml" ] || [ ! -d "$src/stagebox" ]; then
	echo "install.sh: $src is not the stagebox source tree" >&2
	exit 1
fi

user=stagebox
groups=(audio gpio i2c)
venv=/opt/stagebox/venv
packages_file="$src/image/stage-stagebox/00-stagebox/00-packages"
# Services a stage box never needs; each is disabled only if it is there.
unneeded=(
	bluetooth.service hciuart.service
	avahi-daemon.service avahi-daemon.socket
	triggerhappy.service triggerhappy.socket
	apt-daily.timer apt-daily-upgrade.timer man-db.timer
	dphys-swapfile.service
	NetworkManager-wait-online.service systemd-networkd-wait-online.service
	keyboard-setup.service console-setup.service e2scrub_reap.service
	rpi-eeprom-update.service
)

# The state partition is mounted by a generator that names it by the root's PARTUUID
# (systemd/stagebox-state-generator says how and why); older installs mounted it from
# /etc/fstab by label, between these markers, which are removed.
generator=stagebox-state-generator
overlay_word="overlayroot=tmpfs:recurse=0"
# Raspberry Pi OS's first-boot units: under the read-only root each would run at every
# boot, its work lost with the overlay. The root needs no resize (the state partition
# follows it); the ssh host keys are made once, as the image is built; the maintenance
# user comes from the build (FIRST_USER_PASS), never from a wizard on the console.
first_boot_units=(resize2fs_once.service regenerate_ssh_host_keys.service userconfig.service)

say() { echo "stagebox install: $*"; }

# Run a command inside the target root.
in_target() {
	if [ "$root" = / ]; then
		"$@"
	else
		chroot "$root" "$@"
	fi
}

has_group() { grep -q "^$1:" "$root/etc/group"; }
has_user() { grep -q "^$1:" "$root/etc/passwd"; }
id_of() { awk -F: -v name="$2" '$1 == name { print $3 }' "$root/etc/$1"; }
# shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not ours
is_installed() { in_target dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

install_packages() {
	local wanted=() missing=() pkg
	mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$packages_file" | tr -s '[:space:]' '\n')
	for pkg in "${wanted[@]}"; do
		[ -n "$pkg" ] || continue
		# The overlay's initramfs hook only comes with the read-only root.
		if [ "$pkg" = overlayroot ] && [ "$read_only_root" = 0 ]; then
			continue
		fi
		is_installed "$pkg" || missing+=("$pkg")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	in_target apt-get update -qq
	# Plain Debian has no python3-lgpio (Raspberry Pi OS's archive has): install what the
	# archive offers and name the rest, so the same script sets up a test machine.
	local available=() absent=()
	for pkg in "${missing[@]}"; do
		if in_target apt-cache show "$pkg" >/dev/null 2>&1; then
			available+=("$pkg")
		else
			absent+=("$pkg")
		fi
	done
	if [ ${#absent[@]} -gt 0 ]; then
		say "not in this distribution's archive, skipped: ${absent[*]}"
	fi
	if [ ${#available[@]} -gt 0 ]; then
		say "installing ${available[*]}"
		in_target env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${available[@]}"
	fi
}

create_user() {
	local group
	for group in "${groups[@]}"; do
		has_group "$group" || groupadd --root "$root" --system "$group"
	done
	if ! has_user "$user"; then
		useradd --root "$root" --system --user-group --home-dir /var/lib/stagebox \
			--no-create-home --shell /usr/sbin/nologin --comment "stagebox player" "$user"
	fi
	usermod --root "$root" --append --groups "$(IFS=,; echo "${groups[*]}")" "$user"
}

install_venv() {
	local tmp
	[ -x "$root$venv/bin/python" ] || in_target python3 -m venv --system-site-packages "$venv"
	# pip runs in the target, so it gets a copy of the source inside the target.
	tmp="$(mktemp -d "$root/var/tmp/stagebox-src.XXXXXX")"
	cp -r "$src/pyproject.toml" "$src/README.md" "$src/stagebox" "$tmp/"
	local inside="${tmp#"$root"}"
	inside="/${inside#/}"
	if [ "$pip_mode" = offline ]; then
		in_target "$venv/bin/pip" install --quiet --no-index --no-deps --no-build-isolation \
			--no-cache-dir "$inside"
	else
		in_target "$venv/bin/pip" install --quiet --no-cache-dir --upgrade "$inside"
	fi
	rm -rf "$tmp"
}

install_files() {
	local uid gid
	uid="$(id_of passwd "$user")"
	gid="$(id_of group "$user")"
	install -d -m 0755 "$root/etc/stagebox" "$root/opt/stagebox" "$root/media/stagebox" \
		"$root/etc/systemd/system" "$root/etc/udev/rules.d" "$root/etc/tmpfiles.d" \
		"$root/etc/modules-load.d"
	install -d -m 0700 -o "$uid" -g "$gid" "$root/var/lib/stagebox"
	if [ ! -e "$root/etc/stagebox/config.toml" ]; then
		install -m 0644 "$src/stagebox/config.example.toml" "$root/etc/stagebox/config.toml"
	fi
	install -m 0644 "$src/README.md" "$root/opt/stagebox/README.md"
	install -m 0644 "$src/systemd/stagebox.service" "$src/systemd/stagebox-mount@.service" \
		"$src/systemd/stagebox-shutdown.path" "$src/systemd/stagebox-shutdown.service" \
		"$root/etc/systemd/system/"
	install -m 0644 "$src/systemd/99-stagebox.rules" "$root/etc/udev/rules.d/99-stagebox.rules"
	install -m 0644 "$src/systemd/stagebox-tmpfiles.conf" "$root/etc/tmpfiles.d/stagebox.conf"
	# /dev/i2c-1 for the OLED; ALSA's core at boot, so that its device major exists when
	# the player starts (see stagebox.service) even with no interface plugged in; ALSA's
	# sequencer, through which the player reads and writes MIDI (/dev/snd/seq).
	printf 'i2c-dev\nsnd\nsnd-seq\n' >"$root/etc/modules-load.d/stagebox.conf"
	chmod 0644 "$root/etc/modules-load.d/stagebox.conf"
}

unit_exists() {
	local dir
	for dir in etc/systemd/system lib/systemd/system usr/lib/systemd/system; do
		[ -e "$root/$dir/$1" ] && return 0
	done
	return 1
}

enable_units() {
	local unit
	systemctl --root="$root" enable stagebox.service stagebox-shutdown.path
	for unit in "${unneeded[@]}"; do
		if unit_exists "$unit"; then
			systemctl --root="$root" disable "$unit"
		fi
	done
	# On a running system, pick the new units and rules up now.
	if [ "$root" = / ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		udevadm control --reload || true
		systemd-tmpfiles --create /etc/tmpfiles.d/stagebox.conf
	fi
}

boot_folder() {
	if [ -f "$root/boot/firmware/config.txt" ]; then
		echo "$root/boot/firmware"
	elif [ -f "$root/boot/config.txt" ]; then
		echo "$root/boot"
	fi
}

# Our settings go last, under [all], so they win over earlier lines; the block between
# the markers is replaced on every run.
configure_boot() {
	local boot config cmdline word kept=() words=() wanted=(quiet loglevel=3 logo.nologo)
	boot="$(boot_folder)"
	if [ -z "$boot" ]; then
		say "no config.txt in /boot/firmware or /boot: boot settings skipped"
		return
	fi
	config="$boot/config.txt"
	sed -i '/^# >>> stagebox$/,/^# <<< stagebox$/d' "$config"
	{
		cat <<'EOF'
# >>> stagebox
[all]
# The OLED on I2C at 400 kHz; no rainbow splash; the USB interface is the only sound card.
dtparam=i2c_arm=on
dtparam=i2c_arm_baudrate=400000
disable_splash=1
dtparam=audio=off
# Nothing to look for at boot: no camera, no DSI display, no Bluetooth.
camera_auto_detect=0
display_auto_detect=0
dtoverlay=disable-bt
EOF
		if [ "$read_only_root" = 1 ]; then
			echo "# The read-only root's overlay is set up by the initramfs."
			echo "auto_initramfs=1"
		fi
		echo "# <<< stagebox"
	} >>"$config"
	cmdline="$boot/cmdline.txt"
	[ -f "$cmdline" ] || return 0
	read -r -a words <"$cmdline" || true # a last line without a newline is still read
	if [ "$read_only_root" = 1 ]; then
		wanted+=(fsck.repair=yes "$overlay_word")
	fi
	for word in "${words[@]}"; do
		case "$word" in
		# Raspberry Pi OS's first-boot root resize (resize: the initramfs; init=: older
		# images) would fail against the state partition after the root, and the old
		# init= script cannot run under the overlay; the root needs no room: it is
		# read-only. Ours replaces any other overlayroot= setting.
		resize | init=/usr/lib/raspberrypi-sys-mods/firstboot | overlayroot=*)
			[ "$read_only_root" = 1 ] || kept+=("$word") ;;
		*) kept+=("$word") ;;
		esac
	done
	for word in "${wanted[@]}"; do
		case " ${kept[*]} " in
		*" $word "*) ;;
		*) kept+=("$word") ;;
		esac
	done
	printf '%s\n' "${kept[*]}" >"$cmdline"
}

# The root under a RAM overlay (overlayroot, as raspi-config's do_overlayfs does on
# Raspberry Pi OS), with recurse=0 so the state partition below it stays a real disk;
# the journal in RAM with a cap, since it would go to RAM anyway.
configure_read_only_root() {
	local fstab="$root/etc/fstab" journald="$root/etc/systemd/journald.conf.d" unit
	if [ -f "$fstab" ]; then
		sed -i '/^# >>> stagebox$/,/^# <<< stagebox$/d' "$fstab"
	fi
	install -d -m 0755 "$root/etc/systemd/system-generators"
	install -m 0755 "$src/systemd/$generator" "$root/etc/systemd/system-generators/$generator"
	for unit in "${first_boot_units[@]}"; do
		if unit_exists "$unit" || [ -e "$root/etc/init.d/${unit%.service}" ]; then
			systemctl --root="$root" mask "$unit"
		fi
	done
	if [ -x "$root/usr/bin/ssh-keygen" ]; then
		in_target ssh-keygen -A
	fi
	install -d -m 0755 "$journald"
	cat >"$journald/stagebox.conf" <<'EOF'
# stagebox: the root is a read-only overlay in RAM; keep the journal small, in RAM.
[Journal]
Storage=volatile
RuntimeMaxUse=16M
EOF
	chmod 0644 "$journald/stagebox.conf"
	if ! is_installed overlayroot; then
		say "overlayroot is not installed: the root stays writable until it is" \
			"(apt-get install overlayroot)"
	fi
}

# On a running system the state partition must exist before the root goes read-only:
# without it every state write would go to RAM. The generator, run here, names it.
check_state_partition() {
	local out what
	out="$(mktemp -d)"
	"$src/systemd/$generator" "$out"
	what="$(sed -n 's/^What=//p' "$out/var-lib-stagebox.mount" 2>/dev/null || true)"
	rm -rf "$out"
	if [ -z "$what" ] || [ ! -b "$what" ]; then
		echo "install.sh: --read-only-root needs a third partition on the root's disk" \
			"(root=PARTUUID=<disk id>-02 in /proc/cmdline, partition <disk id>-03;" \
			"image/README.md says how to make one); nothing changed" >&2
		exit 1
	fi
}

if [ "$read_only_root" = 1 ] && [ "$image" = 0 ] && [ "$root" = / ]; then
	check_state_partition
fi
if [ "$apt" = 1 ]; then
	install_packages
fi
create_user
if [ "$pip_mode" != none ]; then
	install_venv
fi
install_files
enable_units
configure_boot
if [ "$read_only_root" = 1 ]; then
	configure_read_only_root
	say "the root is read-only from the next boot; the state lives on the root disk's" \
		"partition 3."
fi
say "done. stagebox.service starts at boot; sticks mount under /media/stagebox."
