#!/bin/bash
# Install stagebox as an appliance: on a running Raspberry Pi OS Lite (sudo image/install.sh),
# inside pi-gen's chroot (image/stage-stagebox), or into a root file system (--root DIR).
# Running it again changes nothing that is already right.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: sudo image/install.sh [--root DIR] [--src DIR] [--no-apt] [--no-pip | --pip-offline]

  --root DIR     install into the root file system at DIR (default: /). Commands that must
                 run in the target (apt-get, python3, pip) run there through chroot.
  --src DIR      the stagebox source tree (default: the one this script is in)
  --no-apt       do not install the distribution packages (pi-gen installed them already)
  --no-pip       do not create the virtual environment nor install the package
  --pip-offline  install only stagebox itself into the venv, without PyPI: every
                 dependency must come from the distribution (used by the CI test)
EOF
}

root=/
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
apt=1
pip_mode=online
while [ $# -gt 0 ]; do
	case "$1" in
	--root) root="${2:?--root needs a folder}"; shift 2 ;;
	--src) src="${2:?--src needs a folder}"; shift 2 ;;
	--no-apt) apt=0; shift ;;
	--no-pip) pip_mode=none; shift ;;
	--pip-offline) pip_mode=offline; shift ;;
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
)

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

install_packages() {
	local wanted=() missing=() pkg
	mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$packages_file" | tr -s '[:space:]' '\n')
	for pkg in "${wanted[@]}"; do
		[ -n "$pkg" ] || continue
		# shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not ours
		if ! in_target dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
			missing+=("$pkg")
		fi
	done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing ${missing[*]}"
		in_target apt-get update -qq
		in_target env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
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
		"$root/etc/systemd/system/"
	install -m 0644 "$src/systemd/99-stagebox.rules" "$root/etc/udev/rules.d/99-stagebox.rules"
	install -m 0644 "$src/systemd/stagebox-tmpfiles.conf" "$root/etc/tmpfiles.d/stagebox.conf"
	# /dev/i2c-1 for the OLED.
	echo i2c-dev >"$root/etc/modules-load.d/stagebox.conf"
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
	systemctl --root="$root" enable stagebox.service
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
	local boot config cmdline line word
	boot="$(boot_folder)"
	if [ -z "$boot" ]; then
		say "no config.txt in /boot/firmware or /boot: boot settings skipped"
		return
	fi
	config="$boot/config.txt"
	sed -i '/^# >>> stagebox$/,/^# <<< stagebox$/d' "$config"
	cat >>"$config" <<'EOF'
# >>> stagebox
[all]
# The OLED on I2C at 400 kHz; no rainbow splash; the USB interface is the only sound card.
dtparam=i2c_arm=on
dtparam=i2c_arm_baudrate=400000
disable_splash=1
dtparam=audio=off
# <<< stagebox
EOF
	cmdline="$boot/cmdline.txt"
	if [ -f "$cmdline" ]; then
		line="$(head -n 1 "$cmdline")"
		for word in quiet loglevel=3 logo.nologo; do
			case " $line " in
			*" $word "*) ;;
			*) line="$line $word" ;;
			esac
		done
		printf '%s\n' "$line" >"$cmdline"
	fi
}

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
say "done. stagebox.service starts at boot; sticks mount under /media/stagebox."
