"""The wiring documented in hardware/ is the wiring the config expects."""

import re
from pathlib import Path

from stagebox.config import Config

HARDWARE = Path(__file__).resolve().parent.parent / "hardware" / "README.md"


def test_button_pins_in_the_wiring_table_match_the_config_defaults():
    rows = re.findall(r"^\| (\w+) button \| input \| GPIO (\d+) \|", HARDWARE.read_text(), re.M)
    documented = {name.lower(): int(pin) for name, pin in rows}
    assert documented == Config().button_pins


def test_the_oled_address_in_the_docs_matches_the_config_default():
    assert f"0x{Config()['display.i2c_address']:X}" in HARDWARE.read_text()
