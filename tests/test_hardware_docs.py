"""The wiring documented in hardware/ is the wiring the config expects."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from stagebox.config import Config

HARDWARE = Path(__file__).resolve().parent.parent / "hardware" / "README.md"


def test_button_pins_in_the_wiring_table_match_the_config_defaults():
    rows = re.findall(r"^\| (\w+) button \| input \| GPIO (\d+) \|", HARDWARE.read_text(), re.M)
    documented = {name.lower(): int(pin) for name, pin in rows}
    assert documented == Config().button_pins


def test_the_oled_address_in_the_docs_matches_the_config_default():
    assert f"0x{Config()['display.i2c_address']:X}" in HARDWARE.read_text()


SVG = HARDWARE.parent / "wiring.svg"
BOM = HARDWARE.parent / "bom.md"
SVG_NS = "{http://www.w3.org/2000/svg}"

# BCM GPIO number -> physical pin on the 40-pin header (every Pi since the B+).
HEADER_PIN_OF_GPIO = {
    2: 3, 3: 5, 4: 7, 17: 11, 27: 13, 22: 15, 10: 19, 9: 21, 11: 23, 0: 27, 5: 29, 6: 31,
    13: 33, 19: 35, 26: 37, 14: 8, 15: 10, 18: 12, 23: 16, 24: 18, 25: 22, 8: 24, 7: 26,
    1: 28, 12: 32, 16: 36, 20: 38, 21: 40,
}
LABEL = re.compile(r"^(?P<name>[A-Z0-9.]+(?: V)?) · (?:GPIO (?P<gpio>\d+) · )?pin (?P<pin>\d+)")


def svg_labels() -> list[tuple[str, int | None, int, float]]:
    """Each wire label in the SVG: (name, GPIO or None, header pin, text y)."""
    labels = []
    for text in ET.parse(SVG).getroot().iter(f"{SVG_NS}text"):
        match = LABEL.match("".join(text.itertext()).strip())
        if match:
            gpio = int(match["gpio"]) if match["gpio"] else None
            labels.append((match["name"], gpio, int(match["pin"]), float(text.get("y"))))
    return labels


def svg_pin_circles() -> dict[int, float]:
    """Header pin number -> the y of its circle."""
    circles = ET.parse(SVG).getroot().iter(f"{SVG_NS}circle")
    return {int(c.get("id")[4:]): float(c.get("cy")) for c in circles
            if (c.get("id") or "").startswith("pin-")}


def test_the_diagram_labels_each_button_with_the_configs_default_pin():
    buttons = {name.lower(): gpio for name, gpio, _, _ in svg_labels()
               if name.lower() in Config().button_pins}
    assert buttons == Config().button_pins


def test_the_diagram_puts_the_oled_on_the_configs_i2c_bus_and_address():
    labels = {name: (gpio, pin) for name, gpio, pin, _ in svg_labels()}
    assert labels["SDA"] == (2, 3) and labels["SCL"] == (3, 5)
    assert labels["3.3 V"] == (None, 1)
    grounds = {pin for name, _, pin, _ in svg_labels() if name == "GND"}
    assert grounds and grounds <= {6, 9, 14, 20, 25, 30, 34, 39}
    assert Config()["display.i2c_port"] == 1  # GPIO 2/3 are the header's bus i2c-1
    svg_text = SVG.read_text()
    assert f"I2C address 0x{Config()['display.i2c_address']:X}" in svg_text


def test_every_gpio_label_names_its_true_header_pin_and_sits_on_that_pins_wire():
    circles = svg_pin_circles()
    assert sorted(circles) == list(range(1, 41))
    for name, gpio, pin, text_y in svg_labels():
        if gpio is not None:
            assert HEADER_PIN_OF_GPIO[gpio] == pin, name
        # The label is written just above the wire that ends on its pin.
        assert 0 < circles[pin] - text_y < 15, name


def test_the_table_and_the_diagram_agree_on_header_pins():
    table = dict(re.findall(r"^\| (\w+) button \| input \| GPIO \d+ \| (\d+) \|",
                            HARDWARE.read_text(), re.M))
    drawn = {name: str(pin) for name, _, pin, _ in svg_labels() if name in table}
    assert drawn == table


def test_the_bill_of_materials_has_a_pocket_rig_and_a_gig_box():
    text = BOM.read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert any("Pocket rig" in h and "Zero 2 W" in h for h in headings)
    assert any("Gig box" in h and "Pi 4" in h and "Pi 5" in h for h in headings)
    for part in ("SSD1306", "SH1106", "FS-5U", "power bank", "class-compliant"):
        assert part.lower() in text.lower(), part


def test_the_run_time_arithmetic_in_the_bom_adds_up():
    # Lines like: "37 Wh × 0.85 / 2.0 W = 15.7 h"
    sums = re.findall(r"(\d+(?:\.\d+)?) Wh × 0\.85 / (\d+(?:\.\d+)?) W = (\d+(?:\.\d+)?) h",
                      BOM.read_text())
    assert len(sums) >= 4
    for wh, watts, hours in sums:
        assert abs(float(wh) * 0.85 / float(watts) - float(hours)) < 0.05, (wh, watts, hours)


def test_the_docs_link_the_diagram_bom_and_troubleshooting():
    readme = HARDWARE.read_text()
    for name in ("wiring.svg", "bom.md", "troubleshooting.md"):
        assert f"({name})" in readme, name
        assert (HARDWARE.parent / name).is_file(), name


PEDALS = HARDWARE.parent / "pedals-and-midi.md"


def test_the_pedal_keymap_documented_is_the_configs_default():
    rows = re.findall(r"^\| (KEY_\w+(?:, KEY_\w+)*) \| (\w+) \|$", PEDALS.read_text(), re.M)
    documented = {key: button.lower() for keys, button in rows for key in keys.split(", ")}
    assert documented == Config().pedal_keys


def test_the_midi_map_documented_is_the_configs_default():
    midi_map = Config().midi_map
    text = PEDALS.read_text()
    assert midi_map.any_pc == "cue" and "| Program change N (0-127) | Cues song N + 1" in text
    switches = re.search(r"^\| CC ([\d, ]+) \(.*\) \| ([A-Z, ]+):", text, re.M)
    assert switches is not None
    controllers = [int(number) for number in switches[1].split(", ")]
    buttons = [name.lower() for name in switches[2].split(", ")]
    assert dict(zip(controllers, buttons, strict=True)) == midi_map.cc
    assert f"{Config()['midi.cc_threshold']} or more presses" in text
