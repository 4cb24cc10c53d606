"""The units' hardening scores, the udev rules' syntax and shellcheck on every script."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"

# The levels the units reach today; a change that loosens them fails here.
EXPOSURE_LIMITS = {
    "stagebox.service": 0.8,
    "stagebox-mount@sda1.service": 2.9,
    "stagebox-shutdown.service": 0.7,
}

SCRIPTS = [
    REPO / "image" / "install.sh",
    REPO / "image" / "build.sh",
    REPO / "image" / "add-state-partition.sh",
    REPO / "image" / "prepare-stage.sh",
    REPO / "systemd" / "stagebox-state-generator",
    REPO / "image" / "stage-stagebox" / "prerun.sh",
    REPO / "image" / "stage-stagebox" / "00-stagebox" / "01-run.sh",
    REPO / "image" / "stage-stagebox" / "EXPORT_IMAGE",
]


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install {tool}"
    return path


def exposure(unit_file: Path) -> float:
    result = subprocess.run(
        [need("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(unit_file)],
        capture_output=True, text=True, check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


@pytest.mark.parametrize(("unit", "limit"), EXPOSURE_LIMITS.items())
def test_each_unit_is_as_locked_down_as_it_has_been(unit, limit, tmp_path):
    source = SYSTEMD / ("stagebox-mount@.service" if "@" in unit else unit)
    unit_file = tmp_path / unit  # the instance, as udev starts it
    unit_file.write_text(source.read_text())
    assert exposure(unit_file) <= limit


def test_the_daemon_scores_safe():
    assert exposure(SYSTEMD / "stagebox.service") <= 1.0


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_daemon_is_watched_sandboxed_and_may_use_sound_gpio_i2c_and_realtime():
    s = unit_settings("stagebox.service")
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["always"] and "WatchdogSec" in s
    assert s["User"] == ["stagebox"] and s["SupplementaryGroups"] == ["audio gpio i2c"]
    assert s["PrivateNetwork"] == ["yes"] and s["ProtectSystem"] == ["strict"]
    assert s["ReadWritePaths"] == ["-/var/lib/stagebox"]
    assert "StateDirectory" not in s, "it would make the player depend on the state mount"
    assert set(s["DeviceAllow"]) == {"char-alsa rw", "char-gpiochip rw", "char-i2c rw",
                                     "char-input rw"}
    assert s["DevicePolicy"] == ["closed"]
    # The input devices it may open are the USB and Bluetooth ones udev gives its group.
    assert "input" not in s["SupplementaryGroups"][0].split()
    assert "PrivateDevices" not in s  # it would hide /dev/snd whatever DeviceAllow= says
    assert s["RestrictRealtime"] == ["no"] and int(s["LimitRTPRIO"][0]) > 0
    assert s["Environment"][0] == "LG_WD=/run/stagebox"
    assert s["RuntimeDirectory"] == ["stagebox"]
    assert "MountFlags" not in s  # host mounts must keep propagating in


def test_the_daemon_starts_after_alsas_driver_and_the_state_mount_and_fixes_the_folder():
    s = unit_settings("stagebox.service")
    after = " ".join(s["After"]).split()
    # DeviceAllow=char-alsa is resolved as the unit starts: ALSA's major must exist by then.
    assert "systemd-modules-load.service" in after
    # Ordering only: a box without its state partition still plays.
    assert "var-lib-stagebox.mount" in after and "var-lib-stagebox.mount" not in " ".join(
        s.get("Requires", []) + s.get("Wants", []) + s.get("RequiresMountsFor", []))
    tmpfiles = "+/usr/bin/systemd-tmpfiles --create /etc/tmpfiles.d/stagebox.conf"
    assert s["ExecStartPre"] == [tmpfiles]
    assert "Before" not in unit_settings("stagebox-mount@.service")


def test_the_mount_helper_has_no_mount_namespace_of_its_own():
    s = unit_settings("stagebox-mount@.service")
    namespacing = {"ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
                   "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                   "ProtectControlGroups", "ProtectProc", "ProcSubset", "PrivateIPC",
                   "ReadOnlyPaths", "ReadWritePaths", "InaccessiblePaths", "MountFlags",
                   "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths"}
    assert namespacing.isdisjoint(s)
    assert s["PrivateMounts"] == ["no"]
    assert s["BindsTo"] == ["dev-%i.device"]
    assert s["CapabilityBoundingSet"] == ["CAP_SYS_ADMIN"]


RULE_TOKEN = re.compile(r'^(?P<key>[A-Z_]+)(\{[^}]+\})?(?P<op>==|!=|\+=|-=|:=|=)"[^"]*"$')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ENV", "ATTR", "DEVPATH", "DRIVER"}
ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "OWNER", "TAG"}


def test_the_udev_rules_parse():
    rules = [line for line in (SYSTEMD / "99-stagebox.rules").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(rules) == 5
    for rule in rules:
        tokens = [token.strip() for token in rule.split(",")]
        for token in tokens:
            match = RULE_TOKEN.match(token)
            assert match, f"bad token {token!r} in {rule!r}"
            keys = MATCH_KEYS if match["op"] in ("==", "!=") else ASSIGN_KEYS
            assert match["key"] in keys, token


def rule_tokens(rule: str) -> dict[str, str]:
    return {token.split('"')[0]: token.split('"')[1]
            for token in (part.strip() for part in rule.split(","))}


def test_only_usb_and_bluetooth_input_devices_are_given_to_the_player():
    rules = [rule_tokens(line) for line in (SYSTEMD / "99-stagebox.rules").read_text()
             .splitlines() if "input" in line and not line.startswith("#")]
    assert rules == [{"SUBSYSTEM==": "input", "KERNEL==": "event*",
                      "ENV{ID_BUS}==": "usb|bluetooth", "GROUP=": "stagebox",
                      "MODE=": "0660", "TAG+=": "stagebox"}]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck_passes(script):
    result = subprocess.run([need("shellcheck"), "--shell=bash", "--severity=style",
                             str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.name != "EXPORT_IMAGE"],
                         ids=lambda p: p.name)
def test_scripts_are_executable(script):
    assert script.stat().st_mode & 0o111
