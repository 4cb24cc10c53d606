"""``stagebox doctor`` on a fake Pi (folders for /dev and /proc, fake ALSA, I2C and commands)
and on this machine as it is."""

from __future__ import annotations

import errno
import io
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from stagebox.config import Config, parse_config
from stagebox.doctor import (
    CommandResult,
    Host,
    check_alsa_driver,
    check_audio_device,
    check_button_pins,
    check_first_boot_units,
    check_hardening,
    check_media_root,
    check_oled,
    check_power,
    check_service,
    check_start_order,
    check_state_folder,
    collect_checks,
    decode_throttled,
    parse_asound_cards,
    run_doctor,
)
from stagebox.hal.alsa import DeviceCaps, DeviceInfo
from stagebox.hal.inputs import InputsSeen, SeenPedal
from stagebox.media.ebur128 import MeterUnavailable

CARDS = """\
 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [Device         ]: USB-Audio - USB Audio CODEC
                      BURR-BROWN USB AUDIO CODEC at usb-0000:01:00.0-1.3, full speed
"""

SHOW_HEALTHY = {
    "LoadState": "loaded", "UnitFileState": "enabled", "ActiveState": "active",
    "SubState": "running", "NRestarts": "0", "User": "stagebox", "ProtectSystem": "strict",
    "PrivateNetwork": "yes", "NoNewPrivileges": "yes", "DevicePolicy": "closed",
    "Restart": "always", "WatchdogUSec": "10s",
    "After": "system.slice sound.target systemd-modules-load.service var-lib-stagebox.mount "
             "basic.target",
}
PROC_DEVICES = "Character devices:\n  1 mem\n116 alsa\n254 gpiochip\n\nBlock devices:\n"

STATUS_LINE = re.compile(r"^(OK|WARN|FAIL) ")


class FakeCommands:
    """``systemctl show``, ``systemctl is-enabled`` and ``vcgencmd`` as a Pi answers them;
    None = not installed. ``enabled`` is each unit's state; a unit not in it is missing."""

    def __init__(self, show: dict[str, str] | None = None, throttled: str | None = "0x0",
                 vcgencmd_code: int = 0, enabled: dict[str, str] | None = None) -> None:
        self.show = show
        self.throttled = throttled
        self.vcgencmd_code = vcgencmd_code
        self.enabled = enabled if enabled is not None else {
            "resize2fs_once.service": "masked", "regenerate_ssh_host_keys.service": "masked"}

    def __call__(self, args: Sequence[str]) -> CommandResult | None:
        if args[0] == "systemctl":
            if self.show is None:
                return None
            if args[1] == "is-enabled":
                state = self.enabled.get(args[2])
                return CommandResult(0 if state == "enabled" else 1, f"{state}\n" if state else "")
            wanted = args[-1].split(",")
            return CommandResult(0, "".join(f"{key}={self.show.get(key, '')}\n"
                                            for key in wanted))
        if args[0] == "vcgencmd":
            if self.throttled is None:
                return None
            if self.vcgencmd_code:
                return CommandResult(self.vcgencmd_code, "", "VCHI initialization failed\n")
            return CommandResult(0, f"throttled={self.throttled}\n")
        raise AssertionError(f"unexpected command {args}")


def mount_line(number: int, point: Path | str, fs_type: str, source: str,
               options: str = "rw") -> str:
    return f"{number} 1 0:{number} / {point} {options},noatime shared:1 - {fs_type} {source} rw\n"


@pytest.fixture
def pi(tmp_path: Path) -> tuple[Config, Host]:
    """A healthy Pi 4: USB card, OLED answering, GPIO, a stick, state on its partition."""
    dev, proc = tmp_path / "dev", tmp_path / "proc"
    (dev / "snd").mkdir(parents=True)
    for name in ("snd/controlC0", "snd/controlC1", "i2c-1", "gpiochip0", "gpiochip1"):
        (dev / name).touch()
    (proc / "asound").mkdir(parents=True)
    (proc / "asound" / "cards").write_text(CARDS)
    (proc / "devices").write_text(PROC_DEVICES)
    modules_load = tmp_path / "modules-load.d"
    modules_load.mkdir()
    (modules_load / "stagebox.conf").write_text("i2c-dev\nsnd\n")
    media, state = tmp_path / "media", tmp_path / "state"
    (media / "GIG").mkdir(parents=True)
    state.mkdir()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "25 1 0:24 / / rw,noatime shared:1 - overlay overlayroot rw,lowerdir=/media/root-ro\n"
        + mount_line(30, state, "ext4", "/dev/mmcblk0p3", "rw")
        + mount_line(40, media / "GIG", "vfat", "/dev/sda1", "ro,nosuid,nodev,noexec"))
    config = Config().replace(media__root=str(media), state__dir=str(state),
                              audio__device="hw:CARD=Device,DEV=0")
    host = Host(dev=dev, proc=proc, mountinfo=mountinfo, user="pi", euid=1000,
                run=FakeCommands(SHOW_HEALTHY),
                list_devices=lambda: [DeviceInfo("default"), DeviceInfo("hw:CARD=Device,DEV=0")],
                probe=lambda device: DeviceCaps(("S16_LE", "S24_3LE"), (44100, 48000), (2,)),
                read_i2c_byte=lambda port, address: 0x43,
                can_read_write=lambda path: True, owner_of=lambda path: "stagebox",
                modules_load=modules_load, look_for_inputs=lambda: PEDAL_AND_FCB,
                meter_version=lambda: "1.2.6")
    return config, host


PEDAL_AND_FCB = InputsSeen(
    (SeenPedal("AirTurn PED", ("/dev/input/event3", "/dev/input/event4"), ()),),
    ("FCB1010:FCB1010 MIDI 1 24:0",), ("FCB1010:FCB1010 MIDI 1 24:0",))


def report(config: Config, host: Host, **kwargs) -> tuple[int, str]:
    out = io.StringIO()
    code = run_doctor(config, out, host=host, **kwargs)
    return code, out.getvalue()


def line_of(text: str, name: str) -> str:
    lines = [line for line in text.splitlines() if STATUS_LINE.match(line)
             and re.match(rf"^\S+\s+{re.escape(name)}\s{{2}}", line)]
    assert len(lines) == 1, text
    return lines[0]


def fix_after(text: str, name: str) -> str:
    lines = text.splitlines()
    following = lines[lines.index(line_of(text, name)) + 1]
    assert following.strip().startswith("fix: "), text
    return following.strip()


def test_a_healthy_box_passes_every_check(pi):
    code, text = report(*pi)
    assert code == 0
    status_lines = [line for line in text.splitlines() if STATUS_LINE.match(line)]
    assert len(status_lines) == 17 and all(line.startswith("OK ") for line in status_lines)
    assert "fix:" not in text
    assert text.splitlines()[-1] == "17 OK, 0 to look at, 0 failed"
    assert "libebur128 1.2.6; songs matched to -18 LUFS" in line_of(text, "loudness meter")
    assert "pedal AirTurn PED (/dev/input/event3, /dev/input/event4); MIDI in FCB1010" in \
        line_of(text, "pedals and MIDI")
    assert "card 1 Device: USB Audio CODEC" in line_of(text, "USB audio")
    assert "S16_LE, S24_3LE; 44100, 48000 Hz; 2 channels" in line_of(text, "audio device")
    assert "ssd1306 answers at 0x3C" in line_of(text, "OLED")
    assert "/dev/sda1" in line_of(text, "media root")
    assert "/dev/mmcblk0p3 (ext4)" in line_of(text, "state folder")
    assert "watchdog 10s" in line_of(text, "hardening")


def test_a_machine_without_the_hardware_fails_and_says_what_to_do(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "proc").mkdir()
    (tmp_path / "mountinfo").write_text(mount_line(1, "/", "ext4", "/dev/sda2"))
    host = Host(dev=tmp_path / "dev", proc=tmp_path / "proc", mountinfo=tmp_path / "mountinfo",
                user="dev", euid=1000, run=FakeCommands(show=None, throttled=None),
                list_devices=lambda: [DeviceInfo("default"), DeviceInfo("null")],
                probe=lambda device: None,
                read_i2c_byte=lambda port, address: 0,
                can_read_write=lambda path: True)
    config = Config().replace(media__root=str(tmp_path / "media"),
                              state__dir=str(tmp_path / "state"))
    code, text = report(config, host)
    assert code == 1
    assert line_of(text, "USB audio").startswith("FAIL")
    assert "class-compliant USB audio interface" in fix_after(text, "USB audio")
    assert "default, null" in fix_after(text, "audio device")
    assert line_of(text, "OLED").startswith("FAIL")
    assert "dtparam=i2c_arm=on in /boot/firmware/config.txt" in fix_after(text, "OLED")
    assert line_of(text, "GPIO").startswith("FAIL")
    assert line_of(text, "state folder").startswith("FAIL")
    assert line_of(text, "root file system").startswith("WARN")
    assert "systemctl not found" in line_of(text, "service")
    assert line_of(text, "service").startswith("WARN")
    assert line_of(text, "hardening").startswith("WARN")
    assert "vcgencmd not found" in line_of(text, "power")


def test_this_machine_as_it_is_gives_a_full_report_without_raising():
    out = io.StringIO()
    code = run_doctor(Config(), out)
    text = out.getvalue()
    status_lines = [line for line in text.splitlines() if STATUS_LINE.match(line)]
    assert len(status_lines) == 17
    assert code == (1 if any(line.startswith("FAIL") for line in status_lines) else 0)
    has_gpio = any(Path("/dev").glob("gpiochip*"))
    assert line_of(text, "GPIO").startswith("OK" if has_gpio else "FAIL")
    if not Path("/proc/asound/cards").exists():
        assert line_of(text, "USB audio").startswith("FAIL")


def test_a_missing_loudness_meter_fails_and_off_is_only_worth_a_look(pi):
    config, host = pi

    def missing() -> str:
        raise MeterUnavailable("libebur128.so.1 not found (install libebur128-1)")

    code, text = report(config, replace(host, meter_version=missing))
    assert code == 1 and line_of(text, "loudness meter").startswith("FAIL")
    assert fix_after(text, "loudness meter") == "fix: sudo apt-get install libebur128-1"
    code, text = report(config.replace(player__loudness_lufs="off"), host)
    assert code == 0 and line_of(text, "loudness meter").startswith("WARN")


@pytest.mark.parametrize(("device", "group"), [("snd/controlC1", "audio"), ("i2c-1", "i2c"),
                                               ("gpiochip0", "gpio")])
def test_a_device_this_user_may_not_open_names_the_group_to_join(pi, device, group):
    config, host = pi
    refused = host.dev / device
    host = replace(host, can_read_write=lambda path: path != refused)
    code, text = report(config, host)
    assert code == 1
    assert f"fix: sudo usermod -aG {group} pi" in text


def test_an_oled_that_does_not_answer_points_at_the_wiring_and_the_address(pi):
    config, host = pi

    def nobody_there(port: int, address: int) -> int:
        raise OSError(errno.EREMOTEIO, "Remote I/O error")

    check = check_oled(config, replace(host, read_i2c_byte=nobody_there))
    assert check.ok is False
    assert "nothing answers at 0x3C" in check.found and "Remote I/O error" in check.found
    assert "i2cdetect -y 1" in check.fix and "display.i2c_address = 61" in check.fix


def test_no_display_configured_is_a_warning_not_a_failure(pi):
    config, host = pi
    check = check_oled(config.replace(display__driver="none"), host)
    assert check.ok is None and "display.driver = none" in check.found


def test_an_audio_device_refusing_the_configured_rate_is_a_warning(pi):
    config, host = pi
    host = replace(host, probe=lambda device: DeviceCaps(("S24_3LE",), (44100,), (2, 4)))
    check = check_audio_device(config, host)
    assert check.ok is None
    assert "not taken: audio.rate 48000" in check.found
    forced = check_audio_device(config.replace(audio__sample_format="S32_LE"), host)
    assert "audio.sample_format S32_LE" in forced.found


def test_parse_asound_cards_reads_index_id_driver_and_name():
    cards = parse_asound_cards(CARDS)
    assert [(c.index, c.card_id, c.driver, c.name) for c in cards] == [
        (0, "Headphones", "bcm2835_headpho", "bcm2835 Headphones"),
        (1, "Device", "USB-Audio", "USB Audio CODEC")]


def test_only_a_non_usb_card_is_a_failure(pi):
    config, host = pi
    (host.proc / "asound" / "cards").write_text(CARDS.split(" 1 [")[0])
    code, text = report(config, host)
    assert code == 1
    assert "no USB audio interface; cards: Headphones (bcm2835_headpho)" in text


@pytest.mark.parametrize(("value", "ok", "words"), [
    ("0x0", True, "no under-voltage"),
    ("0x50000", None, "since boot: under-voltage, throttling"),
    ("0x50005", False, "under-voltage, throttled NOW"),
    ("0x80000", None, "soft temperature limit"),
])
def test_throttling_bits_are_decoded_into_now_and_since_boot(pi, value, ok, words):
    _, host = pi
    check = check_power(replace(host, run=FakeCommands(SHOW_HEALTHY, throttled=value)))
    assert check.ok is ok and words in check.found
    if ok is not True:
        assert check.fix


def test_a_past_under_voltage_asks_for_a_better_supply():
    assert decode_throttled(0x10000) == ([], ["under-voltage"])
    assert decode_throttled(0x1) == (["under-voltage"], [])


def test_vcgencmd_refusing_this_user_is_a_warning(pi):
    _, host = pi
    check = check_power(replace(host, run=FakeCommands(SHOW_HEALTHY, vcgencmd_code=255)))
    assert check.ok is None
    assert "VCHI initialization failed" in check.found and "video" in check.fix


def test_a_drop_in_that_loosens_the_sandbox_fails_hardening(pi):
    _, host = pi
    loose = {**SHOW_HEALTHY, "ProtectSystem": "no", "WatchdogUSec": "0"}
    check = check_hardening(replace(host, run=FakeCommands(loose)))
    assert check.ok is False
    assert "ProtectSystem='no' (want strict)" in check.found and "no watchdog" in check.found
    assert "systemctl cat stagebox" in check.fix


@pytest.mark.parametrize(("changes", "ok", "words"), [
    ({"LoadState": "not-found"}, False, "not installed"),
    ({"UnitFileState": "disabled"}, False, "not started at boot"),
    ({"ActiveState": "failed", "SubState": "failed"}, False, "failed (failed)"),
    ({"ActiveState": "inactive", "SubState": "dead"}, None, "inactive (dead)"),
    ({"NRestarts": "3"}, None, "restarted 3 times"),
])
def test_the_service_state_is_reported(pi, changes, ok, words):
    _, host = pi
    check = check_service(replace(host, run=FakeCommands({**SHOW_HEALTHY, **changes})))
    assert check.ok is ok and words in check.found and check.fix


def test_a_state_folder_in_ram_fails_because_a_power_cut_would_forget_everything(pi):
    config, host = pi
    host.mountinfo.write_text(host.mountinfo.read_text().replace(
        "ext4 /dev/mmcblk0p3", "tmpfs tmpfs"))
    check = check_state_folder(config, host)
    assert check.ok is False and "lost at power-off" in check.found
    assert "partition 3" in check.fix and "var-lib-stagebox.mount" in check.fix


def test_the_state_write_test_leaves_nothing_behind(pi):
    config, host = pi
    assert check_state_folder(config, host).ok is True
    assert list(Path(config["state.dir"]).iterdir()) == []


def test_a_state_path_that_is_not_a_folder_fails(pi, tmp_path):
    config, host = pi
    (tmp_path / "a-file").write_text("x")
    check = check_state_folder(config.replace(state__dir=str(tmp_path / "a-file")), host)
    assert check.ok is False and "install -d -o stagebox" in check.fix


def test_no_stick_is_a_warning_with_where_to_look(pi):
    config, host = pi
    host.mountinfo.write_text(host.mountinfo.read_text().splitlines(keepends=True)[0])
    check = check_media_root(config, host)
    assert check.ok is None and "no stick mounted" in check.found
    assert "stagebox-mount@" in check.fix


def test_buttons_sharing_a_pin_or_sitting_on_the_oled_bus_fail():
    clash = check_button_pins(Config().replace(buttons__next_pin=5, buttons__menu_pin=2))
    assert clash.ok is False
    assert "PREV and NEXT share GPIO 5" in clash.found
    assert "MENU is on GPIO 2, the OLED's SDA" in clash.found
    free = check_button_pins(Config().replace(buttons__menu_pin=2, display__driver="none"))
    assert free.ok is True


def test_config_warnings_are_shown_with_the_file_to_edit(pi):
    config, host = pi
    _, warnings = parse_config('[audio]\nrate = 12345\n', source="config.toml")
    code, text = report(config, host, config_path=Path("/etc/stagebox/config.toml"),
                        config_warnings=warnings)
    assert code == 0
    line = line_of(text, "config")
    assert line.startswith("WARN") and "audio.rate must be one of" in line
    assert "stagebox config-example" in fix_after(text, "config")


def test_a_check_that_cannot_read_its_file_is_a_failure_not_a_crash(pi):
    config, host = pi
    host.mountinfo.unlink()
    names = {check.name: check for check in collect_checks(config, host)}
    assert names["media root"].ok is False
    assert "could not check" in names["media root"].found


def test_a_missing_alsa_driver_fails_because_a_later_interface_would_be_refused(pi):
    _, host = pi
    (host.proc / "devices").write_text("Character devices:\n  1 mem\n254 gpiochip\n")
    check = check_alsa_driver(host)
    assert check.ok is False and "refused until the player restarts" in check.found
    assert "modprobe snd" in check.fix


def test_an_alsa_driver_not_loaded_at_boot_is_a_warning(pi):
    _, host = pi
    (host.modules_load / "stagebox.conf").write_text("i2c-dev\n")
    check = check_alsa_driver(host)
    assert check.ok is None and "not at boot" in check.found


def test_a_state_folder_the_service_user_does_not_own_fails_even_for_root(pi):
    config, host = pi
    check = check_state_folder(config, replace(host, owner_of=lambda path: "root", euid=0))
    assert check.ok is False and "belongs to root, not stagebox" in check.found
    assert "systemd-tmpfiles --create" in check.fix


@pytest.mark.parametrize(("after", "words"), [
    ("sound.target var-lib-stagebox.mount", "not after systemd-modules-load.service"),
    ("sound.target systemd-modules-load.service", "not after var-lib-stagebox.mount"),
    ("systemd-modules-load.service var-lib-stagebox.mount stagebox-mount@sda1.service",
     "waits for stagebox-mount@sda1.service"),
])
def test_a_start_order_that_loses_sound_state_or_time_fails(pi, after, words):
    _, host = pi
    check = check_start_order(replace(host, run=FakeCommands({**SHOW_HEALTHY, "After": after})))
    assert check.ok is False and words in check.found


def test_first_boot_units_left_running_under_the_overlay_are_a_warning(pi):
    _, host = pi
    enabled = {"resize2fs_once.service": "masked", "userconfig.service": "enabled"}
    check = check_first_boot_units(replace(host, run=FakeCommands(SHOW_HEALTHY,
                                                                  enabled=enabled)))
    assert check.ok is None and "userconfig.service run at every boot" in check.found
    assert "systemctl mask userconfig.service" in check.fix


def test_first_boot_units_are_not_looked_at_on_a_writable_root(pi, tmp_path):
    _, host = pi
    mountinfo = tmp_path / "writable-mountinfo"
    mountinfo.write_text(mount_line(25, "/", "ext4", "/dev/mmcblk0p2"))
    enabled = {"userconfig.service": "enabled"}
    check = check_first_boot_units(replace(host, mountinfo=mountinfo,
                                           run=FakeCommands(SHOW_HEALTHY, enabled=enabled)))
    assert check.ok is True


def test_a_pedal_the_udev_rule_did_not_give_to_the_player_fails(pi):
    config, host = pi
    seen = InputsSeen((SeenPedal("AirTurn PED", ("/dev/input/event3",),
                                 ("/dev/input/event3",)),), (), ())
    code, text = report(config, replace(host, look_for_inputs=lambda: seen))
    assert code == 1
    assert "the player may not open /dev/input/event3" in line_of(text, "pedals and MIDI")
    assert "99-stagebox.rules" in fix_after(text, "pedals and MIDI")


def test_no_sequencer_is_a_warning_that_says_which_module_to_load(pi):
    config, host = pi
    seen = InputsSeen((), (), (), "no ALSA sequencer: error creating client")
    code, text = report(config, replace(host, look_for_inputs=lambda: seen))
    assert code == 0 and line_of(text, "pedals and MIDI").startswith("WARN")
    assert "no pedals or MIDI ports plugged in; MIDI: no ALSA sequencer" in \
        line_of(text, "pedals and MIDI")
    assert "modprobe snd-seq" in fix_after(text, "pedals and MIDI")
    config_off = config.replace(midi__enabled=False)
    assert line_of(report(config_off, replace(host, look_for_inputs=lambda: seen))[1],
                   "pedals and MIDI").startswith("OK")
