"""``stagebox doctor``: check the box's hardware and set-up, and say how to fix what is wrong.

Each check is a small function that looks at one thing and returns a :class:`Check`; none
of them raises for what it finds. Everything a check reads from the machine comes through
a :class:`Host`, so tests hand in a fake Pi: folders standing for ``/dev`` and ``/proc``,
and fake ALSA, I2C and command runners. Runs in the main thread of the ``stagebox doctor``
command, never inside the daemon.
"""

from __future__ import annotations

import errno
import os
import pwd
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import smbus2

from stagebox.config import DEFAULT_PATH, Config
from stagebox.hal import alsa
from stagebox.hal.inputs import InputsSeen, look_for_inputs
from stagebox.hal.media_watch import parse_mountinfo

SERVICE = "stagebox"
INSTALL_FIX = "sudo image/install.sh, in the stagebox source"

BOARD_I2C_PINS = {2: "SDA", 3: "SCL"}
"""BCM pins the OLED's I2C bus uses; a button must not sit on them."""

EXPECTED_HARDENING = {
    "User": "stagebox",
    "ProtectSystem": "strict",
    "PrivateNetwork": "yes",
    "NoNewPrivileges": "yes",
    "DevicePolicy": "closed",
    "Restart": "always",
}
"""``systemctl show`` values that ``systemd/stagebox.service`` sets; a drop-in that
changes one of them weakens the sandbox or the restart-on-crash."""

THROTTLED_NOW = {0x1: "under-voltage", 0x2: "CPU frequency capped", 0x4: "throttled",
                 0x8: "soft temperature limit"}
THROTTLED_SINCE_BOOT = {0x10000: "under-voltage", 0x20000: "CPU frequency capped",
                        0x40000: "throttling", 0x80000: "soft temperature limit"}
POWER_FIX = ("use a 5.1 V supply or power bank rated for the Pi (2.5 A Zero 2 W, 3 A Pi 4, "
             "5 A Pi 5) and a short, thick cable; a bus-powered interface on a Zero needs a "
             "powered hub (hardware/troubleshooting.md)")

PERSISTENT_FS_TYPES = frozenset({"ext4", "ext3", "ext2", "btrfs", "xfs", "f2fs", "vfat"})

SERVICE_USER = "stagebox"
TMPFILES_FIX = ("sudo systemd-tmpfiles --create /etc/tmpfiles.d/stagebox.conf (the service "
                "does it as it starts, after the state partition's mount: check `systemctl "
                "cat stagebox` has ExecStartPre= and After=var-lib-stagebox.mount)")
START_AFTER = ("systemd-modules-load.service", "var-lib-stagebox.mount")
"""What stagebox.service must start after: ALSA's driver loaded (so that DeviceAllow=
names its major) and the state partition mounted (so that the folder is on it)."""
FIRST_BOOT_UNITS = ("resize2fs_once.service", "regenerate_ssh_host_keys.service",
                    "userconfig.service")
"""Raspberry Pi OS's first-boot units: under the read-only overlay each runs every boot."""


def _owner_name(path: Path) -> str:
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@dataclass(frozen=True)
class Check:
    """One line of the report.

    ``ok`` is True (OK), False (FAIL: the box will not work as it should) or None
    (WARN: worth a look, or the check does not apply here).
    """

    name: str
    ok: bool | None
    found: str
    fix: str = ""

    @property
    def status(self) -> str:
        """``OK``, ``WARN`` or ``FAIL``."""
        return {True: "OK", None: "WARN", False: "FAIL"}[self.ok]


@dataclass(frozen=True)
class CommandResult:
    """What a command printed and how it ended."""

    returncode: int
    stdout: str
    stderr: str = ""


Runner = Callable[[Sequence[str]], CommandResult | None]
"""Runs a command; None when the program is not installed."""


def run_command(args: Sequence[str]) -> CommandResult | None:
    """Run ``args`` with a 5 s limit; None if the program does not exist."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=5,
                              check=False)
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        return CommandResult(-1, "", f"{args[0]} did not answer within 5 s")
    return CommandResult(done.returncode, done.stdout, done.stderr)


def read_i2c_byte(port: int, address: int) -> int:
    """Read one byte from ``address`` on ``/dev/i2c-<port>``; raises OSError if nobody
    answers (ENXIO/EREMOTEIO) or the bus cannot be opened."""
    with smbus2.SMBus(port) as bus:
        return int(bus.read_byte(address))


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry, as in some containers
        return str(os.geteuid())


def meter_version() -> str:
    """libebur128's version, as the measuring process loads it; raises MeterUnavailable."""
    from stagebox.media.ebur128 import version

    return version()


def _can_read_write(path: Path) -> bool:
    return os.access(path, os.R_OK | os.W_OK)


@dataclass(frozen=True)
class Host:
    """Where the doctor looks: the real machine by default, a fake Pi in tests."""

    dev: Path = Path("/dev")
    proc: Path = Path("/proc")
    mountinfo: Path = Path("/proc/self/mountinfo")
    user: str = field(default_factory=_user_name)
    euid: int = field(default_factory=os.geteuid)
    run: Runner = run_command
    list_devices: Callable[[], list[alsa.DeviceInfo]] = alsa.list_devices
    probe: Callable[[str], alsa.DeviceCaps | None] = alsa.probe
    read_i2c_byte: Callable[[int, int], int] = read_i2c_byte
    can_read_write: Callable[[Path], bool] = _can_read_write
    owner_of: Callable[[Path], str] = _owner_name
    modules_load: Path = Path("/etc/modules-load.d")
    look_for_inputs: Callable[[], InputsSeen] = look_for_inputs
    meter_version: Callable[[], str] = meter_version


def run_doctor(config: Config, out: TextIO = sys.stdout, *,
               config_path: Path = DEFAULT_PATH, config_warnings: Sequence[str] = (),
               host: Host | None = None) -> int:
    """Run every check, print one line each (and the fix under each failure or warning);
    return 0 if nothing failed, else 1."""
    host = host or Host()
    checks = collect_checks(config, host, config_path, config_warnings)
    out.write(format_report(checks))
    return 1 if any(check.ok is False for check in checks) else 0


def collect_checks(config: Config, host: Host, config_path: Path = DEFAULT_PATH,
                   config_warnings: Sequence[str] = ()) -> list[Check]:
    """Every check's result, in the order they are printed."""
    runs: list[tuple[str, Callable[[], Check]]] = [
        ("config", lambda: check_config(config_path, config_warnings)),
        ("USB audio", lambda: check_usb_audio(host)),
        ("ALSA driver", lambda: check_alsa_driver(host)),
        ("audio device", lambda: check_audio_device(config, host)),
        ("OLED", lambda: check_oled(config, host)),
        ("GPIO", lambda: check_gpio(host)),
        ("button pins", lambda: check_button_pins(config)),
        ("pedals and MIDI", lambda: check_inputs(config, host)),
        ("loudness meter", lambda: check_loudness_meter(config, host)),
        ("media root", lambda: check_media_root(config, host)),
        ("state folder", lambda: check_state_folder(config, host)),
        ("root file system", lambda: check_root_fs(host)),
        ("first-boot units", lambda: check_first_boot_units(host)),
        ("service", lambda: check_service(host)),
        ("start order", lambda: check_start_order(host)),
        ("hardening", lambda: check_hardening(host)),
        ("power", lambda: check_power(host)),
    ]
    checks = []
    for name, check in runs:
        try:
            checks.append(check())
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            checks.append(Check(name, False, f"could not check: {exc}",
                                "run it again with sudo; report it if it persists"))
    return checks


def format_report(checks: Sequence[Check]) -> str:
    """The printed report: ``STATUS  name  what was found``, then ``fix:`` lines."""
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status:<4}  {check.name:<{width}}  {check.found}")
        if check.ok is not True and check.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failed = sum(check.ok is False for check in checks)
    warned = sum(check.ok is None for check in checks)
    lines.append(f"{len(checks) - failed - warned} OK, {warned} to look at, {failed} failed")
    return "\n".join(lines) + "\n"


def check_config(path: Path, warnings: Sequence[str]) -> Check:
    """The config file's problems, as :func:`stagebox.config.load_config` found them."""
    if not warnings:
        return Check("config", True, f"{path}: no problems")
    return Check("config", None, f"{path}: " + "; ".join(warnings),
                 f"edit {path}; `stagebox config-example` shows every key and its default")


@dataclass(frozen=True)
class SoundCard:
    """One line pair of ``/proc/asound/cards``."""

    index: int
    card_id: str
    driver: str
    name: str


_CARD_LINE = re.compile(r"^\s*(\d+)\s+\[(\S+)\s*\]:\s*(\S+)\s+-\s+(.*)$")


def parse_asound_cards(text: str) -> list[SoundCard]:
    """The cards listed in ``/proc/asound/cards``."""
    cards = []
    for line in text.splitlines():
        if match := _CARD_LINE.match(line):
            cards.append(SoundCard(int(match[1]), match[2], match[3], match[4].strip()))
    return cards


def check_usb_audio(host: Host) -> Check:
    """A USB audio card is there and this user may open it."""
    try:
        cards = parse_asound_cards((host.proc / "asound" / "cards").read_text())
    except FileNotFoundError:
        return Check("USB audio", False, "no sound cards at all (no /proc/asound/cards)",
                     "plug in a class-compliant USB audio interface (hardware/bom.md)")
    usb = [card for card in cards if card.driver == "USB-Audio"]
    if not usb:
        others = ", ".join(f"{c.card_id} ({c.driver})" for c in cards) or "none"
        return Check("USB audio", False, f"no USB audio interface; cards: {others}",
                     "plug the interface in (`lsusb` lists it); on a Pi Zero use a powered "
                     "hub for a bus-powered interface")
    found = ", ".join(f"card {c.index} {c.card_id}: {c.name}" for c in usb)
    controls = sorted((host.dev / "snd").glob("controlC*"))
    if controls and not all(host.can_read_write(path) for path in controls):
        return Check("USB audio", False, f"{found}; /dev/snd not usable by {host.user}",
                     f"sudo usermod -aG audio {host.user} (then log in again)")
    return Check("USB audio", True, found)


def check_alsa_driver(host: Host) -> Check:
    """ALSA's core is loaded, and loaded at boot: the service's device rule names ALSA's
    major as it starts, so without it an interface plugged in later is refused."""
    majors = [line.split() for line in (host.proc / "devices").read_text().splitlines()]
    alsa_major = next((fields[0] for fields in majors
                       if len(fields) == 2 and fields[1] == "alsa"), None)
    if alsa_major is None:
        return Check("ALSA driver", False, "not loaded: an interface plugged in now is "
                     "refused until the player restarts",
                     f"sudo modprobe snd && sudo systemctl restart {SERVICE}; for good: "
                     f"{INSTALL_FIX} (loads snd at boot)")
    at_boot = any("snd" in conf.read_text().split()
                  for conf in sorted(host.modules_load.glob("*.conf")))
    if not at_boot:
        return Check("ALSA driver", None, f"loaded (major {alsa_major}) but not at boot: an "
                     "interface plugged in after power-on may be refused", INSTALL_FIX)
    return Check("ALSA driver", True, f"loaded at boot (major {alsa_major})")


def check_audio_device(config: Config, host: Host) -> Check:
    """The configured ALSA device opens and takes the configured format, rate, channels."""
    device = config["audio.device"]
    caps = host.probe(device)
    if caps is None:
        names = ", ".join(info.name for info in host.list_devices())
        return Check("audio device", False, f"audio.device {device!r} cannot be opened",
                     "if stagebox is playing it holds the device: sudo systemctl stop "
                     f"stagebox and check again; else set audio.device to one of: {names}")
    found = (f"{device}: {', '.join(caps.formats) or 'no known format'}; "
             f"{', '.join(str(r) for r in caps.rates) or '?'} Hz; "
             f"{', '.join(str(c) for c in caps.channels) or '?'} channels")
    if not caps.formats:
        return Check("audio device", False, found,
                     "the device takes none of stagebox's sample formats: use its "
                     "plughw: name (`stagebox devices`)")
    misfits = []
    if config["audio.rate"] not in caps.rates:
        misfits.append(f"audio.rate {config['audio.rate']}")
    fmt = config["audio.sample_format"]
    if fmt != "auto" and fmt not in caps.formats:
        misfits.append(f"audio.sample_format {fmt}")
    if config["audio.channels"] not in caps.channels:
        misfits.append(f"audio.channels {config['audio.channels']}")
    if misfits:
        return Check("audio device", None, f"{found}; not taken: {', '.join(misfits)}",
                     "stagebox falls back to what the device takes; set the config to a "
                     "value listed here to avoid resampling or remapping")
    return Check("audio device", True, found)


def check_oled(config: Config, host: Host) -> Check:
    """The I2C bus exists, this user may use it, and something answers at the address."""
    if config["display.driver"] == "none":
        return Check("OLED", None, "display.driver = none: no display",
                     "set display.driver = \"ssd1306\" or \"sh1106\" to use one")
    port, address = config["display.i2c_port"], config["display.i2c_address"]
    bus = host.dev / f"i2c-{port}"
    if not bus.exists():
        return Check("OLED", False, f"no {bus}",
                     "enable I2C: dtparam=i2c_arm=on in /boot/firmware/config.txt and "
                     "i2c-dev in /etc/modules-load.d/ (image/install.sh does both), reboot")
    if not host.can_read_write(bus):
        return Check("OLED", False, f"{bus} not usable by {host.user}",
                     f"sudo usermod -aG i2c {host.user} (then log in again)")
    try:
        host.read_i2c_byte(port, address)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return Check("OLED", None, f"0x{address:X} on {bus} is held by a kernel driver",
                         "remove the dtoverlay that claims that address")
        return Check("OLED", False, f"nothing answers at 0x{address:X} on {bus} "
                     f"({exc.strerror or exc})",
                     "check the wiring (VCC pin 1, SDA pin 3, SCL pin 5, GND pin 9; "
                     f"hardware/wiring.svg); `i2cdetect -y {port}` lists what answers; "
                     "a module at 0x3D needs display.i2c_address = 61")
    return Check("OLED", True, f"{config['display.driver']} answers at 0x{address:X} on {bus}")


def check_gpio(host: Host) -> Check:
    """The GPIO character devices exist and this user may use them."""
    chips = sorted(host.dev.glob("gpiochip*"))
    if not chips:
        return Check("GPIO", False, f"no {host.dev}/gpiochip*: the buttons cannot be read",
                     "run on a Raspberry Pi with Raspberry Pi OS (kernel GPIO character "
                     "device)")
    refused = [chip.name for chip in chips if not host.can_read_write(chip)]
    if refused:
        return Check("GPIO", False, f"{', '.join(refused)} not usable by {host.user}",
                     f"sudo usermod -aG gpio {host.user} (then log in again)")
    return Check("GPIO", True, f"{', '.join(chip.name for chip in chips)} usable")


def check_button_pins(config: Config) -> Check:
    """Each button on its own pin, none on the OLED's I2C pins."""
    pins = config.button_pins
    found = ", ".join(f"{name.upper()} GPIO {pin}" for name, pin in pins.items())
    problems = []
    for pin in sorted(set(pins.values())):
        names = [name.upper() for name, p in pins.items() if p == pin]
        if len(names) > 1:
            problems.append(f"{' and '.join(names)} share GPIO {pin}")
        if pin in BOARD_I2C_PINS and config["display.driver"] != "none":
            problems.append(f"{names[0]} is on GPIO {pin}, the OLED's {BOARD_I2C_PINS[pin]}")
    if problems:
        return Check("button pins", False, f"{found}: {'; '.join(problems)}",
                     "give each button its own pin in [buttons] (hardware/README.md)")
    return Check("button pins", True, found)


def check_inputs(config: Config, host: Host) -> Check:
    """The pedals and MIDI ports plugged in, and whether the player may use them."""
    seen = host.look_for_inputs()
    found = "; ".join([
        *(f"pedal {pedal.description} ({', '.join(pedal.nodes)})" for pedal in seen.pedals),
        *(f"MIDI in {port}" for port in seen.midi_in),
        *(f"MIDI out {port}" for port in seen.midi_out),
    ]) or "no pedals or MIDI ports plugged in"
    untagged = [node for pedal in seen.pedals for node in pedal.untagged]
    if untagged and config["pedals.enabled"]:
        return Check("pedals and MIDI", False, f"{found}; the player may not open "
                     f"{', '.join(untagged)}",
                     f"udev's rule is missing: {INSTALL_FIX} (installs "
                     "/etc/udev/rules.d/99-stagebox.rules), then unplug and replug")
    if seen.midi_problem and config["midi.enabled"]:
        return Check("pedals and MIDI", None, f"{found}; MIDI: {seen.midi_problem}",
                     "sudo modprobe snd-seq; for good: " + INSTALL_FIX +
                     " (loads snd-seq at boot)")
    return Check("pedals and MIDI", True, found)


@dataclass(frozen=True)
class MountEntry:
    """The parts of a ``/proc/self/mountinfo`` line the doctor needs."""

    mount_point: Path
    fs_type: str
    source: str
    options: str


def check_loudness_meter(config: Config, host: Host) -> Check:
    """libebur128 loads, so songs can be matched to ``player.loudness_lufs``."""
    from stagebox.media.ebur128 import MeterUnavailable

    target = config["player.loudness_lufs"]
    if target == "off":
        return Check("loudness meter", None, "player.loudness_lufs = off: songs play as "
                     "mastered", "set player.loudness_lufs = -18.0 to match them")
    try:
        version = host.meter_version()
    except MeterUnavailable as exc:
        return Check("loudness meter", False, f"{exc}: songs play as mastered",
                     "sudo apt-get install libebur128-1")
    return Check("loudness meter", True, f"libebur128 {version}; songs matched to "
                 f"{target:g} LUFS")


def parse_mount_entries(text: str) -> list[MountEntry]:
    """Every mount in ``mountinfo`` text, in mount order."""
    entries = []
    for line in text.splitlines():
        if " - " not in line:
            continue
        before, after = line.split(" - ", 1)
        fields, tail = before.split(), after.split()
        if len(fields) < 6 or len(tail) < 2:
            continue
        point = fields[4].replace("\\040", " ").replace("\\134", "\\")
        options = fields[5] + ("," + tail[2] if len(tail) > 2 else "")
        entries.append(MountEntry(Path(point), tail[0], tail[1], options))
    return entries


def mount_holding(path: Path, entries: Sequence[MountEntry]) -> MountEntry | None:
    """The mount ``path`` lives on: the last mounted of the deepest containing mounts."""
    best: MountEntry | None = None
    for entry in entries:
        if path.is_relative_to(entry.mount_point) and (
                best is None or len(entry.mount_point.parts) >= len(best.mount_point.parts)):
            best = entry
    return best


def check_media_root(config: Config, host: Host) -> Check:
    """The media root exists; which sticks are mounted under it."""
    root = Path(config["media.root"])
    if not root.is_dir():
        return Check("media root", False, f"no folder {root}",
                     "sudo systemd-tmpfiles --create /etc/tmpfiles.d/stagebox.conf "
                     f"(or {INSTALL_FIX})")
    sticks = parse_mountinfo(host.mountinfo.read_text(), root)
    if not sticks:
        return Check("media root", None, f"{root}: no stick mounted",
                     "plug in a stick; if none appears: journalctl -b -u 'stagebox-mount@*'")
    listed = ", ".join(f"{m.mount_point} ({m.source})" for m in sticks)
    return Check("media root", True, f"{root}: {listed}")


def check_state_folder(config: Config, host: Host) -> Check:
    """The state folder takes a file (written, flushed, removed), on a disk, not in RAM."""
    folder = Path(config["state.dir"])
    if not folder.is_dir():
        return Check("state folder", False, f"no folder {folder}",
                     f"sudo install -d -o stagebox -g stagebox -m 0700 {folder}")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-") as probe:
            probe.write(b"stagebox doctor\n")
            probe.flush()
            os.fsync(probe.fileno())
    except PermissionError:
        if host.euid != 0 and host.owner_of(folder) == SERVICE_USER:
            return Check("state folder", None, f"{folder} is not writable by {host.user} "
                         "(it belongs to the stagebox user)", "run `sudo stagebox doctor`")
        return Check("state folder", False, f"{folder} refuses writes even to root",
                     f"check its file system: findmnt {folder}")
    except OSError as exc:
        return Check("state folder", False, f"writing in {folder} failed: {exc.strerror}",
                     f"check the disk: findmnt {folder}; sudo dmesg | tail")
    owner = host.owner_of(folder)
    if owner != SERVICE_USER:
        return Check("state folder", False, f"{folder} belongs to {owner}, not {SERVICE_USER}: "
                     "the player cannot keep its place", TMPFILES_FIX)
    entry = mount_holding(folder, parse_mount_entries(host.mountinfo.read_text()))
    if entry is None:
        return Check("state folder", True, f"{folder} writable")
    where = f"{folder} writable, on {entry.source} ({entry.fs_type})"
    if entry.fs_type not in PERSISTENT_FS_TYPES:
        return Check("state folder", False, f"{where}: kept in RAM, lost at power-off",
                     "the state partition (partition 3 of the root's disk) is not "
                     "mounted there: journalctl -b -u var-lib-stagebox.mount; "
                     "ls -l /dev/disk/by-partuuid")
    return Check("state folder", True, where)


def check_root_fs(host: Host) -> Check:
    """Whether the root is the read-only overlay the image sets up."""
    root = mount_holding(Path("/"), parse_mount_entries(host.mountinfo.read_text()))
    if root is None:
        return Check("root file system", None, "no / in the mount table", "")
    if root.fs_type == "overlay":
        return Check("root file system", True, "read-only overlay: writes go to RAM")
    if "ro" in root.options.split(","):
        return Check("root file system", True, f"{root.source} ({root.fs_type}) read-only")
    return Check("root file system", None,
                 f"{root.source} ({root.fs_type}) writable: a power cut can damage it",
                 "sudo image/install.sh --read-only-root (needs a state partition: "
                 "image/README.md)")


def check_first_boot_units(host: Host) -> Check:
    """Under the read-only overlay, Raspberry Pi OS's first-boot units are masked."""
    root = mount_holding(Path("/"), parse_mount_entries(host.mountinfo.read_text()))
    if root is None or root.fs_type != "overlay":
        return Check("first-boot units", True, "the root is not an overlay: they run once")
    states = {unit: _unit_file_state(host, unit) for unit in FIRST_BOOT_UNITS}
    if None in states.values():
        return Check("first-boot units", None, "systemctl not found", "run on the box")
    # A unit that is not there prints nothing (systemd 252) or "not-found".
    running = [unit for unit, state in states.items()
               if state not in ("masked", "not-found", "")]
    if running:
        return Check("first-boot units", None, f"{', '.join(running)} run at every boot "
                     "under the overlay", f"sudo systemctl mask {' '.join(running)}; then "
                     "reboot (or: sudo image/install.sh --read-only-root)")
    return Check("first-boot units", True, "masked under the overlay")


def _unit_file_state(host: Host, unit: str) -> str | None:
    """``systemctl is-enabled`` of ``unit``; None without systemctl."""
    result = host.run(["systemctl", "is-enabled", unit])
    return None if result is None else result.stdout.strip()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no message"


def _systemctl_show(host: Host, properties: Sequence[str]) -> dict[str, str] | Check:
    result = host.run(["systemctl", "show", SERVICE, "-p", ",".join(properties)])
    if result is None:
        return Check("service", None, "systemctl not found: the service cannot be checked",
                     "run on the box (systemd)")
    if result.returncode != 0:
        return Check("service", None, f"systemctl failed: {_first_line(result.stderr)}",
                     "run on the box, where systemd is running")
    values = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def check_service(host: Host) -> Check:
    """stagebox.service is installed, enabled and running, without restarts."""
    shown = _systemctl_show(host, ["LoadState", "UnitFileState", "ActiveState", "SubState",
                                   "NRestarts"])
    if isinstance(shown, Check):
        return shown
    if shown.get("LoadState") != "loaded":
        return Check("service", False, f"{SERVICE}.service is not installed", INSTALL_FIX)
    state = f"{shown.get('ActiveState')} ({shown.get('SubState')})"
    if shown.get("UnitFileState") != "enabled":
        return Check("service", False, f"{state}, not started at boot",
                     f"sudo systemctl enable --now {SERVICE}")
    if shown.get("ActiveState") == "failed":
        return Check("service", False, state, f"journalctl -b -u {SERVICE} says why; "
                     f"sudo systemctl restart {SERVICE}")
    if shown.get("ActiveState") != "active":
        return Check("service", None, state, f"sudo systemctl start {SERVICE}")
    restarts = int(shown.get("NRestarts") or 0)
    if restarts:
        return Check("service", None, f"{state}, restarted {restarts} times",
                     f"journalctl -b -u {SERVICE} shows each crash")
    return Check("service", True, f"{state}, enabled")


def check_start_order(host: Host) -> Check:
    """The service starts after ALSA's driver and the state partition, and no stick's mount
    helper holds its start."""
    shown = _systemctl_show(host, ["After", "LoadState"])
    if isinstance(shown, Check):
        return Check("start order", shown.ok, shown.found, shown.fix)
    if shown.get("LoadState") != "loaded":
        return Check("start order", None, f"{SERVICE}.service is not installed", INSTALL_FIX)
    after = shown.get("After", "").split()
    missing = [unit for unit in START_AFTER if unit not in after]
    held = [unit for unit in after if unit.startswith("stagebox-mount@")]
    if missing or held:
        found = "; ".join([*(f"not after {unit}" for unit in missing),
                           *(f"waits for {unit}" for unit in held)])
        return Check("start order", False, found,
                     f"the units are old or a drop-in changes them: `systemctl cat {SERVICE}`; "
                     f"reinstall: {INSTALL_FIX}")
    return Check("start order", True, "after " + ", ".join(START_AFTER))


def check_hardening(host: Host) -> Check:
    """The sandbox and restart settings of the unit are the ones it ships with."""
    shown = _systemctl_show(host, [*EXPECTED_HARDENING, "WatchdogUSec", "LoadState"])
    if isinstance(shown, Check):
        return Check("hardening", shown.ok, shown.found, shown.fix)
    if shown.get("LoadState") != "loaded":
        return Check("hardening", None, f"{SERVICE}.service is not installed", INSTALL_FIX)
    differ = [f"{key}={shown.get(key, '')!r} (want {want})"
              for key, want in EXPECTED_HARDENING.items() if shown.get(key) != want]
    if shown.get("WatchdogUSec") in (None, "", "0", "infinity"):
        differ.append("no watchdog")
    if differ:
        return Check("hardening", False, "; ".join(differ),
                     f"a drop-in changes the unit: `systemctl cat {SERVICE}`; remove it, "
                     f"or reinstall: {INSTALL_FIX}")
    return Check("hardening", True, ", ".join(f"{k}={v}" for k, v in EXPECTED_HARDENING.items())
                 + f", watchdog {shown['WatchdogUSec']}")


def decode_throttled(value: int) -> tuple[list[str], list[str]]:
    """What ``vcgencmd get_throttled`` bits say: (happening now, happened since boot)."""
    now = [text for bit, text in THROTTLED_NOW.items() if value & bit]
    since = [text for bit, text in THROTTLED_SINCE_BOOT.items() if value & bit]
    return now, since


def check_power(host: Host) -> Check:
    """Under-voltage and throttling, now and since boot (``vcgencmd get_throttled``)."""
    result = host.run(["vcgencmd", "get_throttled"])
    if result is None:
        return Check("power", None, "vcgencmd not found: under-voltage unknown",
                     "on Raspberry Pi OS it comes with libraspberrypi-bin (raspi-utils on "
                     "newer releases)")
    match = re.search(r"throttled=(0x[0-9a-fA-F]+)", result.stdout)
    if result.returncode != 0 or not match:
        return Check("power", None,
                     f"vcgencmd failed: {_first_line(result.stderr or result.stdout)}",
                     f"sudo usermod -aG video {host.user}, or run `sudo stagebox doctor`")
    now, since = decode_throttled(int(match[1], 16))
    if "under-voltage" in now:
        return Check("power", False, f"{match[1]}: {', '.join(now)} NOW", POWER_FIX)
    if now or since:
        parts = ([f"now: {', '.join(now)}"] if now else []) + \
                ([f"since boot: {', '.join(since)}"] if since else [])
        fix = POWER_FIX if "under-voltage" in since else "cool the Pi: a heatsink, a vented case"
        return Check("power", None, f"{match[1]}: {'; '.join(parts)}", fix)
    return Check("power", True, f"{match[1]}: no under-voltage or throttling since boot")
